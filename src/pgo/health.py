"""Whether a compose project that was just brought up is ready, and what self-heal must
bring back. Pure: podman's inspect data and a compose model in, values out.

Ready: every container of every active compose service is running (healthy, where it has a
healthcheck), or is a one-shot job (`restart` "no" or absent) that exited 0, and all of it
has stayed so for a settle time. A container that restarts (a new id, start time or restart
count) while the project settles is a failure: with `restart: always` a crash loop would
otherwise look ready between two crashes. The timeout bounds reaching ready; a project that
is ready when it strikes still gets its settle time.

What podman-compose 1.6.0 starts (its `_parse_compose_file`): the services whose `profiles`
are absent or share one with COMPOSE_PROFILES; `scale` containers of each, else
`deploy.replicas` when `deploy.mode` is "replicated" (it ignores replicas without that
mode), else one; `extends` merged into the service (mappings merged, lists concatenated).
"""

from __future__ import annotations

import datetime
import enum
import re
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from pgo.policy.extends import bases

SERVICE_LABEL = "io.podman.compose.service"
DEFAULT_INTERVAL = 30.0  # seconds between health checks when a healthcheck names none
OUTPUT_LIMIT = 500       # characters of a health check's output kept
STARTING = frozenset({"created", "configured", "initialized", "paused"})  # may yet run
ENDED = frozenset({"exited", "stopped"})  # "stopped": podman restarting it


@dataclass(frozen=True)
class ContainerState:
    """One container as `podman container inspect` (podman 4.3.1) shows it."""

    name: str
    service: str | None   # its compose service (label io.podman.compose.service)
    status: str           # State.Status: created, running, exited, paused, ...
    exit_code: int
    health: str | None    # None without a healthcheck, else starting/healthy/unhealthy
    health_output: str    # the output of the last health check ("" if none ran)
    restart_count: int
    started_at: float     # epoch seconds (0.0: never started)
    id: str
    health_interval: float | None = None  # seconds between checks; None: no healthcheck


def from_inspect(entry: Mapping[str, Any]) -> ContainerState:
    """A ContainerState from one element of `podman container inspect`'s JSON. podman
    4.3.1 puts health under State.Health (Status "" without a healthcheck; the Go template
    name .State.Healthcheck is the same data); State.Healthcheck is read too, for others."""
    state = entry.get("State") or {}
    health = state.get("Health") or state.get("Healthcheck") or {}
    log = health.get("Log") or []
    config = entry.get("Config") or {}
    check = config.get("Healthcheck") or {}
    test = check.get("Test") or []
    interval = None
    if test and test[0] != "NONE":
        interval = (check.get("Interval") or 0) / 1e9 or DEFAULT_INTERVAL
    return ContainerState(
        name=str(entry.get("Name", "")).lstrip("/"),
        service=(config.get("Labels") or {}).get(SERVICE_LABEL),
        status=str(state.get("Status", "unknown")), exit_code=int(state.get("ExitCode") or 0),
        health=health.get("Status") or None,
        health_output=str(log[-1].get("Output") or "").strip()[-OUTPUT_LIMIT:] if log else "",
        restart_count=int(entry.get("RestartCount") or 0),
        started_at=_epoch(str(state.get("StartedAt") or "")), id=str(entry.get("Id", "")),
        health_interval=interval)


def from_ps(entry: Mapping[str, Any]) -> ContainerState:
    """A ContainerState from one element of `podman ps -a --format json` (podman 4.3.1):
    the state, exit code, service label and health status (the "(healthy)" that ends its
    Status) that `inspect` shows too; no health output, restart count or check interval
    (enough for self-heal and `status`, not for the gate)."""
    status = str(entry.get("Status") or "")
    health = re.search(r"\((healthy|unhealthy|starting)\)$", status)
    names = entry.get("Names") or [""]
    return ContainerState(
        name=str(names[0]), service=(entry.get("Labels") or {}).get(SERVICE_LABEL),
        status=str(entry.get("State") or "unknown"), exit_code=int(entry.get("ExitCode") or 0),
        health=health.group(1) if health else None, health_output="", restart_count=0,
        started_at=float(entry.get("StartedAt") or 0), id=str(entry.get("Id", "")))


