"""Deploys you can trust, with real git, podman, pgod and SSH: the health gate and the way
back to the last good commit, self-heal, the persisted record, freeze and rollback, the
host's stop file, a service removed from the config."""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .helpers import (
    Repo,
    container_ids,
    free_port,
    hello_files,
    http_get,
    podman_as,
    wait_for_http,
)
from .pgod_process import FAST_GATE, Pgod
from .sshclients import keygen, pgoctl


class Service:
    """One hello service under a real pgod (1 s between pulls), driven with pgoctl."""

    def __init__(self, root: Path, user: str, repo: Repo, port: int, key: Path,
                 extra: str = "") -> None:
        self.root, self.user, self.repo, self.port, self.key = root, user, repo, port, key
        self.ssh_port = free_port()
        self.config = root / "pgod.toml"
        self.config.write_text(
            f'[[services]]\nname = "svc"\nuser = "{user}"\nrepository = "{repo.url}"\n'
            f'ports = ["{port}"]\nhealth_timeout = "20s"\n{FAST_GATE}{extra}')
        self.pgod = Pgod(self.config, root / "lib", "-s", f"127.0.0.1:{self.ssh_port}")

    def ctl(self, *args: str) -> Any:
        return pgoctl(self.root, self.ssh_port, str(self.key), *args)

    def status(self) -> dict[str, Any]:
        result = self.ctl("svc//status", "--json")
        assert result.returncode == 0, result.stderr
        return dict(json.loads(result.stdout))

    def until(self, what: str, ok: Callable[[dict[str, Any]], bool],
              timeout: float = 120.0) -> dict[str, Any]:
        """Poll `status --json` until `ok(status)`; fail naming `what`, with the last
        status and the log's tail."""
        deadline, seen = time.monotonic() + timeout, {}
        while time.monotonic() < deadline:
            seen = self.status()
            if ok(seen):
                return seen
            time.sleep(0.5)
        raise AssertionError(f"never {what}: {json.dumps(seen, indent=1)}\n"
                             f"{self.pgod.log[-4000:]}")

    def wait_state(self, state: str, timeout: float = 120.0) -> dict[str, Any]:
        return self.until(f"state {state!r}", lambda s: s["state"] == state, timeout)

    def wait_deployed(self, commit: str, timeout: float = 120.0) -> dict[str, Any]:
        """Until `commit` is deployed and the state ok."""
        return self.until(f"ok at {commit[:12]}",
                          lambda s: (s["deployed"], s["state"]) == (commit, "ok"), timeout)


def files(port: int, text: str, key: Path, command: str = "") -> dict[str, str | bytes]:
    out = {**hello_files(port, text), "ssh/op.pub": key.with_suffix(".pub").read_text()}
    if command:
        out["compose.yaml"] = str(out["compose.yaml"]) + f"    {command}\n"
    return out


def start(workdir: Path, make_user: Any, make_repo: Any, text: str = "good",
          extra: str = "") -> Service:
    user, port, key = make_user(), free_port(), keygen(workdir, "op")
    svc = Service(workdir, user, make_repo(files(port, text, key)), port, key, extra)
    svc.pgod.start()
    wait_for_http(port, text)
    svc.pgod.wait_log("operator key(s)")
    return svc


def test_a_crashing_commit_and_an_unhealthy_one_fall_back_to_the_last_good(
        workdir: Path, make_user: Any, make_repo: Any) -> None:
    svc = start(workdir, make_user, make_repo)
    try:
        good = svc.wait_state("ok")["deployed"]
        crash = svc.repo.commit(files(svc.port, "crash", svc.key,
                                      'command: ["/bin/busybox", "sh", "-c", '
                                      '"echo giving up; exit 3"]'), "crash at start")
        broken = svc.wait_state("broken")
        assert broken["deployed"] == good and broken["last_good"] == good
        assert broken["upstream"] == crash and "exited with code 3" in broken["reason"]
        assert "good" in http_get(svc.port)
        log = svc.pgod.wait_log(f"{good[:12]} is back")
        assert "giving up" in log  # the container's last log lines
        time.sleep(4)  # passes go by: the broken commit is not tried again
        assert svc.pgod.log.count(f"deploy of {crash[:12]} failed; restoring") == 1

        never = svc.repo.commit(files(svc.port, "never healthy", svc.key,
                                      'healthcheck: {test: ["CMD", "/bin/busybox", "false"], '
                                      "interval: 1s, retries: 1}"), "a check that fails")
        svc.pgod.wait_log(f"deploy of {never[:12]} failed; restoring")
        broken = svc.wait_state("broken")
        assert broken["upstream"] == never and "unhealthy" in broken["reason"]
        assert "good" in http_get(svc.port)
        history = json.loads(svc.ctl("svc//history", "--json").stdout)
        assert [(h["commit"], h["outcome"]) for h in history[:4]] == [
            (good, "rolled back"), (never, "broken"), (good, "rolled back"), (crash, "broken")]
    finally:
        svc.pgod.stop()


def test_a_killed_container_is_brought_back_and_history_says_so(
        workdir: Path, make_user: Any, make_repo: Any) -> None:
    svc = start(workdir, make_user, make_repo)
    try:
        svc.wait_state("ok")
        before = container_ids(svc.user, "svc")
        podman_as(svc.user, "kill", "svc_web_1")
        svc.pgod.wait_log("self-heal: ")
        wait_for_http(svc.port, "good")
        deadline = time.monotonic() + 60
        while svc.status()["last_attempt"]["trigger"] != "self-heal":
            assert time.monotonic() < deadline, svc.status()
            time.sleep(0.5)
        assert svc.status()["state"] == "ok"
        assert container_ids(svc.user, "svc") == before  # started again, not recreated
    finally:
        svc.pgod.stop()


