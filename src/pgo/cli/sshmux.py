"""pgoctl's connection reuse: OpenSSH's own master connections, in a private directory.

The first pgoctl call to a host becomes (through ssh's ControlMaster=auto) a master that
stays in the background for CONTROL_PERSIST seconds after its last session; later calls
with the same key to the same host, port and user run as sessions over it, without a new
TCP connection, key exchange or authentication. The socket's name carries the key's
SHA256 fingerprint (and a hash of host, port, user, host-key mode), so a call with another
key never rides a connection that was authenticated with this one. The directory is the
user's own: created 0700, and refused (no reuse, a warning) if someone else owns it or may
write into it, or if a socket in it is not the user's.

The first call connects itself (`dial`): ssh sets TCP_NODELAY only once logged in, and
until then Nagle's algorithm holds each small packet of the handshake until the one before
is acknowledged, which pgod's side (like most servers) delays by up to 40 ms when it has
nothing to send back; that happened twice in each of ssh's logins here (bench/results.md,
"TCP_NODELAY from the start"). ssh is handed the connected socket as its stdin and stdout
(`ProxyCommand=-`, OpenSSH's way to use an open connection), logs in over it as the
master (`master_options`: -N, into the background once logged in) and the command runs as
a session of that master, as in every later call.

Few imports: this runs on every pgoctl call.
"""

from __future__ import annotations

import os
import stat

CONTROL_PERSIST = 60  # seconds an idle master stays
CONNECT_TIMEOUT = 15.0  # seconds, for every address together: ssh's ConnectTimeout (pgoctl's)
# sun_path holds 108 bytes; ssh first binds PATH.XXXXXXXXXXXXXXXX, then renames it.
_MAX_PATH = 107 - 17
_OPENSSH_KEY = b"openssh-key-v1\0"


def _b64(data: bytes) -> str:
    import binascii  # noqa: PLC0415

    return binascii.b2a_base64(data, newline=False).decode().rstrip("=")


def _sha256(data: bytes) -> bytes:
    """SHA-256 from CPython's own module (3.11: _sha256, 3.12+: _sha2), not hashlib, whose
    OpenSSL costs ~8 ms of CPU at every start; hashlib where neither exists."""
    for name in ("_sha256", "_sha2"):
        try:
            digest: bytes = __import__(name).sha256(data).digest()
        except ImportError:
            continue
        return digest
    import hashlib  # noqa: PLC0415

    return hashlib.sha256(data).digest()


def public_blob(text: str) -> bytes | None:
    """The public key inside an OpenSSH private key file (stored in clear even when the
    private part is encrypted); None for another format or a damaged file."""
    import binascii  # noqa: PLC0415

    lines = text.strip().splitlines()
    if len(lines) < 3 or "OPENSSH PRIVATE KEY" not in lines[0]:
        return None
    try:
        data = binascii.a2b_base64("".join(lines[1:-1]))
    except binascii.Error:
        return None
    if not data.startswith(_OPENSSH_KEY):
        return None
    at = len(_OPENSSH_KEY)
    for _ in range(3):  # cipher name, kdf name, kdf options
        at += 4 + int.from_bytes(data[at:at + 4], "big")
    at += 4  # the number of keys
    size = int.from_bytes(data[at:at + 4], "big")
    blob = data[at + 4:at + 4 + size]
    return blob if size and len(blob) == size else None


