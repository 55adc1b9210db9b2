"""The HTTP listener: an aiohttp application on pgod's event loop.

Parts add their handlers to `Routes` before `start`; anything else gets 404 and only GET
and HEAD are served where a part does not say otherwise. No part may block the loop: a
handler reads the state pgod already holds, it never runs podman or git.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiohttp import web

from pgo.errors import PgoError

log = logging.getLogger("pgo.http")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
MAX_BODY = 1 << 20  # bytes of a request body read (a webhook's push event fits)


@dataclass
class Routes:
    """What the listener serves: (method, path) -> handler."""

    handlers: dict[tuple[str, str], Handler] = field(default_factory=dict)

    def get(self, path: str, handler: Handler) -> None:
        self._add("GET", path, handler)

    def post(self, path: str, handler: Handler) -> None:
        self._add("POST", path, handler)

    def _add(self, method: str, path: str, handler: Handler) -> None:
        if (method, path) in self.handlers:
            raise ValueError(f"{method} {path} is served twice")
        self.handlers[(method, path)] = handler


class Listener:
    """The running listener; `close` stops it (open requests finish first)."""

    def __init__(self, runner: web.AppRunner, port: int) -> None:
        self._runner, self.port = runner, port

    async def close(self) -> None:
        await self._runner.cleanup()


async def start(routes: Routes, host: str, port: int) -> Listener:
    """Serve `routes` on host:port (host "" is every address); PgoError if it cannot bind."""
    app = web.Application(client_max_size=MAX_BODY)
    for (method, path), handler in routes.handlers.items():
        if method == "GET":  # HEAD too: the same headers, no body
            app.router.add_get(path, handler)
        else:
            app.router.add_route(method, path, handler)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host or None, port, reuse_address=True)
    try:
        await site.start()
    except OSError as err:
        await runner.cleanup()
        raise PgoError(f"cannot listen for HTTP on {host or '*'}:{port}: {err}") from err
    bound = port
    server = getattr(site, "_server", None)
    sockets = getattr(server, "sockets", None) or []
    if sockets:
        bound = sockets[0].getsockname()[1]
    log.info("HTTP listening on %s:%d (%s)", host or "*", bound,
             ", ".join(sorted(path for _, path in routes.handlers)) or "nothing yet")
    return Listener(runner, bound)
