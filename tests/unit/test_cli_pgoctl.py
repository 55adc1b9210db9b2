import os
import stat

import pytest

from pgo.cli.pgoctl import EXIT_CODES, build_parser, exit_code, identity, ssh_argv


def test_args_after_the_target_belong_to_the_command() -> None:
    args = build_parser().parse_args(["-i", "k", "h:pgo//logs", "--tail", "20", "-f"])
    assert args.target == "h:pgo//logs" and args.args == ["--tail", "20", "-f"]
    assert args.port == 2222


@pytest.mark.parametrize(("ssh", "refusal", "code"), [
    (0, None, 0), (3, None, 3), (401 & 0xFF, 401, 77), (400 & 0xFF, 400, 64),
    (404 & 0xFF, 404, 68), (406 & 0xFF, 406, 65), (500 & 0xFF, 500, 70),
    (255, None, 255), (1, 401, 1),  # a refusal line that is not what ended the session
])
def test_exit_codes(ssh: int, refusal: int | None, code: int) -> None:
    assert exit_code(ssh, refusal) == code


def test_codes_are_distinct_and_small() -> None:
    assert len(set(EXIT_CODES.values())) == len(EXIT_CODES)
    assert all(0 < c < 126 for c in EXIT_CODES.values())


def test_ssh_argv_offers_only_our_key_and_ends_options() -> None:
    argv = ssh_argv("example.org", 2222, "/k", "pgo//ps", insecure=False)
    assert argv[0] == "ssh" and argv[-3:] == ["--", "example.org", "pgo//ps"]
    assert "IdentitiesOnly=yes" in argv and "IdentityAgent=none" in argv
    assert "StrictHostKeyChecking=accept-new" in argv
    assert "StrictHostKeyChecking=no" in ssh_argv("h", 1, "/k", "x", insecure=True)


def test_identity_from_a_variable_is_private_and_removed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_KEY", "-----BEGIN KEY-----\nabc\n-----END KEY-----")
    with identity("$MY_KEY") as path:
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        with open(path) as handle:
            assert handle.read().endswith("-----END KEY-----\n")
    assert not os.path.exists(path)


def test_identity_falls_back_to_pgoctl_id(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PGOCTL_ID", "key text")
    with identity(None) as path, open(path) as handle:
        assert handle.read() == "key text\n"
    monkeypatch.delenv("PGOCTL_ID")
    with pytest.raises(SystemExit, match="PGOCTL_ID"), identity(None):
        pass
    with pytest.raises(SystemExit, match="NOPE"), identity("$NOPE"):
        pass


def test_identity_file_is_used_as_is() -> None:
    with identity("/home/me/.ssh/id") as path:
        assert path == "/home/me/.ssh/id"
