"""The service runner's `Checks`, from the health gate (`gate`, `health`): whether a deploy
is ready, which containers of what runs died, and the rows `status` shows."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from pgo import gate, health
from pgo.compose import Jobs, Project
from pgo.config import ServiceConfig
from pgo.looks import Looks
from pgo.project import ProjectAt
from pgo.service import Checks
from pgo.status import ContainerRow, ServiceLog


def checks_for(config: ServiceConfig, log: ServiceLog, looks: Looks | None = None) -> Checks:
    """With `looks`, self-heal looks through it (one podman for many services)."""
    async def ready(project: Project, at: ProjectAt) -> str | None:
        if at.model is None:
            return "no compose model to check"
        result = await gate.wait_ready(project, at.model, config.health_timeout,
                                       settle=config.health_settle, log=log,
                                       profiles=frozenset())
        return None if result.ok else result.reason

    async def dead(project: Project, at: ProjectAt) -> tuple[list[str], list[ContainerRow]]:
        seen = await (gate.glance(project) if looks is None else looks.containers(project))
        if at.model is None:
            return [], _rows(seen)
        found = health.heal_needed(seen, health.expectations(at.model, frozenset()))
        return [f.describe().splitlines()[0] for f in found], _rows(seen)

    async def observe(project: Project) -> list[ContainerRow]:
        return _rows(await gate.observe(project))

    return Checks(ready, dead, shared(observe, looks.jobs if looks is not None else None))


Look = Callable[[Project], Awaitable[list[ContainerRow]]]


def shared(look: Look, jobs: Jobs | None = None) -> Look:
    """`look`, one at a time per project: a caller that comes while one is under way gets
    that one's answer (begun at most one look's time before it asked) instead of podman
    processes of its own: fifty `status` requests at once cost one look, not fifty. Not
    one begun before the project's last podman-compose run ended (`jobs`)."""
    running: dict[str, tuple[float, asyncio.Future[list[ContainerRow]]]] = {}

    async def call(project: Project) -> list[ContainerRow]:
        held = running.get(project.name)
        ended = jobs.ended.get(project.name, float("-inf")) if jobs is not None \
            else float("-inf")
        if held is None or held[1].done() or held[0] <= ended:
            task = asyncio.ensure_future(look(project))
            task.add_done_callback(_retrieved)
            held = running[project.name] = (time.monotonic(), task)
        return await asyncio.shield(held[1])  # (one caller gone: the others wait on)

    return call


def _retrieved(task: asyncio.Future[list[ContainerRow]]) -> None:
    """Its exception taken (each caller still gets it): no "never retrieved" warning
    when every caller went away first."""
    if not task.cancelled():
        task.exception()


def _rows(seen: list[health.ContainerState]) -> list[ContainerRow]:
    return [ContainerRow(c.name, c.service or "", c.status, c.health or "", c.exit_code)
            for c in seen]
