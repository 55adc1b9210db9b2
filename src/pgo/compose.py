"""podman-compose, run as the service user, always with an explicit file and project name."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import sys
from collections.abc import Sequence
from dataclasses import dataclass

from pgo import proc
from pgo.errors import CommandFailed, PgoError
from pgo.proc import Account

log = logging.getLogger("pgo.compose")

# podman-compose is Python: unbuffered, so `logs -f` reaches the client line by line.
ENV = {"PYTHONUNBUFFERED": "1"}
TIMEOUTS = {"pull": 1800.0, "build": 1800.0, "up": 600.0, "down": 300.0}
DEFAULT_TIMEOUT = 300.0
# What rootless podman says when the user's pause process died but its pid file stayed
# (the processes were killed, /tmp survived); `podman system migrate` starts a new one.
STALE_PAUSE = "try resetting the pause process"


def find_podman_compose() -> str:
    """podman-compose from our own environment (pinned), else from PATH."""
    sibling = os.path.join(os.path.dirname(sys.executable), "podman-compose")
    if os.access(sibling, os.X_OK):
        return sibling
    found = shutil.which("podman-compose")
    if found is None:
        raise PgoError("podman-compose not found next to the Python running pgod nor on PATH")
    return found


@dataclass(frozen=True)
class Project:
    """One compose project: `podman-compose -f FILE -p NAME` in the checkout."""

    name: str
    workdir: str
    file: str  # relative to workdir
    account: Account
    executable: str

    def argv(self, *args: str) -> list[str]:
        return [self.executable, "-f", os.path.join(self.workdir, self.file), "-p", self.name,
                *args]

    async def run(self, *args: str, timeout: float | None = None) -> proc.Result:
        """Run a podman-compose subcommand to completion; CommandFailed on failure."""
        limit = timeout or TIMEOUTS.get(args[0], DEFAULT_TIMEOUT)
        try:
            return await proc.run(self.argv(*args), self.account, self.workdir,
                                  timeout=limit, env=ENV)
        except CommandFailed as err:
            if STALE_PAUSE not in err.output:
                raise
        log.warning("%s: %s's podman pause process is gone; running podman system migrate "
                    "and trying again", self.name, self.account.user)
        await proc.run(["podman", "system", "migrate"], self.account, self.workdir,
                       timeout=DEFAULT_TIMEOUT)
        return await proc.run(self.argv(*args), self.account, self.workdir, timeout=limit,
                              env=ENV)

    async def containers(self) -> list[str]:
        """Names of the project's containers, running or not (podman's compose label)."""
        result = await proc.run(
            ["podman", "ps", "-a", "--filter", f"label=io.podman.compose.project={self.name}",
             "--format", "{{.Names}}"], self.account, self.workdir, timeout=DEFAULT_TIMEOUT)
        return result.output.split()

    async def down(self) -> None:
        """`down --remove-orphans`, then a look: podman-compose 1.6.0 ignores the exit status
        of each `podman stop` and `podman rm`, so a failed down exits 0."""
        result = await self.run("down", "--remove-orphans")
        if left := await self.containers():
            errors = [line for line in result.output.splitlines() if "rror" in line]
            about = [line for line in errors if any(name in line for name in left)]
            raise PgoError(f"podman-compose down left {len(left)} container(s) of project "
                           f"{self.name} ({', '.join(left[:5])}): "
                           + (about or errors or ["no error shown"])[0][-300:])

    async def start(self, args: Sequence[str], *, merge_stderr: bool = True,
                    ) -> asyncio.subprocess.Process:
        """Start a podman-compose subcommand whose output the caller streams."""
        return await proc.start(self.argv(*args), self.account, self.workdir, ENV,
                                merge_stderr=merge_stderr)
