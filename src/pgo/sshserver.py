"""pgod's SSH interface: public-key auth against each service's committed keys, then one
`SERVICE//COMMAND [ARGS]` per session. No shell, no forwarding, no subsystems.

Authorization is bound to the key that signed: every allowed key is an authorized_keys
entry carrying `pgo-service` options, and asyncssh reports the options of the entry that
authenticated the connection (`get_key_option`), not of keys merely offered.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import ipaddress
import logging
import math
import os
from collections.abc import Callable, Iterable, Mapping
from typing import ClassVar

import asyncssh

from pgo.errors import PgoError
from pgo.keys import OperatorKey
from pgo.penalties import Failure, Penalties, Penalty

log = logging.getLogger("pgo.ssh")

LOGIN_TIMEOUT = 30
MAX_UNAUTHENTICATED = 32            # at once, from everywhere
MAX_UNAUTHENTICATED_PER_ADDRESS = 8  # so one address cannot take all of them
MAX_AUTH_TRIES = 6                  # refused keys per connection, as OpenSSH's MaxAuthTries
MAX_LOGGED_USERNAME = 64            # the client chooses it: log no more of it than this
SERVICE_OPTION = "pgo-service"
KEY_OPTION = "pgo-key"

# What pgod offers in its key exchange, no more (ssh-audit finds nothing to fail or warn
# about): curve25519, alone or in the ML-KEM post-quantum hybrid; AEAD ciphers only, so the
# MACs, etm with 128-bit tags or more, are never used but must be offered; no compression;
# no SHA-1 and no ssh.com names anywhere. OpenSSH 9.2 (Debian 12) negotiates
# curve25519-sha256 and chacha20-poly1305; asyncssh (pgoctl) mlkem768x25519-sha256.
KEX_ALGS = ("mlkem768x25519-sha256", "curve25519-sha256", "curve25519-sha256@libssh.org")
ENCRYPTION_ALGS = ("chacha20-poly1305@openssh.com", "aes256-gcm@openssh.com",
                   "aes128-gcm@openssh.com")
MAC_ALGS = ("hmac-sha2-256-etm@openssh.com", "hmac-sha2-512-etm@openssh.com",
            "umac-128-etm@openssh.com")
COMPRESSION_ALGS = ("none",)
# The signatures operators' keys may sign with (server-sig-algs): not ssh-rsa (SHA-1), not
# ssh-dss, not the ssh.com RSA names. The host key is ed25519 and signs with ssh-ed25519.
SIGNATURE_ALGS = ("ssh-ed25519", "sk-ssh-ed25519@openssh.com", "rsa-sha2-512", "rsa-sha2-256",
                  "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521",
                  "sk-ecdsa-sha2-nistp256@openssh.com")


def client_network(address: str) -> str:
    """What one client is, for the per-address cap: an IPv4 address (also when mapped into
    IPv6), or an IPv6 /64, since one host usually holds a whole /64 and picks any in it."""
    try:
        ip = ipaddress.ip_address(address.partition("%")[0])
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def load_host_key(path: str) -> asyncssh.SSHKey:
    """The server's ed25519 host key: generated once (mode 0600), reused ever after. A key
    file that cannot be read is a PgoError naming it (pgod does not replace it: clients
    have pinned the key it held)."""
    if os.path.lexists(path):
        try:
            return asyncssh.read_private_key(path)
        except (OSError, asyncssh.KeyImportError) as err:
            empty = os.path.isfile(path) and os.path.getsize(path) == 0
            raise PgoError(
                f"cannot read the SSH host key {path}: "
                + ("the file is empty" if empty else str(err) or type(err).__name__)
                + "; move it away and pgod generates a new one (clients then see a changed "
                "host key)") from None
    key = asyncssh.generate_private_key("ssh-ed25519")
    _write_new(path, key.export_private_key())
    log.info("generated SSH host key %s (%s)", path, key.get_fingerprint())
    return key


def known_hosts_line(key: asyncssh.SSHKey, host: str, port: int) -> str:
    """The known_hosts line for pgod's host `key` at `host`:`port`, as OpenSSH writes it
    (`[HOST]:PORT` unless the port is 22). No host (pgod listens on every address) is `*`,
    a pattern that matches any host name: the admin puts the names clients use there."""
    name = host or "*"
    pattern = name if port == 22 else f"[{name}]:{port}"
    algorithm, blob = key.export_public_key("openssh").decode("ascii").split()[:2]
    return f"{pattern} {algorithm} {blob}"


def _write_new(path: str, data: bytes) -> None:
    """Write `data` to `path` (mode 0600) all at once: into a temporary file beside it,
    synced, then renamed, so a crash leaves no file or the whole file, never a part."""
    tmp = path + ".tmp"
    with contextlib.suppress(FileNotFoundError):
        os.unlink(tmp)  # left by a crash; the directory is pgod's own (0700)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    directory = os.open(os.path.dirname(path) or ".", os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def authorized_keys(keys: Mapping[str, Iterable[OperatorKey]]) -> str:
    """authorized_keys text: one line per distinct key, one pgo-service option per service
    and the key's fingerprint as pgo-key."""
    services: dict[str, list[str]] = {}
    fingerprints: dict[str, str] = {}
    for service, service_keys in sorted(keys.items()):
        for key in service_keys:
            services.setdefault(key.public, []).append(service)
            fingerprints[key.public] = key.fingerprint
    return "".join(
        ",".join(f'{SERVICE_OPTION}="{s}"' for s in names)
        + f',{KEY_OPTION}="{fingerprints[public]}" {public}\n'
        for public, names in services.items())


