import asyncio
import os
from pathlib import Path

import asyncssh
import pytest

from pgo.errors import PgoError
from pgo.keys import OperatorKey, parse_key
from pgo.penalties import Failure, Penalties
from pgo.sshserver import (
    ENCRYPTION_ALGS,
    KEX_ALGS,
    KEY_OPTION,
    MAC_ALGS,
    MAX_AUTH_TRIES,
    SERVICE_OPTION,
    SIGNATURE_ALGS,
    KeyServer,
    authorized_keys,
    client_network,
    imported_keys,
    known_hosts_line,
    load_host_key,
    loggable_username,
    signature_algorithm,
)


def make_key() -> OperatorKey:
    private = asyncssh.generate_private_key("ssh-ed25519")
    public = private.export_public_key().decode().strip() + " alice@laptop"
    parsed = parse_key(public)
    assert parsed is not None
    return OperatorKey("ssh/alice.pub", *parsed)


def test_parse_key_strips_the_comment_and_rejects_junk() -> None:
    key = make_key()
    assert "alice" not in key.public and key.fingerprint.startswith("SHA256:")
    assert parse_key("not a key") is None
    assert parse_key("") is None
    assert parse_key(key.public + "\n" + key.public) is None  # one key per file
    assert parse_key('command="id" ' + key.public) is None


def test_one_line_per_key_listing_every_service_it_may_use() -> None:
    shared, only_b = make_key(), make_key()
    text = authorized_keys({"a": [shared], "b": [shared, only_b], "c": []})
    lines = text.splitlines()
    assert len(lines) == 2
    imported = asyncssh.import_authorized_keys(text)
    assert imported is not None
    assert (f'{SERVICE_OPTION}="a",{SERVICE_OPTION}="b",{KEY_OPTION}="{shared.fingerprint}" '
            f'{shared.public}') in lines
    assert f'{SERVICE_OPTION}="b",{KEY_OPTION}="{only_b.fingerprint}" {only_b.public}' in lines


def test_no_keys_no_lines() -> None:
    assert authorized_keys({"a": []}) == ""


@pytest.mark.parametrize(("peer", "client"), [
    ("192.0.2.7", "192.0.2.7"),
    ("::ffff:192.0.2.7", "192.0.2.7"),                     # IPv4 on a dual-stack socket
    ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
    ("2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"),  # same host, another address
    ("2001:db8:1:3::1", "2001:db8:1:3::/64"),
    ("fe80::1%eth0", "fe80::/64"),
    ("not an address", "not an address"),
])
def test_client_network_groups_an_ipv6_host_by_its_64(peer: str, client: str) -> None:
    assert client_network(peer) == client


def test_a_connection_is_dropped_after_six_refused_keys(
        caplog: pytest.LogCaptureFixture) -> None:
    server = KeyServer(dict, Penalties())
    key = asyncssh.generate_private_key("ssh-ed25519")
    for _ in range(MAX_AUTH_TRIES - 1):
        assert server.validate_public_key("bob", key) is False
    with pytest.raises(asyncssh.PermissionDenied, match="Too many authentication failures"):
        server.validate_public_key("bob", key)
    assert caplog.text.count("refused key") == MAX_AUTH_TRIES
    assert "disconnecting ?: 6 keys refused" in caplog.text


def test_a_long_user_name_is_logged_cut_and_quoted(caplog: pytest.LogCaptureFixture) -> None:
    KeyServer(dict, Penalties()).validate_public_key("x" * 5000 + "\n",
                                        asyncssh.generate_private_key("ssh-ed25519"))
    assert f"(user {'x' * 64!r}... (5001 characters))" in caplog.text
    assert "x" * 65 not in caplog.text
    assert loggable_username("bob\n") == "'bob\\n'"


def test_authorized_keys_are_imported_once_per_text() -> None:
    text = authorized_keys({"a": [make_key()]})
    first = imported_keys(text)
    assert first is not None and imported_keys(text) is first
    assert imported_keys(authorized_keys({"a": [make_key()]})) is not first
    assert imported_keys("") is None


def test_host_key_is_generated_once_mode_0600_and_reused(tmp_path: Path) -> None:
    path = str(tmp_path / "host_key")
    (tmp_path / "host_key.tmp").write_text("left by a crash")
    key = load_host_key(path)
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert not (tmp_path / "host_key.tmp").exists()
    assert load_host_key(path).get_fingerprint() == key.get_fingerprint()


@pytest.mark.parametrize(("content", "reason"), [
    (b"", "the file is empty"),
    (b"-----BEGIN OPENSSH PRIVATE KEY-----\ngarbage\n", "cannot read the SSH host key"),
])
def test_an_unreadable_host_key_is_an_error_naming_the_file(tmp_path: Path, content: bytes,
                                                             reason: str) -> None:
    path = tmp_path / "host_key"
    path.write_bytes(content)
    with pytest.raises(PgoError, match="cannot read the SSH host key") as caught:
        load_host_key(str(path))
    assert str(path) in str(caught.value) and reason in str(caught.value)
    assert "move it away" in str(caught.value)
    assert path.read_bytes() == content  # left alone