def test_the_record_survives_a_restart_and_a_garbage_one_is_rebuilt(
        workdir: Path, make_user: Any, make_repo: Any) -> None:
    svc = start(workdir, make_user, make_repo)
    try:
        svc.ctl("svc//freeze", "release", "week")
        frozen = svc.wait_state("frozen")
        running = container_ids(svc.user, "svc")
        svc.pgod.signal(signal.SIGTERM)
        assert svc.pgod.wait() == 0
        svc.pgod.start()
        svc.pgod.wait_log("operator key(s)")
        after = svc.wait_state("frozen")
        assert after["frozen"] == frozen["frozen"] and after["deployed"] == frozen["deployed"]
        assert after["frozen"]["reason"] == "release week"

        svc.pgod.signal(signal.SIGTERM)
        assert svc.pgod.wait() == 0
        record = workdir / "lib" / ".pgod" / "state" / "svc.json"
        record.write_bytes(b"\xff\xfe{ not json \x00")
        svc.pgod.start()
        svc.pgod.wait_log("state record unreadable")
        svc.pgod.wait_log("operator key(s)")
        rebuilt = svc.wait_state("ok")
        assert rebuilt["deployed"] == frozen["deployed"]
        assert container_ids(svc.user, "svc") == running  # nothing restarted
        assert json.loads(record.read_text())["deployed"] == frozen["deployed"]
    finally:
        svc.pgod.stop()


def test_rollback_freezes_and_unfreeze_follows_the_branch_again(
        workdir: Path, make_user: Any, make_repo: Any) -> None:
    svc = start(workdir, make_user, make_repo, "one")
    try:
        one = svc.wait_state("ok")["deployed"]
        two = svc.repo.commit(files(svc.port, "two", svc.key), "two")
        wait_for_http(svc.port, "two")
        svc.wait_deployed(two)
        result = svc.ctl("svc//rollback")
        assert result.returncode == 0, result.stderr
        assert f"rolled back to {one[:12]}" in result.stdout
        assert "one" in http_get(svc.port)
        frozen = svc.wait_state("frozen")
        assert frozen["deployed"] == one and frozen["frozen"]["reason"] == f"rollback to {one[:12]}"
        three = svc.repo.commit(files(svc.port, "three", svc.key), "three")
        time.sleep(4)
        assert "one" in http_get(svc.port)  # frozen: not followed
        diff = svc.ctl("svc//diff")
        assert diff.returncode == 0 and "frozen by" in diff.stdout and three in diff.stdout
        assert svc.ctl("svc//rollback", "0000000").returncode == 65  # 406
        assert svc.ctl("svc//unfreeze").returncode == 0
        wait_for_http(svc.port, "three")
        svc.wait_deployed(three)
        history = json.loads(svc.ctl("svc//history", "--json").stdout)
        assert [(h["commit"], h["outcome"]) for h in history[:4]] == [
            (three, "deployed"), (one, "rolled back"), (two, "deployed"), (one, "deployed")]
        assert history[1]["trigger"].startswith("operator SHA256:")
    finally:
        svc.pgod.stop()


def test_the_hosts_stop_file_and_an_operators_down_keep_it_down(
        workdir: Path, make_user: Any, make_repo: Any) -> None:
    svc = start(workdir, make_user, make_repo)
    try:
        svc.wait_state("ok")
        assert svc.ctl("svc//down").returncode == 0
        stopped = svc.wait_state("stopped")
        assert stopped["stopped"]["by"].startswith("operator SHA256:")
        time.sleep(3)  # passes go by: pgod does not bring it back
        assert container_ids(svc.user, "svc") == []
        assert svc.ctl("svc//up").returncode == 0
        wait_for_http(svc.port, "good")
        svc.wait_state("ok")

        stop = workdir / "lib" / "svc.stop"
        stop.write_text("")
        svc.wait_state("stopped")
        assert container_ids(svc.user, "svc") == []
        refused = svc.ctl("svc//up")
        assert refused.returncode == 69 and str(stop) in refused.stderr  # 409
        stop.unlink()
        wait_for_http(svc.port, "good")
        svc.wait_state("ok")
    finally:
        svc.pgod.stop()


def test_a_service_removed_from_the_config_is_taken_down_and_moved_aside(
        workdir: Path, make_user: Any, make_repo: Any) -> None:
    svc = start(workdir, make_user, make_repo)
    try:
        svc.wait_state("ok")
        podman_as(svc.user, "volume", "create", "svc_keep")
        podman_as(svc.user, "run", "-d", "--name", "other", "--entrypoint", "/bin/busybox",
                  "svc_web", "sleep", "600")
        svc.pgod.signal(signal.SIGTERM)
        assert svc.pgod.wait() == 0
        svc.config.write_text("")
        svc.pgod.start()
        log = svc.pgod.wait_log("removed from the config: its project is down")
        assert "svc_web_1" not in podman_as(svc.user, "ps", "-a", "--format", "{{.Names}}")
        assert "other" in podman_as(svc.user, "ps", "--format", "{{.Names}}")
        assert "svc_keep" in podman_as(svc.user, "volume", "ls", "--format", "{{.Name}}")
        removed = list((workdir / "lib" / ".pgod" / "removed").iterdir())
        assert len(removed) == 1 and (removed[0] / "svc" / "compose.yaml").exists()
        assert not (workdir / "lib" / "svc").exists() and "moved to" in log
    finally:
        svc.pgod.stop()
