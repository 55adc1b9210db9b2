"""The status page and /status.json: the pure view and page, and the routes on a real
listener (aiohttp on loopback) over stand-in runners."""

from __future__ import annotations

import asyncio
import json
import re
import urllib.error
import urllib.request
from dataclasses import replace
from html.parser import HTMLParser
from types import SimpleNamespace
from typing import Any

import pytest

from pgo.http import page, server, statuspage
from pgo.http.view import ServiceView, service_json, status_document
from pgo.state import Attempt, Fetch, Mark, Outcome, Record, State
from pgo.status import ContainerRow, status_json, when

GOOD, BAD = "a" * 40, "b" * 40
NOW = 1_800_000_000.0
HOSTILE = '<script>alert("x")</script> & <img src=x onerror=alert(1)>'


def refused_record() -> Record:
    deployed = Attempt(NOW - 600, GOOD, "first & <b>best</b>", "start", Outcome.DEPLOYED, "")
    refused = Attempt(NOW - 60, BAD, HOSTILE, "poll", Outcome.REFUSED,
                      f"commit {BAD[:12]} refused: privileged <mode>")
    return Record(service="web", user="u", state=State.REFUSED, since=NOW - 60,
                  deployed=GOOD, last_good=GOOD, upstream=BAD, refused=BAD,
                  reason=refused.reason, last_attempt=refused,
                  last_fetch=Fetch(NOW - 5), history=(refused, deployed))


def view(record: Record, seen_at: float = NOW - 3, **kw: Any) -> ServiceView:
    rows = (ContainerRow("web_web_1", "web", "running", "healthy"),
            ContainerRow("web_job_1", "job", "exited", "", 3))
    return ServiceView(record, kw.pop("repository", "file:///srv/repo.git"), "main",
                       seen_at, rows, **kw)


def render(*views: ServiceView) -> str:
    return page.render(status_document(views), "host<1>", NOW)


