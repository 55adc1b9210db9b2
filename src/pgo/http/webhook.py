"""POST /hook: a forge's push event starts the pass of each service it is about.

The order of the checks keeps what pgod follows to itself: a request no service's
`webhook_secret` signed is 401 before anything in it is looked at; then 400 (no push
event), 404 (a signed request about a repository none of those services follows), 202 (a
branch, tag or event pgod does not follow: ignored). A body over 1 MiB is 413 (the
listener's limit). Accepted: 200, the services' passes start (a pass already running is
followed by one more, however many pushes came in the meantime).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from aiohttp import web

from pgo.http.push import PUSH_EVENTS, BadRequest, names, parse_push, signed_with
from pgo.http.server import Routes
from pgo.service import ServiceRunner

log = logging.getLogger("pgo.http")
PATH = "/hook"


def register(routes: Routes, runners: Mapping[str, ServiceRunner]) -> None:
    async def hook(request: web.Request) -> web.Response:
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return _answer(413, "the body is larger than 1 MiB")
        return accept(body, request.headers, runners)
    routes.post(PATH, hook)


def accept(body: bytes, headers: Mapping[str, str],
           runners: Mapping[str, ServiceRunner]) -> web.Response:
    signed = [r for r in runners.values()
              if r.config.webhook_secret and signed_with(r.config.webhook_secret, body,
                                                         headers)]
    if not signed:
        log.warning("webhook: refused a request no service's webhook_secret signed")
        return _answer(401, "no service's webhook_secret signed this request")
    try:
        push = parse_push(body, headers)
    except BadRequest as err:
        return _answer(400, str(err))
    about = [r for r in signed if names(r.config.repository, push)]
    if not about:
        return _answer(404, "no service that shares this secret follows that repository")
    if push.event not in PUSH_EVENTS:
        return _answer(202, f"ignored: a {push.event!r} event, not a push")
    started = [r for r in about if push.branch == r.config.branch]
    if not started:
        return _answer(202, f"ignored: branch {push.branch!r} is followed by no service "
                       "(" + ", ".join(f"{r.config.name}: {r.config.branch}"
                                       for r in about) + ")")
    for runner in started:
        runner.log.info("webhook: push to %s, starting a pass", push.branch)
        runner.poke("webhook")
    return _answer(200, "pass started: " + ", ".join(r.config.name for r in started))


def _answer(status: int, text: str) -> web.Response:
    return web.Response(status=status, text=text + "\n",
                        headers={"Cache-Control": "no-store"})
