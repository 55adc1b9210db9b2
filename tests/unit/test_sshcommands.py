"""What an SSH session runs, with a stand-in podman-compose (a shell script run as this
user) and a stand-in SSH channel: exit statuses, a client that goes away, the log."""

from __future__ import annotations

import asyncio
import gc
import os
import time
from collections.abc import Coroutine
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from pgo import sshcommands, sshstream
from pgo.command import parse_request
from pgo.compose import Project
from pgo.errors import Refusal
from pgo.keys import OperatorKey
from pgo.proc import Account
from pgo.state import Record, State, transition

# podman-compose -f FILE -p NAME COMMAND...: what each command does here.
FAKE_COMPOSE = """#!/bin/sh
shift 4
case "$1" in
  ps) echo out; echo err >&2; exec sleep 30 ;;
  logs) echo following; exec sleep 30 ;;
  up) touch up.started; sleep 1; echo up done; touch up.done; exit 3 ;;
  build) head -c 3000000 /dev/zero | tr '\\0' x; touch build.done ;;
  stop) kill -9 $$ ;;
  start) touch start.done ;;
  restart) echo "$@" ;;
  down) echo "Error: cannot remove container svc_web_1" >&2 ;;
esac
"""


@pytest.fixture(autouse=True)
def _no_argument_layer(monkeypatch: pytest.MonkeyPatch) -> None:
    """The argument layer runs the real podman-compose, which the stand-in script is not
    (tests/unit/test_policy_argv_corpus.py and the integration tests run it)."""
    async def none(*_: Any) -> list[str]:
        return []
    monkeypatch.setattr(sshcommands, "argument_problems", none)


class Writer:
    """An SSH channel's stdout or stderr: what was written, BrokenPipeError once closed."""

    def __init__(self, channel: Channel) -> None:
        self.channel, self.text = channel, ""

    def write(self, data: str) -> None:
        if self.channel.closed.is_set():
            raise BrokenPipeError
        self.text += data

    async def drain(self) -> None:
        if self.channel.closed.is_set():
            raise BrokenPipeError


class Channel:
    """The parts of asyncssh's SSHServerProcess that the handlers use."""

    def __init__(self) -> None:
        self.closed = asyncio.Event()
        self.stdout, self.stderr = Writer(self), Writer(self)

    def is_closing(self) -> bool:
        return self.closed.is_set()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return default

    async def wait_closed(self) -> None:
        await self.closed.wait()

    def close(self) -> None:
        self.closed.set()


@dataclass(frozen=True)
class Left(Project):
    """A project whose containers (what podman ps would list) are `left`."""

    left: tuple[str, ...] = ()

    async def containers(self) -> list[str]:
        return list(self.left)


async def no_login() -> None:
    """A service without `registries`: nothing to log in to."""


def runner(tmp_path: Path, repository: str = "file:///srv/x.git",
           left: tuple[str, ...] = ()) -> Any:
    script = tmp_path / "podman-compose"
    script.write_text(FAKE_COMPOSE)
    script.chmod(0o755)
    project = Left("svc", str(tmp_path), "compose.yaml", Account.current(), str(script),
                   left=left)
    config = SimpleNamespace(name="svc", repository=repository, branch="main")
    stand_in = SimpleNamespace(
        project=project, lock=asyncio.Lock(), record=Record("svc", state=State.OK),
        config=config, keys=(), worktree_problems=list, stopping=False, wake=asyncio.Event(),
        deployed_at=None,
        work=SimpleNamespace(stop_file=lambda: str(tmp_path / "svc.stop"), login=no_login))

    def event(event: Any) -> None:
        stand_in.record = transition(stand_in.record, event, 1.0)

    async def containers() -> list[Any]:
        return []
    stand_in.event, stand_in.containers = event, containers
    return stand_in


