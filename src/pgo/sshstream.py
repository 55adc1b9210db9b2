"""A podman-compose command's output streamed to an SSH client, and its end.

The child's process group is killed once it is over: it exited, timed out, or the client
left a read-only command. A mutating command whose client leaves runs to its end (within
its timeout) with its output read and dropped, so `up` or `down` is never cut halfway.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import logging
from typing import Any

import asyncssh

from pgo import ansi, proc
from pgo.command import Request
from pgo.compose import DEFAULT_TIMEOUT, TIMEOUTS, Project
from pgo.errors import Refusal

log = logging.getLogger("pgo.ssh")


async def run(project: Project, request: Request,
              process: asyncssh.SSHServerProcess[str]) -> int:
    """Start the request's podman-compose command and stream it; its exit status."""
    child = await project.start(request.compose_argv(), merge_stderr=False)
    try:
        return await _supervise(child, request, process)
    finally:
        proc.kill_group(child)
        with contextlib.suppress(ProcessLookupError, asyncio.CancelledError):
            await child.wait()


def exit_status(returncode: int | None) -> int:
    """The exit status a client sees for a child's return code: 128+N for a child killed by
    signal N (as a shell reports it; asyncio says -N), 500 if there is none."""
    if returncode is None:
        return 500
    return 128 - returncode if returncode < 0 else returncode



async def _supervise(child: asyncio.subprocess.Process, request: Request,
                     process: asyncssh.SSHServerProcess[str]) -> int:
    """The child's exit status, within the command's time limit. When the client goes
    away, a read-only command stops at once; a mutating one runs to its end."""
    loop = asyncio.get_running_loop()
    limit = None if request.follow else TIMEOUTS.get(request.command, DEFAULT_TIMEOUT)
    deadline = None if limit is None else loop.time() + limit
    pump = asyncio.create_task(_pump(child, process))
    closed = asyncio.create_task(process.wait_closed())
    try:
        await asyncio.wait({pump, closed}, timeout=limit, return_when=asyncio.FIRST_COMPLETED)
        if closed.done() and not pump.done():
            if not request.spec.mutates:
                log.info("%s: client went away, stopping %s", request.service,
                         request.command)
                return 0
            log.info("%s: client went away; letting %s finish", request.service,
                     request.command)
            await asyncio.wait({pump}, timeout=None if deadline is None
                               else max(0.0, deadline - loop.time()))
        if not pump.done():
            raise Refusal(500, f"{request.command} did not finish within {limit:.0f}s; killed")
        return exit_status(pump.result())
    finally:
        await _cancel(pump, closed)


async def _cancel(*tasks: asyncio.Task[Any]) -> None:
    """Cancel `tasks` and wait for them, so none is left with an exception nobody reads."""
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def _pump(child: asyncio.subprocess.Process,
                process: asyncssh.SSHServerProcess[str]) -> int:
    """Copy the child's stdout and stderr to the client until both end; its return code."""
    async with asyncio.TaskGroup() as group:
        group.create_task(_copy(child.stdout, process.stdout))
        group.create_task(_copy(child.stderr, process.stderr))
    return await child.wait()


async def _copy(source: asyncio.StreamReader | None, sink: asyncssh.SSHWriter[str]) -> None:
    """Copy `source` to the client while it is there, then read on and drop the rest: a
    child blocked on a full pipe would never finish. Without terminal escapes: the client
    has no terminal here (pgod serves no pty), and podman-compose colours `logs` always."""
    if source is None:
        return
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    plain = ansi.Stripper()
    connected = True
    while chunk := await source.read(65536):
        if connected:
            try:
                sink.write(plain.feed(decoder.decode(chunk)))
                await sink.drain()
            except (OSError, asyncssh.Error):
                connected = False
    if connected:
        with contextlib.suppress(OSError, asyncssh.Error):
            sink.write(plain.feed(decoder.decode(b"", final=True)) + plain.end())
