"""GET /metrics: Prometheus text, from what pgod already holds. See pgod(8), METRICS.

A scrape reads each service's record and the containers its last self-heal check saw
(`ServiceRunner.seen`), the counts an `Observer` kept since pgod started, and the SSH
server's counters; it never runs podman or git. Every family is listed in `FAMILIES`, the
one place that names them (the man page's METRICS section lists the same).
"""

from __future__ import annotations

import platform
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Protocol

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

from pgo import __version__
from pgo.http import gauges
from pgo.http.observe import Observer
from pgo.http.tally import Counter, Histogram, Labels
from pgo.penalties import Penalties
from pgo.state import Record
from pgo.status import ContainerRow

# The Go original's counters, exposed under its names (no `_total` added).
GO_COUNTERS = ("pgo_command_count", "pgo_command_error_count")


class Seen(Protocol):
    @property
    def at(self) -> float: ...

    @property
    def rows(self) -> tuple[ContainerRow, ...]: ...


class Runner(Protocol):
    """What a scrape reads of a `ServiceRunner`."""

    @property
    def record(self) -> Record: ...

    @property
    def seen(self) -> Seen | None: ...

    @property
    def fetch_took(self) -> float: ...


class Collector:
    """Builds every family at each scrape (prometheus_client's custom collector)."""

    def __init__(self, runners: Mapping[str, Runner], observer: Observer,
                 penalties: Penalties, unauthenticated: Callable[[], int]) -> None:
        self.runners, self.observer = runners, observer
        self.penalties, self.unauthenticated = penalties, unauthenticated

    def collect(self) -> Iterator[Metric]:
        yield from self._commands()
        yield from self._deploys()
        yield from self._containers()
        yield from self._fetches()
        yield from self._ssh()
        yield _gauge("pgo_build_info", "pgod's version and Python, value 1",
                     ("version", "python"), [((__version__, platform.python_version()), 1.0)])

    def _records(self) -> list[Record]:
        return [runner.record for _, runner in sorted(self.runners.items())]

    def _commands(self) -> Iterator[Metric]:
        seen = self.observer
        yield _go_counter("pgo_command_count", "Counter for the number of commands "
                          "executed (SSH commands, by service and command).", seen.commands)
        yield _go_counter("pgo_command_error_count", "Counter for the number of commands "
                          "executed that resulted in an error (a non-zero exit status).",
                          seen.command_errors)

    def _deploys(self) -> Iterator[Metric]:
        seen, records = self.observer, self._records()
        yield _counter("pgo_deploys", "Deploy attempts (history's entries) by outcome",
                       ("service", "outcome"), seen.deploys)
        yield _histogram("pgo_deploy_duration_seconds", "Time a service spent deploying "
                         "(a deploy or a bring-back, its gate included)", seen.deploy_seconds)
        yield _counter("pgo_policy_refusals", "Commits the policy refused (each once)",
                       ("service",), seen.refusals)
        yield _gauge("pgo_last_deploy_success_timestamp_seconds", "When the newest deploy "
                     "that passed its gate finished (Unix time)", ("service",),
                     [s for r in records for s in gauges.last_success(r)])
        yield _gauge("pgo_deployed_info", "The deployed commit, value 1",
                     ("service", "commit"), [s for r in records for s in gauges.deployed_info(r)])
        yield _gauge("pgo_service_state", "The service's state: 1 for the current one, "
                     "0 for the others", ("service", "state"),
                     [s for r in records for s in gauges.state_samples(r)])

    def _containers(self) -> Iterator[Metric]:
        looked = [(name, runner.seen) for name, runner in sorted(self.runners.items())
                  if runner.seen is not None]
        yield _gauge("pgo_compose_service_healthy", "1 if every container of the compose "
                     "service ran and was healthy (or had no healthcheck) at the last check",
                     ("service", "compose_service"),
                     [s for name, seen in looked
                      for s in gauges.compose_service_samples(name, seen.rows)])
        yield _gauge("pgo_containers", "Containers of the deployed project at the last "
                     "check, by compose service, podman state and health",
                     ("service", "compose_service", "state", "health"),
                     [s for name, seen in looked
                      for s in gauges.container_samples(name, seen.rows)])
        yield _gauge("pgo_containers_checked_timestamp_seconds", "When pgod last looked "
                     "at the containers (Unix time)", ("service",),
                     [((name,), seen.at) for name, seen in looked])

    def _fetches(self) -> Iterator[Metric]:
        seen, records = self.observer, self._records()
        fetched = [gauges.fetch_samples(r) for r in records]
        yield _histogram("pgo_git_fetch_duration_seconds", "Time a git fetch took",
                         seen.fetch_seconds)
        yield _counter("pgo_git_fetch_failures", "Failed git fetches", ("service",),
                       seen.fetch_failures)
        yield _gauge("pgo_git_last_fetch_timestamp_seconds", "When the last fetch ended, "
                     "failed or not (Unix time)", ("service",), [s for f in fetched for s in f[0]])
        yield _gauge("pgo_git_fetch_failing", "Fetches failed in a row (0: the last one "
                     "worked)", ("service",), [s for f in fetched for s in f[1]])

    def _ssh(self) -> Iterator[Metric]:
        penalties = self.penalties
        yield _counter("pgo_ssh_sessions", "SSH sessions ended, by exit status (0, a "
                       "refusal 400-500, or command: the command's own failure)",
                       ("exit",), self.observer.sessions)
        yield _counter("pgo_ssh_authenticated", "SSH connections that authenticated", (),
                       _single(penalties.successes_total))
        failures = Counter({(f.name.lower(),): float(n)
                            for f, n in penalties.failures_total.items()})
        yield _counter("pgo_ssh_auth_failures", "SSH connections that ended without "
                       "authenticating: auth (keys offered, none allowed) or noauth (none "
                       "offered)", ("reason",), failures)
        yield _counter("pgo_ssh_refused_connections", "SSH connections refused because "
                       "their source was penalised", (), _single(penalties.refused_total))
        yield _counter("pgo_ssh_penalties", "Penalties imposed on SSH sources", (),
                       _single(penalties.penalties_total))
        yield _gauge("pgo_ssh_penalised_sources", "Sources refused right now", (),
                     [((), float(penalties.penalised()))])
        yield _gauge("pgo_ssh_unauthenticated_connections", "SSH connections open that "
                     "have not authenticated yet", (), [((), float(self.unauthenticated()))])


