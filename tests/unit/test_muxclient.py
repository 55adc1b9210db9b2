"""pgoctl's own mux client: the messages of OpenSSH's PROTOCOL.mux, and the session over
a control socket (here a small master in a thread, playing mux.c's side of the protocol;
tests/integration/test_pgoctl_hosts.py runs it against a real OpenSSH master and pgod)."""

from __future__ import annotations

import array
import os
import signal
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pgo.cli import muxclient, pgoctl
from pgo.cli.muxclient import MuxError, Packets, packet, string, u32


def test_hello_is_version_4_without_extensions() -> None:
    assert muxclient.hello() == bytes.fromhex("00000008" "00000001" "00000004")


def test_new_session_is_what_ssh_dash_t_sends() -> None:
    body = muxclient.new_session(7, b"alpha//logs --tail 5")
    (whole,) = Packets().feed(body)
    assert muxclient.words(whole, 2) == [muxclient.NEW_SESSION, 7]
    rest = whole[8:]
    assert rest[:4] == u32(0)  # reserved: an empty string
    assert rest[4:20] == u32(0) * 4  # no tty, X11, agent, subsystem
    assert rest[20:24] == u32(0xFFFFFFFF)  # no escape character
    assert rest[24:] == string(b"") + string(b"alpha//logs --tail 5")  # no TERM, no env


def test_packets_across_reads_and_several_in_one() -> None:
    data = packet(b"\0\0\0\1abc") + packet(b"\0\0\0\2")
    packets = Packets()
    assert packets.feed(data[:3]) == []
    assert packets.feed(data[3:9]) == []
    assert packets.feed(data[9:]) == [b"\0\0\0\1abc", b"\0\0\0\2"]
    assert packets.buffer == b""


@pytest.mark.parametrize("size", [0, 3, muxclient.MAX_PACKET + 1])
def test_a_nonsense_length_is_a_protocol_error(size: int) -> None:
    with pytest.raises(MuxError, match=f"{size} bytes"):
        Packets().feed(u32(size) + b"\0" * 8)


def test_the_masters_hello() -> None:
    muxclient.check_hello(u32(1) + u32(4))
    muxclient.check_hello(u32(1) + u32(4) + string(b"info") + string(b""))  # an extension
    for body in (u32(1) + u32(3), u32(0x80000001) + u32(4), u32(1)):
        with pytest.raises(MuxError):
            muxclient.check_hello(body)


def test_session_opened_or_why_not() -> None:
    assert muxclient.session_opened(u32(muxclient.S_SESSION_OPENED) + u32(1) + u32(9), 1) == 9
    for body, why in ((u32(muxclient.S_FAILURE) + u32(1) + string(b"no channel"),
                       "refused the session: no channel"),
                      (u32(muxclient.S_PERMISSION_DENIED) + u32(1) + string(b"Permission"),
                       "refused the session: Permission"),
                      (u32(muxclient.S_SESSION_OPENED) + u32(2) + u32(9), "request 2, not 1"),
                      (u32(muxclient.S_ALIVE) + u32(1) + u32(123), "unexpected reply"),
                      (u32(muxclient.S_SESSION_OPENED) + u32(1), "short message")):
        with pytest.raises(MuxError, match=why):
            muxclient.session_opened(body, 1)


def test_exit_status_is_the_whole_value() -> None:
    assert muxclient.exit_status(u32(muxclient.S_EXIT_MESSAGE) + u32(3) + u32(404), 3) == 404
    assert muxclient.exit_status(u32(muxclient.S_TTY_ALLOC_FAIL) + u32(3), 3) is None
    for body in (u32(muxclient.S_EXIT_MESSAGE) + u32(4) + u32(0),
                 u32(muxclient.S_FAILURE) + u32(3) + string(b"x")):
        with pytest.raises(MuxError):
            muxclient.exit_status(body, 3)


Script = Callable[[socket.socket], None]


def _read(conn: socket.socket) -> bytes:
    size = int.from_bytes(conn.recv(4, socket.MSG_WAITALL), "big")
    return conn.recv(size, socket.MSG_WAITALL) if size else b""


def _receive_fds(conn: socket.socket) -> list[int]:
    fds = array.array("i")
    for _ in range(3):  # one per message, as ssh sends them
        _, ancillary, _, _ = conn.recvmsg(1, socket.CMSG_SPACE(4))
        fds.frombytes(ancillary[0][2])
    return list(fds)


def session(exit_body: bytes | None, out: bytes = b"", err: bytes = b"",
            version: int = 4, reply: bytes | None = None) -> Script:
    """A master's side of one session, as mux.c plays it."""
    def script(conn: socket.socket) -> None:
        conn.sendall(packet(u32(1) + u32(version)))
        if _read(conn) != u32(1) + u32(4):
            return
        request = _read(conn)
        if request[:4] != u32(muxclient.NEW_SESSION):
            return
        fds = _receive_fds(conn)
        conn.sendall(packet(reply or u32(muxclient.S_SESSION_OPENED) + request[4:8] + u32(5)))
        os.write(fds[1], out)
        os.write(fds[2], err)
        for fd in fds:
            os.close(fd)
        if exit_body is not None:
            conn.sendall(packet(exit_body))
    return script


@pytest.fixture
def control(tmp_path: Path) -> Path:
    return tmp_path / "control"


