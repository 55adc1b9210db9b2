import os
import pwd
import re

import pytest

from pgo.config import load_config, parse_config
from pgo.errors import ConfigError
from pgo.ports import PortRange

GOOD = '''
[[services]]
name = "pgo"
user = "root"
group = "root"
repository = "https://github.com/miekg/pgo"
branch = "main"
urls = { "example.org" = ":5006" }
ports = [ "5005/5", "1025/5" ]
'''


def one(body: str) -> str:
    return '[[services]]\nname = "svc"\nuser = "root"\nrepository = "file:///r.git"\n' + body


def test_the_seed_example_parses() -> None:
    config = parse_config(GOOD, "pgod.toml", check_accounts=True)
    (svc,) = config.services
    assert svc.name == "pgo" and svc.user == "root" and svc.group == "root"
    assert svc.branch == "main"
    assert svc.ports == (PortRange(5005, 5010), PortRange(1025, 1030))
    assert svc.urls == (("example.org", ":5006"),)
    assert config.service("pgo") is svc and config.service("nope") is None


def test_defaults() -> None:
    (svc,) = parse_config(one(""), "c.toml").services
    assert (svc.branch, svc.ports, svc.urls, svc.group, svc.compose) == ("main", (), (), None, None)


def test_empty_config_has_no_services() -> None:
    assert parse_config("", "c.toml").services == ()


@pytest.mark.parametrize(("text", "service", "key", "words"), [
    (one('colour = "red"\n'), "svc", "colour", "unknown key"),
    ('[[services]]\nuser = "root"\nrepository = "x"\n', "#1", "name", "missing"),
    ('[[services]]\nname = "a"\nrepository = "x"\n', "a", "user", "missing"),
    ('[[services]]\nname = "a"\nuser = "root"\n', "a", "repository", "missing"),
    (one("") + one("").replace("[[services]]\n", "[[services]]\n", 1), "svc", "name", "duplicate"),
    (one("").replace('"svc"', '"../etc"'), "../etc", "name", "a-z"),
    (one("").replace('"svc"', '"Web"'), "Web", "name", "a-z"),
    (one("").replace('"svc"', '"-x"'), "-x", "name", "a-z"),
    (one("").replace('"svc"', '""'), "", "name", "non-empty"),
    (one("").replace('"svc"', '"svc\\n"'), "svc\n", "name", "a-z"),
    (one('ports = ["5005/x"]\n'), "svc", "ports", "5005/x"),
    (one('ports = ["70000"]\n'), "svc", "ports", "70000"),
    (one('ports = "5005/5"\n'), "svc", "ports", "list"),
    (one('ports = [true]\n'), "svc", "ports", "True"),
    (one('branch = "-x"\n'), "svc", "branch", "branch name"),
    (one('branch = "a..b"\n'), "svc", "branch", "branch name"),
    (one('compose = "../c.yaml"\n'), "svc", "compose", "inside the repository"),
    (one('compose = "/etc/c.yaml"\n'), "svc", "compose", "inside the repository"),
    (one('urls = { "example.org" = ":5006" }\n'), "svc", "urls", "outside"),
    (one('ports = ["5005/5"]\nurls = { "exa mple" = ":5006" }\n'), "svc", "urls", "host name"),
    (one('ports = ["5005/5"]\nurls = { "example.org" = "5006" }\n'), "svc", "urls", "PORT"),
    (one('urls = ["example.org"]\n'), "svc", "urls", "table"),
    (one('ports = ["5005/5"]\nurls = { "example.org\\n" = ":5006" }\n'), "svc", "urls",
     "host name"),
    (one('user = 3\n').replace('user = "root"\n', ""), "svc", "user", "string"),
    (one("").replace('"file:///r.git"', '"-uhttps://x"'), "svc", "repository", "git URL"),
    (one("").replace('"file:///r.git"', '"ext::sh -c touch% /tmp/x"'), "svc", "repository", ""),
])
def test_config_errors_name_file_service_and_key(text: str, service: str, key: str,
                                                 words: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "/etc/pgod.toml")
    err = caught.value
    assert (err.path, err.service, err.key) == ("/etc/pgod.toml", service, key)
    message = str(err)
    assert message.startswith("/etc/pgod.toml: ")
    assert f"key {key!r}" in message and words in message


