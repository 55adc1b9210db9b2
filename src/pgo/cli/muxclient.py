"""pgoctl's fast path: a session over a held OpenSSH master connection, without ssh.

A call that finds its master connection (`pgo.cli.sshmux`) speaks OpenSSH's multiplexing
protocol (PROTOCOL.mux, version 4) on the control socket itself, the way `ssh` does as a
mux client: HELLO both ways, MUX_C_NEW_SESSION with the command, then our stdin, stdout
and stderr as SCM_RIGHTS file descriptors; the master runs the session on its connection,
writes the output straight into those descriptors and sends MUX_S_EXIT_MESSAGE with the
remote exit status. No ssh process starts. Anything unexpected before the master says
MUX_S_SESSION_OPENED (no master, a stale socket, a master of another user, another
protocol version, a refusal) is a `MuxError`: the caller runs ssh instead, as before
(the command has not run). After it, the session is the master's: a master that goes
away without an exit status gives 255, as ssh's own mux client does.

The pure part: the messages (`hello`, `new_session`, `Packets`, `check_hello`,
`session_opened`, `exit_status`). The I/O: `open_session`, `wait_exit`. Few imports
(`_socket`, not socket, whose enums cost start-up time): this is every reused call.
"""

from __future__ import annotations

import _socket
import os
import sys

VERSION = 4
HELLO, NEW_SESSION = 0x00000001, 0x10000002
S_OK, S_PERMISSION_DENIED, S_FAILURE = 0x80000001, 0x80000002, 0x80000003
S_EXIT_MESSAGE, S_ALIVE, S_SESSION_OPENED = 0x80000004, 0x80000005, 0x80000006
S_TTY_ALLOC_FAIL = 0x80000008
NO_ESCAPE = 0xFFFFFFFF
MAX_PACKET = 256 * 1024  # mux.c's own limit on a message
HELLO_TIMEOUT = 15.0  # seconds; ssh's mux client waits ConnectTimeout (15 s, pgoctl's) too


class MuxError(Exception):
    """The master cannot run this session (it has not run): why, for a debug line."""


def u32(value: int) -> bytes:
    return value.to_bytes(4, "big")


def string(data: bytes) -> bytes:
    return u32(len(data)) + data


def packet(body: bytes) -> bytes:
    return u32(len(body)) + body


def hello() -> bytes:
    """Our MUX_MSG_HELLO: version 4, no extensions."""
    return packet(u32(HELLO) + u32(VERSION))


def new_session(request_id: int, command: bytes) -> bytes:
    """MUX_C_NEW_SESSION as `ssh -T` sends it: no tty, X11, agent or subsystem, no escape
    character, no terminal type, no environment (-F /dev/null: no SendEnv or SetEnv)."""
    return packet(u32(NEW_SESSION) + u32(request_id) + string(b"") + u32(0) * 4
                  + u32(NO_ESCAPE) + string(b"") + string(command))


class Packets:
    """Bytes from the control socket -> the bodies of complete messages."""

    def __init__(self) -> None:
        self.buffer = b""

    def feed(self, data: bytes) -> list[bytes]:
        self.buffer += data
        bodies = []
        while len(self.buffer) >= 4:
            size = int.from_bytes(self.buffer[:4], "big")
            if size > MAX_PACKET or size < 4:
                raise MuxError(f"a message of {size} bytes")
            if len(self.buffer) < 4 + size:
                break
            bodies.append(self.buffer[4:4 + size])
            self.buffer = self.buffer[4 + size:]
        return bodies


def words(body: bytes, count: int) -> list[int]:
    """The first `count` uint32s of a message (its type first)."""
    if len(body) < 4 * count:
        raise MuxError(f"a short message ({len(body)} bytes)")
    return [int.from_bytes(body[i:i + 4], "big") for i in range(0, 4 * count, 4)]