def _epoch(stamp: str) -> float:
    """RFC 3339 with nanoseconds to epoch seconds; 0.0 for Go's zero time or nonsense."""
    try:
        value = datetime.datetime.fromisoformat(stamp).timestamp()
    except ValueError:
        return 0.0
    return max(value, 0.0)


@dataclass(frozen=True)
class Expectation:
    """What `up` starts for one compose service."""

    service: str
    replicas: int = 1
    healthcheck: bool = False  # a healthcheck test in the compose file, not disabled
    one_shot: bool = True      # restart "no" or absent: exiting 0 is done, not a failure


def active_profiles(variables: Mapping[str, str | None]) -> frozenset[str]:
    """The profiles podman-compose enables from COMPOSE_PROFILES (its environment, then
    .env) when no --profile is given, as it splits them."""
    value = variables.get("COMPOSE_PROFILES") or ""
    return frozenset(p.strip() for p in value.split(",") if p.strip())


def expectations(model: Mapping[str, Any],
                 profiles: Collection[str] = frozenset()) -> dict[str, Expectation]:
    """Each compose service `up` starts (its profiles inactive: none), and what it starts."""
    services = model.get("services") or {}
    active = {str(name): service for name, service in services.items()
              if isinstance(service, Mapping) and _active(service, profiles)}
    return {name: _expectation(name, _merged(active, name)) for name in active}


def _active(service: Mapping[str, Any], profiles: Collection[str]) -> bool:
    own = set(service.get("profiles") or [])
    return not own or bool(own & set(profiles))


def _merged(services: Mapping[str, Any], name: str) -> dict[str, Any]:
    """The service with what it extends (within the file) merged in, as podman-compose's
    rec_merge does it: the service's own values win, mappings merge, lists concatenate."""
    chain = [services[name], *(services[base] for base in bases(services, name))]
    result: dict[str, Any] = {}
    for layer in reversed(chain):
        result = _merge(result, layer)
    return result


def _merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    result = dict(base)
    for key, value in over.items():
        old = result.get(key)
        if isinstance(old, Mapping) and isinstance(value, Mapping):
            result[key] = _merge(old, value)
        elif isinstance(old, list) and isinstance(value, list):
            result[key] = [*old, *value]
        else:
            result[key] = value
    return result


def _expectation(name: str, service: Mapping[str, Any]) -> Expectation:
    return Expectation(service=name, replicas=_replicas(service),
                       healthcheck=_has_healthcheck(service.get("healthcheck")),
                       one_shot=service.get("restart") in (None, "no", False))


def _replicas(service: Mapping[str, Any]) -> int:
    """podman-compose 1.6.0: `scale`, else `deploy.replicas` in mode "replicated", else 1
    (a value that is no integer counts as 1)."""
    deploy = service.get("deploy")
    if "scale" in service:
        value = service["scale"]
    elif isinstance(deploy, Mapping) and "replicas" in deploy \
            and deploy.get("mode") == "replicated":
        value = deploy["replicas"]
    else:
        return 1
    try:
        return max(int(value), 0)
    except (TypeError, ValueError):
        return 1


def _has_healthcheck(check: object) -> bool:
    """Whether podman-compose gives the container a health command (without a `test`, only
    the image's HEALTHCHECK, if any: the observed health tells)."""
    if not isinstance(check, Mapping) or check.get("disable"):
        return False
    test = check.get("test")
    if isinstance(test, str):
        return bool(test)
    return isinstance(test, list) and bool(test) and test[0] != "NONE"


class Readiness(enum.Enum):
    READY = "ready"
    WAITING = "waiting"
    FAILED = "failed"


@dataclass(frozen=True)
class Failure:
    """One container (or a missing one: container "") that failed or is not ready."""

    container: str
    service: str
    how: str  # "exited with code 3", "unhealthy: <output>", "restarted", "missing", ...
    log: tuple[str, ...] = ()  # its last log lines, when the gate has read them

    def describe(self) -> str:
        if self.container:
            return f"container {self.container} {self.how}"
        return f"service {self.service}: {self.how}"


@dataclass(frozen=True)
class Settling:
    """Since when everything has been ready, and each container then: id to (restart
    count, start time), so a restart while settling is seen."""

    since: float
    marks: Mapping[str, tuple[int, float]]


@dataclass(frozen=True)
class Verdict:
    state: Readiness
    failures: tuple[Failure, ...] = ()  # FAILED: each failed container
    waiting: tuple[Failure, ...] = ()   # WAITING: what is not ready yet (how: why not)
    settling: Settling | None = None    # to pass to the next judge()