@pytest.fixture
def master(control: Path) -> Iterator[Callable[[Script], None]]:
    """Serve one connection at `control` with a script, in a thread."""
    listener = socket.socket(socket.AF_UNIX)
    threads = []

    def serve(script: Script) -> None:
        listener.bind(str(control))
        listener.listen(1)

        def one() -> None:
            conn, _ = listener.accept()
            with conn:
                script(conn)
        threads.append(threading.Thread(target=one, daemon=True))
        threads[-1].start()
    yield serve
    listener.close()
    for thread in threads:
        thread.join(10)


def _pipes() -> tuple[tuple[int, int, int], int, int]:
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    stdin = os.open(os.devnull, os.O_RDONLY)
    return (stdin, out_w, err_w), out_r, err_r


def _run(path: Path) -> tuple[int, bytes, bytes]:
    fds, out_r, err_r = _pipes()
    try:
        sock, sid, rest = muxclient.open_session(str(path), b"alpha//ping", fds)
    finally:
        for fd in fds:
            os.close(fd)
    status = muxclient.wait_exit(sock, sid, rest)
    with os.fdopen(out_r, "rb") as out, os.fdopen(err_r, "rb") as err:
        return status, out.read(), err.read()


def test_a_session_over_the_socket(control: Path, master: Callable[[Script], None]) -> None:
    exit_body = u32(muxclient.S_EXIT_MESSAGE) + u32(5) + u32(404)
    master(session(exit_body, b"", b"pgod: 404 Not Found: no service\n"))
    assert _run(control) == (404, b"", b"pgod: 404 Not Found: no service\n")


def test_a_master_gone_without_an_exit_status_is_255(
        control: Path, master: Callable[[Script], None]) -> None:
    master(session(None, b"pong\n"))
    assert _run(control) == (255, b"pong\n", b"")


@pytest.mark.parametrize("script", [
    session(None, version=3),
    session(None, reply=u32(muxclient.S_FAILURE) + u32(1) + string(b"Session open refused")),
])
def test_what_the_master_will_not_run_is_a_mux_error(
        control: Path, master: Callable[[Script], None], script: Script) -> None:
    master(script)
    with pytest.raises(MuxError):
        _run(control)


def test_no_master_is_a_mux_error(control: Path) -> None:
    with pytest.raises(MuxError):
        _run(control)  # no socket at all
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(str(control))  # a socket nobody listens on: its master went away
    stale.close()
    with pytest.raises(MuxError):
        _run(control)


def test_relay_mux_maps_a_refusal_like_relay(
        control: Path, master: Callable[[Script], None],
        capfd: pytest.CaptureFixture[str]) -> None:
    exit_body = u32(muxclient.S_EXIT_MESSAGE) + u32(5) + u32(409)
    master(session(exit_body, b"", b"pgod: 409 Conflict: kept down\n"))
    status, refusal, changed = pgoctl.relay_mux(str(control), "alpha//up") or (0, 0, True)
    assert (status, refusal, changed) == (409 & 0xFF, 409, False)
    assert pgoctl.exit_code(status, refusal) == 69
    assert capfd.readouterr().err == "pgod: 409 Conflict: kept down\n"


def test_relay_mux_gives_way_to_ssh_where_the_master_will_not_run_it(
        control: Path, master: Callable[[Script], None]) -> None:
    assert pgoctl.relay_mux(str(control), "alpha//ping") is None
    master(session(None, reply=u32(muxclient.S_PERMISSION_DENIED) + u32(1)
                                          + string(b"Permission denied")))
    assert pgoctl.relay_mux(str(control), "alpha//ping") is None


@pytest.mark.parametrize(("argv", "paths", "exists", "held"), [
    (["h:s//ping"], ["/run/k"], True, "/run/k"),
    (["h:s//ping"], ["/run/k"], False, None),  # no master yet: ssh, which becomes it
    (["h:s//ping"], [None], True, None),  # --no-reuse, or an unsafe directory
    (["--json", "h:s//status"], ["/run/k"], True, None),
    (["h1,h2:s//ping"], ["/run/k1", "/run/k2"], True, None),  # several: ssh over each
])
def test_which_calls_run_without_ssh(argv: list[str], paths: list[str | None],
                                     exists: bool, held: str | None) -> None:
    args = pgoctl.parse_args(argv)
    assert pgoctl.held_socket(args, paths, lambda _path: exists) == held


def test_a_signal_ends_the_session_by_closing_the_control_connection(
        control: Path, master: Callable[[Script], None]) -> None:
    closed = threading.Event()

    def script(conn: socket.socket) -> None:  # a session that would run for ever
        conn.sendall(packet(u32(1) + u32(4)))
        _read(conn)
        request = _read(conn)
        fds = _receive_fds(conn)
        conn.sendall(packet(u32(muxclient.S_SESSION_OPENED) + request[4:8] + u32(5)))
        if conn.recv(1) == b"":  # the client closed: mux.c ends the session
            closed.set()
        for fd in fds:
            os.close(fd)
    master(script)
    handler = signal.getsignal(signal.SIGTERM)
    timer = threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGTERM))
    timer.start()
    try:
        assert pgoctl.relay_mux(str(control), "alpha//logs -f") == (255, None, False)
    finally:
        timer.cancel()
    assert closed.wait(10)
    assert signal.getsignal(signal.SIGTERM) is handler  # put back
