"""Carrying out one service's deploy plan: the steps, the roll-back when one fails, and
finishing what a stop of pgod must not cut halfway.

A part of `ServiceRunner` (this class is its base), kept apart because it is one concern:
the state it works on (what is deployed, held back or unsure) is the runner's.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable, Coroutine
from typing import Any, NoReturn

from pgo import compose
from pgo.compose import Project
from pgo.config import ServiceConfig
from pgo.dryrun import argument_problems
from pgo.errors import PgoError
from pgo.git import Checkout
from pgo.proc import Account
from pgo.project import ProjectAt, read_project
from pgo.reconcile import Action, Observed, Plan
from pgo.status import ServiceLog, Status

FINISH_GRACE = 60.0  # seconds a stop waits for a deploy that has taken the service down


def took_down(done: list[Action]) -> bool:
    """Whether a deploy that got as far as `done` has touched the running containers."""
    return Action.DOWN in done or Action.UP in done


class Deployment:
    """Deploy steps and roll-back over the attributes ServiceRunner sets."""

    config: ServiceConfig
    account: Account
    path: str
    checkout: Checkout
    compose_exe: str
    state_file: str
    status: Status
    log: ServiceLog
    project: Project | None       # set once a commit is deployed by this pgod
    deployed_at: ProjectAt | None  # and what was checked of it
    _held: str | None   # a commit whose deploy failed after down began
    _unsure: bool       # a deploy and its roll-back failed: what runs is unknown
    stopping: bool      # pgod is stopping: nothing new starts

    def environment(self) -> dict[str, str]:
        """The environment podman-compose runs with: the variables it interpolates from."""
        return self.account.environment(compose.ENV)

    async def _to_the_end(self, work: Coroutine[Any, Any, None], begun: Callable[[], bool],
                          what: str) -> None:
        """Await `work`. If pgod stops meanwhile (this task is cancelled) after `begun()`
        (the service has been taken down), let it finish, within FINISH_GRACE, and log how it
        ended: stopping pgod must not leave a service down that was meant to come up. Before
        that, stop it at once."""
        task = asyncio.ensure_future(work)
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            if begun():
                self.log.warning("stopping: finishing %s first", what)
                await asyncio.wait({task}, timeout=FINISH_GRACE)
            task.cancel()  # (nothing, if it is done)
            with contextlib.suppress(asyncio.CancelledError):
                try:
                    await task
                except PgoError as err:
                    self.log.error("%s failed while pgod stops: %s", what, err)
                    self.status.set("failed", str(err))
                except Exception as err:  # a bug: say so, and stop all the same
                    self.log.exception("%s: internal error while pgod stops", what)
                    self.status.set("failed", f"internal error: {err!r}")
            raise

    async def _deploy(self, project: Project, decided: Plan, seen: Observed, at: ProjectAt,
                      done: list[Action]) -> None:
        try:
            restarted = await self._execute(project, decided, at, done)
        except PgoError as err:
            await self._failed(err, seen, done)
        self._held, self._unsure = None, False
        self.project, self.deployed_at = project, at
        self._save_deployed(seen.target)
        self.status.last_error = None
        if restarted:
            self.log.info("up at %s", seen.target[:12])
        if decided.restarts or self.status.state == "failed":
            self.status.set("running")

    async def _failed(self, err: PgoError, seen: Observed, done: list[Action]) -> NoReturn:
        """Roll back, decide what the next passes do, and raise the whole story."""
        touched = took_down(done) or self._unsure
        trouble = await self._roll_back(seen, done, touched)
        if touched:  # unsure: every pass brings the deployed commit up until one works
            self._unsure = trouble is not None
        if trouble is not None and touched:
            raise PgoError(f"{err}" + (f"; restoring failed too ({trouble})" if trouble else "")
                           + "; the service may be down: pgod tries again at each pass") \
                from err
        if trouble is not None:  # the running containers were never touched
            raise PgoError(f"{err}; putting the working tree back failed too ({trouble})") \
                from err
        if Action.DOWN in done and seen.deployed not in (None, seen.target):
            self._held = seen.target  # each retry would cost the service a down
            raise PgoError(f"{err}; {seen.target[:12]} is not deployed again until the branch "
                           "moves, pgod restarts or an operator runs sync") from err
        raise err

    async def _execute(self, project: Project, decided: Plan, at: ProjectAt,
                       done: list[Action]) -> bool:
        """Run the plan's actions in order; `done` gets each one as it starts. True if the
        containers were brought up (False: the plan did not restart them, or no image
        changed when that was the condition)."""
        for action in decided.actions:
            if self.stopping and not took_down(done):
                raise PgoError("pgod is stopping: the deploy goes no further")  # (a sync's)
            if action is Action.CHECKOUT:
                done.append(action)
                await self.checkout.reset(at.commit)
                self.log.info("checked out at %s", at.commit[:12])
                continue
            if action is Action.DOWN and decided.if_image_changed and not self._unsure \
                    and await project.images_current():
                self.log.info("no image changed at %s; containers left running",
                              at.commit[:12])
                return False
            self._verify(at)  # before down too: a bad tree found then costs no downtime
            if all(a is Action.CHECKOUT for a in done):  # before the first podman step
                await self._check_arguments(project, decided)
            done.append(action)
            self.log.info("%s", {Action.PULL: "pulling", Action.BUILD: "building",
                                 Action.DOWN: "down", Action.UP: "up"}[action])
            if action is Action.DOWN:
                await project.down()
            else:
                await project.run(*(("up", "-d") if action is Action.UP else (action.value,)))
        return decided.restarts

    async def _roll_back(self, seen: Observed, done: list[Action], touched: bool) -> str | None:
        """A failed deploy: put the deployed commit's working tree back, and its project if
        it was `touched` (down or up had begun, or pgod was unsure already; what the new
        commit started goes, orphans included). None when that worked; else what went wrong
        ("" when there is nothing older to go back to)."""
        if seen.deployed is None or seen.deployed == seen.target:
            return "" if touched else None  # nothing older to go back to
        if not done and not touched:
            return None
        self.log.warning("deploy of %s failed; restoring %s", seen.target[:12],
                         seen.deployed[:12])
        try:
            await self.checkout.reset(seen.deployed)
            if touched:
                await self._restore(seen.deployed)
        except PgoError as err:
            self.log.error("restoring %s failed: %s", seen.deployed[:12], err)
            return str(err)
        return None

    async def _restore(self, commit: str) -> None:
        """Bring `commit`'s project up again in place of whatever the failed deploy left."""
        at = await read_project(self.checkout, self.config, commit, self.environment())
        if at.file is None:
            raise PgoError("its compose project cannot be read: " + "; ".join(at.problems))
        previous = self._compose(at.file)
        try:  # not down(): whatever it leaves, `up -d` is the way back (it starts a
            # container left stopped, with this commit's configuration)
            await previous.run("down", "--remove-orphans")
        except PgoError as err:
            self.log.warning("down before restoring %s failed, bringing it up anyway: %s",
                             commit[:12], err)
        self._verify(at)  # after down: the failed deploy's containers cannot race it
        await previous.run("up", "-d")

    async def _bring_back(self, deployed: str) -> None:
        """Unsure what runs, and not deploying the target: the deployed commit, up again."""
        self.log.warning("bringing %s up again (the last roll-back failed)", deployed[:12])
        await self.checkout.reset(deployed)
        await self._restore(deployed)
        self._unsure = False
        if self.status.state == "failed":
            self.status.set("running")

    async def _check_arguments(self, project: Project, decided: Plan) -> None:
        """Refuse the deploy unless every podman argv of its pull, build and up is admitted."""
        for action in (a for a in decided.actions if a in (Action.PULL, Action.BUILD, Action.UP)):
            args = ("up", "-d") if action is Action.UP else (action.value,)
            if problems := await argument_problems(project, self.config, args):
                raise PgoError("podman arguments refused: " + "; ".join(problems))

    def _compose(self, file: str) -> Project:
        return Project(self.config.name, self.path, file, self.account, self.compose_exe)

    def _verify(self, at: ProjectAt) -> None:
        """Refuse to run podman-compose on a working tree that is not what was checked."""
        if problems := at.worktree_problems(self.path):
            raise PgoError(f"working tree at {at.commit[:12]} refused: " + "; ".join(problems))

    def _save_deployed(self, commit: str) -> None:
        self.status.deployed = commit
        tmp = self.state_file + ".tmp"
        with open(tmp, "w", encoding="ascii") as handle:
            handle.write(commit + "\n")
        os.replace(tmp, self.state_file)