def judge(containers: Iterable[ContainerState], expected: Mapping[str, Expectation],
          now: float, settling: Settling | None, *, settle: float = 10.0,
          timed_out: bool = False) -> Verdict:
    """The project's readiness at `now`, given what the last verdict was settling. With
    `timed_out`, what is not ready yet fails; a project settling goes on settling."""
    mine = [c for c in containers if c.service in expected]
    failed, waiting = [], list(_missing(mine, expected))
    for container in mine:
        kind, how = _judge_one(container, expected[str(container.service)])
        if kind is Readiness.FAILED:
            failed.append(Failure(container.name, str(container.service), how))
        elif kind is Readiness.WAITING:
            waiting.append(Failure(container.name, str(container.service), how))
    if not failed and not waiting and settling is not None:
        failed = [Failure(c.name, str(c.service), "restarted") for c in mine
                  if settling.marks.get(c.id) != (c.restart_count, c.started_at)]
    if failed:
        return Verdict(Readiness.FAILED, tuple(failed))
    if waiting and timed_out:
        return Verdict(Readiness.FAILED, tuple(
            Failure(w.container, w.service, f"not ready in time ({w.how})") for w in waiting))
    if waiting:
        return Verdict(Readiness.WAITING, waiting=tuple(waiting))
    settling = settling or Settling(now, {c.id: (c.restart_count, c.started_at) for c in mine})
    if now - settling.since >= settle:
        return Verdict(Readiness.READY, settling=settling)
    return Verdict(Readiness.WAITING, settling=settling)


def _judge_one(container: ContainerState, expect: Expectation) -> tuple[Readiness, str]:
    if container.status in ENDED:
        if expect.one_shot and container.exit_code == 0:
            return Readiness.READY, "done"
        return Readiness.FAILED, f"exited with code {container.exit_code}"
    if container.status in STARTING:
        return Readiness.WAITING, f"is {container.status}"
    if container.status != "running":
        return Readiness.FAILED, f"is {container.status}"
    return _judge_health(container, expect)


def _judge_health(container: ContainerState, expect: Expectation) -> tuple[Readiness, str]:
    """A running container: its health decides, where it has a healthcheck (the compose
    file's, or the image's: podman reports a status then too)."""
    if container.health == "unhealthy":
        output = container.health_output or "(the check printed nothing)"
        return Readiness.FAILED, f"unhealthy: {output}"
    if container.health == "starting":
        return Readiness.WAITING, "health starting"
    if container.health is None and expect.healthcheck:
        return Readiness.WAITING, "no health status reported"
    return Readiness.READY, "running"


def _missing(containers: list[ContainerState],
             expected: Mapping[str, Expectation]) -> Iterator[Failure]:
    for service, expect in expected.items():
        found = sum(1 for c in containers if c.service == service)
        if found < expect.replicas:
            yield Failure("", service, f"{expect.replicas - found} of {expect.replicas} "
                          "container(s) missing")


def heal_needed(containers: Iterable[ContainerState],
                expected: Mapping[str, Expectation]) -> list[Failure]:
    """For self-heal: each container that has exited, except a one-shot job's (restart
    "no" or none) that exited 0 (done, not dead), and each service whose containers are
    gone (removed: `up -d` brings them back, a one-shot job's included, as a deploy would).
    Whether an operator stopped the project is the caller's to know: podman does not say."""
    mine = [c for c in containers if c.service in expected]
    gone = list(_missing(mine, expected))
    ended = [Failure(c.name, str(c.service), f"exited with code {c.exit_code}") for c in mine
             if c.status in ENDED and not (expected[str(c.service)].one_shot
                                           and c.exit_code == 0)]
    return ended + gone


def checks_due(containers: Iterable[ContainerState], last_run: Mapping[str, float],
               now: float) -> list[ContainerState]:
    """Running containers with a healthcheck whose next check is due (their interval since
    `last_run`, by id): podman runs checks from systemd timers, which a service user
    without a systemd session (as pgod runs podman) does not get, so the gate runs them."""
    return [c for c in containers
            if c.status == "running" and c.health_interval is not None
            and c.health != "unhealthy"
            and now - last_run.get(c.id, float("-inf")) >= c.health_interval]
