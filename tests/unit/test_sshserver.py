import asyncssh
import pytest

from pgo.keys import OperatorKey, parse_key
from pgo.sshserver import KEY_OPTION, SERVICE_OPTION, authorized_keys, client_network


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
