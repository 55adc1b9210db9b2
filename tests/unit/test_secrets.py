"""Host values (env, env_file) and decrypted `.age` files, the pure parts and the local
file handling: config parsing, precedence, redaction, names, the directory written, and
what the two policy layers allow of ${PGO_SECRETS}."""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path
from typing import Any

import pytest

from pgo import hostenv, secretfiles, state
from pgo.config import parse_config
from pgo.errors import ConfigError, PgoError
from pgo.git import TreeEntry
from pgo.policy import check_policy
from pgo.policy.argv import check_calls
from pgo.policy.podmanargs import Scope
from pgo.proc import Account

SECRETS = "/run/pgo/svc"
IMAGE = "docker.io/library/busybox"


def one(body: str) -> str:
    return '[[services]]\nname = "svc"\nuser = "root"\nrepository = "file:///r.git"\n' + body


def test_env_pairs_keep_their_order_the_last_repeat_wins_and_are_never_shown() -> None:
    (svc,) = parse_config(one('env = ["A=1", "B=x=y", "A=3", "EMPTY="]\n'), "p.toml").services
    assert svc.env == (("A", "3"), ("B", "x=y"), ("EMPTY", ""))
    assert "x=y" not in repr(svc) and "env_file=None" in repr(svc)


@pytest.mark.parametrize(("body", "fragment"), [
    ('env = "A=1"\n', 'must be a list such as ["KEY=VALUE"]'),
    ('env = ["A"]\n', "entry 1 is not a string KEY=VALUE"),
    ('env = [1]\n', "entry 1 is not a string KEY=VALUE"),
    ('env = ["1A=secretvalue"]\n', "'1A' is not a variable name"),
    ('env = ["PATH=/tmp"]\n', "PATH is reserved"),
    ('env = ["PODMAN_USERNS=host"]\n', "PODMAN_USERNS is reserved"),
    ('env = ["PGO_SECRETS=/etc"]\n', "PGO_SECRETS is reserved"),
    ('env_file = "relative.env"\n', "must be the absolute path"),
    ("env_file = 3\n", "must be the absolute path"),
])
def test_bad_env_and_env_file_name_file_service_and_key(body: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(one(body), "p.toml")
    assert err.value.service == "svc" and err.value.key in ("env", "env_file")
    assert fragment in str(err.value) and "secretvalue" not in str(err.value)


def test_an_env_file_others_may_read_is_refused_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "svc.env"
    path.write_text("TOKEN=hunter2-long\n")
    path.chmod(0o640)
    with pytest.raises(ConfigError) as err:
        parse_config(one(f'env_file = "{path}"\n'), "p.toml", check_accounts=True)
    assert (err.value.service, err.value.key) == ("svc", "env_file")
    assert f"env file {path}" in str(err.value) and "mode 0640" in str(err.value)
    assert "hunter2" not in str(err.value)
    path.chmod(0o600)
    parse_config(one(f'env_file = "{path}"\n'), "p.toml", check_accounts=True)


def test_an_env_file_is_read_as_dotenv_and_must_be_a_private_regular_file(
        tmp_path: Path) -> None:
    path = tmp_path / "svc.env"
    path.write_text('# comment\nA=1\nexport B="two words"\nBARE\nC=${A}x\n')
    path.chmod(0o600)
    assert hostenv.read_env_file(str(path)) == {"A": "1", "B": "two words", "C": "1x"}
    link = tmp_path / "link.env"
    link.symlink_to(path)
    with pytest.raises(PgoError, match="cannot read env file"):
        hostenv.read_env_file(str(link))
    path.write_text("LD_PRELOAD=/x.so\n")
    with pytest.raises(PgoError, match="LD_PRELOAD is reserved"):
        hostenv.read_env_file(str(path))
    with pytest.raises(PgoError, match="cannot read env file"):
        hostenv.read_env_file(str(tmp_path / "missing.env"))


def test_precedence_env_over_env_file() -> None:
    merged = hostenv.merge({"A": "file", "B": "file"}, (("B", "env"), ("C", "env")))
    assert merged == {"A": "file", "B": "env", "C": "env"}


def test_redact_replaces_values_longest_first_and_leaves_short_ones() -> None:
    text = "port s3cr3t-long and s3cr3t and ab"
    assert hostenv.redact(text, ["s3cr3t", "s3cr3t-long", "ab"]) == "port *** and *** and ab"


def entry(path: str, size: int = 10) -> TreeEntry:
    return TreeEntry("100644", "blob", path, "0" * 40, size)


def test_age_files_are_named_by_their_base_name_and_clashes_are_refused() -> None:
    found, problems = secretfiles.sealed_files([entry("secrets/db.env.age"),
                                                entry("page.txt.age"), entry("README.md")])
    assert [(s.path, s.name) for s in found] == [("secrets/db.env.age", "db.env"),
                                                 ("page.txt.age", "page.txt")]
    assert problems == []
    _, problems = secretfiles.sealed_files([entry("a/db.age"), entry("b/db.age"),
                                            entry("x/.age"), entry(".hidden.age"),
                                            entry("big.age", secretfiles.MAX_SIZE + 1)])
    assert problems == [
        "x/.age: decrypts to the name ''; name it FILE.age with FILE not starting with '.'",
        ".hidden.age: decrypts to the name '.hidden'; name it FILE.age with FILE not "
        "starting with '.'",
        "big.age: larger than 1024 KiB",
        "a/db.age, b/db.age: each decrypts to ${PGO_SECRETS}/db; give them different "
        "file names"]


def test_the_identity_must_be_private(tmp_path: Path) -> None:
    key = tmp_path / "age.key"
    assert "cannot be read" in str(secretfiles.check_identity(str(key)))
    key.write_text("AGE-SECRET-KEY-1...\n")
    key.chmod(0o644)
    assert "mode 0644" in str(secretfiles.check_identity(str(key)))
    key.chmod(0o600)
    assert secretfiles.check_identity(str(key)) is None


def test_the_directory_holds_exactly_the_files_private_and_made_anew(tmp_path: Path) -> None:
    target = tmp_path / "run" / "svc"
    secretfiles.write_directory(str(target), {"db.env": b"A=1\n", "old": b"x"},
                                Account.current())
    (target / "planted").symlink_to("/etc/passwd")
    (target / "dir").mkdir()
    secretfiles.write_directory(str(target), {"db.env": b"A=2\n"}, Account.current())
    assert os.listdir(target) == ["db.env"] and (target / "db.env").read_bytes() == b"A=2\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o700
    assert stat.S_IMODE((target / "db.env").stat().st_mode) == 0o600
    assert stat.S_IMODE(target.parent.stat().st_mode) == 0o711
    assert secretfiles.remove(str(target)) and not target.exists()
    assert not secretfiles.remove(str(target))


def test_a_symlink_in_place_of_the_directory_is_replaced(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "run").mkdir(mode=0o711)
    (tmp_path / "run" / "svc").symlink_to(elsewhere)
    secretfiles.write_directory(str(tmp_path / "run" / "svc"), {"f": b"1"}, Account.current())
    assert not (tmp_path / "run" / "svc").is_symlink() and os.listdir(elsewhere) == []


def violations(service: dict[str, Any], top: dict[str, Any] | None = None) -> list[str]:
    model = {"services": {"web": {"image": IMAGE, **service}}, **(top or {})}
    return [str(v) for v in check_policy(model, (), secrets_dir=SECRETS)]


@pytest.mark.parametrize("service", [
    {"env_file": [f"{SECRETS}/db.env"]},
    {"env_file": [{"path": f"{SECRETS}/db.env", "required": True}]},
])
def test_an_env_file_in_the_secrets_directory_is_allowed(service: dict[str, Any]) -> None:
    assert violations(service) == []


def test_a_secret_file_in_the_secrets_directory_is_allowed() -> None:
    top = {"secrets": {"db": {"file": f"{SECRETS}/db"}}}
    assert violations({"secrets": ["db"]}, top) == []


@pytest.mark.parametrize("path", [
    SECRETS, f"{SECRETS}/", f"{SECRETS}/sub/db.env", f"{SECRETS}/../other/db.env",
    f"{SECRETS}/./db.env", f"{SECRETS}//db.env", "/run/pgo/other/db.env", "/run/pgo/svcx/db",
    f"{SECRETS}/..",
])
def test_nothing_around_the_secrets_directory_is_allowed(path: str) -> None:
    assert any("outside the repository" in v for v in violations({"env_file": [path]})), path
    top = {"secrets": {"db": {"file": path}}}
    assert any("outside the repository" in v for v in violations({"secrets": ["db"]}, top))


def test_the_secrets_directory_may_not_be_bind_mounted() -> None:
    for volume in (f"{SECRETS}/db:/db:ro", f"{SECRETS}:/s:ro"):
        assert any("outside the repository" in v for v in violations({"volumes": [volume]}))


def test_without_a_secrets_directory_nothing_absolute_is_allowed() -> None:
    model = {"services": {"web": {"image": IMAGE, "env_file": [f"{SECRETS}/db.env"]}}}
    assert any("outside the repository" in str(v) for v in check_policy(model, ()))


def create(*args: str) -> list[str]:
    return ["create", "--name=web_1", "--label", "io.podman.compose.service=web", *args,
            IMAGE, "sh"]


SCOPE = Scope("/srv/web", secrets=SECRETS)


def test_the_argument_layer_admits_a_secret_file_read_only() -> None:
    assert check_calls([create("--volume", f"{SECRETS}/page:/run/secrets/page:ro,rprivate,"
                                           "rbind")], SCOPE) == []
    assert check_calls([["build", "-t", "web", "--secret", f"id=db,src={SECRETS}/db",
                         "/srv/web"]], SCOPE) == []


@pytest.mark.parametrize("volume", [
    f"{SECRETS}/page:/p:rw", f"{SECRETS}/page:/p", f"{SECRETS}/page:/p:ro,rw",
    f"{SECRETS}:/p:ro", f"{SECRETS}/sub/page:/p:ro", "/run/pgo/other/page:/p:ro",
])
def test_the_argument_layer_refuses_the_rest(volume: str) -> None:
    assert check_calls([create("--volume", volume)], SCOPE), volume
    assert check_calls([create("--volume", f"{SECRETS}/page:/p:ro")], Scope("/srv/web"))


def test_what_a_decrypted_file_could_show_is_known_and_redacted_in_log_lines() -> None:
    plain = b'DB_PASSWORD="pw-0123456789"\nexport TOKEN=tok-abcdef\nshort=ab\n'
    assert hostenv.decrypted_values(plain) == [
        'DB_PASSWORD="pw-0123456789"\nexport TOKEN=tok-abcdef\nshort=ab',
        'DB_PASSWORD="pw-0123456789"', "pw-0123456789", "export TOKEN=tok-abcdef",
        "tok-abcdef", "short=ab"]
    redactor = hostenv.Redactor()
    redactor.add(hostenv.decrypted_values(plain))
    assert redactor("failed: password pw-0123456789 rejected") == "failed: password *** " \
        "rejected"


def test_the_log_filter_and_events_lose_known_values() -> None:
    hostenv.REDACTOR.add(["value-known-to-pgod"])
    record = logging.LogRecord("pgo", logging.ERROR, __file__, 1, "x %s y", ("a value-known-"
                               "to-pgod b",), None)
    assert hostenv.RedactingFilter().filter(record) and record.getMessage() == "x a *** b y"
    event = state.Broke("c" * 40, "subject", "poll", "gate: value-known-to-pgod printed")
    assert hostenv.redact_event(event).reason == "gate: *** printed"
    assert hostenv.redact_event(event).commit == "c" * 40
