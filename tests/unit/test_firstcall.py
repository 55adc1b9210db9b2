"""pgoctl's first call: its own TCP_NODELAY connection (`dial`), handed to ssh logging in
as the master (`start_master`); a fake ssh here, the real one in
tests/integration/test_pgoctl_hosts.py."""

import _socket
import os
import signal
import socket
import time
from pathlib import Path

import pytest

from pgo.cli import pgoctl
from pgo.cli.sshmux import dial, master_options


@pytest.fixture
def listener() -> socket.socket:
    server = socket.create_server(("127.0.0.1", 0))
    yield server
    server.close()


def test_dial_connects_with_nodelay_and_keepalive(listener: socket.socket) -> None:
    fd, timed_out = dial("127.0.0.1", listener.getsockname()[1])
    assert fd is not None and not timed_out
    with socket.socket(fileno=fd) as sock:
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE)
        assert sock.gettimeout() is None  # blocking, as ssh expects its connection
        peer, _ = listener.accept()
        sock.sendall(b"SSH-2.0-x\r\n")
        assert peer.recv(64) == b"SSH-2.0-x\r\n"
        peer.close()


def test_dial_leaves_other_failures_to_ssh() -> None:
    closed = socket.create_server(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    assert dial("127.0.0.1", port) == (None, False)  # refused: ssh says so in its words
    assert dial("no-such-host.invalid", 22) == (None, False)
    assert dial("127.0.0.1", 22, timeout=0.0) == (None, True)


def test_a_first_call_that_timed_out_says_so_as_ssh_does(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(pgoctl, "dial", lambda *_: (None, True))
    args = pgoctl.parse_args(["-p", "2200", "example.org:svc//ping"])
    target = pgoctl.targets_of(args)[0]
    assert pgoctl.first_call(args, target, "/nonexistent", "key", {}) == (255, None, False)
    assert capsys.readouterr().err == ("ssh: connect to host example.org port 2200: "
                                       "Connection timed out\n")


def fake_ssh(tmp_path: Path, body: str) -> str:
    """An `ssh` running the shell `body`: its path (posix_spawnp runs a path as it is)."""
    script = tmp_path / "ssh"
    script.write_text(f"#!/bin/sh\n{body}\n")
    script.chmod(0o755)
    return str(script)


ENV = {"PATH": os.environ["PATH"]}


def test_start_master_gives_ssh_the_connection_as_stdin_and_stdout(
        tmp_path: Path, listener: socket.socket) -> None:
    ssh = fake_ssh(tmp_path, 'printf from-stdout; exit 0')
    fd, _ = dial("127.0.0.1", listener.getsockname()[1])
    assert fd is not None
    argv = [ssh, *master_options('"/x/s"'), "--", "host"]
    assert pgoctl.start_master(argv, ENV, fd) == (0, False, False)
    with pytest.raises(OSError, match="Bad file descriptor"):
        os.fstat(fd)  # ours is closed: only ssh (then its master) holds the connection
    peer, _ = listener.accept()
    assert peer.recv(64) == b"from-stdout"  # ssh's stdout is the connection
    peer.close()


def test_start_master_stops_an_ssh_that_lost_the_socket_to_another_master(
        tmp_path: Path, listener: socket.socket, capfd: pytest.CaptureFixture[str]) -> None:
    ssh = fake_ssh(tmp_path, 'echo "ControlSocket /x/s already exists, disabling '
                             'multiplexing" >&2; exec sleep 60')
    fd, _ = dial("127.0.0.1", listener.getsockname()[1])
    assert fd is not None
    before = signal.getsignal(signal.SIGTERM)
    start = time.monotonic()
    status, changed, lost = pgoctl.start_master([ssh], ENV, fd)
    assert time.monotonic() - start < 30 and lost and not changed
    assert status == 128 + signal.SIGTERM  # stopped by us: a connection of no use
    assert signal.getsignal(signal.SIGTERM) == before  # no longer forwarded to it
    assert "disabling multiplexing" in capfd.readouterr().err


def test_start_master_reports_ssh_failing_as_relay_does(tmp_path: Path) -> None:
    ssh = fake_ssh(tmp_path, "echo '@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!  @'"
                             " >&2; exit 255")
    a, b = _socket.socketpair()
    b.close()
    assert pgoctl.start_master([ssh], ENV, a.detach()) == (255, True, False)


def test_a_sigint_while_dialling_ends_the_call_as_it_ends_ssh(
        monkeypatch: pytest.MonkeyPatch) -> None:
    def dial(*_: object) -> tuple[int | None, bool]:
        raise KeyboardInterrupt

    monkeypatch.setattr(pgoctl, "dial", dial)
    args = pgoctl.parse_args(["example.org:svc//ping"])
    target = pgoctl.targets_of(args)[0]
    assert pgoctl.first_call(args, target, "/nonexistent", "key", {}) == (130, None, False)
