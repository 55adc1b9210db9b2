"""Carrying out one deploy plan: the steps, the health gate after `up`, bringing the
previous good commit back when a step or the gate fails, and finishing what a stop of pgod
must not cut halfway.

A collaborator of the service runner: it gets what it needs (the workspace, the plan, the
commit to fall back to) and returns what happened as a `Result`; the runner turns that into
a state transition. It keeps no state of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass, replace
from typing import Any

from pgo import compose
from pgo.compose import Ahead, Project
from pgo.dryrun import argument_problems
from pgo.errors import PgoError
from pgo.project import ProjectAt
from pgo.reconcile import Action, Plan
from pgo.workspace import Workspace

FINISH_GRACE = 60.0  # seconds a stop waits for a deploy that has taken the service down

# What podman-compose runs for each step of a plan.
STEP_ARGS = {Action.PULL: ("pull",), Action.BUILD: ("build",), Action.DOWN: compose.DOWN,
             Action.UP: ("up", "-d")}

# The health gate: None when the project is ready, else why not (one line).
Ready = Callable[[Project, ProjectAt], Awaitable[str | None]]


def took_down(done: list[Action]) -> bool:
    """Whether a deploy that got as far as `done` has touched the running containers."""
    return Action.DOWN in done or Action.UP in done


class Kind(enum.Enum):
    DEPLOYED = "deployed"      # brought up, and ready
    UNCHANGED = "unchanged"    # nothing restarted (no image changed; nothing to restart)
    FAILED = "failed"          # a step or the gate failed; see `touched`, `restored`


@dataclass(frozen=True)
class Result:
    kind: Kind
    reason: str = ""
    touched: bool = False    # the running containers were taken down or replaced
    restored: bool = True    # what ran before runs again (or was never touched)


class Deployer:
    """Deploy steps and the bring-back, for one service."""

    def __init__(self, work: Workspace, ready: Ready, stopping: Callable[[], bool]) -> None:
        self.work, self.ready, self.stopping = work, ready, stopping
        self.log = work.log

    async def deploy(self, decided: Plan, at: ProjectAt, fallback: str | None,
                     unsure: bool, done: list[Action]) -> Result:
        """Carry out `decided` for the commit `at`; on failure bring `fallback` back (the
        last good commit) if the containers were touched. `unsure`: what runs is not known
        to be good (recreate even if no image changed; restore even if nothing was
        touched). `done` gets each action as it starts."""
        assert at.file is not None
        if skipped := [a for a in decided.actions if needless(a, at.model)]:
            self.log.debug("nothing to %s at %s", " or ".join(a.value for a in skipped),
                           at.commit[:12])
            decided = replace(decided, actions=tuple(
                a for a in decided.actions if a not in skipped))
        project = self.work.compose(at.file)
        saved = await self._images(project, decided)
        try:
            async with project.slot():  # (-j: one for all its podman-compose steps)
                restarted = await self._execute(project, decided, at, done, unsure)
            if restarted:
                await self.gate(project, at)
        except PgoError as err:
            return await self._failed(err, at.commit, fallback, done, unsure, saved)
        if restarted:
            await self._prune(project, saved)
        return Result(Kind.DEPLOYED if restarted else Kind.UNCHANGED)

    async def _prune(self, project: Project, saved: dict[str, str]) -> None:
        """The images this deploy replaced (a name now points elsewhere, the gate passed):
        removed, unless something still uses them. Never another image of the user's.
        Nothing to look at when no pull or build ran (`saved` empty): no name moved."""
        if not saved:
            return
        try:
            now = await project.images()
            replaced = {image for name, image in saved.items() if now.get(name) != image}
            if removed := await project.prune(replaced):
                self.log.info("pruned %d image(s) the deploy replaced: %s", len(removed),
                              ", ".join(i[:12] for i in removed))
        except PgoError as err:  # only disk space is at stake
            self.log.warning("pruning the replaced images failed: %s", err)

    async def _images(self, project: Project, decided: Plan) -> dict[str, str]:
        """The images what runs was created from, before a pull or build can move their
        names: a way back must run those, not what the failed deploy built or pulled."""
        if Action.PULL not in decided.actions and Action.BUILD not in decided.actions:
            return {}
        try:
            return await project.images()
        except PgoError as err:
            self.log.warning("cannot read the running images (a way back would rebuild): %s",
                             err)
            return {}

    async def _failed(self, err: PgoError, target: str, fallback: str | None,
                      done: list[Action], unsure: bool, saved: dict[str, str]) -> Result:
        """Put the fallback's working tree back, and its project if it was touched (its
        images named as they were)."""
        touched = took_down(done) or unsure
        reason = str(err)
        if fallback is None or fallback == target or (not done and not touched):
            self.log.error("deploy of %s failed: %s", target[:12], reason)
            # nothing older to go back to, or nothing to put back
            return Result(Kind.FAILED, reason, touched=touched, restored=not touched)
        self.log.error("deploy of %s failed; restoring %s: %s", target[:12], fallback[:12],
                       reason)
        try:
            await self.work.checkout.reset(fallback)
            await self.work.place_secrets(fallback)  # (what runs may restart from them)
            if saved:
                await self.work.compose("-").tag(saved)
            if touched:
                await self.bring_up(fallback)
        except PgoError as trouble:
            self.log.error("restoring %s failed: %s", fallback[:12], trouble)
            what = "restoring" if touched else "putting the working tree back"
            return Result(Kind.FAILED, f"{reason}; {what} {fallback[:12]} failed too: "
                          f"{trouble}", touched=touched, restored=not touched)
        return Result(Kind.FAILED, reason, touched=touched)

    async def _execute(self, project: Project, decided: Plan, at: ProjectAt,
                       done: list[Action], unsure: bool) -> bool:
        """Run the plan's actions in order; `done` gets each one as it starts. True if the
        containers were brought up (False: the plan did not restart them, or no image
        changed when that was the condition). Each podman-compose step is started ahead
        (see compose.Ahead) while the one before it runs: the first while the argument
        layer's dry run does."""
        ahead: dict[Action, Ahead] = {}
        try:
            return await self._steps(project, decided, at, done, unsure, ahead)
        finally:
            for run in ahead.values():
                await run.drop()

    async def _steps(self, project: Project, decided: Plan, at: ProjectAt,
                     done: list[Action], unsure: bool, ahead: dict[Action, Ahead]) -> bool:
        for index, action in enumerate(decided.actions):
            if self.stopping() and not took_down(done):
                raise PgoError("pgod is stopping: the deploy goes no further")  # (a sync's)
            if action is Action.CHECKOUT:
                done.append(action)
                await self.work.checkout.reset(at.commit)
                self.log.info("checked out at %s", at.commit[:12])
                continue
            if action is Action.DOWN and decided.if_image_changed and not unsure \
                    and await project.images_current():
                self.log.info("no image changed at %s; containers left running",
                              at.commit[:12])
                return False
            if action is Action.DOWN and decided.if_containers \
                    and not await project.containers():
                self.log.debug("no containers to take down")
                if (skipped := ahead.pop(action, None)) is not None:
                    await skipped.drop()
                continue
            verify(at, self.work.path)  # before down too: a bad tree costs no downtime
            if all(a is Action.CHECKOUT for a in done):  # before the first podman step
                await self.work.place_secrets(at.commit)
                ahead[action] = project.ahead(*STEP_ARGS[action])  # (while the dry run runs)
                await self.check_arguments(project, decided.actions)
                await self.work.login()
            done.append(action)
            self.log.info("%s", {Action.PULL: "pulling", Action.BUILD: "building",
                                 Action.DOWN: "down", Action.UP: "up"}[action])
            run = ahead.pop(action, None) or project.ahead(*STEP_ARGS[action])
            if following := next((a for a in decided.actions[index + 1:]
                                  if a is not Action.CHECKOUT), None):
                ahead[following] = project.ahead(*STEP_ARGS[following])
            if action is Action.DOWN:
                await project.down(run)
            else:
                await run.run()
        return decided.restarts

    async def check_arguments(self, project: Project, actions: tuple[Action, ...]) -> None:
        """Refuse unless every podman argv of the pull, build and up is admitted (the
        argument layer, see pgo.dryrun): all checked before the first podman step, so a
        refusal never costs a down."""
        for action in (a for a in actions if a in (Action.PULL, Action.BUILD, Action.UP)):
            args = STEP_ARGS[action]
            if problems := await argument_problems(project, self.work.config, args):
                raise PgoError("podman arguments refused: " + "; ".join(problems))

    async def bring_up(self, commit: str) -> None:
        """Bring `commit`'s project up in place of whatever runs, through the gate; the
        working tree must be at `commit` already."""
        at = await self.work.read(commit)
        if at.file is None:
            raise PgoError("its compose project cannot be read: " + "; ".join(at.problems))
        project = self.work.compose(at.file)
        await self.work.place_secrets(commit)
        async with project.slot():  # (-j: one for its dry run, down and up)
            await self.check_arguments(project, (Action.UP,))
            try:  # not down(): whatever it leaves, `up -d` is the way back (it starts a
                # container left stopped, with this commit's configuration)
                await project.run(*compose.DOWN)
            except PgoError as err:
                self.log.warning("down before bringing %s up failed, bringing it up "
                                 "anyway: %s", commit[:12], err)
            verify(at, self.work.path)  # after down: the failed deploy's containers cannot
            await project.run("up", "-d")  # race
        await self.gate(project, at)

    async def gate(self, project: Project, at: ProjectAt) -> None:
        """PgoError unless `project`, just brought up, passes the health gate."""
        if (problem := await self.ready(project, at)) is not None:
            raise PgoError(f"health gate: {problem}")


