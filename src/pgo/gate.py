"""The health gate's I/O: what podman shows of a project's containers, polled until
pgo.health judges the project ready or failed; for each failed container, its last log
lines without credentials.

podman runs healthchecks from systemd timers (`systemd-run --user`). A service user run as
pgod runs podman (HOME, PATH, USER, LOGNAME; no systemd user session) has none: podman
4.3.1 logs "unable to get systemd connection to add healthchecks" and the status stays
"starting" for ever. So the gate runs each due check itself (`podman healthcheck run`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass, replace
from typing import Any

from pgo import proc
from pgo.compose import DEFAULT_TIMEOUT, Project
from pgo.errors import CommandFailed
from pgo.health import (
    ContainerState,
    Failure,
    Readiness,
    Settling,
    checks_due,
    expectations,
    from_inspect,
    from_ps,
    judge,
)
from pgo.logformat import without_credentials
from pgo.proc import Account

LOG_LINES = 20        # the tail of a failed container's log that is kept
CHECK_TIMEOUT = 120.0  # seconds a `podman healthcheck run` may take
REASON_LIMIT = 200    # characters of the one-line reason
# NAME=value / NAME: value where NAME looks like it holds a secret: the value goes.
# A "Bearer"/"Basic" scheme stays; the token after it goes.
_SECRET = re.compile(
    r"(?i)\b([\w.-]*(?:passw(?:or)?d|secret|token|api[_-]?key|access[_-]?key|private[_-]?key"
    r"|credentials?|auth(?!or\b|ors\b))[\w.-]*)(\"?\s*[=:]\s*)((?:bearer|basic|token)\s+)?"
    r"(\"[^\"]*\"|'[^']*'|[^\s,;&\"']+)")
LOG = logging.getLogger("pgo.gate")

Log = logging.Logger | logging.LoggerAdapter  # type: ignore[type-arg]


@dataclass(frozen=True)
class GateResult:
    ok: bool
    failures: tuple[Failure, ...]  # each with its last log lines (credentials scrubbed)
    reason: str                    # one short line for `status`


def scrub(text: str) -> str:
    """`text` without URL credentials (user:password@) nor the values of NAME=value pairs
    whose name says password, secret, token, api key, access key, private key, credentials
    or auth."""
    return _SECRET.sub(r"\1\2\3***", without_credentials(text))


async def observe(project: Project, names: Collection[str] | None = None,
                  ) -> list[ContainerState]:
    """The project's containers, running or not, as `podman container inspect` shows them
    (a container removed meanwhile is left out); `names`: those, not listed again."""
    if names is None:
        names = await project.containers()
    if not names:
        return []
    argv = ["podman", "container", "inspect", "--", *names]
    result = await proc.run(argv, project.account, project.workdir, timeout=DEFAULT_TIMEOUT,
                            check=False, merge_stderr=False)
    try:
        entries = json.loads(result.output or "[]")
    except ValueError:
        raise CommandFailed(argv, result.returncode, result.errors or result.output) from None
    if not isinstance(entries, list) or (result.returncode != 0 and not entries
                                         and not all_gone(result.errors)):
        raise CommandFailed(argv, result.returncode, result.errors or result.output)
    return [from_inspect(entry) for entry in entries if isinstance(entry, dict)]


def all_gone(errors: str) -> bool:
    """Whether `podman container inspect` failed only because every container it was
    given went away after the listing (a `down` meanwhile): then there are none."""
    lines = [line for line in errors.splitlines() if line.strip()]
    return bool(lines) and all("no such container" in line for line in lines)


async def glance(project: Project) -> list[ContainerState]:
    """The project's containers as one `podman ps -a` shows them (what self-heal needs:
    `observe` runs two podman commands)."""
    entries = await ps_json(project.account, project.workdir,
                            f"io.podman.compose.project={project.name}")
    return [from_ps(entry) for entry in entries]


async def ps_json(account: Account, cwd: str, label: str) -> list[dict[str, Any]]:
    """`podman ps -a --filter label=LABEL --format json`, as `account`: its entries (the
    objects; CommandFailed if podman printed something else)."""
    argv = ["podman", "ps", "-a", "--filter", f"label={label}", "--format", "json"]
    result = await proc.run(argv, account, cwd, timeout=DEFAULT_TIMEOUT, merge_stderr=False)
    try:
        entries = json.loads(result.output or "[]")
    except ValueError:
        raise CommandFailed(argv, result.returncode, result.errors or result.output) from None
    if not isinstance(entries, list):
        raise CommandFailed(argv, result.returncode, result.output)
    return [entry for entry in entries if isinstance(entry, dict)]


async def run_checks(project: Project, containers: Collection[ContainerState],
                     timeout: float = CHECK_TIMEOUT, log: Log = LOG) -> None:
    """`podman healthcheck run` for each container, concurrently; podman records the result
    (its exit status is the verdict, read back by observe). A check that cannot be run or
    outlasts `timeout` is logged and left: the status it leaves decides."""
    async with asyncio.TaskGroup() as group:
        for container in containers:
            group.create_task(_run_check(project, container, timeout, log))


async def _run_check(project: Project, container: ContainerState, timeout: float,
                     log: Log) -> None:
    try:
        await proc.run(["podman", "healthcheck", "run", "--", container.id], project.account,
                       project.workdir, timeout=timeout, check=False)
    except CommandFailed as err:
        log.warning("healthcheck of %s: %s", container.name, scrub(str(err)))


async def wait_ready(project: Project, model: Mapping[str, Any], timeout: float,
                     settle: float = 10.0, poll: float = 1.0,
                     log: Log = LOG,
                     profiles: Collection[str] = frozenset()) -> GateResult:
    """Poll the project until it is ready (settled for `settle` seconds), a container
    fails, or `timeout` seconds pass without it being ready. `model` is the compose model
    that was brought up, `profiles` the ones active (see health.active_profiles)."""
    expected = expectations(model, profiles)
    deadline = time.monotonic() + timeout
    settling: Settling | None = None
    checked: dict[str, float] = {}
    names: list[str] | None = None  # listed once (`up -d` has made them all), then inspected
    while True:
        containers = await observe(project, names)
        if due := checks_due(containers, checked, time.monotonic()):
            left = max(deadline - time.monotonic(), 5.0)
            await run_checks(project, due, min(left, CHECK_TIMEOUT), log)
            checked.update((c.id, time.monotonic()) for c in due)
            containers = await observe(project, names)
        # one podman a poll, not two; listed again if one went missing (or none was there)
        names = [c.name for c in containers] if containers and (
            names is None or len(containers) == len(names)) else None
        now = time.monotonic()
        verdict = judge(containers, expected, now, settling, settle=settle,
                        timed_out=now >= deadline)
        if verdict.state is Readiness.READY:
            log.info("ready: %d container(s) up for %gs", len(containers), settle)
            return GateResult(True, (), "ready")
        if verdict.state is Readiness.FAILED:
            return await _failed(project, verdict.failures, log)
        if verdict.waiting and settling is not None:
            log.info("not ready any more (%s): settling starts over",
                     scrub(verdict.waiting[0].describe()))
        settling = verdict.settling
        await asyncio.sleep(poll)


async def _failed(project: Project, failures: tuple[Failure, ...], log: Log) -> GateResult:
    """Each failure with its container's last log lines, logged; the one-line reason."""
    told = []
    for failure in failures:
        lines = await last_log_lines(project, failure.container) if failure.container else ()
        told.append(replace(failure, how=scrub(failure.how), log=lines))
        shown = "".join(f"\n{line}" for line in lines)
        log.error("health gate: %s%s", told[-1].describe(),
                  f"; its last log lines:{shown}" if lines else "; it logged nothing")
    more = f" (and {len(told) - 1} more)" if len(told) > 1 else ""
    reason = told[0].describe().splitlines()[0][:REASON_LIMIT] if told else "failed"
    return GateResult(False, tuple(told), reason + more)


async def last_log_lines(project: Project, container: str,
                         count: int = LOG_LINES) -> tuple[str, ...]:
    """The last `count` lines the container wrote (stdout and stderr), scrubbed."""
    result = await proc.run(["podman", "logs", "--tail", str(count), "--", container],
                            project.account, project.workdir, timeout=DEFAULT_TIMEOUT,
                            check=False)
    lines = result.output.splitlines()
    if result.returncode != 0:
        lines = [f"(podman logs exited {result.returncode})", *lines]
    return tuple(scrub(line) for line in lines[-count:])