def test_a_failed_host_key_write_leaves_no_file(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """A crash (here: fsync failing) between creating and filling the file: no key file,
    so the next start generates one instead of failing on an empty one."""
    def fail(fd: int) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", fail)
    with pytest.raises(OSError, match="disk full"):
        load_host_key(str(tmp_path / "host_key"))
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("host", "port", "pattern"), [
    ("", 2222, "[*]:2222"),             # every address: any host name matches
    ("127.0.0.1", 2222, "[127.0.0.1]:2222"),
    ("::1", 2222, "[::1]:2222"),
    ("pgo.example.org", 22, "pgo.example.org"),  # OpenSSH writes port 22 bare
    ("", 22, "*"),
])
def test_known_hosts_line(host: str, port: int, pattern: str) -> None:
    key = asyncssh.generate_private_key("ssh-ed25519", comment="root@host")
    public = key.export_public_key("openssh").decode().split()[1]
    assert known_hosts_line(key, host, port) == f"{pattern} ssh-ed25519 {public}"


class FakeConnection:
    """What KeyServer asks of asyncssh's connection: the peer, and close."""

    def __init__(self, address: str) -> None:
        self.address, self.closed = address, False

    def get_extra_info(self, name: str) -> tuple[str, int]:
        assert name == "peername"
        return (self.address, 40000)

    def close(self) -> None:
        self.closed = True

    def disconnect(self, code: int, reason: str) -> None:
        assert code == asyncssh.DISC_HOST_NOT_ALLOWED_TO_CONNECT
        assert reason.startswith("penalised for connections that did not authenticate: "
                                 "try again in 30s")
        self.closed = True


def connect(penalties: Penalties, address: str) -> tuple[KeyServer, FakeConnection]:
    server, conn = KeyServer(dict, penalties), FakeConnection(address)
    server.connection_made(conn)  # type: ignore[arg-type]
    return server, conn


def test_connections_that_end_unauthenticated_are_counted_per_source(
        caplog: pytest.LogCaptureFixture) -> None:
    async def scenario() -> None:
        penalties = Penalties(clock=lambda: 0.0)
        key = asyncssh.generate_private_key("ssh-ed25519")
        for _ in range(8):  # refused keys: a point each, the 8th earns a penalty
            server, conn = connect(penalties, "::ffff:192.0.2.9")
            assert server.validate_public_key("bob", key) is False
            server.connection_lost(None)
        assert penalties.failures_total[Failure.AUTH] == 8
        assert caplog.text.count("penalising 192.0.2.9 for 30s (penalty 1)") == 1
        server, conn = connect(penalties, "192.0.2.9")
        await asyncio.sleep(0)
        assert conn.closed and penalties.refused_total == 1
        assert KeyServer.unauthenticated == 0  # a refused connection holds no slot
        server.connection_lost(None)  # and its end counts for nothing
        assert penalties.failures_total[Failure.AUTH] == 8
        other, conn = connect(penalties, "192.0.2.10")
        await asyncio.sleep(0)
        assert not conn.closed
        other.auth_completed()
        other.connection_lost(None)
        assert penalties.successes_total == 1
        assert sum(penalties.failures_total.values()) == 8

    asyncio.run(scenario())


def test_a_connection_that_never_tries_counts_as_no_authentication() -> None:
    penalties = Penalties()
    server, _ = connect(penalties, "192.0.2.11")
    server.connection_lost(None)
    assert penalties.failures_total == {Failure.AUTH: 0, Failure.NOAUTH: 1}


@pytest.mark.parametrize(("blob", "name"), [
    (b"\x00\x00\x00\x07ssh-rsa" + b"\x00" * 8, "ssh-rsa"),
    (b"\x00\x00\x00\x0crsa-sha2-256rest", "rsa-sha2-256"),
    (b"\x00\x00\x00\x40short", ""), (b"\x00\x00", ""), (b"", ""),
])
def test_the_algorithm_a_signature_names(blob: bytes, name: str) -> None:
    assert signature_algorithm(blob) == name


async def signed_in_with(algorithms: list[str], key: asyncssh.SSHKey) -> str:
    """Connect a real asyncssh client, signing with `algorithms`, to a real asyncssh
    server authenticating as pgod does; what the command printed, or the refusal."""
    parsed = parse_key(key.export_public_key().decode())
    assert parsed is not None
    keys = {"svc": (OperatorKey("ssh/rsa.pub", *parsed),)}

    async def handle(process: asyncssh.SSHServerProcess[str]) -> None:
        process.stdout.write("pong\n")
        process.exit(0)
    server = await asyncssh.create_server(
        lambda: KeyServer(lambda: keys, Penalties()), "127.0.0.1", 0,
        server_host_keys=[asyncssh.generate_private_key("ssh-ed25519")],
        process_factory=handle, kex_algs=KEX_ALGS, encryption_algs=ENCRYPTION_ALGS,
        mac_algs=MAC_ALGS, signature_algs=SIGNATURE_ALGS)
    port = server.sockets[0].getsockname()[1]
    try:
        async with asyncssh.connect("127.0.0.1", port, username="x", client_keys=[key],
                                    known_hosts=None, signature_algs=algorithms) as conn:
            return str((await conn.run("svc//ping")).stdout)
    except asyncssh.PermissionDenied as err:
        return f"refused: {err.reason}"
    finally:
        server.close()


def test_an_rsa_key_signing_with_sha1_is_refused_and_with_sha2_accepted(
        caplog: pytest.LogCaptureFixture) -> None:
    # server-sig-algs leaves ssh-rsa out, but a client may sign with it anyway (asyncssh's
    # client does when told to); asyncssh alone would verify such a signature.
    key = asyncssh.generate_private_key("ssh-rsa", key_size=2048)
    assert asyncio.run(signed_in_with(["rsa-sha2-256"], key)) == "pong\n"
    assert asyncio.run(signed_in_with(["ssh-rsa"], key)).startswith("refused")
    assert "made with ssh-rsa: pgod accepts only ssh-ed25519" in caplog.text
