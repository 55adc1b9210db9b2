"""One config for many machines, from git: two real pgods on this host pretend to be web1
and db1 (`--hosts`) and follow one config repository (`-c git+URL#pgod.toml`); each runs
its share; a config commit that does not validate is refused and shown in status; one that
moves a service restarts both (exit 2, as systemd would see it) and the service moves."""

from __future__ import annotations

import urllib.error
from pathlib import Path
from typing import Any

from .helpers import free_port, http_get, make_repo_in, wait_for_http
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

        # b moves to web1: both restart (exit 2); db1 takes b down, web1 deploys it
        ops.commit({"pgod.toml": config(users, repos, ports, {"a": "web1", "b": "web1"})},
                   "b moves to web1")
        for machine in ("db1", "web1"):
            assert pgods[machine].wait(timeout=120) == 2
        pgods["db1"].start()
        pgods["db1"].wait_log("b: removed from the config")
        try:  # (down before the log line)
            gone = http_get(ports["b"])
        except (OSError, urllib.error.URLError) as err:
            gone = repr(err)
        assert "service b" not in gone
        pgods["web1"].start()
        wait_for_http(ports["b"], "service b")
        assert "service a" in http_get(ports["a"])
    finally:
        for pgod in pgods.values():
            pgod.stop()
