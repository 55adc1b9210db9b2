"""What an SSH session runs: parse, authorize, route to a handler, stream, exit.

Statuses: the compose command's own exit status, or 400 bad syntax, 401 key not allowed
for this service, 404 no such service, 406 unknown command or argument, 429 too many
commands running for this service, 500 internal error. The reason goes to stderr; a
traceback never leaves the server.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import logging
import socket
import time
from collections.abc import Awaitable, Callable, Mapping

import asyncssh

from pgo import proc
from pgo.command import Request, parse_request
from pgo.compose import DEFAULT_TIMEOUT, TIMEOUTS
from pgo.errors import Refusal
from pgo.service import ServiceRunner
from pgo.sshserver import granted_services, signing_key

log = logging.getLogger("pgo.ssh")

Handler = Callable[[ServiceRunner, Request, asyncssh.SSHServerProcess[str]], Awaitable[int]]
MAX_RUNNING = 8  # podman-compose commands and syncs at once per service (logs -f included)
UNCOUNTED = frozenset({"ping", "status"})  # answered at once, never wait or run anything
# Commands that make podman read host paths again (bind mounts are resolved at each start).
READS_HOST_PATHS = frozenset({"up", "pull", "build", "restart", "start"})


class Sessions:
    """The process factory for the SSH server: one `handle` per session."""

    def __init__(self, runners: Mapping[str, ServiceRunner]) -> None:
        self.runners = runners
        self.routes: dict[str, Handler] = {"ping": ping, "status": status, "sync": sync}
        self.running: dict[str, int] = {}

    async def handle(self, process: asyncssh.SSHServerProcess[str]) -> None:
        conn = process.get_extra_info("connection")
        peer = process.get_extra_info("peername") or ("?", 0)
        try:
            code = await self._dispatch(process, conn)
        except Refusal as refusal:
            log.warning("refused %r from %s: %s", (process.command or "")[:200], peer[0],
                        refusal.line())
            process.stderr.write(refusal.line() + "\n")
            code = refusal.status
        except Exception:
            log.exception("internal error running %r for %s", (process.command or "")[:200],
                          peer[0])
            process.stderr.write(Refusal(500, "internal error, see pgod's log").line() + "\n")
            code = 500
        with contextlib.suppress(OSError, asyncssh.Error):
            process.exit(code)

    async def _dispatch(self, process: asyncssh.SSHServerProcess[str],
                        conn: asyncssh.SSHServerConnection) -> int:
        if process.subsystem:
            raise Refusal(400, f"subsystem {process.subsystem!r} is not served")
        if not process.command:
            raise Refusal(400, "no shell here: run SERVICE//COMMAND, e.g. pgo//ps")
        request = parse_request(process.command)
        runner = self.runners.get(request.service)
        if runner is None:
            raise Refusal(404, f"no service {request.service!r} on this machine")
        if request.service not in granted_services(conn):
            raise Refusal(401, f"this key is not allowed for service {request.service!r}")
        if signing_key(conn) not in {key.fingerprint for key in runner.keys}:
            raise Refusal(401, f"this key was removed from service {request.service!r} "
                               "after this connection was made")
        log.info("%s: %s from %s", request.service, process.command,
                 process.get_extra_info("peername", ("?",))[0])
        handler = self.routes.get(request.command, compose)
        if request.command in UNCOUNTED:
            return await handler(runner, request, process)
        if self.running.get(request.service, 0) >= MAX_RUNNING:
            raise Refusal(429, f"{MAX_RUNNING} commands are already running for service "
                               f"{request.service!r}; try again when one has finished")
        self.running[request.service] = self.running.get(request.service, 0) + 1
        try:
            return await handler(runner, request, process)
        finally:
            self.running[request.service] -= 1


async def ping(runner: ServiceRunner, request: Request,
               process: asyncssh.SSHServerProcess[str]) -> int:
    process.stdout.write(f"pong! - {socket.gethostname()}\n")
    return 0


async def status(runner: ServiceRunner, request: Request,
                 process: asyncssh.SSHServerProcess[str]) -> int:
    state = runner.status
    since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(state.since))
    lines = [
        f"service:    {runner.config.name}",
        f"repository: {runner.config.repository} (branch {runner.config.branch})",
        f"state:      {state.state} since {since}",
        f"deployed:   {state.deployed or '-'}",
        f"upstream:   {state.upstream or '-'}",
        f"last error: {state.last_error or '-'}",
    ]
    process.stdout.write("\n".join(lines) + "\n")
    return 0


async def sync(runner: ServiceRunner, request: Request,
               process: asyncssh.SSHServerProcess[str]) -> int:
    """A pass now (waiting for one in progress): 0 if the branch's head was fetched and is
    what runs, else 1; `status` says why."""
    in_step = await runner.run_pass(retry=True)
    await status(runner, request, process)
    return 0 if in_step else 1


async def compose(runner: ServiceRunner, request: Request,
                  process: asyncssh.SSHServerProcess[str]) -> int:
    """Run the podman-compose command; mutating ones under the service lock."""
    if request.spec.mutates:
        async with runner.lock:
            if request.command in READS_HOST_PATHS and (problems := runner.worktree_problems()):
                raise Refusal(500, "working tree refused: " + "; ".join(problems))
            return await _stream(runner, request, process)
    return await _stream(runner, request, process)


async def _stream(runner: ServiceRunner, request: Request,
                  process: asyncssh.SSHServerProcess[str]) -> int:
    """Copy the child's output as it comes; kill it when the client goes away."""
    project = runner.project
    if project is None:
        raise Refusal(500, f"service {request.service!r} has no deployed project yet "
                           f"(state: {runner.status.state})")
    child = await project.start(request.compose_argv(), merge_stderr=False)
    copies: asyncio.Future[object] = asyncio.ensure_future(asyncio.gather(
        _copy(child.stdout, process.stdout), _copy(child.stderr, process.stderr), child.wait()))
    closed: asyncio.Future[object] = asyncio.ensure_future(process.wait_closed())
    limit = None if request.follow else TIMEOUTS.get(request.command, DEFAULT_TIMEOUT)
    try:
        await asyncio.wait({copies, closed}, timeout=limit,
                           return_when=asyncio.FIRST_COMPLETED)
        if closed.done() and not copies.done():
            log.info("%s: client went away, stopping %s", request.service, request.command)
            return 0
        if not copies.done():
            raise Refusal(500, f"{request.command} did not finish within {limit:.0f}s; killed")
        return child.returncode if child.returncode is not None else 500
    finally:
        closed.cancel()
        copies.cancel()
        proc.kill_group(child)
        with contextlib.suppress(ProcessLookupError, asyncio.CancelledError):
            await child.wait()


async def _copy(source: asyncio.StreamReader | None, sink: asyncssh.SSHWriter[str]) -> None:
    if source is None:
        return
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    while chunk := await source.read(65536):
        sink.write(decoder.decode(chunk))
        await sink.drain()
    sink.write(decoder.decode(b"", final=True))
