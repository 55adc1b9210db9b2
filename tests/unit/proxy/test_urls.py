import pytest

from pgo.config import parse_config
from pgo.errors import ConfigError
from pgo.proxy.urls import Site, Target, parse_site, parse_target


def service(name: str, urls: str, ports: str = '["5005/5"]') -> str:
    return (f'[[services]]\nname = "{name}"\nuser = "root"\nrepository = "file:///r.git"\n'
            f"ports = {ports}\nurls = {{ {urls} }}\n")


@pytest.mark.parametrize(("key", "site"), [
    ("example.org", Site("example.org")),
    ("Example.ORG", Site("example.org")),
    ("example.org/", Site("example.org")),
    ("example.org/api", Site("example.org", "/api")),
    ("example.org/api/v2/", Site("example.org", "/api/v2")),
    ("http://example.org", Site("example.org")),
    ("https://example.org/x", Site("example.org", "/x", "https")),
    ("*.example.org", Site("*.example.org")),
])
def test_a_key_is_a_host_an_optional_scheme_and_path(key: str, site: Site) -> None:
    assert parse_site(key) == site
    assert parse_site(site.key) == site


@pytest.mark.parametrize("key", [
    "", "exa mple.org", "example.org\n", "ftp://example.org", "example.org:8080",
    "example.org//x", "example.org/a b", "example.org/{x}", "example.org/a#b",
    "example.org/\n", "-x.org", "a.*.org", "http://", "/api",
])
def test_bad_keys(key: str) -> None:
    with pytest.raises(ValueError, match=r"host name|path"):
        parse_site(key)


@pytest.mark.parametrize(("value", "target"), [
    (":5006", Target("127.0.0.1", 5006)),
    ("127.0.0.1:5006", Target("127.0.0.1", 5006)),
    ("[::1]:5006", Target("[::1]", 5006)),
    ("backend:80", Target("backend", 80)),
])
def test_a_target_is_an_optional_host_and_a_port(value: str, target: Target) -> None:
    assert parse_target(value) == target


@pytest.mark.parametrize("value", [
    "5006", ":0", ":70000", "a b:5006", "{x}:5006", "-x:5006", 5006, "http://x:5006",
    "x:5006/y", "::1:5006",
])
def test_bad_targets(value: object) -> None:
    with pytest.raises(ValueError, match="PORT"):
        parse_target(value)


def test_config_keeps_the_normalized_key_and_the_value() -> None:
    text = service("web", '"Example.org/api/" = "127.0.0.1:5006", "https://x.org" = ":5007"')
    (svc,) = parse_config(text, "p.toml").services
    assert svc.urls == (("example.org/api", "127.0.0.1:5006"), ("https://x.org", ":5007"))


@pytest.mark.parametrize(("text", "service_name", "words"), [
    (service("web", '"example.org" = "127.0.0.1:6000"'), "web", "port 6000 is outside"),
    (service("web", '"example.org/{x}" = ":5006"'), "web", "path"),
    (service("web", '"example.org" = ":5006", "EXAMPLE.org/" = ":5007"'), "web",
     "same host and path"),
    (service("web", '"example.org/a" = ":5006", "https://example.org/a" = ":5007"'), "web",
     "same host and path"),
    (service("web", '"example.org" = ":5006"')
     + service("api", '"example.org" = ":5006"'), "api", "service 'web' too"),
    (service("web", '"example.org/api" = ":5006"')
     + service("api", '"https://Example.org/api/" = ":5006"'), "api", "service 'web' too"),
])
def test_url_errors_name_the_file_the_service_and_the_other(text: str, service_name: str,
                                                            words: str) -> None:
    with pytest.raises(ConfigError, match=words) as caught:
        parse_config(text, "/etc/pgod.toml")
    assert (caught.value.path, caught.value.service, caught.value.key) == (
        "/etc/pgod.toml", service_name, "urls")
    assert str(caught.value).startswith(f"/etc/pgod.toml: service '{service_name}': key 'urls'")


def test_two_services_may_share_a_host_on_different_paths() -> None:
    text = (service("web", '"example.org" = ":5006"')
            + service("api", '"example.org/api" = ":5007"'))
    assert [s.urls for s in parse_config(text, "p.toml").services] == [
        (("example.org", ":5006"),), (("example.org/api", ":5007"),)]


@pytest.mark.parametrize(("one", "two", "clash"), [
    ("", "", True),
    ('machines = ["web1"]\n', "", True),                      # the other runs everywhere
    ('machines = ["web1"]\n', 'machines = ["web1"]\n', True),
    ('machines = ["web1"]\n', 'machines = ["Web1.example.org"]\n', True),  # one machine
    ('machines = ["web1", "web2"]\n', 'machines = ["web2"]\n', True),
    ('machines = ["web1"]\n', 'machines = ["db1"]\n', False),  # two Caddies, two machines
])
def test_one_host_name_per_machine(one: str, two: str, clash: bool) -> None:
    text = (service("web", '"example.org" = ":5006"') + one
            + service("www", '"example.org" = ":5006"') + two)
    if clash:
        with pytest.raises(ConfigError, match="claimed by service 'web' too"):
            parse_config(text, "p.toml")
    else:
        assert len(parse_config(text, "p.toml").services) == 2