@pytest.mark.parametrize(("text", "words"), [
    ("[[services]\n", "invalid TOML"),
    ("services = 3\n", r"\[\[services\]\]"),
    ('interval = "5m"\n', "unknown top-level key"),
])
def test_file_level_errors(text: str, words: str) -> None:
    with pytest.raises(ConfigError, match=words):
        parse_config(text, "c.toml")


def test_accounts_must_exist_when_checked() -> None:
    text = one("").replace('user = "root"', 'user = "no-such-user-pgo"')
    parse_config(text, "c.toml", check_accounts=False)
    with pytest.raises(ConfigError, match=r"no such user 'no-such-user-pgo'") as caught:
        parse_config(text, "c.toml", check_accounts=True)
    assert caught.value.key == "user"


def test_group_must_exist_and_contain_the_user() -> None:
    with pytest.raises(ConfigError, match="no such group") as caught:
        parse_config(one('group = "no-such-group-pgo"\n'), "c.toml", check_accounts=True)
    assert caught.value.key == "group"
    nobody = pwd.getpwnam("nobody").pw_name
    text = one('group = "root"\n').replace('user = "root"', f'user = "{nobody}"')
    with pytest.raises(ConfigError, match="not a member"):
        parse_config(text, "c.toml", check_accounts=True)


def test_load_config_names_an_unreadable_file(tmp_path: os.PathLike[str]) -> None:
    missing = os.path.join(os.fspath(tmp_path), "nope.toml")
    with pytest.raises(ConfigError, match=r"nope\.toml: cannot read config"):
        load_config(missing)


def test_signers_per_service_and_as_a_default(tmp_path) -> None:
    signers = tmp_path / "signers"
    signers.write_text("ops@example.org ssh-ed25519 AAAA\n")
    text = (f'signers = "{signers}"\n' + GOOD + GOOD.replace('"pgo"', '"two"', 1)
            .replace('"example.org"', '"two.example.org"') + 'signers = "/etc/pgo/other"\n')
    config = parse_config(text, "x.toml")
    assert [s.signers for s in config.services] == [str(signers), "/etc/pgo/other"]
    assert parse_config(GOOD, "x.toml").services[0].signers is None
    with pytest.raises(ConfigError, match="key 'signers': 'signers' must be the absolute"):
        parse_config(GOOD + 'signers = "signers"\n', "x.toml")
    path = tmp_path / "pgod.toml"
    path.write_text(GOOD + f'signers = "{tmp_path}/missing"\n')
    with pytest.raises(ConfigError, match="service 'pgo': key 'signers': allowed-signers file"):
        load_config(str(path))


def test_signers_gpg_per_service_and_as_a_default(tmp_path) -> None:
    keyring = tmp_path / "signers.gpg"
    keyring.write_bytes(b"\x99")
    text = (f'signers_gpg = "{keyring}"\n' + GOOD + GOOD.replace('"pgo"', '"two"', 1)
            .replace('"example.org"', '"two.example.org"') + 'signers_gpg = "/etc/pgo/other.gpg"\n')
    config = parse_config(text, "x.toml")
    assert [s.signers_gpg for s in config.services] == [str(keyring), "/etc/pgo/other.gpg"]
    assert [s.signers for s in config.services] == [None, None]
    with pytest.raises(ConfigError, match=r"key 'signers_gpg': 'k\.gpg' must be the "
                                          "absolute path of a GPG keyring"):
        parse_config(GOOD + 'signers_gpg = "k.gpg"\n', "x.toml")
    path = tmp_path / "pgod.toml"
    path.write_text(GOOD + f'signers_gpg = "{tmp_path}/missing.gpg"\n')
    with pytest.raises(ConfigError, match="service 'pgo': key 'signers_gpg': GPG keyring"):
        load_config(str(path))


