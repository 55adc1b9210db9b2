import os
from pathlib import Path

import pytest

from pgo.cli.pgod import build_parser, caddy_settings, normalize_go_flags, settings_from
from pgo.proxy.caddy import DEFAULT_RELOAD, CaddySettings


def test_no_caddy_option_no_file() -> None:
    args = build_parser().parse_args(["-c", "x.toml"])
    assert caddy_settings(args.caddy, args.caddy_reload) is None


def test_caddy_reload_defaults_to_caddy_reload_of_the_admins_caddyfile(tmp_path: Path) -> None:
    args = build_parser().parse_args(normalize_go_flags(["-c", "x", "-caddy", "pgo.caddy"]))
    assert caddy_settings(args.caddy, args.caddy_reload) == CaddySettings(
        os.path.abspath("pgo.caddy"), DEFAULT_RELOAD)
    assert DEFAULT_RELOAD == ("caddy", "reload", "--config", "/etc/caddy/Caddyfile",
                              "--adapter", "caddyfile")


@pytest.mark.parametrize(("text", "argv"), [
    ("caddy reload --config '/etc/my caddy/Caddyfile' --address 127.0.0.1:2019",
     ("caddy", "reload", "--config", "/etc/my caddy/Caddyfile", "--address", "127.0.0.1:2019")),
    ("systemctl reload caddy; rm -rf /", ("systemctl", "reload", "caddy;", "rm", "-rf", "/")),
    ("", ()),
])
def test_the_reload_command_is_split_into_an_argv_never_a_shell(text: str,
                                                               argv: tuple[str, ...]) -> None:
    settings = caddy_settings("/etc/caddy/pgo.caddy", text)
    assert settings is not None and settings.reload == argv


@pytest.mark.parametrize(("snippet", "reload", "words"), [
    (None, "caddy reload", "needs --caddy FILE"),
    ("", None, "must name a file"),
    ("/etc/caddy/", None, "must name a file"),
    ("/etc/caddy/pgo.caddy", "caddy 'reload", "--caddy-reload"),
])
def test_bad_caddy_options(snippet: str | None, reload: str | None, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        caddy_settings(snippet, reload)


def test_bad_caddy_options_are_exit_1(capsys: pytest.CaptureFixture[str]) -> None:
    args = build_parser().parse_args(["-c", "x", "--no-root", "--caddy-reload", "caddy"])
    with pytest.raises(SystemExit) as caught:
        settings_from(args)
    assert caught.value.code == 1
    assert "--caddy-reload needs --caddy FILE" in capsys.readouterr().err