def run(main: Coroutine[Any, Any, Any]) -> tuple[Any, list[dict[str, Any]]]:
    """Run `main`; its result, and what the loop reported as unhandled (after a gc)."""
    reported: list[dict[str, Any]] = []

    async def wrapped() -> Any:
        asyncio.get_running_loop().set_exception_handler(lambda _, ctx: reported.append(ctx))
        return await main

    result = asyncio.run(wrapped())
    gc.collect()
    return result, reported


async def until(predicate: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline
        await asyncio.sleep(0.02)


def test_exit_status_of_a_child_killed_by_a_signal_is_128_plus_n() -> None:
    assert sshstream.exit_status(0) == 0
    assert sshstream.exit_status(3) == 3
    assert sshstream.exit_status(-9) == 137
    assert sshstream.exit_status(-15) == 143
    assert sshstream.exit_status(None) == 500


def test_a_killed_compose_command_exits_137(tmp_path: Path) -> None:
    async def main() -> int:
        return await sshcommands.compose(runner(tmp_path), parse_request("svc//stop"),
                                         Channel())  # type: ignore[arg-type]

    code, reported = run(main())
    assert code == 137 and reported == []


def test_describe_client_names_the_key_and_the_files_holding_it() -> None:
    alice = OperatorKey("ssh/alice.pub", "ssh-ed25519 AAAA", "SHA256:alice")
    bob = OperatorKey("ssh/bob.pub", "ssh-ed25519 BBBB", "SHA256:bob")
    keys = {"web": (alice, bob), "db": (alice,), "cache": ()}
    assert sshcommands.describe_client("192.0.2.1", "SHA256:alice", keys) == \
        "from 192.0.2.1 key SHA256:alice (db:ssh/alice.pub, web:ssh/alice.pub)"
    assert sshcommands.describe_client("192.0.2.1", "SHA256:gone", keys) == \
        "from 192.0.2.1 key SHA256:gone (in no service now)"
    assert sshcommands.describe_client("?", None, keys) == "from ? key ? (in no service now)"


@pytest.mark.parametrize("command", ["svc//logs -f", "svc//ps"])
def test_a_read_only_command_stops_when_the_client_goes_away(tmp_path: Path,
                                                             command: str) -> None:
    """Killed at once, and nothing left behind for the loop to report (a cancelled gather
    nobody awaited logged "_GatheringFuture exception was never retrieved")."""
    async def main() -> tuple[int, float]:
        channel = Channel()
        task = asyncio.create_task(sshcommands.compose(
            runner(tmp_path), parse_request(command), channel))  # type: ignore[arg-type]
        await until(lambda: "o" in channel.stdout.text)
        start = time.monotonic()
        channel.close()
        code = await task
        return code, time.monotonic() - start

    (code, took), reported = run(main())
    assert code == 0 and took < 5
    assert reported == []
    assert not _sleepers(tmp_path)


def test_a_mutating_command_runs_to_its_end_when_the_client_goes_away(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    async def main() -> int:
        channel = Channel()
        task = asyncio.create_task(sshcommands.compose(
            runner(tmp_path), parse_request("svc//up"), channel))  # type: ignore[arg-type]
        await until((tmp_path / "up.started").exists)
        assert not (tmp_path / "up.done").exists()
        channel.close()
        return await task

    caplog.set_level("INFO", "pgo.ssh")
    code, reported = run(main())
    assert code == 3  # up's own exit status, after the client left
    assert (tmp_path / "up.done").exists()
    assert "client went away; letting up finish" in caplog.text
    assert reported == []


def test_nothing_starts_once_pgod_is_stopping(tmp_path: Path) -> None:
    """A command that waited for the lock while pgod began to stop is refused, not run."""
    async def main() -> None:
        service = runner(tmp_path)
        async with service.lock:  # a deploy pgod lets finish
            task = asyncio.create_task(sshcommands.compose(
                service, parse_request("svc//start"), Channel()))  # type: ignore[arg-type]
            await asyncio.sleep(0.1)
            service.stopping = True
        with pytest.raises(Refusal, match="pgod is stopping") as refused:
            await task
        assert refused.value.status == 500

    run(main())
    assert not (tmp_path / "start.done").exists()


def test_output_a_gone_client_cannot_take_is_read_and_dropped(tmp_path: Path) -> None:
    """3 MB of output (more than a pipe holds) to a client that left: build still ends."""
    async def main() -> int:
        channel = Channel()
        channel.close()
        return await sshcommands._stream(
            runner(tmp_path), parse_request("svc//build"), channel)  # type: ignore[arg-type]

    code, reported = run(main())
    assert code == 0 and (tmp_path / "build.done").exists()
    assert reported == []


def test_a_mutating_command_whose_client_left_while_it_waited_for_the_lock_never_starts(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    async def main() -> int:
        service, channel = runner(tmp_path), Channel()
        async with service.lock:  # a redeploy in progress
            task = asyncio.create_task(sshcommands.compose(
                service, parse_request("svc//start"), channel))  # type: ignore[arg-type]
            await asyncio.sleep(0.1)
            channel.close()
        return await task

    caplog.set_level("INFO", "pgo.ssh")
    code, reported = run(main())
    assert code != 0 and not (tmp_path / "start.done").exists()
    assert "svc: start waits for the service lock" in caplog.text
    assert "svc: start not started: the client left while it waited" in caplog.text
    assert reported == []


def test_a_mutating_command_runs_after_the_lock_is_free(tmp_path: Path,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    async def main() -> tuple[int, str]:
        service, channel = runner(tmp_path), Channel()
        code = await sshcommands.compose(service, parse_request("svc//restart web"),
                                         channel)  # type: ignore[arg-type]
        return code, channel.stdout.text

    caplog.set_level("INFO", "pgo.ssh")
    (code, out), _ = run(main())
    assert (code, out) == (0, "restart web\n")
    assert "svc: restart starts (service lock taken)" in caplog.text
    assert "svc: restart exited 0" in caplog.text


@pytest.mark.parametrize(("left", "code"), [((), 0), (("svc_web_1", "svc_db_1"), 1)])
def test_down_fails_when_containers_are_left(tmp_path: Path, left: tuple[str, ...],
                                              code: int) -> None:
    """podman-compose down exits 0 when podman rm fails: pgod looks, as its own down does."""
    async def main() -> tuple[int, str]:
        channel = Channel()
        status = await sshcommands.compose(runner(tmp_path, left=left),
                                           parse_request("svc//down"),
                                           channel)  # type: ignore[arg-type]
        return status, channel.stderr.text

    (status, err), reported = run(main())
    assert status == code and reported == []
    assert err.startswith("Error: cannot remove container svc_web_1\n")  # its own output
    if left:
        assert "pgod: down left 2 container(s) of project svc (svc_web_1, svc_db_1): " \
               "podman-compose exits 0 when podman rm fails" in err


@pytest.mark.parametrize(("url", "shown"), [
    ("https://user:token@example.org/x.git", "https://example.org/x.git"),
    ("https://ghp_secret@github.com/o/r", "https://github.com/o/r"),
])
def test_status_shows_no_credentials(tmp_path: Path, url: str, shown: str) -> None:
    async def main() -> str:
        channel = Channel()
        await sshcommands.status(runner(tmp_path, url), parse_request("svc//status"),
                                 channel)  # type: ignore[arg-type]
        return channel.stdout.text

    out, _ = run(main())
    assert f"repository:   {shown} (branch main)" in out
    assert "token" not in out and "secret" not in out


def _sleepers(directory: Path) -> list[int]:
    """Processes of the fake podman-compose still around (its `exec sleep 30`)."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if os.readlink(f"/proc/{pid}/cwd") == str(directory) and \
                    b"sleep" in Path(f"/proc/{pid}/cmdline").read_bytes():
                found.append(int(pid))
        except OSError:
            continue
    return found


class Session(Channel):
    """An SSH session as Sessions.handle sees it: command, connection, exit status."""

    def __init__(self, command: str, services: list[str], fingerprint: str) -> None:
        super().__init__()
        self.command, self.subsystem, self.status = command, None, None
        options = {"pgo-service": services, "pgo-key": [fingerprint]}
        self.conn = SimpleNamespace(get_key_option=options.get)

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"connection": self.conn, "peername": ("192.0.2.7", 40000)}.get(name, default)

    def exit(self, status: int) -> None:
        self.status = status


def test_a_bug_in_a_handler_is_a_500_with_no_traceback_for_the_client(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    service = runner(tmp_path)
    service.keys = (OperatorKey("ssh/op.pub", "ssh-ed25519 AAAA", "SHA256:op"),)
    sessions = sshcommands.Sessions({"svc": service})

    async def broken(*_: Any) -> int:
        raise RuntimeError("a bug, with a secret path /etc/shadow in its message")
    sessions.routes["status"] = broken
    session = Session("svc//status", ["svc"], "SHA256:op")
    _, reported = run(sessions.handle(session))  # type: ignore[arg-type]
    assert session.status == 500 and reported == []
    assert session.stderr.text == "pgod: 500 Internal Server Error: internal error, see " \
                                  "pgod's log\n"
    assert session.stdout.text == ""
    assert "Traceback" in caplog.text and "RuntimeError: a bug" in caplog.text


def test_each_sessions_end_is_told_with_its_command_and_status(tmp_path: Path) -> None:
    service = runner(tmp_path)
    service.keys = (OperatorKey("ssh/op.pub", "ssh-ed25519 AAAA", "SHA256:op"),)
    told: list[tuple[str, int]] = []

    def broken(line: str, code: int) -> None:
        raise RuntimeError("a bug in a metrics watcher")
    sessions = sshcommands.Sessions(
        {"svc": service}, ended=[broken, lambda line, code: told.append((line, code))])
    for command in ("svc//ping", "nope//ps", "svc//down"):
        session = Session(command, ["svc"] if command != "svc//down" else [], "SHA256:op")
        run(sessions.handle(session))  # type: ignore[arg-type]
        assert session.status == told[-1][1]  # (the client got its status all the same)
    assert told == [("svc//ping", 0), ("nope//ps", 404), ("svc//down", 401)]


@pytest.mark.parametrize(("command", "allowed"), [
    ("svc//status", True), ("svc//history -n 3", True), ("svc//ping", True),
    ("svc//down", False), ("svc//sync", False), ("svc//freeze now", False),
    ("svc//rollback", False), ("svc//restart", False)])
def test_a_read_only_key_runs_only_what_changes_nothing(tmp_path: Path, command: str,
                                                        allowed: bool) -> None:
    service = runner(tmp_path)
    service.keys = (OperatorKey("ssh/readonly/view.pub", "ssh-ed25519 AAAA", "SHA256:view",
                                readonly=True),)
    sessions = sshcommands.Sessions({"svc": service})
    session = Session(command, ["svc"], "SHA256:view")
    run(sessions.handle(session))  # type: ignore[arg-type]
    if allowed:
        assert session.status == 0, session.stderr.text
    else:
        assert session.status == 401
        assert "this key is read-only for service 'svc' (ssh/readonly/view.pub): it may " \
               "run diff, history, logs, ping, ps, status" in session.stderr.text


def test_an_operators_up_goes_through_the_argument_layer(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[list[str]] = []

    async def refuse(project: Any, config: Any, args: list[str]) -> list[str]:
        asked.append(list(args))
        return ["--privileged is not admitted"]
    monkeypatch.setattr(sshcommands, "argument_problems", refuse)

    async def main() -> None:
        await sshcommands.compose(runner(tmp_path), parse_request("svc//up web"),
                                  Channel())  # type: ignore[arg-type]
    with pytest.raises(Refusal, match="podman arguments refused: --privileged"):
        asyncio.run(main())
    assert asked == [["up", "-d", "web"]] and not (tmp_path / "up.started").exists()
