"""The status page: /status.json's document as one HTML page. Pure: document in, text out.

No script and nothing fetched: one inline style sheet (allowed by its hash in the
Content-Security-Policy), a `<meta http-equiv="refresh">` that reloads it. Every value is
escaped: subjects, reasons and container names are other people's text.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping, Sequence
from datetime import datetime
from html import escape
from typing import Any

from pgo.state import Outcome, State
from pgo.status import when

REFRESH = 10  # seconds between reloads
SHORT = 12    # characters of a commit hash shown (as `status` shows them)

STATE_COLOURS = {
    State.OK: "#1a7f37", State.DEPLOYING: "#0969da", State.CLONING: "#4c8fd6",
    State.REFUSED: "#9a6700", State.BROKEN: "#cf222e", State.FAILING: "#82071e",
    State.FROZEN: "#8250df", State.STOPPED: "#57606a",
}
OUTCOME_COLOURS = {
    Outcome.DEPLOYED: "#1a7f37", Outcome.NO_CHANGE: "#57606a", Outcome.REFUSED: "#9a6700",
    Outcome.BROKEN: "#cf222e", Outcome.FAILED: "#82071e", Outcome.ROLLED_BACK: "#8250df",
}
HEALTH_COLOURS = {"healthy": "#1a7f37", "starting": "#9a6700", "unhealthy": "#cf222e"}


def _slug(value: str) -> str:
    return value.replace(" ", "-")


STYLE = "".join([
    "body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#1f2328;background:#fff}",
    "h1{font-size:1.4em;margin:0 0 .2em}h2{font-size:1.2em;margin:0 0 .4em}",
    "h3{font-size:1em;margin:.8em 0 .2em}.note{color:#57606a}",
    "section{border:1px solid #d0d7de;border-radius:6px;padding:.8em 1em;margin:1em 0}",
    "table{border-collapse:collapse}th,td{text-align:left;vertical-align:top;",
    "padding:.15em .8em .15em 0}th{font-weight:600;white-space:nowrap}",
    "code{font:12px ui-monospace,monospace}pre{white-space:pre-wrap;margin:0;",
    "font:12px ui-monospace,monospace}time{white-space:nowrap}",
    "h2 .note{font-weight:400;font-size:.8em}",
    "pre.reason{border-left:3px solid #d0d7de;padding-left:.6em;margin:.2em 0 .6em}",
    ".state{color:#fff;border-radius:1em;padding:.1em .7em;font-size:.9em}",
    *(f".state-{s.value}{{background:{c}}}" for s, c in STATE_COLOURS.items()),
    *(f".outcome-{_slug(o.value)}{{color:{c};font-weight:600}}"
      for o, c in OUTCOME_COLOURS.items()),
    *(f".health-{h}{{color:{c};font-weight:600}}" for h, c in HEALTH_COLOURS.items()),
])
STYLE_HASH = base64.b64encode(hashlib.sha256(STYLE.encode()).digest()).decode()
CSP = (f"default-src 'none'; style-src 'sha256-{STYLE_HASH}'; base-uri 'none'; "
       "form-action 'none'; frame-ancestors 'none'")


def render(document: Mapping[str, Mapping[str, Any]], host: str, now: float) -> str:
    """The page for /status.json's `document` (service name -> its object) on `host`."""
    services = list(document.values())
    body = "".join(_service(s, now) for s in services) or \
        '<p class="note">No services are configured.</p>'
    title = f"pgod on {host}"
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="refresh" content="{REFRESH}">'
        '<meta name="viewport" content="width=device-width">'
        f"<title>{escape(title)}</title><style>{STYLE}</style></head><body>"
        f"<h1>{escape(title)}</h1><p class=\"note\">{len(services)} service(s) at "
        f"{_time(when(now))}; reloads every {REFRESH}s; read-only "
        "(<a href=\"status.json\">status.json</a>)</p>"
        f"{body}</body></html>\n")


def _service(s: Mapping[str, Any], now: float) -> str:
    state = str(s["state"])
    return (
        f'<section id="service-{escape(s["service"])}">'
        f'<h2>{escape(s["service"])} <span class="state state-{escape(state)}">'
        f"{escape(state)}</span> <span class=\"note\">since {_time(s['since'])}"
        f"{_ago(s['since'], now)}</span></h2>"
        + (f'<pre class="reason">{escape(s["reason"])}</pre>' if s["reason"] else "")
        + _facts(s) + _containers(s) + _history(s["history"]) + "</section>")


