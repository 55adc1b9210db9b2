"""Build contexts that are URLs: only with an allowance in pgod's config, and never an
address only the host can reach unless the allowance names it."""

from __future__ import annotations

from typing import Any

import pytest

from pgo.config import parse_config
from pgo.errors import ConfigError
from pgo.policy import check_policy
from pgo.policy.buildurls import is_internal

ALLOWED = ("https://github.com/org/*",)


def messages(build: object, allowed: tuple[str, ...] = ALLOWED) -> list[str]:
    model: dict[str, Any] = {"services": {"web": {"image": "x", "build": build}}}
    return [str(v) for v in check_policy(model, [], build_urls=allowed)]


@pytest.mark.parametrize("build", [
    ".", "app", "https://github.com/org/app.git", "https://github.com/org/app.git#main:dir",
    {"context": ".", "additional_contexts": {"k": "https://github.com/org/lib.git"}},
    {"context": ".", "additional_contexts": ["img=docker-image://docker.io/library/x:1"]},
])
def test_paths_and_allowed_urls_pass(build: object) -> None:
    assert messages(build) == []


@pytest.mark.parametrize(("build", "fragment"), [
    ("https://github.com/other/app.git", "is a URL, which the host fetches with its own "
                                          "network"),
    ("http://127.0.0.1:8080/secret.git", "is a URL"),
    ("git@github.com:org/app.git", "is a URL"),
    ({"context": ".", "additional_contexts": {"k": "https://gitlab.com/x.git"}},
     "build.additional_contexts 'https://gitlab.com/x.git' is a URL"),
    ("https://github.com/org/../evil/x.git", "is not a URL pgod can judge"),
    ("https://github.com/org/%2e%2e/evil.git", "is not a URL pgod can judge"),
    ("https://user@github.com/org/x.git", "is not a URL pgod can judge"),
])
def test_urls_without_an_allowance_are_refused(build: object, fragment: str) -> None:
    got = messages(build)
    assert len(got) == 1 and got[0].startswith("compose service 'web': "), got
    assert fragment in got[0]


def test_without_build_urls_no_url_context_passes() -> None:
    got = messages("https://github.com/org/app.git", ())
    assert got and "(allowed now: none)" in got[0]


@pytest.mark.parametrize("host", [
    "127.0.0.1", "127.1", "0x7f000001", "2130706433", "localhost", "a.localhost", "::1",
    "::ffff:127.0.0.1", "169.254.169.254", "10.0.0.1", "192.168.1.1", "172.16.0.1",
    "0.0.0.0", "fe80::1", "fd00::1"])  # noqa: S104 (a value, not a bind)
def test_addresses_only_the_host_reaches(host: str) -> None:
    assert is_internal(host)


@pytest.mark.parametrize("host", ["github.com", "140.82.121.3", "2606:4700::1111"])
def test_public_addresses(host: str) -> None:
    assert not is_internal(host)


def test_a_wildcard_does_not_allow_a_loopback_host() -> None:
    got = messages("http://127.0.0.1:8080/x.git", ("http://*",))
    assert len(got) == 1 and "reaches 127.0.0.1, a loopback, link-local or private " \
        "address" in got[0]
    assert messages("http://[::1]:8080/x.git", ("http://[::1]:8080/*",)) == []
    assert messages("http://127.0.0.1:8080/x.git", ("http://127.0.0.1:8080/*",)) == []


def config(urls: object) -> str:
    return f'[[services]]\nname = "web"\nuser = "u"\nrepository = "r"\nbuild_urls = {urls}\n'


def test_build_urls_in_the_config() -> None:
    parsed = parse_config(config('["https://github.com/org/*"]'), "pgod.toml")
    assert parsed.services[0].build_urls == ("https://github.com/org/*",)
    assert parse_config(config("[]"), "pgod.toml").services[0].build_urls == ()


@pytest.mark.parametrize("urls", ['"https://x/*"', '["*"]', '["https://*/x"]',
                                  '["file:///x/*"]', "[1]"])
def test_bad_build_urls_name_the_key(urls: str) -> None:
    with pytest.raises(ConfigError, match="service 'web': key 'build_urls'"):
        parse_config(config(urls), "pgod.toml")
