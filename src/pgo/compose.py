"""podman-compose, run as the service user, always with an explicit file and project name."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import logging
import os
import re
import shutil
import sys
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pgo import proc
from pgo.errors import CommandFailed, PgoError
from pgo.proc import Account

log = logging.getLogger("pgo.compose")

# podman-compose is Python: unbuffered, so `logs -f` reaches the client line by line.
ENV = {"PYTHONUNBUFFERED": "1"}
TIMEOUTS = {"pull": 1800.0, "build": 1800.0, "up": 600.0, "down": 300.0}
DEFAULT_TIMEOUT = 300.0
DOWN = ("down", "--remove-orphans")  # what pgod's own down runs
# What rootless podman says when the user's pause process died but its pid file stayed
# (the processes were killed, /tmp survived); `podman system migrate` starts a new one.
STALE_PAUSE = "try resetting the pause process"
# pgo.warmstart's text, run with -c as the service user (who may not read pgo's files)
WARMSTART = (Path(__file__).parent / "warmstart.py").read_text(encoding="utf-8")


# What pgod's checks are written against (pyproject pins it): its interpolation, port
# syntax and file lookup are mirrored in pgo.interpolate, pgo.ports and pgo.composefile.
PODMAN_COMPOSE_VERSION = "1.6.0"


async def check_podman_compose(executable: str) -> None:
    """PgoError unless `executable --version` says it is the podman-compose pgod knows."""
    result = await proc.run([executable, "--version"], proc.Account.current(),
                            timeout=DEFAULT_TIMEOUT, check=False)
    match = re.search(r"podman-compose version:? (\S+)", result.output)
    found = match.group(1) if match else None
    if found != PODMAN_COMPOSE_VERSION:
        raise PgoError(f"{executable} is podman-compose {found or '(unknown version)'}; pgod "
                       f"checks compose files as podman-compose {PODMAN_COMPOSE_VERSION} reads "
                       "them: install that version (pip install "
                       f"podman-compose=={PODMAN_COMPOSE_VERSION})")


@functools.cache
def warm_python(executable: str) -> str | None:
    """The Python that runs `executable`, if it is pip's script of podman-compose (a
    `#!` line naming that Python, then `from podman_compose import main`): then pgo.warmstart
    run by that Python does what the script does. None for anything else (a wrapper, a
    distribution's own script): that is run as it is, never started ahead."""
    try:
        with open(executable, encoding="utf-8") as script:
            text = script.read(4096)
    except (OSError, UnicodeDecodeError):
        return None
    first, _, rest = text.partition("\n")
    python = first[2:].strip() if first.startswith("#!") else ""
    if not os.path.isabs(python) or " " in python or \
            "from podman_compose import main\n" not in rest:
        return None
    return python


def find_podman_compose() -> str:
    """podman-compose from our own environment (pinned), else from PATH."""
    sibling = os.path.join(os.path.dirname(sys.executable), "podman-compose")
    if os.access(sibling, os.X_OK):
        return sibling
    found = shutil.which("podman-compose")
    if found is None:
        raise PgoError("podman-compose not found next to the Python running pgod nor on PATH")
    return found


# Whether this task holds a -j slot already (a deploy's, for all its steps).
_HOLDING: contextvars.ContextVar[bool] = contextvars.ContextVar("pgo_job_slot", default=False)


class Jobs:
    """What every project pgod runs shares: at most `limit` deploys at once (-j), each
    holding its slot from its first podman-compose process to its last (the argument
    layer's dry runs, see pgo.dryrun, pull, build, down, up; not the health gate), and any
    other podman-compose run a slot of its own; and when the last run of each project (by
    name) ended, so that a look at its containers taken before that is known to be stale
    (see pgo.looks).

    Per deploy rather than per process: with one queue of processes, 100 deploys would
    each wait in it three times over, every one of them done only near the end, their
    health gates all at once; a slot a deploy keeps finishes the deploys that started
    first, and their gates overlap the next ones' work."""

    def __init__(self, limit: int) -> None:
        self.slots = asyncio.Semaphore(limit)
        self.ended: dict[str, float] = {}

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """A slot for this task until the block ends; nothing to wait for if it holds one
        already (the steps of a deploy in one)."""
        if _HOLDING.get():
            yield
            return
        async with self.slots:
            token = _HOLDING.set(True)
            try:
                yield
            finally:
                _HOLDING.reset(token)


@dataclass(frozen=True)
class Project:
    """One compose project: `podman-compose -f FILE -p NAME` in the checkout."""

    name: str
    workdir: str
    file: str  # relative to workdir
    account: Account
    executable: str
    # host variables podman-compose interpolates with (pgo.hostenv): in its environment,
    # never on a command line, never shown
    env: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False,
                                   kw_only=True)

    @property
    def environment(self) -> dict[str, str]:
        """What podman-compose gets on top of the account's clean environment."""
        return {**self.env, **ENV}
    # pgod's, shared by every project
    jobs: Jobs | None = field(default=None, compare=False, repr=False, kw_only=True)

    def slot(self) -> contextlib.AbstractAsyncContextManager[object]:
        """One of the shared -j slots (nothing to wait for without `jobs`, or if this task
        holds one): held while podman-compose processes of this project run."""
        return self.jobs.slot() if self.jobs is not None else contextlib.nullcontext()

    def argv(self, *args: str) -> list[str]:
        return [self.executable, "-f", os.path.join(self.workdir, self.file), "-p", self.name,
                *args]

    async def run(self, *args: str, timeout: float | None = None,
                  go: asyncio.Future[bytes] | None = None) -> proc.Result:
        """Run a podman-compose subcommand to completion; CommandFailed on failure. With
        `jobs`, it waits for a slot first (pull, build, down, up: the heavy steps), unless
        this task holds one (a deploy). With `go`, through pgo.warmstart: started at once,
        run once `go` says b"go\n" (see Ahead)."""
        if self.jobs is None:
            return await self._run(*args, timeout=timeout, go=go)
        async with self.jobs.slot():
            try:
                return await self._run(*args, timeout=timeout, go=go)
            finally:
                self.jobs.ended[self.name] = time.monotonic()

    def ahead(self, *args: str) -> Ahead:
        """`run(*args)`, started now and run when its `run()` is awaited (see Ahead)."""
        return Ahead(self, args)

    async def _run(self, *args: str, timeout: float | None = None,
                   go: asyncio.Future[bytes] | None = None) -> proc.Result:
        limit = timeout or TIMEOUTS.get(args[0], DEFAULT_TIMEOUT)
        python = warm_python(self.executable) if go is not None else None
        argv = [python, "-I", "-c", WARMSTART, *self.argv(*args)[1:]] if python \
            else self.argv(*args)
        try:
            return await proc.run(argv, self.account, self.workdir, timeout=limit,
                                  env=self.environment, go=go if python else None)
        except CommandFailed as err:
            if STALE_PAUSE not in err.output:
                if python is None:
                    raise
                # named as the podman-compose it ran, not as its Python
                raise CommandFailed(self.argv(*args), err.returncode, err.output,
                                    err.given_status) from None
        log.warning("%s: %s's podman pause process is gone; running podman system migrate "
                    "and trying again", self.name, self.account.user)
        await proc.run(["podman", "system", "migrate"], self.account, self.workdir,
                       timeout=DEFAULT_TIMEOUT)
        return await proc.run(self.argv(*args), self.account, self.workdir, timeout=limit,
                              env=self.environment)

    async def containers(self) -> list[str]:
        """Names of the project's containers, running or not (podman's compose label)."""
        result = await proc.run(
            ["podman", "ps", "-a", "--filter", f"label=io.podman.compose.project={self.name}",
             "--format", "{{.Names}}"], self.account, self.workdir, timeout=DEFAULT_TIMEOUT,
            merge_stderr=False)  # (podman's warnings on stderr are no names)
        return result.output.split()

    async def images_current(self) -> bool:
        """Whether every container of the project runs, from the image its image name
        now points to (so `up` would start the same thing again). False if none exist."""
        names = await self.containers()
        if not names:
            return False
        result = await proc.run(
            ["podman", "container", "inspect", "--format",
             "{{.Image}}\t{{.ImageName}}\t{{.State.Running}}", "--", *names],
            self.account, self.workdir, timeout=DEFAULT_TIMEOUT)
        rows = [line.split("\t") for line in result.output.splitlines() if line]
        if len(rows) != len(names) or any(len(r) != 3 or r[2] != "true" for r in rows):
            return False
        images = sorted({row[1] for row in rows})
        current = await proc.run(["podman", "image", "inspect", "--format", "{{.Id}}", "--",
                                  *images], self.account, self.workdir,
                                 timeout=DEFAULT_TIMEOUT, check=False)
        ids = current.output.split()
        if current.returncode != 0 or len(ids) != len(images):
            return False
        now = dict(zip(images, ids, strict=True))
        return all(now[name] == image for image, name, _ in rows)

    async def images(self) -> dict[str, str]:
        """The image each of the project's containers was created from, by name: {name: id}
        (what a failed deploy's pull or build may have moved those names away from)."""
        names = await self.containers()
        if not names:
            return {}
        result = await proc.run(
            ["podman", "container", "inspect", "--format", "{{.ImageName}}\t{{.Image}}", "--",
             *names], self.account, self.workdir, timeout=DEFAULT_TIMEOUT, check=False,
            merge_stderr=False)
        rows = [line.split("\t") for line in result.output.splitlines()]
        return {row[0]: row[1] for row in rows if len(row) == 2 and row[0] and row[1]}

    async def tag(self, images: dict[str, str]) -> None:
        """Point each name back at its image (`podman tag ID NAME`)."""
        for name, image in sorted(images.items()):
            await proc.run(["podman", "tag", image, name], self.account, self.workdir,
                           timeout=DEFAULT_TIMEOUT)

    async def prune(self, images: set[str]) -> list[str]:
        """Remove `images` (ids) that nothing uses any more: not forced, so podman keeps one
        that a container (of any project) uses or that another name points at. The ids
        removed."""
        removed = []
        for image in sorted(images):
            result = await proc.run(["podman", "rmi", "--", image], self.account,
                                    self.workdir, timeout=DEFAULT_TIMEOUT, check=False)
            if result.returncode == 0:
                removed.append(image)
        return removed

    async def down(self, ahead: Ahead | None = None) -> None:
        """`down --remove-orphans` (`ahead`: that run, started already), then a look:
        podman-compose 1.6.0 ignores the exit status of each `podman stop` and `podman rm`,
        so a failed down exits 0."""
        result = await (ahead.run() if ahead is not None else self.run(*DOWN))
        if left := await self.containers():
            errors = [line for line in result.output.splitlines() if "rror" in line]
            about = [line for line in errors if any(name in line for name in left)]
            raise PgoError(f"podman-compose {self.left_by_down(left)}: "
                           + (about or errors or ["no error shown"])[0][-300:])

    def left_by_down(self, left: list[str]) -> str:
        """What a `down` that left containers `left` did, for a person (pgod's own down and
        an operator's over SSH)."""
        return f"down left {len(left)} container(s) of project {self.name} " \
               f"({', '.join(left[:5])})"

    async def start(self, args: Sequence[str], *, merge_stderr: bool = True,
                    ) -> asyncio.subprocess.Process:
        """Start a podman-compose subcommand whose output the caller streams."""
        return await proc.start(self.argv(*args), self.account, self.workdir,
                                self.environment, merge_stderr=merge_stderr)