def needless(action: Action, model: Mapping[str, Any] | None) -> bool:
    """A pull when no service has an image podman-compose 1.6.0 would pull (none, or a
    local one: its `is_local`), a build when none has `build`: either would only start
    podman-compose (and its dry run) to do nothing. Judged on every service, active or not;
    never with `extends` (a base may add what a service lacks)."""
    services = (model or {}).get("services")
    if action not in (Action.PULL, Action.BUILD) or not isinstance(services, dict) or any(
            not isinstance(s, dict) or "extends" in s for s in services.values()):
        return False
    if action is Action.BUILD:
        return not any("build" in s for s in services.values())
    return not any("image" in s and not _local(s) for s in services.values())


def _local(service: Mapping[str, Any]) -> bool:
    image = str(service.get("image", ""))
    return image.startswith("localhost/") or ("build" in service and "/" not in image)


def verify(at: ProjectAt, path: str) -> None:
    """Refuse to run podman-compose on a working tree that is not what was checked."""
    if problems := at.worktree_problems(path):
        raise PgoError(f"working tree at {at.commit[:12]} refused: " + "; ".join(problems))


async def to_the_end(work: Coroutine[Any, Any, None], begun: Callable[[], bool], what: str,
                     log: Any) -> None:
    """Await `work`. If pgod stops meanwhile (this task is cancelled) after `begun()`
    (the service has been taken down), let it finish, within FINISH_GRACE, and log how it
    ended: stopping pgod must not leave a service down that was meant to come up. Before
    that, stop it at once. `work` records its own result (it must, since the caller's
    code after the await does not run when cancelled)."""
    task = asyncio.ensure_future(work)
    try:
        await asyncio.shield(task)
    except asyncio.CancelledError:
        if begun():
            log.warning("stopping: finishing %s first", what)
            await asyncio.wait({task}, timeout=FINISH_GRACE)
        task.cancel()  # (nothing, if it is done)
        with contextlib.suppress(asyncio.CancelledError):
            try:
                await task
            except Exception:  # a bug: say so, and stop all the same
                log.exception("%s: internal error while pgod stops", what)
        raise
