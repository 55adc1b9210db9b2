"""Image updates without a git change (`image_updates`): at that interval the deployed
project's images are pulled again as the service user; the containers whose image name now
points to another image (a new digest behind the same tag) are recreated, through the
health gate. If the gate fails, the previous image is put back (pgod keeps it under a tag
of its own, localhost/pgo-previous/PROJECT:..., until the next good update) and its
digest is recorded as broken: not tried again until the tag moves on. History says
trigger `image`, with the old and new digests.

The check runs under the service lock, from the runner's loop, at its own interval.
"""

from __future__ import annotations

import asyncio
import enum
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pgo import proc, state
from pgo.compose import DEFAULT_TIMEOUT, Project
from pgo.deploy import Deployer, to_the_end, verify
from pgo.duration import jittered
from pgo.errors import PgoError
from pgo.project import ProjectAt
from pgo.reconcile import Action
from pgo.state import Record, State
from pgo.workspace import Workspace

if TYPE_CHECKING:
    from pgo.service import ServiceRunner

PREVIOUS = "localhost/pgo-previous"


@dataclass(frozen=True)
class Running:
    """A container of the project, the image name it was created with, and that image."""

    container: str
    name: str
    image: str


@dataclass(frozen=True)
class Change:
    """An image name that now points to another image than its containers run."""

    name: str
    containers: tuple[str, ...]
    old: str          # image ids
    new: str
    old_digest: str = ""
    new_digest: str = ""

    def shown(self) -> str:
        return f"{self.name} {self.old_digest or self.old[:12]} -> " \
               f"{self.new_digest or self.new[:12]}"


def changes(running: Sequence[Running], now: Mapping[str, str]) -> list[Change]:
    """The image names whose image (`now`: name -> id, after a pull) is not the one their
    containers run; a name that cannot be inspected is no change. Pure."""
    found: dict[str, Change] = {}
    for row in running:
        new = now.get(row.name)
        if new is None or new == row.image:
            continue
        known = found.get(row.name)
        found[row.name] = Change(row.name, (*(known.containers if known else ()),
                                            row.container), row.image, new)
    return [found[name] for name in sorted(found)]


def due(record: Record) -> bool:
    """Whether an image update may run now: something deployed runs as it should, and
    nobody (an operator, the host) has taken the service out of pgod's hands. Pure."""
    return (record.deployed is not None and record.frozen is None and record.stopped is None
            and record.host_stop is None and not record.failing
            and record.state not in (State.CLONING, State.DEPLOYING))


def kept_tag(project: str, name: str) -> str:
    """pgod's own tag for the image that ran under `name` before an update."""
    return f"{PREVIOUS}/{project}:{hashlib.sha256(name.encode()).hexdigest()[:16]}"


class Kind(enum.Enum):
    UPDATED = "updated"
    BROKE = "broke"


@dataclass(frozen=True)
class Update:
    kind: Kind
    changes: tuple[Change, ...]
    reason: str = ""
    restored: bool = True

    def described(self) -> str:
        return "; ".join(c.shown() for c in self.changes)


class ImageUpdater:
    """Pull, recreate, gate and put back, for one service's deployed project."""

    def __init__(self, work: Workspace, deployer: Deployer) -> None:
        self.work, self.deployer, self.log = work, deployer, work.log

    async def pull(self, project: Project, broken: Sequence[str]) -> list[Change]:
        """Pull the project's images; the changes to try (a digest that broke before is
        put back at once and left out)."""
        running = await _running(project)
        if not running:
            return []
        await self.deployer.check_arguments(project, (Action.PULL, Action.UP))
        await self.work.login()
        await project.run("pull")
        found = [await _digests(project, c) for c in changes(
            running, await _ids(project, {r.name for r in running}))]
        if held := [c for c in found if c.new_digest and c.new_digest in broken]:
            self.log.debug("image update to %s broke before; not tried again",
                           ", ".join(c.new_digest for c in held))
            await project.tag({c.name: c.old for c in held})
        return [c for c in found if c not in held]

    async def keep(self, project: Project, todo: Sequence[Change]) -> None:
        """The images that run now, under pgod's own tag: no prune removes them before
        the next good update."""
        for change in todo:
            await _podman(project, "tag", change.old, kept_tag(project.name, change.name))

    async def apply(self, project: Project, at: ProjectAt, todo: Sequence[Change],
                    touched: list[str]) -> Update:
        """Recreate the containers of `todo` from their new images, through the gate; the
        previous images back if it fails. `touched` gets the containers as they go."""
        self.log.info("image update: %s", "; ".join(c.shown() for c in todo))
        try:
            await self._recreate(project, at, todo, touched)
            await self.deployer.gate(project, at)
        except PgoError as err:
            return await self._back(project, at, todo, str(err), touched)
        try:
            for change in todo:
                await _podman(project, "untag", change.old,
                              kept_tag(project.name, change.name))
            if removed := await project.prune({c.old for c in todo}):
                self.log.info("pruned %d image(s) the update replaced", len(removed))
        except PgoError as err:  # only disk space is at stake
            self.log.warning("forgetting the replaced images failed: %s", err)
        return Update(Kind.UPDATED, tuple(todo))

    async def _recreate(self, project: Project, at: ProjectAt, todo: Sequence[Change],
                        touched: list[str]) -> None:
        """Remove the changed containers (and those that depend on them: podman-compose
        creates those with --requires), `up -d` makes them anew (the others stay)."""
        verify(at, self.work.path)
        names = [name for change in todo for name in change.containers]
        touched.extend(names)
        await _podman(project, "rm", "-f", "--depend", "-t", "10", "--", *names)
        await project.run("up", "-d")

    async def _back(self, project: Project, at: ProjectAt, todo: Sequence[Change],
                    reason: str, touched: list[str]) -> Update:
        self.log.error("image update failed; putting the previous image back: %s", reason)
        try:
            await project.tag({c.name: c.old for c in todo})
            await self._recreate(project, at, todo, touched)
            await self.deployer.gate(project, at)
        except PgoError as trouble:
            self.log.error("putting the previous image back failed: %s", trouble)
            return Update(Kind.BROKE, tuple(todo), f"{reason}; putting the previous image "
                          f"back failed too: {trouble}", restored=False)
        self.log.warning("the previous image is back (%s)", "; ".join(
            f"{c.name} {c.old_digest or c.old[:12]}" for c in todo))
        return Update(Kind.BROKE, tuple(todo), reason)