class Ahead:
    """A podman-compose run of a deploy's next step, started while the step before it still
    runs (the argument layer's dry run, a `down`): its Python and podman-compose's import
    are done by the time it is its turn, then `run()` lets it go. `drop()` ends one whose
    turn never comes (the deploy failed or stopped first), having done nothing.

    Only for pip's podman-compose script (see warm_python); any other executable is run
    as it is when `run()` is awaited. Under -j it is part of the deploy's slot, as each
    of its steps is."""

    def __init__(self, project: Project, args: Sequence[str]) -> None:
        self.project, self.args = project, tuple(args)
        self.go: asyncio.Future[bytes] | None = None
        self.task: asyncio.Task[proc.Result] | None = None
        if warm_python(project.executable) is not None:
            self.go = asyncio.get_running_loop().create_future()
            self.task = asyncio.ensure_future(project.run(*self.args, go=self.go))

    async def run(self) -> proc.Result:
        """Run it now (as `Project.run` would): its result, or CommandFailed."""
        if self.go is None or self.task is None:
            return await self.project.run(*self.args)
        self.go.set_result(b"go\n")
        return await self.task

    async def drop(self) -> None:
        """End it without running it (nothing, if it ran)."""
        if self.go is None or self.task is None or self.go.done():
            return
        self.go.set_result(b"")
        try:
            await self.task
        except PgoError:
            pass  # (it did nothing: what failed is of no interest)
        except BaseException:
            self.task.cancel()  # (this deploy is cancelled: so is the process, killed)
            raise
