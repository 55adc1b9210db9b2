"""The service runner's `Checks`, from the health gate (`gate`, `health`): whether a deploy
is ready, which containers of what runs died, and the rows `status` shows."""

from __future__ import annotations

from pgo import gate, health
from pgo.compose import Project
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

    async def rows(project: Project) -> list[ContainerRow]:
        return _rows(await gate.observe(project))

    return Checks(ready, dead, rows)


def _rows(seen: list[health.ContainerState]) -> list[ContainerRow]:
    return [ContainerRow(c.name, c.service or "", c.status, c.health or "", c.exit_code)
            for c in seen]
