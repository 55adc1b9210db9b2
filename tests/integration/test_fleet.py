"""One config for many machines, from git: two real pgods on this host pretend to be web1
and db1 (`--hosts`) and follow one config repository (`-c git+URL#pgod.toml`); each runs
its share; a config commit that does not validate is refused and shown in status; one that
moves a service is applied in place by both: the service moves, the other one is left
alone (same pgods, same container)."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

from .helpers import container_ids, free_port, http_get, make_repo_in, wait_for_http
from .pgod_process import FAST_GATE, Pgod
from .sshclients import keygen, pgoctl
from .test_trust import files


def config(users: dict[str, str], repos: dict[str, Any], ports: dict[str, int],
           machines: dict[str, str]) -> str:
    return "".join(
        f'[[services]]\nname = "{name}"\nuser = "{users[name]}"\n'
        f'repository = "{repos[name].url}"\nports = ["{ports[name]}"]\n'
        f'machines = ["{machines[name]}"]\n{FAST_GATE}' for name in ("a", "b"))


def test_each_machine_runs_its_share_of_a_config_from_git_and_a_service_moves(
        workdir: Path, make_user: Any, make_repo: Any) -> None:
    key = keygen(workdir, "op")
    users = {n: make_user() for n in ("a", "b")}
    ports = {n: free_port() for n in ("a", "b")}
    repos = {n: make_repo(files(ports[n], f"service {n}", key)) for n in ("a", "b")}
    ops = make_repo_in(workdir, {"pgod.toml": config(users, repos, ports,
                                                     {"a": "web1", "b": "db1"})})
    ssh = {m: free_port() for m in ("web1", "db1")}
    pgods = {m: Pgod(workdir / f"{m}.toml", workdir / f"lib-{m}", "-s", f"127.0.0.1:{ssh[m]}",
                     "--hosts", m, source=f"git+{ops.url}#pgod.toml")
             for m in ("web1", "db1")}
    for pgod in pgods.values():
        pgod.start()
    try:
        wait_for_http(ports["a"], "service a")
        wait_for_http(ports["b"], "service b")
        pgods["db1"].wait_log("operator key(s)")
        assert "1 service(s) run on other machines, not on web1: b" in pgods["web1"].log
        elsewhere = pgoctl(workdir, ssh["db1"], str(key), "a//ping")
        assert elsewhere.returncode != 0 and "a runs on web1" in elsewhere.stderr

        bad = ops.commit({"pgod.toml": "[[services]]\nname = \"a\"\n"}, "a broken config")
        for pgod in pgods.values():
            pgod.wait_log(f"config commit {bad[:12]} refused: ")
        status = pgoctl(workdir, ssh["db1"], str(key), "b//status")
        assert f"pgod config: config commit {bad[:12]} refused: " in status.stdout
        assert "key 'repository': missing required key" in status.stdout
        assert "service b" in http_get(ports["b"])

        a_before = container_ids(users["a"], "a")
        move_b_to_web1(pgods, ops, config(users, repos, ports, {"a": "web1", "b": "web1"}),
                       users["b"])
        wait_for_http(ports["b"], "service b")
        assert container_ids(users["b"], "b"), "web1 deployed b as b's user"
        assert "service a" in http_get(ports["a"])
        assert container_ids(users["a"], "a") == a_before
        assert all(pgod.proc is not None and pgod.proc.poll() is None for pgod in pgods.values())
        pgods["web1"].wait_log("b: 1 operator key(s)")
        status = pgoctl(workdir, ssh["web1"], str(key), "b//status")
        assert "state:        ok" in status.stdout and "pgod config" not in status.stdout
        # a changed key restarts a's loop only, as a restart of pgod would: nothing redeploys
        changed = config(users, repos, ports, {"a": "web1", "b": "web1"}).replace(
            'name = "a"\n', 'name = "a"\nhealth_timeout = "90s"\n')
        ops.commit({"pgod.toml": changed}, "a's gate waits longer")
        passes = pgods["web1"].wait_log("applied in place: changed a").count("a: in step at")
        pgods["web1"].wait_log("a: in step at", count=passes + 1)  # the new loop's pass
        assert container_ids(users["a"], "a") == a_before
        assert "service b" in http_get(ports["b"]) and "service a" in http_get(ports["a"])
        # db1 runs no service now, so it knows no operator key at all
        gone = pgoctl(workdir, ssh["db1"], str(key), "b//ping")
        assert gone.returncode == 255 and "Permission denied (publickey)" in gone.stderr
    finally:
        for pgod in pgods.values():
            pgod.stop()


def move_b_to_web1(pgods: dict[str, Pgod], ops: Any, text: str, b_user: str) -> None:
    """Commit `text`, where b moves to web1; applied in place: db1 takes b down, web1
    deploys it, a (on web1) keeps its container, and neither pgod exits. (On one host both
    b's are one podman project of b's user: web1 is held still until db1 is done, as if it
    were slower.)"""
    web1 = pgods["web1"].proc
    assert web1 is not None
    web1.send_signal(signal.SIGSTOP)
    try:
        moved = ops.commit({"pgod.toml": text}, "b moves to web1")
        pgods["db1"].wait_log(f"config commit {moved[:12]} is valid: applying it")
        pgods["db1"].wait_log("b: removed from the config")
        pgods["db1"].wait_log("applied in place: removed b")
        assert not container_ids(b_user, "b")
    finally:
        web1.send_signal(signal.SIGCONT)
    pgods["web1"].wait_log("applied in place: added b")