def reason(body: bytes, at: int) -> str:
    """The string at offset `at` (a failure's reason), as text; '' if there is none."""
    size = int.from_bytes(body[at:at + 4], "big")
    return body[at + 4:at + 4 + size].decode("utf-8", "replace")


def check_hello(body: bytes) -> None:
    """The master's HELLO: version 4 (its extensions, if any, do not matter to us)."""
    kind, version = words(body, 2)
    if kind != HELLO or version != VERSION:
        raise MuxError(f"expected HELLO version {VERSION}, got {kind:#x} {version}")


def session_opened(body: bytes, request_id: int) -> int:
    """The session id from MUX_S_SESSION_OPENED; a refusal or anything else: MuxError."""
    kind, rid = words(body, 2)
    if rid != request_id:
        raise MuxError(f"a reply to request {rid}, not {request_id}")
    if kind == S_SESSION_OPENED:
        return words(body, 3)[2]
    if kind in (S_PERMISSION_DENIED, S_FAILURE):
        raise MuxError(f"the master refused the session: {reason(body, 8)}")
    raise MuxError(f"unexpected reply {kind:#x}")


def exit_status(body: bytes, session: int) -> int | None:
    """The remote exit status from MUX_S_EXIT_MESSAGE (None for MUX_S_TTY_ALLOC_FAIL,
    which changes nothing here); anything else is a protocol error."""
    kind, sid = words(body, 2)
    if kind == S_TTY_ALLOC_FAIL and sid == session:
        return None
    if kind != S_EXIT_MESSAGE or sid != session:
        raise MuxError(f"unexpected message {kind:#x} for session {sid}")
    return words(body, 3)[2]


def _send_fds(sock: _socket.socket, fds: tuple[int, int, int]) -> None:
    """Each descriptor in a message of its own, one byte of data each (as ssh does)."""
    for fd in fds:
        rights = fd.to_bytes(4, sys.byteorder)
        sock.sendmsg([b"\0"], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, rights)])


def _peer_uid(sock: _socket.socket) -> int:
    creds = sock.getsockopt(_socket.SOL_SOCKET, _socket.SO_PEERCRED, 12)
    return int.from_bytes(creds[4:8], sys.byteorder)


def _read_message(sock: _socket.socket, packets: Packets, pending: list[bytes]) -> bytes:
    while not pending:
        data = sock.recv(65536)
        if not data:
            raise MuxError("the master closed the connection")
        pending.extend(packets.feed(data))
    return pending.pop(0)


def open_session(path: str, command: bytes, fds: tuple[int, int, int],
                 ) -> tuple[_socket.socket, int, Packets]:
    """A session of `command` on the master at `path` with stdin, stdout, stderr `fds`:
    the socket, the session id and what is left to read. MuxError if it did not start."""
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        sock.settimeout(HELLO_TIMEOUT)
        sock.connect(path)
        if (uid := _peer_uid(sock)) != os.geteuid():
            raise MuxError(f"the master is uid {uid}'s")
        packets, pending = Packets(), list[bytes]()
        sock.sendall(hello())
        check_hello(_read_message(sock, packets, pending))
        sock.sendall(new_session(1, command))
        _send_fds(sock, fds)
        session = session_opened(_read_message(sock, packets, pending), 1)
        sock.settimeout(None)
    except OSError as err:
        sock.close()
        raise MuxError(str(err)) from None
    except MuxError:
        sock.close()
        raise
    packets.buffer = b"".join(packet(body) for body in pending) + packets.buffer
    return sock, session, packets


def wait_exit(sock: _socket.socket, session: int, packets: Packets) -> int:
    """The session's exit status, once the master closes the control connection; 255 if
    it sent none (the master went away, the command died of a signal) or made no sense."""
    status, data = None, b""
    try:
        while True:
            for body in packets.feed(data):
                status = exit_status(body, session) if status is None else status
            data = sock.recv(65536)
            if not data:
                break
    except (OSError, MuxError):
        status = None
    finally:
        sock.close()
    return 255 if status is None else status