def granted_services(conn: asyncssh.SSHServerConnection) -> frozenset[str]:
    """The services of the key that authenticated `conn`."""
    value = conn.get_key_option(SERVICE_OPTION, [])
    return frozenset(value) if isinstance(value, list) else frozenset()


def signing_key(conn: asyncssh.SSHServerConnection) -> str | None:
    """The fingerprint of the key that authenticated `conn`."""
    value = conn.get_key_option(KEY_OPTION, [])
    return value[0] if isinstance(value, list) and len(value) == 1 else None


class KeyServer(asyncssh.SSHServer):
    """Authentication only: public keys from the services' repositories, nothing else."""

    unauthenticated = 0
    per_address: ClassVar[dict[str, int]] = {}

    def __init__(self, keys: Callable[[], Mapping[str, Iterable[OperatorKey]]],
                 penalties: Penalties) -> None:
        self._keys = keys
        self._penalties = penalties
        self._conn: asyncssh.SSHServerConnection | None = None
        self._peer = "?"
        self._address = "?"
        self._counted = False
        self._refused = 0
        self._judged = False  # its end was counted, or it was refused as penalised
        self._guarded = False  # its signature check refuses what SIGNATURE_ALGS does not list

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self._conn = conn
        peer = conn.get_extra_info("peername")
        self._address = client_network(str(peer[0])) if peer else "?"
        self._peer = f"{peer[0]}:{peer[1]}" if peer else "?"
        if left := self._penalties.refusing(self._address):
            # Closed before the client's version is read: no key exchange is started.
            log.debug("refusing connection from %s: penalised for %.0fs more", self._peer,
                      left)
            self._judged = True
            asyncio.get_running_loop().call_soon(
                conn.disconnect, asyncssh.DISC_HOST_NOT_ALLOWED_TO_CONNECT,
                f"penalised for connections that did not authenticate: try again in "
                f"{math.ceil(left)}s")
            return
        from_here = KeyServer.per_address.get(self._address, 0)
        if KeyServer.unauthenticated >= MAX_UNAUTHENTICATED or \
                from_here >= MAX_UNAUTHENTICATED_PER_ADDRESS:
            log.warning("refusing connection from %s: %d unauthenticated connections open "
                        "(%d from %s)", self._peer, KeyServer.unauthenticated,
                        from_here, self._address)
            asyncio.get_running_loop().call_soon(conn.close)
            return
        KeyServer.unauthenticated += 1
        KeyServer.per_address[self._address] = from_here + 1
        self._counted = True

    def connection_lost(self, exc: Exception | None) -> None:
        self._uncount()
        if not self._judged:
            self._judged = True
            failure = Failure.AUTH if self._refused else Failure.NOAUTH
            if penalty := self._penalties.failed(self._address, failure):
                log_penalty(penalty, failure)

    def begin_auth(self, username: str) -> bool:
        assert self._conn is not None
        self._conn.set_authorized_keys(imported_keys(authorized_keys(self._keys())))
        if not self._guarded:
            self._guarded = True
            guard_signatures(self._conn, self._bad_signature)
        return True  # always require authentication

    def _bad_signature(self, algorithm: str) -> None:
        self._refused += 1
        log.warning("refused a signature from %s made with %s: pgod accepts only %s",
                    self._peer, algorithm[:MAX_LOGGED_USERNAME] or "no algorithm",
                    ", ".join(SIGNATURE_ALGS))

    def auth_completed(self) -> None:
        self._uncount()
        self._judged = True
        self._penalties.succeeded(self._address)

    def _uncount(self) -> None:
        if self._counted:
            KeyServer.unauthenticated -= 1
            left = KeyServer.per_address.pop(self._address) - 1
            if left:
                KeyServer.per_address[self._address] = left
            self._counted = False

    def public_key_auth_supported(self) -> bool:
        return True

    def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        # Only reached for keys that match no service's authorized key.
        self._refused += 1
        log.warning("refused key %s from %s (user %s): not allowed for any service",
                    key.get_fingerprint(), self._peer, loggable_username(username))
        if self._refused >= MAX_AUTH_TRIES:
            log.warning("disconnecting %s: %d keys refused", self._peer, self._refused)
            raise asyncssh.PermissionDenied("Too many authentication failures")
        return False

    def password_auth_supported(self) -> bool:
        return False

    def kbdint_auth_supported(self) -> bool:
        return False


