"""pgod's side of the ref workers: one `refworker` process per service user, started the
first time one of its services asks where a git:// branch's head is, again when it died,
stopped with pgod.

`head()` is what `git ls-remote URL REF` would say, without a git process per pass, and
still as the user: the worker runs with the user's uid, groups and the environment pgod
gives git, reads the user's git config, and its connections are the user's. What it will
not answer (not git://, a config or environment that could change how git reaches the URL,
a server it does not understand, a worker that cannot start or died) comes back as DEFER:
the caller runs git as before.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import itertools
import json
import logging
import sys
import time
from collections.abc import Mapping
from typing import Any

from pgo import gittree, proc, refwire
from pgo.errors import CommandFailed
from pgo.logformat import without_credentials
from pgo.proc import Account

log = logging.getLogger("pgo.refs")

ARGV = (sys.executable, "-I", "-m", "pgo.refworker")
RESTART_AFTER = 30.0  # seconds without a worker after one failed to start or died young
YOUNG = 10.0  # a worker that died within this many seconds of its start died young
STOP_GRACE = 2.0


class Defer(enum.Enum):
    DEFER = "git's to answer"


DEFER = Defer.DEFER
Key = tuple[int, int, int | None, tuple[tuple[str, str], ...]]


class Worker:
    """One running refworker: its requests in flight, by id."""

    def __init__(self, process: asyncio.subprocess.Process, account: Account) -> None:
        self.process, self.account, self.started = process, account, time.monotonic()
        self.pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.reading = asyncio.create_task(self._read(), name=f"refworker {account.user}")
        self.telling = asyncio.create_task(self._tell(), name=f"refworker {account.user} log")

    @property
    def alive(self) -> bool:
        return not self.reading.done()

    async def ask(self, request: dict[str, Any]) -> dict[str, Any]:
        assert self.process.stdin is not None
        if not self.alive:
            return {"defer": "the worker ended"}
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.pending[request["id"]] = future
        try:
            self.process.stdin.write(json.dumps(request).encode() + b"\n")
            return await future
        finally:
            self.pending.pop(request["id"], None)

    async def _read(self) -> None:
        assert self.process.stdout is not None
        try:
            while line := await self.process.stdout.readline():
                reply = json.loads(line)
                future = self.pending.get(reply.get("id"))
                if future is not None and not future.done():
                    future.set_result(reply)
        except (ValueError, OSError) as err:
            log.warning("refworker for %s: %s", self.account.user, err)
        finally:  # (dead or stopped: what it did not answer, git answers)
            for future in self.pending.values():
                if not future.done():
                    future.set_result({"defer": "the worker ended"})

    async def _tell(self) -> None:
        """The worker's stderr: the processes it starts (at debug), anything else warned."""
        assert self.process.stderr is not None
        while line := await self.process.stderr.readline():
            text = without_credentials(line.decode("utf-8", "replace").rstrip())
            level = logging.DEBUG if text.startswith("run as ") else logging.WARNING
            log.log(level, "refworker for %s: %s", self.account.user, text)

    async def stop(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()  # (it exits at the end of its stdin)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self.process.wait()), STOP_GRACE)
        if self.process.returncode is None:
            await proc.end_group(self.process)
        for task in (self.reading, self.telling):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


class RefPool:
    """The workers, one per user (and environment), and the requests' ids."""

    def __init__(self, argv: tuple[str, ...] = ARGV) -> None:
        self.argv = argv
        self.workers: dict[Key, Worker] = {}
        self._not_before: dict[Key, float] = {}
        self._starting: dict[Key, asyncio.Lock] = {}
        self._ids = itertools.count(1)
        self.closed = False
        self.young = YOUNG  # a worker dead this many seconds after its start died young

    async def head(self, account: Account, env: Mapping[str, str], url: str, ref: str,
                   cwd: str, timeout: float) -> str | Defer | None:
        """`ref`'s object id at `url` (None: the server has no such ref); DEFER: ask git.
        CommandFailed when the server cannot be reached or refuses, as git's would."""
        if self.closed or refwire.env_defers(env, url) or \
                (refwire.git_target(url) is None and refwire.http_base(url) is None):
            return DEFER
        worker = await self._worker(account, env)
        if worker is None:
            return DEFER
        request = {"id": next(self._ids), "url": url, "ref": ref, "cwd": cwd,
                   "timeout": timeout}
        try:
            async with asyncio.timeout(timeout + 10):
                reply = await worker.ask(request)
        except TimeoutError:
            reply = {"error": f"no answer from the ref worker in {timeout:.0f}s",
                     "timeout": True}
        argv = ["git", "ls-remote", "--", url, ref]  # (what it stands for, in messages)
        if "error" in reply:
            raise CommandFailed(argv, None, without_credentials(str(reply["error"])),
                                status=None if reply.get("timeout") else "failed")
        if "defer" in reply:
            log.debug("refworker for %s leaves %s to git: %s", account.user,
                      without_credentials(url), reply["defer"])
            return DEFER
        oid = reply.get("oid", "")
        if oid is None or gittree.is_oid(oid):  # (never anything else onwards)
            return str(oid) if oid else None
        log.warning("refworker for %s: not an answer: %.100r", account.user, reply)
        return DEFER

    async def _worker(self, account: Account, env: Mapping[str, str]) -> Worker | None:
        key: Key = (account.uid, account.gid, account.share_gid, tuple(sorted(env.items())))
        async with self._starting.setdefault(key, asyncio.Lock()):
            worker = self.workers.get(key)
            if worker is not None and worker.alive:
                return worker
            if worker is not None:
                del self.workers[key]
                await worker.stop()
                log.warning("refworker for %s ended (exit %s); %s", account.user,
                            worker.process.returncode, "starting another" if
                            time.monotonic() - worker.started > self.young else
                            f"git answers for {RESTART_AFTER:.0f}s")
                if time.monotonic() - worker.started <= self.young:
                    self._not_before[key] = time.monotonic() + RESTART_AFTER
            if time.monotonic() < self._not_before.get(key, 0.0) or self.closed:
                return None
            try:
                process = await proc.start(self.argv, account, "/", env, merge_stderr=False,
                                           stdin=True)
            except CommandFailed as err:
                log.warning("cannot start the refworker for %s (git answers for %.0fs): "
                            "%s", account.user, RESTART_AFTER, err)
                self._not_before[key] = time.monotonic() + RESTART_AFTER
                return None
            self.workers[key] = worker = Worker(process, account)
            log.info("refworker for %s started (pid %d)", account.user, process.pid)
            return worker

    async def close(self) -> None:
        """Stop every worker (pgod stops)."""
        self.closed = True
        workers, self.workers = list(self.workers.values()), {}
        await asyncio.gather(*(worker.stop() for worker in workers))
