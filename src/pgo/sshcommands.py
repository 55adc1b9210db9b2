"""What an SSH session runs: parse, authorize, route to a handler, stream, exit.

Statuses: the compose command's own exit status (128+N when a signal N killed it; 1 when
`down` left containers), or 400 bad syntax, 401 key not allowed for this service, 404 no
such service, 406 unknown command or argument, 409 the host's DIR/NAME.stop keeps the
service down, 429 too many commands running for this service, 500 internal error. The
reason goes to stderr; a traceback never leaves the server. Every request is logged with
the client's address and the signing key.

A client that goes away stops a read-only command (ps, logs) at once; a mutating one that
has started runs to its end (within its timeout), so `up` or `down` is never cut halfway,
and one that was still waiting for the service lock does not start.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import socket
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence

import asyncssh

from pgo import controls, gate, pslist, sshstream
from pgo.command import Request, parse_request
from pgo.compose import Project
from pgo.dryrun import argument_problems
from pgo.errors import PgoError, Refusal
from pgo.keys import OperatorKey
from pgo.service import ServiceRunner
from pgo.sshserver import granted_services, signing_key
from pgo.status import history_json, history_text, status_json, status_text

log = logging.getLogger("pgo.ssh")

Handler = Callable[[ServiceRunner, Request, asyncssh.SSHServerProcess[str]], Awaitable[int]]
MAX_RUNNING = 8  # podman-compose commands and syncs at once per service (logs -f included)
# answered at once, never wait or run anything
UNCOUNTED = frozenset({"ping", "status", "history"})
# What a read-only key (ssh/readonly/*.pub) may run: nothing that changes anything.
READ_ONLY = frozenset({"ping", "status", "history", "ps", "logs", "diff"})
# Commands that make podman read host paths again (bind mounts are resolved at each start).
READS_HOST_PATHS = frozenset({"up", "pull", "build", "restart", "start"})
CREATES = frozenset({"up", "pull", "build"})  # what the argument layer checks first


class Sessions:
    """The process factory for the SSH server: one `handle` per session."""

    def __init__(self, runners: Mapping[str, ServiceRunner],
                 elsewhere: Mapping[str, tuple[str, ...]] | None = None,
                 ended: Sequence[Callable[[str, int], None]] = (),
                 notes: Callable[[], str | None] = lambda: None) -> None:
        self.runners = runners
        self.elsewhere = elsewhere or {}  # services the config puts on other machines
        self.ended = ended  # each told of every session's command line and exit status
        self.routes: dict[str, Handler] = {
            "ping": ping, "status": functools.partial(status, notes=notes),
            "history": history, "sync": sync, "diff": diff, "ps": ps,
            "freeze": locked(freeze), "unfreeze": locked(unfreeze),
            "rollback": locked(rollback)}
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
        for told in self.ended:
            try:
                told(process.command or "", code)
            except Exception:  # (metrics): the client still gets its exit status
                log.exception("internal error telling of a session's end")
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
        if runner is None and request.service in self.elsewhere:
            raise Refusal(404, f"{request.service} runs on "
                          f"{', '.join(self.elsewhere[request.service])}")
        if runner is None:
            raise Refusal(404, f"no service {request.service!r} on this machine")
        if request.service not in granted_services(conn):
            raise Refusal(401, f"this key is not allowed for service {request.service!r}")
        key = next((k for k in runner.keys if k.fingerprint == signing_key(conn)), None)
        if key is None:
            raise Refusal(401, f"this key was removed from service {request.service!r} "
                               "after this connection was made")
        if key.readonly and request.command not in READ_ONLY:
            raise Refusal(401, f"this key is read-only for service {request.service!r} "
                               f"({key.source}): it may run {', '.join(sorted(READ_ONLY))}")
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
                 process: asyncssh.SSHServerProcess[str],
                 notes: Callable[[], str | None] = lambda: None) -> int:
    """The service's status; `notes()`: what is wrong with pgod's own config, if anything
    (a config commit refused)."""
    rows = await runner.containers()
    args = (runner.record, runner.config.repository, runner.config.branch, rows)
    note = notes()
    if "--json" in request.args:
        process.stdout.write(json.dumps({**status_json(*args), "config_problem": note},
                                        indent=1) + "\n")
    else:
        process.stdout.write(status_text(*args) + (f"pgod config: {note}\n" if note else ""))
    return 0


async def history(runner: ServiceRunner, request: Request,
                  process: asyncssh.SSHServerProcess[str]) -> int:
    args = list(request.args)
    count = int(args[args.index("-n") + 1]) if "-n" in args else 100
    show = history_json if "--json" in args else history_text
    process.stdout.write(show(runner.record, count))
    return 0


async def ps(runner: ServiceRunner, request: Request,
             process: asyncssh.SSHServerProcess[str]) -> int:
    """podman-compose's `ps`; with --json, pgod's own array of the project's containers
    (pgo.pslist), from one `podman ps` as the service user."""
    if "--json" not in request.args:
        return await compose(runner, request, process)
    project = _deployed(runner, request)
    try:
        entries = await gate.ps_json(project.account, project.workdir,
                                     f"io.podman.compose.project={project.name}")
    except PgoError as err:
        raise Refusal(500, f"ps: {err}") from None
    process.stdout.write(pslist.ps_json(entries))
    return 0


async def sync(runner: ServiceRunner, request: Request,
               process: asyncssh.SSHServerProcess[str]) -> int:
    """A pass now (waiting for one in progress), a broken commit tried again: 0 if the
    branch's head was fetched and is what runs, else 1; `status` says why."""
    controls.refuse_if_host_stopped(runner, "sync")
    in_step = await runner.run_pass("sync", retry=True)
    if in_step is None:
        raise stopping_refusal()
    await status(runner, Request(request.service, "status"), process)
    return 0 if in_step else 1


