"""What an SSH session runs: parse, authorize, route to a handler, stream, exit.

Statuses: the compose command's own exit status (128+N when a signal N killed it; 1 when
`down` left containers), or 400 bad syntax, 401 key not allowed for this service, 404 no
such service, 406 unknown command or argument, 429 too many commands running for this
service, 500 internal error. The reason goes to stderr; a traceback never leaves the
server. Every request is logged with the client's address and the signing key.

A client that goes away stops a read-only command (ps, logs) at once; a mutating one that
has started runs to its end (within its timeout), so `up` or `down` is never cut halfway,
and one that was still waiting for the service lock does not start.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping

import asyncssh

from pgo import sshstream
from pgo.command import Request, parse_request
from pgo.compose import Project
from pgo.errors import PgoError, Refusal
from pgo.keys import OperatorKey
from pgo.logformat import without_credentials
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
        client = describe_client(str(peer[0]), signing_key(conn),
                                 {name: r.keys for name, r in self.runners.items()})
        try:
            code = await self._dispatch(process, conn, client)
        except Refusal as refusal:
            log.warning("refused %r %s: %s", (process.command or "")[:200], client,
                        refusal.line())
            _say(process.stderr, refusal.line())
            code = refusal.status
        except Exception:
            log.exception("internal error running %r %s", (process.command or "")[:200],
                          client)
            _say(process.stderr, Refusal(500, "internal error, see pgod's log").line())
            code = 500
        with contextlib.suppress(OSError, asyncssh.Error):
            process.exit(code)

    async def _dispatch(self, process: asyncssh.SSHServerProcess[str],
                        conn: asyncssh.SSHServerConnection, client: str) -> int:
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
        log.info("%s: %s %s", request.service, process.command, client)
        if runner.stopping and request.command not in UNCOUNTED:
            raise stopping_refusal()
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


def describe_client(address: str, fingerprint: str | None,
                    keys: Mapping[str, Iterable[OperatorKey]]) -> str:
    """Who sent a request, for the log: `from ADDRESS key FINGERPRINT (SERVICE:FILE, ...)`,
    naming the files that hold the signing key now."""
    sources = sorted({f"{service}:{key.source}" for service, service_keys in keys.items()
                      for key in service_keys if key.fingerprint == fingerprint})
    return (f"from {address} key {fingerprint or '?'} "
            f"({', '.join(sources) if sources else 'in no service now'})")


def stopping_refusal() -> Refusal:
    """What a command that would start something hears once pgod has begun to stop."""
    return Refusal(500, "pgod is stopping; try again once it is back")


def _say(sink: asyncssh.SSHWriter[str], line: str) -> None:
    """A line to the client, if it is still there."""
    with contextlib.suppress(OSError, asyncssh.Error):
        sink.write(line + "\n")


async def ping(runner: ServiceRunner, request: Request,
               process: asyncssh.SSHServerProcess[str]) -> int:
    process.stdout.write(f"pong! - {socket.gethostname()}\n")
    return 0


async def status(runner: ServiceRunner, request: Request,
                 process: asyncssh.SSHServerProcess[str]) -> int:
    state = runner.status
    since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(state.since))
    repository = without_credentials(runner.config.repository)
    lines = [
        f"service:    {runner.config.name}",
        f"repository: {repository} (branch {runner.config.branch})",
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
    if in_step is None:
        raise stopping_refusal()
    await status(runner, request, process)
    return 0 if in_step else 1


async def compose(runner: ServiceRunner, request: Request,
                  process: asyncssh.SSHServerProcess[str]) -> int:
    """Run the podman-compose command; mutating ones under the service lock, and only if
    the client is still there once they have it."""
    if not request.spec.mutates:
        return await _stream(runner, request, process)
    name, command = request.service, request.command
    if runner.lock.locked():
        log.info("%s: %s waits for the service lock", name, command)
    async with runner.lock:
        if process.is_closing():
            log.info("%s: %s not started: the client left while it waited for the service "
                     "lock", name, command)
            return 1
        if runner.stopping:
            raise stopping_refusal()
        if request.command in READS_HOST_PATHS and (problems := runner.worktree_problems()):
            raise Refusal(500, "working tree refused: " + "; ".join(problems))
        log.info("%s: %s starts (service lock taken)", name, command)
        code = await _stream(runner, request, process)
        if command == "down" and code == 0 and runner.project is not None:
            code = await _check_down(runner.project, process)
        log.info("%s: %s exited %d", name, command, code)
        return code


async def _check_down(project: Project, process: asyncssh.SSHServerProcess[str]) -> int:
    """1, and the reason on stderr, if containers of the project are left after a `down`
    that exited 0 (podman-compose ignores the exit status of podman stop and rm)."""
    try:
        left = await project.containers()
    except PgoError as err:
        raise Refusal(500, f"down: cannot list the project's containers: {err}") from None
    if not left:
        return 0
    message = (f"{project.left_by_down(left)}: podman-compose exits 0 when podman rm fails; "
               "see its output above")
    log.warning("%s: %s", project.name, message)
    _say(process.stderr, f"pgod: {message}")
    return 1


async def _stream(runner: ServiceRunner, request: Request,
                  process: asyncssh.SSHServerProcess[str]) -> int:
    """Run the command on the deployed project, its output copied to the client."""
    project = runner.project
    if project is None:
        raise Refusal(500, f"service {request.service!r} has no deployed project yet "
                           f"(state: {runner.status.state})")
    return await sshstream.run(project, request, process)
