import pytest

from pgo.cli.pgod import build_parser, normalize_go_flags, parse_ssh_address, settings_from


@pytest.mark.parametrize(("argv", "expected"), [
    (["--root=false"], ["--no-root"]),
    (["-root=false"], ["--no-root"]),
    (["-o=false"], ["--no-root"]),
    (["--root=true"], ["--root"]),
    (["-debug"], ["--debug"]),
    (["-d=true", "-r=false"], ["--debug", "--no-restart"]),
    (["-config", "x.toml"], ["--config", "x.toml"]),
    (["-c", "x.toml", "-t", "5m"], ["-c", "x.toml", "-t", "5m"]),
    (["--", "-root=false"], ["--", "-root=false"]),
])
def test_go_flag_spellings(argv: list[str], expected: list[str]) -> None:
    assert normalize_go_flags(argv) == expected


@pytest.mark.parametrize(("argv", "debug", "restart", "root"), [
    (["-d=false", "-r=false", "-o=false"], False, False, False),
    (["--debug=true", "--restart=t", "--root=1"], True, True, True),
    (["-d", "-d=false"], False, False, True),  # the last one wins, as with Go's flag
    (["-r"], False, True, True),
])
def test_go_bool_flags_parse(argv: list[str], debug: bool, restart: bool, root: bool) -> None:
    args = build_parser().parse_args(normalize_go_flags(["-c", "x.toml", *argv]))
    assert (args.debug, args.restart, args.root) == (debug, restart, root)


def test_bad_bool_value_is_refused() -> None:
    with pytest.raises(SystemExit, match="expected true or false"):
        normalize_go_flags(["--root=maybe"])


@pytest.mark.parametrize(("text", "host", "port"), [
    (":2222", "", 2222), ("127.0.0.1:22", "127.0.0.1", 22), ("[::1]:2222", "::1", 2222),
    ("localhost:0", "localhost", 0),
])
def test_ssh_address(text: str, host: str, port: int) -> None:
    assert parse_ssh_address(text) == (host, port)


@pytest.mark.parametrize("text", ["2222", ":", ":99999", "a b:1", "::1:2222", ""])
def test_bad_ssh_address(text: str) -> None:
    with pytest.raises(ValueError, match="HOST"):
        parse_ssh_address(text)


def test_missing_config_is_exit_1(capsys: pytest.CaptureFixture[str]) -> None:
    args = build_parser().parse_args(normalize_go_flags(["--root=false"]))
    with pytest.raises(SystemExit) as caught:
        settings_from(args)
    assert caught.value.code == 1
    assert "missing -c CONFIG" in capsys.readouterr().err


def test_bad_duration_is_exit_1(capsys: pytest.CaptureFixture[str]) -> None:
    args = build_parser().parse_args(["-c", "x", "--no-root", "-t", "5 minutes"])
    with pytest.raises(SystemExit) as caught:
        settings_from(args)
    assert caught.value.code == 1
    assert "Go syntax" in capsys.readouterr().err


def test_unknown_option_is_exit_1() -> None:
    with pytest.raises(SystemExit) as caught:
        build_parser().parse_args(["--colour"])
    assert caught.value.code == 1
