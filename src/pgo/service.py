"""One service's life: clone, fetch, observe, plan, deploy, self-heal; again every duration
(plus jitter, backing off while fetches fail).

The I/O around the pure planner (`reconcile`) and the pure state transitions (`state`):
the runner holds the service's one record and changes it only through `transition`,
saving it after each change. Carrying out a plan is the `Deployer`'s; `lock` is shared
with the SSH commands, so an operator's `up` never races a redeploy.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace

from pgo import checkoutdir, hostenv, images, proc, remotestamp, secretfiles, state, statestore
from pgo.compose import Jobs, Project
from pgo.config import ServiceConfig
from pgo.deploy import Deployer, Kind, Ready, Result, to_the_end, took_down
from pgo.duration import jittered
from pgo.errors import PgoError
from pgo.git import Checkout
from pgo.keys import OperatorKey, read_keys
from pgo.logformat import without_credentials
from pgo.proc import Account
from pgo.project import ProjectAt
from pgo.reconcile import Action, Observed, Plan, plan
from pgo.refpool import RefPool
from pgo.removal import take_down
from pgo.state import Record, State
from pgo.status import ContainerRow, ServiceLog
from pgo.workspace import Workspace

# The deployed project's containers that are gone or exited (and must be brought back),
# and every container's row as the same look saw it.
Dead = Callable[[Project, ProjectAt], Awaitable[tuple[list[str], list[ContainerRow]]]]
Rows = Callable[[Project], Awaitable[list[ContainerRow]]]
# Told of every event applied to a record: (before, event, after). Metrics, notifications,
# routes and the systemd status read the state from here; a watcher must not block (it
# runs on the event loop) and what it raises is logged, never the runner's concern.
Watch = Callable[[Record, state.Event, Record], None]


@dataclass(frozen=True)
class Seen:
    """The deployed project's containers as pgod last looked at them (each pass's self-heal
    check, each `status`): what metrics and the status page show without asking podman."""

    at: float
    rows: tuple[ContainerRow, ...]


@dataclass(frozen=True)
class Checks:
    """What pgod asks podman about a project: whether a deploy is ready (the gate), which
    containers of what runs died (self-heal), and what `status` shows of them."""

    ready: Ready
    dead: Dead
    rows: Rows


class ServiceRunner:
    """Keeps one service's compose project in step with its git branch."""

    def __init__(self, config: ServiceConfig, account: Account, root: str, state_dir: str,
                 compose_exe: str, interval: float,
                 checks: Callable[[ServiceConfig, ServiceLog], Checks],
                 git_config: str | None = None, watchers: Sequence[Watch] = (),
                 age_identity: str = secretfiles.IDENTITY, jobs: Jobs | None = None,
                 refs: RefPool | None = None) -> None:
        path = os.path.join(root, config.name)
        log = ServiceLog(logging.getLogger("pgo.service"), {"service": config.name})
        self.work = Workspace(config, account, path,
                              Checkout(path, config.repository, config.branch, account,
                                       git_config, heads=refs), compose_exe, log,
                              age_identity, jobs=jobs)
        self.config, self.account, self.path, self.log = config, account, path, log
        self.checkout = self.work.checkout
        self.state_dir, self.interval = state_dir, interval
        self.checks = checks(config, log)
        self.lock = asyncio.Lock()
        self.watchers = tuple(watchers)
        self.wake = asyncio.Event()  # an SSH command or a webhook asks for a pass now
        self._woken_by = "poll"  # the trigger the next woken pass records
        self.deployer = Deployer(self.work, self.checks.ready, lambda: self.stopping)
        self.config_id = hashlib.sha256(repr(config).encode()).hexdigest()[:16]
        # The next event saves, whatever it changed: the first of this pgod (what _load
        # mended is written), or the one after a save that failed.
        self._unsaved = True
        self.record, self._rebuild = self._load()
        self.project: Project | None = None    # the deployed commit's, for SSH commands
        self.deployed_at: ProjectAt | None = None  # and what was checked of it
        self.keys: tuple[OperatorKey, ...] = ()
        self.seen: Seen | None = None  # the containers at the last look; None: not looked yet
        self.fetch_took = 0.0  # seconds the last fetch took (metrics read it at Fetched)
        self.stopping = False  # set when pgod stops: no pass or SSH command starts after it
        self._keys_commit: str | None = None
        self._read: ProjectAt | None = None  # the last target read (an idle pass reuses it)
        self._fetched: str | None = None  # the head this pgod's last fetch brought
        self._asked: remotestamp.Asked | None = None  # the local remote's stamp before it
        self._head: tuple[object, str] | None = None  # (Checkout.head_stamp(), HEAD) seen
        self._passes = 0
        self._cloned = False  # this pass cloned the checkout

    # -- the record ---------------------------------------------------------------------

    def _load(self) -> tuple[Record, bool]:
        blank = Record(service=self.config.name, user=self.account.user)
        try:
            found = statestore.load(self.state_dir, self.config.name)
        except statestore.Unreadable as err:
            self.log.error("state record unreadable, rebuilding it from what runs: %s", err)
            return blank, True
        if found is None:
            return blank, True
        if found.user != self.account.user:  # an old record, or the config's user changed
            found = replace(found, user=self.account.user)
        if found.state is State.DEPLOYING:  # pgod was killed in the middle of a deploy
            found = state.transition(found, state.BringBackFailed(
                found.deployed or "", "", "start", "pgod stopped during a deploy", 0.0),
                time.time())
        return found, False

    def event(self, event: state.Event) -> Record:
        """Apply `event` to the record and save it; a failed save is logged, never fatal
        (the record on disk stays the previous one, whole)."""
        event = hostenv.redact_event(event)  # no host value in a reason
        before, self.record = self.record, state.transition(self.record, event, time.time())
        if self.record.state is not before.state:
            self.log.info("state %s -> %s", before.state.value, self.record.state.value)
        if self._unsaved or statestore.worth_saving(before, self.record):
            try:
                statestore.save(self.state_dir, self.record)
                self._unsaved = False
            except OSError as err:
                self._unsaved = True  # (tried again at the next event)
                self.log.error("cannot save the state record (the previous one stays): %s",
                               err)
        for watch in self.watchers:
            try:
                watch(before, event, self.record)
            except Exception:  # a watcher's bug must not stop a deploy
                self.log.exception("internal error in a watcher of %s", type(event).__name__)
        return self.record

    # -- the loop -----------------------------------------------------------------------

    async def run_forever(self) -> None:
        self.log.info("tracking %s branch %s as user %s", without_credentials(
            self.config.repository), self.config.branch, self.account.user)
        try:  # operators can log in while the first pass pulls and builds
            async with self.lock:
                await self._refresh_keys()
        except Exception:  # a bug: the deploy loop must run anyway
            self.log.exception("internal error reading operator keys")
        updates = asyncio.ensure_future(images.every(self)) \
            if self.config.image_updates else None  # (at an interval of their own)
        try:
            trigger = "start"
            while True:
                self.wake.clear()  # (before the pass: a wake during it means one more pass)
                await self.run_pass(trigger)
                trigger = "poll"
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.wake.wait(), self.next_wait())
                if self.wake.is_set():
                    trigger, self._woken_by = self._woken_by, "poll"
        finally:
            if updates is not None:
                updates.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await updates

    def poke(self, trigger: str) -> None:
        """Ask for a pass now, recorded as `trigger`; pokes while a pass runs (or waits for
        the lock) add up to one more pass."""
        self._woken_by = trigger
        self.wake.set()

    def next_wait(self) -> float:
        """The interval plus jitter; while fetches fail, doubled each time, up to 4x."""
        fetch = self.record.last_fetch
        if fetch is None or fetch.error is None:
            return jittered(self.interval)
        return min(jittered(state.backoff(fetch.failures, self.interval)), 4 * self.interval)

    async def run_pass(self, trigger: str = "poll", retry: bool = False) -> bool | None:
        """One pass under the service lock; errors are logged and kept in the record. True
        if the branch was fetched and its head runs (what `sync` reports); None if pgod
        began to stop before the pass could start. `retry`: try a broken commit again."""
        async with self.lock:
            if self.stopping:  # (an SSH sync that waited for the lock)
                return None
            return await self.pass_locked(trigger, retry)

    async def pass_locked(self, trigger: str, retry: bool = False) -> bool:
        """A pass, the lock already held (an operator's command that ends in one)."""
        if retry:  # a broken commit may be tried, a failing one's next try is now
            self.event(state.Unbroken())
        try:
            async with self.checkout.batch():  # (one cat-file for every object of the pass)
                fetched = await self._pass(trigger)
        except PgoError as err:
            self.log.error("%s", err)
            self._failed(str(err))
            return False
        except Exception as err:  # a bug: keep the loop and the other services alive
            self.log.exception("internal error")
            self._failed(f"internal error: {err!r}")
            return False
        if self.record.state is State.OK and self.record.reason is not None:
            self.event(state.Trouble(None))  # (what went wrong before is over)
        return fetched and self.record.deployed == self.record.upstream

    def _failed(self, reason: str) -> None:
        """A pass that failed outside a deploy (git, reading the project): the record says
        why; what runs is left alone."""
        self.event(state.Trouble(without_credentials(reason)))

    async def _pass(self, trigger: str) -> bool:
        await self._prepare()
        # a pass of the loop may skip asking an unchanged local remote, and asks a remote
        # for its head before fetching; a sync or a push event says the branch moved
        fetched, target = await self.fetch(poll=trigger == "poll")
        self._passes += 1
        await self._adopt_deployed()
        if await self._host_stop() or self.record.stopped is not None:
            return False
        try:
            if state.waiting(self.record, time.time()):
                return False
            if self.record.frozen is not None:  # not following the branch; still healing
                await (self._bring_back(trigger) if self.record.failing else self._heal())
                return fetched
            seen, project = await self.observe(target)
            if not await self._apply(plan(seen), seen, project, trigger):
                await self._heal()
        finally:
            await self._refresh_keys()
        return fetched

    async def _prepare(self) -> None:
        """The checkout, cloned or repaired; the record rebuilt if it was lost."""
        self._cloned = False
        if not self.checkout.exists():
            await self._clone()
        elif (owner := os.stat(self.path).st_uid) != self.account.uid:
            raise PgoError(f"{self.path} belongs to uid {owner}, not to {self.account.user}: "
                           "the service's user changed; remove the checkout to clone anew")
        elif self._passes == 0:
            checkoutdir.share(self.path, self.account)  # `group` may have changed
            await self._repair()
        if self._rebuild:
            await self._rebuild_record()

    async def _rebuild_record(self) -> None:
        """No usable record: what runs says what is deployed. Containers of the project
        exist: the checkout's commit (pgod moves it before every up). None: nothing."""
        self._rebuild = False
        head = await self._checkout_head()
        running = await self.work.compose("-").containers()
        if running and self._cloned:  # a new clone's head says nothing of what runs
            self.log.warning("state rebuilt: %d container(s) of project %s run, from a "
                             "commit the new clone cannot tell; deploying anew", len(running),
                             self.config.name)
        elif running:
            self.log.warning("state rebuilt: %d container(s) of project %s run; taking the "
                             "checkout's %s as deployed", len(running), self.config.name,
                             head[:12])
            self.record = Record(service=self.config.name, user=self.account.user,
                                 deployed=head, last_good=head)
        else:
            self.log.info("no state record and no container of project %s: deploying it "
                          "anew", self.config.name)

    async def _repair(self) -> None:
        """What a pgod killed in the middle of git may have left (SIGKILL, a power cut): a
        stale .git/index.lock (no git of ours runs on the checkout now: every later reset
        would fail), or a clone that never finished (no HEAD): emptied and cloned again.
        Both as the service user, who owns everything in the checkout."""
        lock = os.path.join(self.path, ".git", "index.lock")
        if os.path.lexists(lock):  # (a look as root; the removal as the user)
            await proc.run(["rm", "-f", "--", lock], self.account, self.path, timeout=60)
        try:
            await self._checkout_head()  # (kept: the pass reads it next)
        except PgoError:
            self.log.warning("%s holds an unfinished clone; cloning again", self.path)
            await proc.run(["find", self.path, "-mindepth", "1", "-delete"], self.account,
                           self.path, timeout=300)
            await self._clone()

    async def _clone(self) -> None:
        if self.record.deployed is None:
            self.event(state.Cloning())
        checkoutdir.prepare(self.path, self.account)
        self.log.info("cloning %s (branch %s) into %s", without_credentials(
            self.config.repository), self.config.branch, self.path)
        started = time.monotonic()
        await self.checkout.clone()
        self.fetch_took = time.monotonic() - started  # (the pass's fetch: see _timed_fetch)
        self._cloned = True
        # the clone fetched the branch (its head is the upstream's): no fetch in this pass,
        # and its HEAD is read once (the stamp says when to read it again)
        self._fetched = await self._checkout_head()
        self.log.info("checked out at %s", self._fetched[:12])

    async def fetch(self, poll: bool = False) -> tuple[bool, str]:
        """Fetch the branch: (fetched, its head). A failed fetch is kept in the record and
        the head last fetched is used (the checkout and its keys stay). `poll` (a pass of
        the loop): a local remote whose refs' stamps did not change is not asked
        (remotestamp), and a remote is asked for its head before a fetch (see
        Checkout.fetch); else (a sync, a push event, a diff) the fetch runs at once."""
        try:
            target = await self._timed_fetch(poll)
        except PgoError as err:
            error = without_credentials(str(err))
            self.log.warning("fetch failed, will retry next pass: %s", error)
            self.event(state.FetchFailed(error))
            try:
                return False, await self.checkout.rev_parse(self.checkout.upstream)
            except PgoError:
                return False, await self.checkout.head()
        if (self.record.last_fetch or state.Fetch(0)).error is not None:
            self.log.info("fetch works again")
        self.event(state.Fetched(target))
        return True, target

    async def _timed_fetch(self, poll: bool) -> str:
        started = time.monotonic()
        if self._cloned and self._fetched is not None:  # (just fetched by the clone)
            return self._fetched
        try:
            stamp = remotestamp.stamp(self.config.repository, self.config.branch,
                                      self.account.home)
            if poll and self._fetched is not None and \
                    remotestamp.unchanged(self._asked, stamp, started):
                return self._fetched
            self._asked = None  # (a failed run is never followed by a skip)
            self._fetched = await self.checkout.fetch(self._fetched if poll else None)
            self._asked = None if stamp is None else remotestamp.Asked(stamp, started)
            return self._fetched
        finally:
            self.fetch_took = time.monotonic() - started

    async def _host_stop(self) -> bool:
        """DIR/NAME.stop: the host's admin keeps the service down while it exists (apart
        from an operator's stop: removing the file does not end that one)."""
        path = self.work.stop_file()
        if not os.path.lexists(path):
            if self.record.host_stop is not None:
                self.log.info("%s is gone: bringing the service back", path)
                self.event(state.Started(host=True))
            return False
        if self.record.host_stop is None:
            self.log.warning("%s exists: taking the service down until it is removed", path)
            down = self.project.down() if self.project is not None else \
                take_down(self.config.name, self.account)
            await to_the_end(down, lambda: True, "the down", self.log)
            self.event(state.Stopped(f"file {path}", "the host's stop file", host=True))
        return True

    async def _checkout_head(self) -> str:
        """The checkout's HEAD: read again only when git may have moved it (its stamp)."""
        stamp = self.checkout.head_stamp()
        if self._head is None or self._head[0] != stamp:
            self._head = (stamp, await self.checkout.head())
        return self._head[1]

    async def observe(self, target: str) -> tuple[Observed, ProjectAt]:
        head = await self._checkout_head()
        project = self._read
        if project is None or project.commit != target:
            # (the deployed commit's, read and checked at start: not read twice)
            known = self.deployed_at if self.deployed_at is not None and \
                self.deployed_at.commit == target else None
            project = self._read = known or await self.work.read(target)
            if not project.problems:
                self.log.info("policy ok at %s", target[:12])
        deployed = self.record.deployed
        changed: frozenset[str] = frozenset()
        if deployed is not None and deployed != target:
            try:
                changed = await self.checkout.changed_paths(deployed, target)
            except PgoError:
                self.log.warning("deployed commit %s is gone; treating everything as changed",
                                 deployed[:12])
                changed = project.used or frozenset({"."})
        return Observed(target=target, head=head, deployed=deployed,
                        unsure=self.record.failing,
                        violations=project.problems,
                        changed=changed, used=project.used, runtime=project.runtime,
                        exposed=await self._exposed(project, deployed),
                        held=self._held_reason(target)), project

    def _held_reason(self, target: str) -> str:
        now = time.time()
        if not state.held_back(self.record, target, self.config_id, now):
            return ""
        if self.record.held:
            return (f"deploy of {target[:12]} failed after taking the service down; not "
                    "tried again until the branch moves, the config changes or an operator "
                    "runs sync or up")
        return f"deploy of {target[:12]} failed; trying again in " \
               f"{self.record.retry_at - now:.0f}s"

    async def _exposed(self, project: ProjectAt, deployed: str | None) -> tuple[str, ...]:
        """The target's paths in writable mounts of the deployed commit's project."""
        if deployed is None or deployed == project.commit or project.problems:
            return ()
        try:
            running = await self._checked(deployed)
        except PgoError:  # gone (a force-push, a new clone): its mounts are not in this tree
            return ()
        return tuple(project.exposed_to(running))

    async def _apply(self, decided: Plan, seen: Observed, at: ProjectAt,
                     trigger: str) -> bool:
        """Carry out the plan; True if containers were (re)started."""
        if Action.REJECT in decided.actions:
            await self._reject(seen, at, trigger)
            return False
        if not decided.actions:
            self.log.debug("%s at %s", decided.reason, seen.target[:12])
            if self.record.failing:
                await self._bring_back(trigger)
                return True
            return False
        if seen.deployed not in (None, seen.target):
            self.log.info("change detected %s..%s: %s", seen.deployed[:12],
                          seen.target[:12], decided.reason)
        subject = await self.checkout.subject(seen.target)
        if decided.restarts:
            self.event(state.Deploying(seen.target))
        done: list[Action] = []

        async def deploy() -> None:
            result = await self.deployer.deploy(decided, at, self.record.last_good,
                                                self.record.failing, done)
            await self._record(result, decided, at, subject, trigger)
        try:
            await to_the_end(deploy(), lambda: took_down(done),
                             f"the deploy of {seen.target[:12]}", self.log)
        except asyncio.CancelledError:
            if not took_down(done):  # cut before it touched what runs: nothing changed
                self.event(state.Interrupted())
            raise
        return decided.restarts

    async def _record(self, result: Result, decided: Plan, at: ProjectAt, subject: str,
                      trigger: str) -> None:
        """What a deploy's result means for the record."""
        if result.kind is not Kind.FAILED:
            self.adopt(at)
            outcome = state.Outcome.DEPLOYED if result.kind is Kind.DEPLOYED \
                else state.Outcome.NO_CHANGE
            self.event(state.Deployed(at.commit, subject, trigger, decided.reason, outcome))
            if result.kind is Kind.DEPLOYED:  # (after the record: status says so too)
                self.log.info("up at %s", at.commit[:12])
            return
        await self.record_failure(result, at, subject, trigger)

    async def record_failure(self, result: Result, at: ProjectAt, subject: str,
                             trigger: str) -> None:
        """A failed deploy: the commit broke; what ran before is back, or it is failing."""
        fallback = self.record.last_good
        # held while a good commit can run instead: the failing service brings that back
        self.event(state.Broke(
            at.commit, subject, trigger, result.reason,
            restored=result.restored and fallback is not None, held=fallback is not None,
            backoff=state.backoff(self.record.failures + 1, self.interval),
            config=self.config_id))
        if result.touched and result.restored and fallback is not None:
            await self.restored(fallback, f"deploy of {at.commit[:12]} failed")

    async def _checked(self, commit: str) -> ProjectAt:
        """`commit`'s project as read and checked: the deployed one's kept, else read."""
        if self.deployed_at is not None and self.deployed_at.commit == commit:
            return self.deployed_at
        return await self.work.read(commit)

    async def restored(self, commit: str, why: str) -> None:
        self.adopt(await self._checked(commit))
        self.log.warning("%s is back (%s)", commit[:12], why)
        self.event(state.Restored(commit, await self.checkout.subject(commit),
                                  f"{why}; {commit[:12]} is back"))

    def adopt(self, at: ProjectAt) -> None:
        if at.file is not None:
            self.project, self.deployed_at = self.work.compose(at.file), at

    async def _reject(self, seen: Observed, at: ProjectAt, trigger: str) -> None:
        reason = f"commit {seen.target[:12]} refused: " + "; ".join(at.problems)
        before = self.record
        self.event(state.Refused(seen.target, await self.checkout.subject(seen.target)
                                 if before.refused != seen.target else "", trigger, reason))
        level = logging.WARNING if self.record is not before else logging.DEBUG
        self.log.log(level, "policy violated at %s, nothing changed: %s", seen.target[:12],
                     "; ".join(at.problems))
        if self.record.failing:
            await self._bring_back(trigger)

    async def _bring_back(self, trigger: str) -> None:
        """Failing, and the target is not deployed: the last good commit, up again."""
        commit = self.record.last_good or self.record.deployed
        if commit is None:
            return
        self.log.warning("bringing %s up again (what should run does not)", commit[:12])
        self.event(state.Deploying(commit))

        async def back() -> None:
            try:
                await self.checkout.reset(commit)
                await self.deployer.bring_up(commit)
            except PgoError as err:
                self._bring_back_failed(commit, trigger, str(err))
                return
            await self.restored(commit, "what should run did not")
        await to_the_end(back(), lambda: True, f"bringing {commit[:12]} back", self.log)

    def _bring_back_failed(self, commit: str, trigger: str, reason: str) -> None:
        wait = state.backoff(self.record.failures + 1, self.interval)
        self.log.error("bringing %s back failed (next try in %.0fs): %s", commit[:12], wait,
                       reason)
        self.event(state.BringBackFailed(commit, "", trigger, without_credentials(reason),
                                         wait))

    async def _heal(self) -> None:
        """Containers of what runs that are gone or exited: `up -d` (through the gate)."""
        if self.project is None or self.deployed_at is None or self.record.deployed is None:
            return
        dead, rows = await self.checks.dead(self.project, self.deployed_at)
        self.seen = Seen(time.time(), tuple(rows))
        if not dead:
            return
        commit, project, at = self.record.deployed, self.project, self.deployed_at
        what = ", ".join(dead)
        self.log.warning("self-heal: %s; bringing them back with up -d", what)
        self.event(state.Deploying(commit))

        async def heal() -> None:
            try:
                await self.work.place_secrets(commit)  # (after a reboot, /run is empty)
                await project.run("up", "-d")
                await self.deployer.gate(project, at)
            except PgoError as err:
                self._bring_back_failed(commit, "self-heal", f"{what}: {err}")
                return
            self.event(state.Healed(commit, await self.checkout.subject(commit),
                                    f"brought back: {what}"))
        await to_the_end(heal(), lambda: True, "the self-heal", self.log)

    async def _adopt_deployed(self) -> None:
        """After a restart, the deployed commit's project is what SSH commands and the
        self-heal work on, even before (or if never) a deploy by this pgod succeeds."""
        deployed = self.record.deployed
        if self.project is None and deployed is not None:
            with contextlib.suppress(PgoError):
                self.adopt(await self.work.read(deployed))

    async def containers(self) -> list[ContainerRow] | None:
        """The deployed project's containers for `status`; None if podman cannot say."""
        if self.project is None:
            return []
        try:
            rows = await self.checks.rows(self.project)
        except PgoError as err:
            self.log.warning("cannot list the containers: %s", err)
            return None
        self.seen = Seen(time.time(), tuple(rows))
        return rows

    def worktree_problems(self) -> list[str]:
        """How the working tree differs from the deployed commit as it was checked."""
        return [] if self.deployed_at is None else \
            self.deployed_at.worktree_problems(self.path)

    async def _refresh_keys(self) -> None:
        """Operators' keys, as committed at the deployed commit. If they cannot be read, no
        key is accepted (a key removed in that commit must not keep working) and the next
        pass tries again."""
        deployed = self.record.deployed
        if deployed is None or deployed == self._keys_commit or not self.checkout.exists():
            return
        try:
            if (unsigned := await self.work.unsigned(deployed)) is not None:
                raise PgoError(unsigned)  # keys only from a commit an allowed signer signed
            keys = await read_keys(self.checkout, deployed, self.log)
        except PgoError as err:
            self.keys, self._keys_commit = (), None
            self.log.error("cannot read operator keys at %s, accepting none until they can "
                           "be read: %s", deployed[:12], err)
            return
        self.keys, self._keys_commit = keys, deployed
        self.log.info("%d operator key(s) at %s: %s", len(self.keys), deployed[:12],
                      ", ".join(f"{k.source} {k.fingerprint}" for k in self.keys) or "none")