def _facts(s: Mapping[str, Any]) -> str:
    rows = [
        ("repository", f"{escape(s['repository'])} (branch {escape(s['branch'])})"),
        ("deployed", _commit(s["deployed"]) + (
            f" {escape(s['deployed_subject'])}" if s["deployed_subject"] else "")),
        ("last good", _commit(s["last_good"])),
        ("upstream", _commit(s["upstream"])),
        ("frozen", _mark(s["frozen"])),
        ("stopped", _mark(s["stopped"])),
        ("last attempt", _attempt(s["last_attempt"])),
        ("last fetch", _fetch(s["last_fetch"])),
    ]
    return '<table class="facts">' + "".join(
        f"<tr><th>{name}</th><td>{value}</td></tr>" for name, value in rows) + "</table>"


def _containers(s: Mapping[str, Any]) -> str:
    head = "<h3>containers"
    if s["containers_at"] is None:
        return head + '</h3><p class="note">not looked at yet</p>'
    head += f' <span class="note">as of {_time(s["containers_at"])}</span></h3>'
    rows: Sequence[Mapping[str, Any]] = s["containers"]
    if not rows:
        return head + '<p class="note">none</p>'
    return head + "<table><tr><th>name</th><th>state</th><th>health</th><th>exit</th></tr>" \
        + "".join(_container(c) for c in rows) + "</table>"


def _container(c: Mapping[str, Any]) -> str:
    health = c["health"] or ""
    style = f' class="health-{escape(health)}"' if health in HEALTH_COLOURS else ""
    code = str(c["exit_code"]) if c["state"] == "exited" else ""
    return (f"<tr><td><code>{escape(c['name'])}</code></td><td>{escape(c['state'])}</td>"
            f"<td{style}>{escape(health) or '-'}</td><td>{code}</td></tr>")


def _history(attempts: Sequence[Mapping[str, Any]]) -> str:
    if not attempts:
        return '<h3>history</h3><p class="note">no deploy attempts yet</p>'
    return ("<h3>history</h3><table><tr><th>time</th><th>commit</th><th>outcome</th>"
            "<th>trigger</th><th>subject</th><th>reason</th></tr>"
            + "".join(
                f"<tr><td>{_time(a['time'])}</td><td>{_commit(a['commit'])}</td>"
                f"<td>{_outcome(a['outcome'])}</td><td>{escape(a['trigger'])}</td>"
                f"<td>{escape(a['subject'] or '-')}</td>"
                f"<td><pre>{escape(a['reason'] or '-')}</pre></td></tr>" for a in attempts)
            + "</table>")


def _attempt(a: Mapping[str, Any] | None) -> str:
    if a is None:
        return "-"
    return (f"{_commit(a['commit'])} {_outcome(a['outcome'])} at {_time(a['time'])} "
            f"({escape(a['trigger'])})<pre>{escape(a['reason'] or '-')}</pre>")


def _outcome(value: str) -> str:
    return f'<span class="outcome-{escape(_slug(value))}">{escape(value)}</span>'


def _fetch(fetch: Mapping[str, Any] | None) -> str:
    if fetch is None:
        return "-"
    if fetch["error"] is None:
        return f"ok at {_time(fetch['time'])}"
    return (f"failed at {_time(fetch['time'])} ({fetch['failures']} in a row)"
            f"<pre>{escape(fetch['error'])}</pre>")


def _mark(mark: Mapping[str, Any] | None) -> str:
    if mark is None:
        return "-"
    return (f"by <code>{escape(mark['by'])}</code> at {_time(mark['time'])}"
            + (f": {escape(mark['reason'])}" if mark["reason"] else ""))


def _commit(commit: str | None) -> str:
    if not commit:
        return "-"
    return f'<code title="{escape(commit)}">{escape(commit[:SHORT])}</code>'


def _time(iso: str | None) -> str:
    return f"<time>{escape(iso)}</time>" if iso else "-"


def _ago(iso: str | None, now: float) -> str:
    """How long ago the JSON time `iso` was at `now`, as " (3m ago)"; "" for none."""
    if not iso:
        return ""
    seconds = max(0, int(now - datetime.fromisoformat(iso).timestamp()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f" ({seconds // size}{unit} ago)"
    return f" ({seconds}s ago)"
