"""GET (and HEAD) / and /status.json on the -m listener: every service's status, read from
what pgod holds (the records, the containers as last seen). A request never runs podman or
git, and never changes anything.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from aiohttp import web

from pgo.http import page
from pgo.http.server import Handler, Routes
from pgo.http.view import ServiceView, status_document

if TYPE_CHECKING:
    from pgo.service import ServiceRunner

# Nothing kept by caches, nothing loaded from anywhere, never framed.
HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": page.CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


def views(runners: Mapping[str, ServiceRunner]) -> list[ServiceView]:
    """Each service as it is now, in the config's order."""
    out = []
    for runner in runners.values():
        seen = runner.seen
        out.append(ServiceView(runner.record, runner.config.repository, runner.config.branch,
                               seen.at if seen else 0.0, seen.rows if seen else ()))
    return out


def register(routes: Routes, runners: Mapping[str, ServiceRunner]) -> None:
    """Serve the page at / and the JSON at /status.json; `runners` is read at each request."""
    routes.get("/", _page(runners))
    routes.get("/status.json", _json(runners))


def page_text(snapshot: Sequence[ServiceView], host: str, now: float) -> str:
    return page.render(status_document(snapshot), host, now)


def json_text(snapshot: Sequence[ServiceView]) -> str:
    return json.dumps(status_document(snapshot), indent=1) + "\n"


def _page(runners: Mapping[str, ServiceRunner]) -> Handler:
    async def handle(request: web.Request) -> web.Response:
        # the records are values: taken here, formatted in a thread (a page of many
        # services with long reasons takes tens of milliseconds)
        text = await asyncio.to_thread(page_text, views(runners), socket.gethostname(),
                                       time.time())
        return web.Response(text=text, content_type="text/html", charset="utf-8",
                            headers=HEADERS)
    return handle


def _json(runners: Mapping[str, ServiceRunner]) -> Handler:
    async def handle(request: web.Request) -> web.Response:
        text = await asyncio.to_thread(json_text, views(runners))
        return web.Response(text=text, content_type="application/json", charset="utf-8",
                            headers=HEADERS)
    return handle