class Text(HTMLParser):
    """The page's text as a browser shows it, and every tag seen."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.text, self.tags = "", []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)

    def handle_data(self, data: str) -> None:
        self.text += data


def test_a_hostile_subject_and_reason_are_text_not_markup() -> None:
    html = render(view(refused_record()))
    parsed = Text(html)
    assert HOSTILE in parsed.text  # shown as it was written
    assert "<script" not in html and "<img" not in html and "script" not in parsed.tags
    assert "privileged <mode>" in parsed.text and "first & <b>best</b>" in parsed.text
    assert "b" not in parsed.tags and "host<1>" in parsed.text


def test_the_page_shows_what_status_shows() -> None:
    text = Text(render(view(refused_record()))).text
    for shown in ("web", "refused", "since", "(1m ago)", GOOD[:12], BAD[:12],
                  "first & <b>best</b>", "file:///srv/repo.git (branch main)",
                  "web_web_1", "running", "healthy", "web_job_1", "exited",
                  f"as of {when(NOW - 3)}", "ok at", "(poll)"):
        assert shown in text, shown
    assert BAD not in text  # the full hash only in the title attribute


def test_every_state_has_its_own_colour_and_the_page_uses_it() -> None:
    assert set(page.STATE_COLOURS) == set(State)
    assert len(set(page.STATE_COLOURS.values())) == len(State)
    for state in State:
        html = render(view(replace(refused_record(), state=state)))
        assert f'class="state state-{state.value}"' in html
        assert f".state-{state.value}{{background:{page.STATE_COLOURS[state]}}}" in html
    assert set(page.OUTCOME_COLOURS) == set(Outcome)


def test_no_services() -> None:
    html = render()
    assert "No services are configured." in Text(html).text
    assert status_document([]) == {}


def test_a_service_never_deployed_and_never_looked_at() -> None:
    record = Record(service="new")
    html = render(view(record, seen_at=0.0))
    text = Text(html).text
    assert "cloning" in text and "not looked at yet" in text
    assert "no deploy attempts yet" in text and "since -" in text
    data = service_json(view(record, seen_at=0.0))
    assert data["containers"] is None and data["containers_at"] is None
    assert data["deployed"] is None and data["deployed_subject"] is None


def test_the_json_is_status_json_and_three_keys_more() -> None:
    record = replace(refused_record(), frozen=Mark("SHA256:abc", NOW - 9, "release"))
    v = view(record, repository="https://bob:s3cret@git.example/r.git")
    data = service_json(v)
    same = status_json(record, v.repository, "main", v.rows)
    assert {k: data[k] for k in same} == same
    assert set(data) - set(same) == {"containers_at", "deployed_subject", "history"}
    assert data["deployed_subject"] == "first & <b>best</b>"
    assert [h["commit"] for h in data["history"]] == [BAD, GOOD]
    assert "s3cret" not in json.dumps(data) and "s3cret" not in render(v)
    assert "release" in Text(render(v)).text


def test_history_is_cut_to_the_newest_few() -> None:
    record = refused_record()
    many = replace(record, history=record.history * 10)
    assert len(service_json(view(many))["history"]) == 5


def test_the_style_sheet_is_what_the_policy_allows() -> None:
    html = render(view(refused_record()))
    style = re.search(r"<style>(.*?)</style>", html, re.S)
    assert style is not None and style.group(1) == page.STYLE
    assert f"'sha256-{page.STYLE_HASH}'" in page.CSP and "default-src 'none'" in page.CSP
    assert "<script" not in html and 'http-equiv="refresh"' in html


def runner(record: Record, seen: Any = None) -> Any:
    config = SimpleNamespace(repository="file:///srv/repo.git", branch="main")
    return SimpleNamespace(record=record, config=config, seen=seen)


def fetch(port: int, path: str, method: str = "GET") -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method)
    with urllib.request.urlopen(request, timeout=10) as reply:  # noqa: S310
        return reply.status, dict(reply.headers), reply.read()


def test_the_routes_on_a_real_listener() -> None:
    seen = SimpleNamespace(at=NOW, rows=(ContainerRow("web_web_1", "web", "running"),))
    runners = {"web": runner(refused_record(), seen), "new": runner(Record(service="new"))}

    async def main() -> list[tuple[int, dict[str, str], bytes]]:
        routes = server.Routes()
        statuspage.register(routes, runners)
        listener = await server.start(routes, "127.0.0.1", 0)
        try:
            return [await asyncio.to_thread(fetch, listener.port, path, method)
                    for path, method in (("/", "GET"), ("/", "HEAD"),
                                         ("/status.json", "GET"), ("/status.json", "HEAD"))]
        finally:
            await listener.close()

    (code, headers, body), head, (jcode, jheaders, jbody), jhead = asyncio.run(main())
    assert code == jcode == 200 and head[0] == jhead[0] == 200
    assert head[2] == b"" and jhead[2] == b""
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    assert jheaders["Content-Type"] == "application/json; charset=utf-8"
    for h in (headers, jheaders, head[1]):
        assert h["Cache-Control"] == "no-store" and h["Content-Security-Policy"] == page.CSP
    assert "web_web_1" in body.decode() and "new" in body.decode()
    document = json.loads(jbody)
    assert list(document) == ["web", "new"]
    assert document["web"]["state"] == "refused" and document["web"]["upstream"] == BAD
    assert document["web"]["containers"][0]["name"] == "web_web_1"
    assert document["new"]["containers_at"] is None


@pytest.mark.parametrize("path", ["/status", "/index.html"])
def test_other_paths_are_not_served(path: str) -> None:
    async def main() -> int:
        routes = server.Routes()
        statuspage.register(routes, {})
        listener = await server.start(routes, "127.0.0.1", 0)
        try:
            return await asyncio.to_thread(_status, listener.port, path)
        finally:
            await listener.close()
    assert asyncio.run(main()) == 404


def _status(port: int, path: str) -> int:
    try:
        return fetch(port, path)[0]
    except urllib.error.HTTPError as err:
        return err.code


def test_a_failed_fetch_a_stop_and_an_exited_container() -> None:
    record = replace(refused_record(), state=State.STOPPED,
                     stopped=Mark("operator SHA256:k3y", NOW - 30, "down"),
                     last_fetch=Fetch(NOW - 2, "fatal: unable to access <repo>", 3))
    text = Text(render(view(record))).text
    assert "failed at" in text and "(3 in a row)" in text
    assert "fatal: unable to access <repo>" in text
    assert "by operator SHA256:k3y at" in text and ": down" in text
    html = render(view(record))
    assert "<td>exited</td><td>-</td><td>3</td>" in html  # its exit code
    assert '<td class="health-healthy">healthy</td><td></td>' in html  # none when running