async def diff(runner: ServiceRunner, request: Request,
               process: asyncssh.SSHServerProcess[str]) -> int:
    async with runner.lock:
        if runner.stopping:
            raise stopping_refusal()
        try:
            process.stdout.write(await controls.diff(runner))
        except PgoError as err:  # git or the project could not be read: say why
            raise Refusal(500, f"diff: {err}") from None
    return 0


def operator(process: asyncssh.SSHServerProcess[str]) -> str:
    """Who sent the request, as history and status name it: the key's fingerprint."""
    conn = process.get_extra_info("connection")
    return (signing_key(conn) if conn is not None else None) or "?"


def locked(handler: Handler) -> Handler:
    """`handler` with the service lock held, if pgod is not stopping meanwhile."""
    async def run(runner: ServiceRunner, request: Request,
                  process: asyncssh.SSHServerProcess[str]) -> int:
        async with runner.lock:
            if runner.stopping:
                raise stopping_refusal()
            try:
                return await handler(runner, request, process)
            except Refusal:
                raise
            except PgoError as err:  # git or podman failed: say why, no traceback
                raise Refusal(500, f"{request.command}: {err}") from None
    return run


async def freeze(runner: ServiceRunner, request: Request,
                 process: asyncssh.SSHServerProcess[str]) -> int:
    process.stdout.write(controls.freeze(runner, operator(process), " ".join(request.args)))
    return 0


async def unfreeze(runner: ServiceRunner, request: Request,
                   process: asyncssh.SSHServerProcess[str]) -> int:
    process.stdout.write(controls.unfreeze(runner))
    return 0


async def rollback(runner: ServiceRunner, request: Request,
                   process: asyncssh.SSHServerProcess[str]) -> int:
    given = request.args[0] if request.args else None
    process.stdout.write(await controls.rollback(runner, given, operator(process)))
    return 0


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
        if request.command in READS_HOST_PATHS:
            controls.refuse_if_host_stopped(runner, command)
            if problems := runner.worktree_problems():
                raise Refusal(500, "working tree refused: " + "; ".join(problems))
            await _place_secrets(runner)
            await _check_arguments(runner, request)
        if request.command in CREATES:  # (as pgod's own pull would: logged in first)
            try:
                await runner.work.login()
            except PgoError as err:
                raise Refusal(500, str(err)) from None
        log.info("%s: %s starts (service lock taken)", name, command)
        code = await _stream(runner, request, process)
        if command == "down" and code == 0 and runner.project is not None:
            code = await _check_down(runner.project, process)
        log.info("%s: %s exited %d", name, command, code)
        _after(runner, request, code, operator(process))
        return code


def _after(runner: ServiceRunner, request: Request, code: int, by: str) -> None:
    """What an operator's down/stop/up/start means for the record: stopped (persisted, not
    brought back by pgod) until up/start."""
    if code != 0:
        return
    if request.command in ("down", "stop"):
        controls.stopped_by_operator(runner, f"operator {by}", request.command)
    elif request.command in ("up", "start"):
        controls.started_by_operator(runner)


async def _place_secrets(runner: ServiceRunner) -> None:
    """The deployed commit's decrypted files, as a deploy writes them (after a reboot, or
    an operator's stop, they may be gone)."""
    if runner.deployed_at is None:
        return
    try:
        await runner.work.place_secrets(runner.deployed_at.commit)
    except PgoError as err:
        raise Refusal(500, f"decrypting the .age files failed: {err}") from None


async def _check_arguments(runner: ServiceRunner, request: Request) -> None:
    """An operator's up, pull or build creates what pgod's deploys create: its podman
    command lines go through the same argument layer (restart and start only start the
    containers pgod created)."""
    if request.command not in CREATES or runner.project is None:
        return
    if problems := await argument_problems(runner.project, runner.config,
                                           request.compose_argv()):
        raise Refusal(500, "podman arguments refused: " + "; ".join(problems))


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
    return await sshstream.run(_deployed(runner, request), request, process)


def _deployed(runner: ServiceRunner, request: Request) -> Project:
    """The project a podman command runs on; Refusal 500 before the first deploy."""
    if runner.project is None:
        raise Refusal(500, f"service {request.service!r} has no deployed project yet "
                           f"(state: {runner.record.state.value})")
    return runner.project
