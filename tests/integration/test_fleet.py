"""One config for many machines: two real pgods on this host pretend to be web1 and db1
(`--hosts`), each runs its share of one config; moving a service in the config moves its
containers; a machine that does not run a service says where it runs."""

from __future__ import annotations

import urllib.error
from pathlib import Path
from typing import Any

from .helpers import free_port, http_get, wait_for_http
from .pgod_process import FAST_GATE, Pgod
from .sshclients import keygen, pgoctl
from .test_trust import files


def config(users: dict[str, str], repos: dict[str, Any], ports: dict[str, int],
           machines: dict[str, str]) -> str:
    return "".join(
        f'[[services]]\nname = "{name}"\nuser = "{users[name]}"\n'
        f'repository = "{repos[name].url}"\nports = ["{ports[name]}"]\n'
        f'machines = ["{machines[name]}"]\n{FAST_GATE}' for name in ("a", "b"))


def test_each_machine_runs_its_share_and_a_service_moves(workdir: Path, make_user: Any,
                                                         make_repo: Any) -> None:
    key = keygen(workdir, "op")
    users = {n: make_user() for n in ("a", "b")}
    ports = {n: free_port() for n in ("a", "b")}
    repos = {n: make_repo(files(ports[n], f"service {n}", key)) for n in ("a", "b")}
    path = workdir / "pgod.toml"
    path.write_text(config(users, repos, ports, {"a": "web1", "b": "db1"}))
    ssh = {m: free_port() for m in ("web1", "db1")}
    pgods = {m: Pgod(path.with_name(f"{m}.toml"), workdir / f"lib-{m}", "-s",
                     f"127.0.0.1:{ssh[m]}", "--hosts", m) for m in ("web1", "db1")}
    for pgod in pgods.values():
        pgod.config.write_text(path.read_text())
        pgod.start()
    try:
        wait_for_http(ports["a"], "service a")
        wait_for_http(ports["b"], "service b")
        pgods["db1"].wait_log("operator key(s)")
        assert "1 service(s) run on other machines, not on web1: b" in pgods["web1"].log
        elsewhere = pgoctl(workdir, ssh["db1"], str(key), "a//ping")
        assert elsewhere.returncode != 0 and "a runs on web1" in elsewhere.stderr

        # b moves to web1: db1 takes it down (removed from its share), web1 deploys it
        moved = config(users, repos, ports, {"a": "web1", "b": "web1"})
        for machine in ("db1", "web1"):
            pgods[machine].stop()
            pgods[machine].config.write_text(moved)
            pgods[machine].start()
            if machine == "db1":
                pgods["db1"].wait_log("b: removed from the config")
                try:  # (down before the log line)
                    gone = http_get(ports["b"])
                except (OSError, urllib.error.URLError) as err:
                    gone = repr(err)
                assert "service b" not in gone
        wait_for_http(ports["b"], "service b")
        assert "service a" in http_get(ports["a"])
    finally:
        for pgod in pgods.values():
            pgod.stop()
