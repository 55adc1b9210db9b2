from dataclasses import replace

import pytest

from pgo.config import parse_config
from pgo.proxy.caddyfile import HEADER, render
from pgo.proxy.routes import Route, routed, routes_of, table
from pgo.proxy.urls import Site, Target
from pgo.state import Mark, Record, State

CONFIG = parse_config('''
[[services]]
name = "web"
user = "root"
repository = "file:///r.git"
ports = ["5005/5"]
urls = { "example.org" = ":5006", "www.example.org" = "127.0.0.1:5007" }
[[services]]
name = "api"
user = "root"
repository = "file:///r.git"
ports = ["6000"]
urls = { "example.org/api" = ":6000" }
[[services]]
name = "plain"
user = "root"
repository = "file:///r.git"
''', "p.toml")
GOOD = Record(service="web", state=State.OK, deployed="a" * 40, last_good="a" * 40)


@pytest.mark.parametrize(("record", "expected"), [
    (GOOD, True),
    (replace(GOOD, state=State.REFUSED, refused="b" * 40), True),
    (replace(GOOD, state=State.BROKEN, broken="b" * 40), True),
    (replace(GOOD, state=State.FROZEN, frozen=Mark("op", 1.0)), True),
    (replace(GOOD, state=State.DEPLOYING), True),  # a redeploy: the routes stay
    (replace(GOOD, state=State.STOPPED, stopped=Mark("op", 1.0)), False),
    (replace(GOOD, state=State.FAILING, failing=True), False),
    (replace(GOOD, state=State.FROZEN, failing=True), False),
    (Record(service="web"), False),  # cloning
    (Record(service="web", state=State.DEPLOYING), False),  # the first deploy
    (Record(service="web", state=State.REFUSED, refused="b" * 40), False),
    (Record(service="web", state=State.BROKEN, broken="b" * 40), False),
    (Record(service="web", state=State.FAILING, reason="clone failed"), False),
    (replace(GOOD, last_good=None), False),
])
def test_routed_when_what_runs_passed_the_gate(record: Record, expected: bool) -> None:
    assert routed(record) is expected


def test_the_table_holds_the_routed_configured_services() -> None:
    records = {"web": GOOD, "api": replace(GOOD, service="api", state=State.STOPPED),
               "plain": replace(GOOD, service="plain"), "gone": replace(GOOD, service="gone")}
    assert table(CONFIG.services, records) == (
        Route(Site("example.org"), Target("127.0.0.1", 5006), "web"),
        Route(Site("www.example.org"), Target("127.0.0.1", 5007), "web"))
    records["api"] = replace(records["api"], state=State.OK)
    assert [r.service for r in table(CONFIG.services, records)] == ["web", "api", "web"]
    assert table(CONFIG.services, {}) == ()


def test_render_one_site_per_host_longest_prefix_first() -> None:
    routes = [r for s in reversed(CONFIG.services) for r in routes_of(s)]
    assert render(routes) == render(sorted(routes)) == HEADER + '''
http://example.org {
	# service api
	@pgo_1 path /api /api/*
	handle @pgo_1 {
		reverse_proxy 127.0.0.1:6000
	}
	# service web
	handle {
		reverse_proxy 127.0.0.1:5006
	}
}

http://www.example.org {
	# service web
	reverse_proxy 127.0.0.1:5007
}
'''


def test_render_schemes_apart_and_nothing_to_route() -> None:
    routes = [Route(Site("x.org", "/a/b"), Target("[::1]", 80), "one"),
              Route(Site("x.org", "", "https"), Target("127.0.0.1", 81), "two")]
    text = render(routes)
    assert "http://x.org {\n\t# service one\n\t@pgo_1 path /a/b /a/b/*\n" in text
    assert "\t\treverse_proxy [::1]:80\n\t}\n\thandle {\n\t\trespond 404\n\t}\n}\n" in text
    assert "https://x.org {\n\t# service two\n\treverse_proxy 127.0.0.1:81\n}\n" in text
    assert render([]) == HEADER
