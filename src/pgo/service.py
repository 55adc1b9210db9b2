"""One service's life: clone, observe, plan, apply; again every duration (plus jitter).

The I/O around the pure planner in `reconcile.py` (carrying out a plan is `deploy.py`). One
instance per service, one task each; `lock` is shared with the SSH commands so an
operator's `up` never races a redeploy.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time

from pgo import checkoutdir, proc
from pgo.compose import Project
from pgo.config import ServiceConfig
from pgo.deploy import Deployment, took_down
from pgo.duration import jittered
from pgo.errors import PgoError
from pgo.git import Checkout
from pgo.keys import OperatorKey, read_keys
from pgo.logformat import without_credentials
from pgo.proc import Account
from pgo.project import ProjectAt, read_project
from pgo.reconcile import Action, Observed, Plan, plan
from pgo.status import ServiceLog, Status


class ServiceRunner(Deployment):
    """Keeps one service's compose project in step with its git branch."""

    def __init__(self, config: ServiceConfig, account: Account, root: str, state_dir: str,
                 compose_exe: str, interval: float, git_config: str | None = None) -> None:
        self.config = config
        self.account = account
        self.path = os.path.join(root, config.name)
        self.checkout = Checkout(self.path, config.repository, config.branch, self.account,
                                 git_config)
        self.state_file = os.path.join(state_dir, config.name)
        self.compose_exe = compose_exe
        self.interval = interval
        self.lock = asyncio.Lock()
        self.status = Status(since=time.time(), deployed=self._load_deployed())
        self.log = ServiceLog(logging.getLogger("pgo.service"), {"service": config.name})
        self._first_pass = True
        self._last_problem: tuple[str, tuple[str, ...]] | None = None
        self._policy_ok: str | None = None  # the last target that passed the policy
        self.project: Project | None = None  # set once a commit is deployed by this pgod
        self.deployed_at: ProjectAt | None = None  # and what was checked of it
        self._held: str | None = None  # a commit whose deploy failed after down began
        self._unsure = False  # a deploy and its roll-back failed: what runs is unknown
        self.keys: tuple[OperatorKey, ...] = ()
        self.stopping = False  # set when pgod stops: no pass or SSH command starts after it
        self._keys_commit: str | None = None

    async def run_forever(self) -> None:
        self.log.info("tracking %s branch %s as user %s", self.config.repository,
                      self.config.branch, self.account.user)
        try:  # operators can log in while the first pass pulls and builds
            async with self.lock:
                await self._refresh_keys()
        except Exception:  # a bug: the deploy loop must run anyway
            self.log.exception("internal error reading operator keys")
        while True:
            await self.run_pass()
            await asyncio.sleep(jittered(self.interval))

    async def run_pass(self, retry: bool = False) -> bool | None:
        """One pass under the service lock; errors are logged and kept in `status`. True if
        the branch was fetched and its head runs (what `sync` reports); None if pgod began
        to stop before the pass could start. `retry`: deploy a commit again even if its
        deploy failed after taking the service down."""
        async with self.lock:
            if self.stopping:  # (an SSH sync that waited for the lock)
                return None
            if retry:
                self._held = None
            try:
                fetched = await self._pass()
            except PgoError as err:
                self.log.error("%s", err)
                self.status.set("failed", str(err))
                return False
            except Exception as err:  # a bug: keep the loop and the other services alive
                self.log.exception("internal error")
                self.status.set("failed", f"internal error: {err!r}")
                return False
        return fetched and self.status.deployed == self.status.upstream

    async def _pass(self) -> bool:
        if not self.checkout.exists():
            await self._clone()
        elif (owner := os.stat(self.path).st_uid) != self.account.uid:
            raise PgoError(f"{self.path} belongs to uid {owner}, not to {self.account.user}: "
                           "the service's user changed; remove the checkout to clone anew")
        elif self._first_pass:
            checkoutdir.share(self.path, self.account)  # `group` may have changed since the clone
            await self._repair()
        try:
            target = await self.checkout.fetch()
        except PgoError as err:
            self.log.warning("fetch failed, will retry next pass: %s", err)
            self.status.last_error = without_credentials(f"fetch failed: {err}")
            if not self._first_pass:
                return False
            target, fetched = await self.checkout.rev_parse(self.checkout.upstream), False
        else:
            fetched = True
        self.status.upstream = target
        seen, project = await self._observe(target)
        decided = plan(seen)
        self._first_pass = False
        try:
            await self._apply(decided, seen, project)
        finally:
            await self._refresh_keys()
        return fetched

    async def _repair(self) -> None:
        """What a pgod killed in the middle of git may have left (SIGKILL, a power cut): a
        stale .git/index.lock (no git of ours runs on the checkout now: every later reset
        would fail), or a clone that never finished (no HEAD): emptied and cloned again.
        Both as the service user, who owns everything in the checkout."""
        lock = os.path.join(self.path, ".git", "index.lock")
        await proc.run(["rm", "-f", "--", lock], self.account, self.path, timeout=60)
        try:
            await self.checkout.head()
        except PgoError:
            self.log.warning("%s holds an unfinished clone; cloning again", self.path)
            await proc.run(["find", self.path, "-mindepth", "1", "-delete"], self.account,
                           self.path, timeout=300)
            await self._clone()

    async def _clone(self) -> None:
        self.status.set("cloning")
        checkoutdir.prepare(self.path, self.account)
        self.log.info("cloning %s (branch %s) into %s", self.config.repository,
                      self.config.branch, self.path)
        await self.checkout.clone()
        self.log.info("checked out at %s", (await self.checkout.head())[:12])

    async def _observe(self, target: str) -> tuple[Observed, ProjectAt]:
        head = await self.checkout.head()
        project = await read_project(self.checkout, self.config, target, self.environment())
        deployed = self.status.deployed
        changed: frozenset[str] = frozenset()
        if deployed is not None and deployed != target:
            try:
                changed = await self.checkout.changed_paths(deployed, target)
            except PgoError:
                self.log.warning("deployed commit %s is gone; treating everything as changed",
                                 deployed[:12])
                changed = project.used or frozenset({"."})
        if self._held != target:
            self._held = None  # the branch moved
        return Observed(target=target, head=head, deployed=deployed,
                        first_pass=self._first_pass or self._unsure,
                        violations=project.problems,
                        changed=changed, used=project.used, runtime=project.runtime,
                        exposed=await self._exposed(project, deployed),
                        held=target == self._held), project

    async def _exposed(self, project: ProjectAt, deployed: str | None) -> tuple[str, ...]:
        """The target's paths in writable mounts of the deployed commit's project."""
        if deployed is None or deployed == project.commit or project.problems:
            return ()
        try:
            running = await read_project(self.checkout, self.config, deployed,
                                         self.environment())
        except PgoError:  # gone (a force-push, a new clone): its mounts are not in this tree
            return ()
        return tuple(project.exposed_to(running))

    async def _apply(self, decided: Plan, seen: Observed, at: ProjectAt) -> None:
        await self._adopt_deployed(seen)
        if self._unsure and seen.deployed is not None and Action.UP not in decided.actions:
            await self._to_the_end(self._bring_back(seen.deployed), lambda: True,
                                   f"bringing {seen.deployed[:12]} back")  # target refused/held
        if Action.REJECT in decided.actions:
            await self._reject(seen, at)
            return
        self._last_problem = None
        if seen.target != self._policy_ok:
            self._policy_ok = seen.target
            self.log.info("policy ok at %s", seen.target[:12])
        if not decided.actions:
            self.log.debug("%s at %s", decided.reason, seen.target[:12])
            if self.status.state == "failed" and seen.deployed == seen.target:
                self.status.set("running")  # upstream went back to what runs
            return
        if seen.deployed not in (None, seen.target):
            self.log.info("change detected %s..%s: %s", seen.deployed[:12],
                          seen.target[:12], decided.reason)
        assert at.file is not None
        project = self._compose(at.file)
        if decided.restarts:
            self.status.set("deploying")
        done: list[Action] = []
        await self._to_the_end(self._deploy(project, decided, seen, at, done),
                               lambda: took_down(done),
                               f"the deploy of {seen.target[:12]}")

    def worktree_problems(self) -> list[str]:
        """How the working tree differs from the deployed commit as it was checked."""
        return [] if self.deployed_at is None else \
            self.deployed_at.worktree_problems(self.path)

    async def _adopt_deployed(self, seen: Observed) -> None:
        """After a restart, the deployed commit's project is what SSH commands work on, even
        before (or if never) a deploy by this pgod succeeds."""
        if self.project is None and seen.deployed is not None and seen.head == seen.deployed:
            deployed = await read_project(self.checkout, self.config, seen.deployed,
                                          self.environment())
            if deployed.file is not None:
                self.project, self.deployed_at = self._compose(deployed.file), deployed

    async def _reject(self, seen: Observed, at: ProjectAt) -> None:
        problem = (seen.target, at.problems)
        level = logging.DEBUG if problem == self._last_problem else logging.WARNING
        self._last_problem = problem
        self.log.log(level, "policy violated at %s, nothing changed: %s", seen.target[:12],
                     "; ".join(at.problems))
        self.status.set("rejected" if seen.deployed is None else
                        "failed" if self._unsure else "running",
                        f"commit {seen.target[:12]} refused: " + "; ".join(at.problems))

    def _load_deployed(self) -> str | None:
        with contextlib.suppress(OSError), open(self.state_file, encoding="ascii") as handle:
            return handle.read().strip() or None
        return None

    async def _refresh_keys(self) -> None:
        """Operators' keys, as committed at the deployed commit. If they cannot be read, no
        key is accepted (a key removed in that commit must not keep working) and the next
        pass tries again."""
        deployed = self.status.deployed
        if deployed is None or deployed == self._keys_commit or not self.checkout.exists():
            return
        try:
            keys = await read_keys(self.checkout, deployed, self.log)
        except PgoError as err:
            self.keys, self._keys_commit = (), None
            self.log.error("cannot read operator keys at %s, accepting none until they can "
                           "be read: %s", deployed[:12], err)
            return
        self.keys, self._keys_commit = keys, deployed
        self.log.info("%d operator key(s) at %s: %s", len(self.keys), deployed[:12],
                      ", ".join(f"{k.source} {k.fingerprint}" for k in self.keys) or "none")

