"""Self-heal's look at the containers, shared by all the projects of one user: one
`podman ps -a` (every compose container of the user) serves each of that user's services
whose pass looks within `fresh` seconds, instead of one podman per service and pass (podman
costs some 0.1 CPU-second as a rootless user; git's look at an unchanged branch a tenth).

Honest as long as a look is never older than what pgod itself did: a look taken before the
end of the project's last podman-compose run (compose.Jobs.ended) is not used for it, and a
look is at most `fresh` seconds old, so a container that died is seen at most that much later
than with a look of its own. The health gate never uses it (it inspects, every second).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from pgo.compose import Jobs, Project
from pgo.gate import ps_json
from pgo.health import ContainerState, from_ps
from pgo.proc import Account

PROJECT_LABEL = "io.podman.compose.project"


class Looks:
    def __init__(self, jobs: Jobs, fresh: float) -> None:
        self.jobs, self.fresh = jobs, fresh
        self._last: dict[int, tuple[float, asyncio.Task[list[dict[str, Any]]]]] = {}

    async def containers(self, project: Project) -> list[ContainerState]:
        """The project's containers, from a look at all its user's at most `fresh` old."""
        uid, now = project.account.uid, time.monotonic()
        last = self._last.get(uid)
        if last is None or now - last[0] > self.fresh or \
                last[0] <= self.jobs.ended.get(project.name, float("-inf")) or \
                (last[1].done() and (last[1].cancelled() or last[1].exception())):
            task = asyncio.ensure_future(_all_of(project.account, project.workdir))
            last = self._last[uid] = (now, task)
        entries = await asyncio.shield(last[1])  # (one runner cancelled: the others wait on)
        return [from_ps(e) for e in entries
                if (e.get("Labels") or {}).get(PROJECT_LABEL) == project.name]


async def _all_of(account: Account, cwd: str) -> list[dict[str, Any]]:
    return await ps_json(account, cwd, PROJECT_LABEL)