async def _podman(project: Project, *args: str) -> proc.Result:
    return await proc.run(["podman", *args], project.account, project.workdir,
                          timeout=DEFAULT_TIMEOUT, merge_stderr=False)


async def _running(project: Project) -> list[Running]:
    names = await project.containers()
    if not names:
        return []
    result = await _podman(project, "container", "inspect", "--format",
                           "{{.Name}}\t{{.ImageName}}\t{{.Image}}", "--", *names)
    rows = [line.split("\t") for line in result.output.splitlines()]
    return [Running(*row) for row in rows if len(row) == 3 and all(row)]


async def _ids(project: Project, names: set[str]) -> dict[str, str]:
    """The image id each name points to now (a name podman cannot inspect: left out)."""
    found = {}
    for name in sorted(names):
        result = await proc.run(["podman", "image", "inspect", "--format", "{{.Id}}", "--",
                                 name], project.account, project.workdir,
                                timeout=DEFAULT_TIMEOUT, check=False, merge_stderr=False)
        if result.returncode == 0 and result.output.strip():
            found[name] = result.output.strip()
    return found


async def _digests(project: Project, change: Change) -> Change:
    result = await _podman(project, "image", "inspect", "--format", "{{.Digest}}", "--",
                           change.old, change.new)
    old, new = ([*result.output.split(), "", ""])[:2]
    return Change(change.name, change.containers, change.old, change.new, old, new)


# -- the runner's side --------------------------------------------------------------------

async def every(runner: ServiceRunner) -> None:
    """The runner's image update loop: every `image_updates` (plus jitter), a check under
    the service lock. Errors are logged; the next interval tries again."""
    while True:
        await asyncio.sleep(jittered(runner.config.image_updates))
        async with runner.lock:
            if runner.stopping:
                return
            try:
                await check(runner)
            except PgoError as err:
                runner.log.warning("image update check failed (next one in %s s): %s",
                                   f"{runner.config.image_updates:.0f}", err)
            except Exception:  # a bug: the service's other loop must not notice
                runner.log.exception("internal error in the image update check")


async def check(runner: ServiceRunner) -> None:
    """One image update check, the lock held: pull; the changed containers recreated
    through the gate; the record told."""
    record, project, at = runner.record, runner.project, runner.deployed_at
    if not due(record) or project is None or at is None or at.commit != record.deployed:
        return
    updater = ImageUpdater(runner.work, runner.deployer)
    todo = await updater.pull(project, record.broken_images)
    if not todo:
        return
    await updater.keep(project, todo)
    commit, touched = at.commit, list[str]()
    runner.event(state.Deploying(commit))

    async def work() -> None:
        update = await updater.apply(project, at, todo, touched)
        subject = await runner.checkout.subject(commit)
        if update.kind is Kind.UPDATED:
            runner.event(state.ImagesUpdated(commit, subject, update.described()))
            runner.log.info("image update done: %s", update.described())
            return
        runner.event(state.ImagesBroke(
            commit, subject, tuple(c.new_digest or c.new for c in update.changes),
            f"image update {update.described()} failed: {update.reason}",
            restored=update.restored,
            backoff=state.backoff(runner.record.failures + 1, runner.interval)))
    try:
        await to_the_end(work(), lambda: bool(touched), "the image update", runner.log)
    except asyncio.CancelledError:
        if not touched:
            runner.event(state.Interrupted())
        raise