def _single(value: float) -> Counter:
    return Counter({(): float(value)})


def _gauge(name: str, doc: str, labels: tuple[str, ...],
           samples: list[tuple[Labels, float]]) -> Metric:
    family = GaugeMetricFamily(name, doc, labels=labels)
    for values, value in samples:
        family.add_metric(values, value)
    return family


def _counter(name: str, doc: str, labels: tuple[str, ...], counter: Counter) -> Metric:
    family = CounterMetricFamily(name, doc, labels=labels)
    for values, value in counter.items():
        family.add_metric(values, value)
    return family


def _go_counter(name: str, doc: str, counter: Counter) -> Metric:
    """A counter whose samples are named `name` itself (as Go's client names them)."""
    family = Metric(name, doc, "counter")
    for (service, command), value in counter.items():
        family.add_sample(name, {"service": service, "command": command}, value)
    return family


def _histogram(name: str, doc: str, histogram: Histogram) -> Metric:
    family = HistogramMetricFamily(name, doc, labels=("service",))
    for labels, series in histogram.items():
        family.add_metric(labels, histogram.cumulative(labels), series.total)
    return family


def go_names(text: bytes) -> bytes:
    """prometheus_client writes a counter's HELP and TYPE lines as NAME_total; the Go
    original's counters have no `_total`: their lines are put back to the samples' name."""
    for name in GO_COUNTERS:
        for line in (b"# HELP ", b"# TYPE "):
            text = text.replace(line + name.encode() + b"_total ", line + name.encode() + b" ")
    return text


class Metrics:
    """The registry of pgod's own (not prometheus_client's global one) and its route;
    `observer` is to be told of every record change and every SSH session's end."""

    def __init__(self, services: Iterable[str], runners: Mapping[str, Runner],
                 penalties: Penalties, unauthenticated: Callable[[], int]) -> None:
        self.observer = Observer(services, lambda name: runners[name].fetch_took)
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(Collector(runners, self.observer, penalties, unauthenticated))

    def render(self) -> bytes:
        return go_names(generate_latest(self.registry))

    async def handle(self, request: web.Request) -> web.Response:
        return web.Response(body=self.render(), headers={"Content-Type": CONTENT_TYPE_LATEST})