def key_fingerprint(key_path: str) -> str | None:
    """`SHA256:...` as `ssh-keygen -l` prints it; for a key in another format (PEM), a
    hash of the file's text instead, `file:...` (another text: another connection); None
    for what is not a regular file (a FIFO is read once, by ssh) or cannot be read."""
    try:
        fd = os.open(key_path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        raw = handle.read(65536)
    blob = public_blob(raw.decode("ascii", "replace"))
    if blob is not None:
        return "SHA256:" + _b64(_sha256(blob))
    return "file:" + _b64(_sha256(raw))


def control_directory() -> str:
    """$XDG_RUNTIME_DIR/pgoctl, else $XDG_CACHE_HOME/pgoctl, else ~/.cache/pgoctl."""
    runtime = os.environ.get("XDG_RUNTIME_DIR", "")
    if runtime.startswith("/"):
        return os.path.join(runtime, "pgoctl")
    cache = os.environ.get("XDG_CACHE_HOME", "")
    if not cache.startswith("/"):
        cache = os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(cache, "pgoctl")


def socket_name(fingerprint: str, where: str) -> str:
    """The fingerprint's first 22 base64 characters (132 bits; '/' and '+' made '_' and
    '-'), then a hash of `where` (host, port, user, host-key mode)."""
    kind, _, value = fingerprint.partition(":")
    key = value[:22].replace("/", "_").replace("+", "-")
    place = _b64(_sha256(where.encode()))[:12].replace("/", "_").replace("+", "-")
    return f"{'k' if kind == 'SHA256' else 'f'}{key}-{place}"


def unsafe(directory: str, path: str) -> str:
    """Why `directory`, or the socket `path` in it, must not be used ('' if it may)."""
    uid = os.geteuid()
    try:
        os.makedirs(directory, mode=0o700, exist_ok=True)
        info = os.lstat(directory)
    except OSError as err:
        return f"{directory}: {err.strerror}"
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != uid:
        return f"{directory} is not a directory of this user's"
    if info.st_mode & 0o022:
        return f"{directory} may be written by others (mode {stat.S_IMODE(info.st_mode):o})"
    return _unsafe_socket(path, uid)


def _unsafe_socket(path: str, uid: int) -> str:
    try:
        sock = os.lstat(path)
    except FileNotFoundError:
        return ""
    except OSError as err:
        return f"{path}: {err.strerror}"
    if not stat.S_ISSOCK(sock.st_mode) or sock.st_uid != uid:
        return f"{path} is not a socket of this user's"
    return ""


def control_path(key_path: str, where: str) -> tuple[str | None, str]:
    """The socket for this key and place, or None and why not (too long, unsafe)."""
    fingerprint = key_fingerprint(key_path)
    if fingerprint is None:
        return None, f"{key_path} is not a regular file"
    directory = control_directory()
    path = os.path.join(directory, socket_name(fingerprint, where))
    if len(os.fsencode(path)) > _MAX_PATH:
        return None, f"{path} is too long for a unix socket"
    problem = unsafe(directory, path)
    return (None, problem) if problem else (path, "")


def mux_options(path: str | None, quoted: str = "") -> list[str]:
    """ssh's options: a master connection at `path` (`quoted` as ssh_path gives it), or
    none at all."""
    if path is None:
        return ["-o", "ControlMaster=no", "-o", "ControlPath=none"]
    return ["-o", "ControlMaster=auto", "-o", f"ControlPath={quoted}",
            "-o", f"ControlPersist={CONTROL_PERSIST}"]


def master_options(quoted: str) -> list[str]:
    """ssh's options to log in as the master at the socket `quoted` (as ssh_path gives it)
    over the connection on its stdin and stdout (`dial`), with no session of its own."""
    return ["-N", "-o", "ProxyCommand=-", "-o", "ControlMaster=yes",
            "-o", f"ControlPath={quoted}", "-o", f"ControlPersist={CONTROL_PERSIST}"]


def dial(host: str, port: int, timeout: float = CONNECT_TIMEOUT) -> tuple[int | None, bool]:
    """A TCP connection to `host`, `port` with TCP_NODELAY (and SO_KEEPALIVE, as ssh sets
    it), trying each address in turn as ssh does: its descriptor, or None and whether the
    time ran out. None otherwise (no such host, refused, ...): ssh then connects itself and
    says why, in its own words."""
    import _socket  # noqa: PLC0415 (the socket module's enums cost start-up time)
    import time  # noqa: PLC0415

    deadline, timed_out = time.monotonic() + timeout, False
    try:
        addresses = _socket.getaddrinfo(host, port, 0, _socket.SOCK_STREAM)
    except OSError:
        return None, False
    for family, kind, proto, _, address in addresses:
        if (left := deadline - time.monotonic()) <= 0:
            break
        sock = _socket.socket(family, kind, proto)
        try:
            sock.setsockopt(_socket.SOL_SOCKET, _socket.SO_KEEPALIVE, 1)
            sock.setsockopt(_socket.IPPROTO_TCP, _socket.TCP_NODELAY, 1)
            sock.settimeout(left)
            sock.connect(address)
            sock.settimeout(None)
        except OSError as err:
            sock.close()
            timed_out = isinstance(err, TimeoutError)
            continue
        return sock.detach(), False
    return None, timed_out or deadline <= time.monotonic()
