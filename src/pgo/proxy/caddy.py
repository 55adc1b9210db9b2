"""The Caddy side: write the snippet (atomically) and ask Caddy to load it.

`Router` is a service watcher: after a record changes it recomputes the route table, and
when the table differs from what it last wrote, a task writes the snippet and runs the
reload command; never on the event loop's time. One write-and-reload at a time: changes
during one make exactly one more, with the table as it is then. A failed reload is a log
line naming the file and Caddy's error; Caddy keeps the config it had (the old routes), the
snippet stays written, and the next change (or pgod's next start) tries again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from pgo import proc
from pgo.config import ServiceConfig
from pgo.errors import CommandFailed
from pgo.proc import Account
from pgo.proxy.caddyfile import render
from pgo.proxy.routes import Route, routed, table
from pgo.state import Event, Record

log = logging.getLogger("pgo.proxy")

DEFAULT_RELOAD = ("caddy", "reload", "--config", "/etc/caddy/Caddyfile", "--adapter",
                  "caddyfile")
RELOAD_TIMEOUT = 60.0


@dataclass(frozen=True)
class CaddySettings:
    """`--caddy FILE` and `--caddy-reload COMMAND` (an argv; empty: no reload)."""

    snippet: str
    reload: tuple[str, ...] = DEFAULT_RELOAD


def write_atomic(path: str, text: str) -> None:
    """Write `path` (mode 0644) whole or not at all: a new temporary file beside it (never
    one found there: it could be a link), fsynced, renamed over it, the directory fsynced."""
    directory = os.path.dirname(os.path.abspath(path))
    tmp = f"{path}.tmp"
    with contextlib.suppress(FileNotFoundError):  # (a leftover, or something planted)
        os.unlink(tmp)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


class Router:
    """Keeps the snippet (and Caddy) in step with which services are routed."""

    def __init__(self, settings: CaddySettings, services: Sequence[ServiceConfig],
                 records: Callable[[], Mapping[str, Record]]) -> None:
        self.settings, self.services, self.records = settings, tuple(services), records
        self.written: tuple[Route, ...] | None = None  # the table last written; None: none
        self.reloads = 0      # reload commands that succeeded (for tests and metrics)
        self.failures = 0     # and that failed
        self._task: asyncio.Task[None] | None = None
        self._again = False

    def watch(self, before: Record, event: Event, after: Record) -> None:
        """A `service.Watch`: a record changed; bring the snippet up to date."""
        if routed(before) != routed(after):
            self.update()

    def update(self) -> None:
        """Write and reload in a task if the table changed (at once if none runs)."""
        if self._task is not None and not self._task.done():
            self._again = True
            return
        if table(self.services, self.records()) == self.written:
            return
        self._task = asyncio.get_running_loop().create_task(self._sync(), name="caddy")

    async def idle(self) -> None:
        """Wait until no write or reload runs (tests, shutdown)."""
        while self._task is not None and not self._task.done():
            await asyncio.shield(self._task)

    async def _sync(self) -> None:
        while True:
            self._again = False
            routes = table(self.services, self.records())
            try:
                if routes != self.written:
                    await self._apply(routes)
            except Exception:  # a bug: the next change tries again
                log.exception("internal error updating the Caddy routes")
            if not self._again:
                return

    async def _apply(self, routes: tuple[Route, ...]) -> None:
        path = self.settings.snippet
        try:
            await asyncio.to_thread(write_atomic, path, render(routes))
        except OSError as err:
            log.error("cannot write the Caddy routes to %s (Caddy keeps the ones it has): "
                      "%s", path, err)
            return
        self.written = routes
        served = ", ".join(sorted({r.service for r in routes})) or "none"
        log.info("wrote %d route(s) to %s (services: %s)", len(routes), path, served)
        await self._reload()

    async def _reload(self) -> None:
        argv = self.settings.reload
        if not argv:
            return
        try:
            await proc.run(argv, Account.current(), "/", timeout=RELOAD_TIMEOUT)
        except CommandFailed as err:
            self.failures += 1
            log.error("Caddy did not load %s, it keeps its previous routes: %s",
                      self.settings.snippet, err)
            return
        self.reloads += 1
        log.info("Caddy reloaded (%s)", " ".join(argv))