def test_webhook_secret_inline_or_from_a_root_only_file(tmp_path) -> None:
    secret = "0123456789abcdef-secret"  # noqa: S105 (a test's)
    inline = parse_config(GOOD + f'webhook_secret = "{secret}"\n', "x.toml").services[0]
    assert inline.webhook_secret == secret and secret not in repr(inline)
    with pytest.raises(ConfigError, match="key 'webhook_secret': must be at least 16") as err:
        parse_config(GOOD + 'webhook_secret = "short"\n', "x.toml")
    assert "short" not in str(err.value)
    holder = tmp_path / "hook.secret"
    holder.write_text(secret + "\n")
    holder.chmod(0o600)
    path = tmp_path / "pgod.toml"
    path.write_text(GOOD + f'webhook_secret = "file:{holder}"\n')
    assert load_config(str(path), check_accounts=False).services[0].webhook_secret == secret
    holder.chmod(0o640)
    with pytest.raises(ConfigError, match=r"key 'webhook_secret': .* has mode 0640"):
        load_config(str(path), check_accounts=False)
    path.write_text(GOOD + 'webhook_secret = "file:relative"\n')
    with pytest.raises(ConfigError, match="absolute path"):
        load_config(str(path), check_accounts=False)


def test_machines_pick_the_services_a_host_runs_and_only_theirs_need_users() -> None:
    text = (GOOD + 'machines = ["Web1", "web1.example.org"]\n'
            + GOOD.replace('"pgo"', '"two"', 1).replace('user = "root"', 'user = "nosuch"')
            + 'machines = ["db1"]\n')
    assert 'user = "nosuch"' in text
    config = parse_config(text, "x.toml", check_accounts=True, hosts=frozenset({"web1"}))
    one, two = config.services
    assert one.machines == ("web1", "web1.example.org")
    assert one.runs_on(frozenset({"web1"})) and not two.runs_on(frozenset({"web1"}))
    assert two.runs_on(None) and parse_config(GOOD, "x.toml").services[0].runs_on(
        frozenset({"anything"}))
    with pytest.raises(ConfigError, match="service 'two': key 'user': no such user"):
        parse_config(text, "x.toml", check_accounts=True, hosts=frozenset({"db1"}))
    with pytest.raises(ConfigError, match="key 'machines': 'a b' is not a host name"):
        parse_config(GOOD + 'machines = ["a b"]\n', "x.toml")
    with pytest.raises(ConfigError, match="key 'machines': must be a list"):
        parse_config(GOOD + 'machines = "web1"\n', "x.toml")


def test_the_health_gate_keys_default_and_parse() -> None:
    service = parse_config(GOOD, "x.toml").services[0]
    assert (service.health_timeout, service.health_settle) == (120.0, 10.0)
    tuned = parse_config(GOOD + 'health_timeout = "5m"\nhealth_settle = "1s"\n', "x.toml")
    assert (tuned.services[0].health_timeout, tuned.services[0].health_settle) == (300.0, 1.0)


@pytest.mark.parametrize(("line", "says"), [
    ('health_timeout = "2x"', "key 'health_timeout': invalid duration '2x'"),
    ("health_timeout = 120", "key 'health_timeout': 120 is not a string"),
    ('health_settle = "48h"', "key 'health_settle': '48h' must be between 0s and 24h"),
    ('health_settle = "-1s"', "key 'health_settle': '-1s' must be between 0s and 24h"),
])
def test_bad_health_gate_keys_name_file_service_and_key(line: str, says: str) -> None:
    with pytest.raises(ConfigError, match="x.toml: service 'pgo': " + re.escape(says)):
        parse_config(GOOD + line + "\n", "x.toml")


