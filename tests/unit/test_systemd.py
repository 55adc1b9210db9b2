"""sd_notify: the status summary (pure), the watchdog's interval, datagrams to a real socket."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from pgo import state, systemd
from pgo.state import Record, State


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    path = str(tmp_path / "notify")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(5)
    yield sock, path
    sock.close()


def test_the_summary_counts_services_per_state_in_the_order_of_state() -> None:
    states = {"a": State.OK, "b": State.BROKEN, "c": State.OK, "d": State.OK, "e": State.OK}
    assert systemd.summary(states) == "5 services: 4 ok, 1 broken"
    assert systemd.summary({"a": State.FAILING, "b": State.CLONING}) == (
        "2 services: 1 cloning, 1 failing")
    assert systemd.summary({"a": State.DEPLOYING}) == "1 service: 1 deploying"
    assert systemd.summary({}) == "no services"


@pytest.mark.parametrize(("environ", "interval"), [
    ({"WATCHDOG_USEC": "30000000"}, 15.0),
    ({"WATCHDOG_USEC": "1000000", "WATCHDOG_PID": "42"}, 0.5),
    ({"WATCHDOG_USEC": "1000000", "WATCHDOG_PID": "43"}, None),  # another process's
    ({"WATCHDOG_USEC": "0"}, None),
    ({"WATCHDOG_USEC": "soon"}, None),
    ({}, None),
])
def test_the_watchdog_pings_at_half_its_usec_for_our_pid_only(
        environ: dict[str, str], interval: float | None) -> None:
    assert systemd.watchdog_interval(environ, 42) == interval


def test_an_abstract_socket_is_written_with_an_at() -> None:
    assert systemd.socket_address("@pgod/notify") == b"\0pgod/notify"
    assert systemd.socket_address("/run/systemd/notify") == "/run/systemd/notify"


def test_without_notify_socket_nothing_is_sent() -> None:
    notifier = systemd.Notifier.from_env({})
    assert not notifier.active and not notifier.send("READY=1")


def test_fields_go_as_one_datagram_and_a_newline_cannot_add_one(
        receiver: tuple[socket.socket, str]) -> None:
    sock, path = receiver
    notifier = systemd.Notifier.from_env({"NOTIFY_SOCKET": path})
    assert notifier.send("READY=1", "STATUS=one\nWATCHDOG=trigger")
    assert sock.recv(4096) == b"READY=1\nSTATUS=one WATCHDOG=trigger"
    notifier.close()


def test_an_abstract_socket_receives_too() -> None:
    name = f"pgo-test-{id(object())}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(5)
        notifier = systemd.Notifier(f"@{name}")
        assert notifier.send("READY=1")
        assert sock.recv(4096) == b"READY=1"
        notifier.close()


def test_a_missing_socket_is_logged_not_raised(tmp_path: Path,
                                               caplog: pytest.LogCaptureFixture) -> None:
    notifier = systemd.Notifier(str(tmp_path / "gone"))
    assert not notifier.send("READY=1")
    assert "cannot notify systemd" in caplog.text
    notifier.close()


def test_status_is_sent_after_ready_and_only_when_the_summary_changes(
        receiver: tuple[socket.socket, str]) -> None:
    sock, path = receiver
    line = systemd.StatusLine(notifier := systemd.Notifier(path))
    ok = Record(service="a", state=State.OK)
    line.watch(Record(service="b"), state.Cloning(), Record(service="b", state=State.CLONING))
    line.ready({"a": ok, "b": Record(service="b", state=State.OK)})  # b: the watcher's newer
    assert sock.recv(4096) == b"READY=1\nSTATUS=2 services: 1 cloning, 1 ok"
    line.watch(ok, state.Fetched("x"), ok)  # no change in the summary: nothing sent
    deploying = Record(service="b", state=State.DEPLOYING)
    line.watch(Record(service="b", state=State.CLONING), state.Deploying("x"), deploying)
    assert sock.recv(4096) == b"STATUS=2 services: 1 deploying, 1 ok"
    line.stopping()
    assert sock.recv(4096) == b"STOPPING=1\nSTATUS=stopping; 2 services: 1 deploying, 1 ok"
    sock.setblocking(False)
    with pytest.raises(BlockingIOError):
        sock.recv(4096)
    notifier.close()


def test_the_watchdog_pings_until_cancelled(receiver: tuple[socket.socket, str]) -> None:
    sock, path = receiver

    async def three() -> None:
        notifier = systemd.Notifier(path)
        task = asyncio.create_task(systemd.watchdog(notifier, 0.01))
        await asyncio.sleep(0.2)
        task.cancel()
        notifier.close()

    asyncio.run(three())
    assert [sock.recv(64) for _ in range(3)] == [b"WATCHDOG=1"] * 3