def signature_algorithm(signature: bytes) -> str:
    """The algorithm an SSH signature blob names (its first string); "" if it names none."""
    if len(signature) < 4:
        return ""
    size = int.from_bytes(signature[:4], "big")
    name = signature[4:4 + size]
    if len(name) != size:
        return ""
    return name.decode("ascii", "replace")


def guard_signatures(conn: asyncssh.SSHServerConnection,
                     refused: Callable[[str], None]) -> None:
    """Make `conn` refuse a client signature made with an algorithm not in SIGNATURE_ALGS.

    asyncssh advertises only SIGNATURE_ALGS (server-sig-algs) but verifies a signature with
    any algorithm the key's type knows: an RSA key signing with ssh-rsa (SHA-1), which a
    client may send whatever the server advertised, would be accepted. Its connection's
    `validate_public_key(username, key_data, msg, signature)` checks key and signature;
    the wrapper looks at the signature's algorithm first (tested against a real asyncssh
    client signing with ssh-rsa in tests/unit/test_sshserver.py)."""
    check = conn.validate_public_key

    async def validate(username: str, key_data: bytes, msg: bytes, signature: bytes) -> bool:
        if msg and (name := signature_algorithm(signature)) not in SIGNATURE_ALGS:
            refused(name)
            return False
        return await check(username, key_data, msg, signature)
    setattr(conn, "validate_public_key", validate)  # noqa: B010 (mypy: no method assign)


def log_penalty(penalty: Penalty, failure: Failure) -> None:
    """One line per penalty (not per refused connection)."""
    log.warning("penalising %s for %.0fs (penalty %d%s): its connections keep ending "
                "without authenticating, the last one with %s; its connections are refused "
                "until then", penalty.source, penalty.seconds, penalty.nth,
                ", though it authenticated before" if penalty.trusted else "",
                failure.value)


@functools.lru_cache(maxsize=1)
def imported_keys(text: str) -> asyncssh.SSHAuthorizedKeys | None:
    """authorized_keys `text` as asyncssh reads it (None: no keys at all). Cached: every
    connection uses the same import until a service's keys change (asyncssh only reads
    it)."""
    return asyncssh.import_authorized_keys(text) if text else None


def loggable_username(username: str) -> str:
    """The client-chosen user name for a log line: quoted, at most MAX_LOGGED_USERNAME
    characters of it."""
    if len(username) <= MAX_LOGGED_USERNAME:
        return repr(username)
    return f"{username[:MAX_LOGGED_USERNAME]!r}... ({len(username)} characters)"