def test_registries_parse_and_never_show_a_token(tmp_path) -> None:
    text = GOOD + ('registries = ["deploy:s3cr:et@x@registry.example.org", '
                   '"ci:@file:/etc/pgo/tokens/ci@127.0.0.1:5000"]\n')
    (inline, from_file) = parse_config(text, "x.toml").services[0].registries
    assert (inline.user, inline.host, inline.token) == ("deploy", "registry.example.org",
                                                        "s3cr:et@x")
    assert (from_file.user, from_file.host, from_file.token, from_file.token_file) == (
        "ci", "127.0.0.1:5000", "", "/etc/pgo/tokens/ci")
    config = parse_config(text, "x.toml")
    assert "s3cr" not in repr(config) and "s3cr" not in inline.shown()
    assert parse_config(GOOD, "x.toml").services[0].registries == ()
    token = tmp_path / "token"
    token.write_text("t\n")
    token.chmod(0o644)
    path = tmp_path / "pgod.toml"
    path.write_text(GOOD + f'registries = ["u:@file:{token}@r.example.org"]\n')
    with pytest.raises(ConfigError, match=r"service 'pgo': key 'registries': token file: .* "
                                          r"others may read"):
        load_config(str(path))
    token.chmod(0o600)
    assert load_config(str(path)).services[0].registries[0].token_file == str(token)


@pytest.mark.parametrize(("value", "says"), [
    ('"deploy:zq7@r.example.org"', "must be a list"),
    ('["deploy@r.example.org"]', "is not \"USER:TOKEN@REGISTRY\""),
    ('["deploy:@r.example.org"]', "the token is empty"),
    ('["deploy:zq7@https://r.example.org"]', "is not \"USER:TOKEN@REGISTRY\""),
    ('["deploy:@file:tokens/x@r.example.org"]', "must be an absolute path"),
    ('["a:b@r.example.org", "c:d@r.example.org"]', "r.example.org is given twice"),
])
def test_bad_registries_name_file_service_and_key_but_no_token(value: str, says: str) -> None:
    with pytest.raises(ConfigError, match="x.toml: service 'pgo': key 'registries': .*"
                                          + re.escape(says)) as caught:
        parse_config(GOOD + f"registries = {value}\n", "x.toml")
    assert "zq7" not in str(caught.value)


def test_image_updates_per_service_with_a_global_default() -> None:
    assert parse_config(GOOD, "x.toml").services[0].image_updates == 0.0
    text = ('image_updates = "6h"\n' + GOOD + GOOD.replace('"pgo"', '"two"', 1)
            .replace('"example.org"', '"two.example.org"') + 'image_updates = "90s"\n'
            + GOOD.replace('"pgo"', '"off"', 1).replace('"example.org"', '"off.example.org"')
            + 'image_updates = "0s"\n')
    assert [s.image_updates for s in parse_config(text, "x.toml").services] == [
        21600.0, 90.0, 0.0]


@pytest.mark.parametrize(("line", "says"), [
    ('image_updates = "6x"', "key 'image_updates': invalid duration '6x'"),
    ("image_updates = 6", "key 'image_updates': 6 is not a string"),
    ('image_updates = "0.5s"', "key 'image_updates': '0.5s' must be 0s (off) or between"),
    ('image_updates = "1000h"', "key 'image_updates': '1000h' must be 0s (off) or between"),
])
def test_bad_image_updates_name_file_service_and_key(line: str, says: str) -> None:
    with pytest.raises(ConfigError, match="x.toml: service 'pgo': " + re.escape(says)):
        parse_config(GOOD + line + "\n", "x.toml")
    with pytest.raises(ConfigError, match=r"x\.toml: key 'image_updates'"):
        parse_config(line + "\n" + GOOD, "x.toml")
