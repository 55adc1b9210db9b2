import os
import socket
from pathlib import Path

import asyncssh
import pytest

from pgo.cli.pgod import (
    build_parser,
    main,
    normalize_go_flags,
    parse_hosts,
    parse_http_address,
    parse_ssh_address,
    settings_from,
)


@pytest.mark.parametrize(("argv", "expected"), [
    (["--root=false"], ["--no-root"]),
    (["-root=false"], ["--no-root"]),
    (["-o=false"], ["--no-root"]),
    (["--root=true"], ["--root"]),
    (["-debug"], ["--debug"]),
    (["-d=true", "-r=false"], ["--debug", "--no-restart"]),
    (["-config", "x.toml"], ["--config", "x.toml"]),
    (["-config-branch", "ops"], ["--config-branch", "ops"]),
    (["-caddy-reload=caddy reload"], ["--caddy-reload=caddy reload"]),
    (["-no-such-option"], ["-no-such-option"]),
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


def test_metrics_address_defaults_to_9112_on_loopback_and_empty_is_off() -> None:
    args = build_parser().parse_args(["-c", "x.toml"])
    assert parse_http_address(args.metrics) == ("127.0.0.1", 9112)
    off = build_parser().parse_args(normalize_go_flags(["-c", "x.toml", "-metrics", ""]))
    assert parse_http_address(off.metrics) is None
    assert parse_http_address("[::1]:9") == ("::1", 9)
    with pytest.raises(ValueError, match='"" for none'):
        parse_http_address("9112")


def test_hosts_given_or_this_machine_s_names() -> None:
    assert parse_hosts("Web1, web1.example.org,") == frozenset({"web1", "web1.example.org"})
    assert socket.gethostname().split(".")[0].lower() in parse_hosts(None)
    with pytest.raises(SystemExit):
        parse_hosts(" , ")


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


def test_jobs_defaults_to_twice_the_cpus_and_must_be_a_positive_number(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "pgo.toml"
    config.write_text("")
    args = build_parser().parse_args(["-c", str(config), "--no-root"])
    assert settings_from(args).jobs == 2 * (os.cpu_count() or 1)
    args = build_parser().parse_args(normalize_go_flags(["-c", str(config), "--no-root",
                                                         "-jobs", "7"]))
    assert settings_from(args).jobs == 7
    for bad in ("0", "-1", "two"):
        args = build_parser().parse_args(["-c", str(config), "--no-root", f"--jobs={bad}"])
        with pytest.raises(SystemExit) as caught:
            settings_from(args)
        assert caught.value.code == 1
        assert "--jobs" in capsys.readouterr().err


def test_unknown_option_is_exit_1() -> None:
    with pytest.raises(SystemExit) as caught:
        build_parser().parse_args(["--colour"])
    assert caught.value.code == 1


def test_print_host_key_generates_it_once_and_starts_nothing(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """No -c needed; the key is made as pgod makes it, then printed the same each time."""
    directory = tmp_path / "lib"
    assert main(["--print-host-key", "--dir", str(directory), "-s", "127.0.0.1:2200"]) == 0
    first = capsys.readouterr().out
    key = directory / ".pgod" / "ssh_host_ed25519_key"
    assert key.stat().st_mode & 0o777 == 0o600
    public = asyncssh.read_private_key(str(key)).export_public_key().decode().split()[1]
    assert first == f"[127.0.0.1]:2200 ssh-ed25519 {public}\n"
    assert main(["--print-host-key", "--dir", str(directory)]) == 0
    assert capsys.readouterr().out == f"[*]:2222 ssh-ed25519 {public}\n"


def test_print_host_key_refuses_a_directory_others_may_write(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tmp_path.chmod(0o777)
    assert main(["--print-host-key", "--dir", str(tmp_path)]) == 1
    assert capsys.readouterr().out == ""
    assert not (tmp_path / ".pgod").exists()
