"""One long-lived `git cat-file --batch` process: every object a pass reads (the commit, for
its hash and subject; the compose file, env files, keys, sealed files), one process in all.

Started through proc (as the checkout's user, argv only) at the first read, ended with the
pass (`close`). A read cut short (cancelled, timed out, a file too large) ends the process,
whose output would be out of step; the next read starts another.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping, Sequence

from pgo import proc
from pgo.errors import CommandFailed
from pgo.gittree import Header, parse_header
from pgo.proc import Account


class Batch:
    def __init__(self, argv: Sequence[str], account: Account, cwd: str,
                 env: Mapping[str, str], timeout: float) -> None:
        self.argv, self.account, self.cwd, self.env = list(argv), account, cwd, dict(env)
        self.timeout = timeout
        self.started = 0  # processes started (for tests and the log)
        self._proc: asyncio.subprocess.Process | None = None
        self._lock = asyncio.Lock()

    async def get(self, name: str) -> tuple[Header, bytes]:
        """The object `name` names (any revision git understands): its header and bytes;
        a header that is not `found` if there is no such object."""
        if not name or "\n" in name or "\r" in name:
            raise CommandFailed(self.argv, None, f"not an object name: {name[:100]!r}")
        async with self._lock:
            try:
                async with asyncio.timeout(self.timeout):
                    return await self._ask(name)
            except TimeoutError:
                await self.close()
                raise CommandFailed(self.argv, None,
                                    f"killed after {self.timeout:.0f}s") from None
            except BaseException:
                await self.close()
                raise

    async def _ask(self, name: str) -> tuple[Header, bytes]:
        if self._proc is None:
            self._proc = await proc.start(self.argv, self.account, self.cwd, self.env,
                                          merge_stderr=False, stdin=True)
            self.started += 1
        running = self._proc
        assert running.stdin is not None and running.stdout is not None
        try:
            running.stdin.write(name.encode() + b"\n")
            await running.stdin.drain()
        except (BrokenPipeError, ConnectionResetError):
            await self._died(running)
        line = await running.stdout.readline()
        if not line.endswith(b"\n"):
            await self._died(running)
        try:
            header = parse_header(line[:-1])
        except ValueError as err:
            raise CommandFailed(self.argv, None, str(err)) from None
        if not header.found:
            return header, b""
        if header.size > proc.DATA_LIMIT:
            raise CommandFailed(self.argv, None, f"more than {proc.DATA_LIMIT} bytes of "
                                f"output ({name[:100]})")
        data = await running.stdout.readexactly(header.size + 1)
        return header, data[:-1]

    async def _died(self, running: asyncio.subprocess.Process) -> None:
        assert running.stderr is not None
        errors = b""
        with contextlib.suppress(TimeoutError):
            errors = await asyncio.wait_for(running.stderr.read(65536), 5)
        code = await asyncio.wait_for(running.wait(), 5)
        self._proc = None
        raise CommandFailed(self.argv, code, errors.decode("utf-8", "replace"))

    async def close(self) -> None:
        """End the process (its stdin closed: git exits), if one runs; what it still had
        to write (an answer cut short) is read and dropped, so that its pipes close."""
        running, self._proc = self._proc, None
        if running is None:
            return
        assert running.stdin is not None and running.stdout is not None
        running.stdin.close()
        try:
            async with asyncio.timeout(5):
                await _drain(running.stdout)
                await running.wait()
        except TimeoutError:
            await proc.end_group(running)
        except asyncio.CancelledError:
            await proc.end_group(running)
            raise


async def _drain(stream: asyncio.StreamReader) -> None:
    while await stream.read(1 << 20):
        pass
