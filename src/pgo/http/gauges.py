"""What a service's record and its containers as last seen mean as gauge values. Pure.

Each function returns (label values, value) pairs for one family; `pgo.http.metrics`
names the families. Only `deployed_info` carries a commit as a label.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from pgo.http.tally import Labels
from pgo.state import Outcome, Record, State
from pgo.status import ContainerRow

Sample = tuple[Labels, float]
NO_HEALTHCHECK = "none"  # the health label of a container without a healthcheck


def state_samples(record: Record) -> list[Sample]:
    """One sample per state, 1 for the service's current one."""
    return [((record.service, s.value), 1.0 if s is record.state else 0.0) for s in State]


def deployed_info(record: Record) -> list[Sample]:
    """(service, commit) 1 for the deployed commit; none before the first deploy."""
    return [] if record.deployed is None else [((record.service, record.deployed), 1.0)]


def last_success(record: Record) -> list[Sample]:
    """When the service's newest deploy that passed its gate finished (history's newest
    `deployed` attempt: self-heals included, `no change` not); none if history has none."""
    times = [a.time for a in record.history if a.outcome is Outcome.DEPLOYED]
    return [((record.service,), max(times))] if times else []


def fetch_samples(record: Record) -> tuple[list[Sample], list[Sample]]:
    """(when the last fetch ended, failed fetches in a row), each for the service."""
    fetch = record.last_fetch
    if fetch is None:
        return [], []
    failing = float(fetch.failures) if fetch.error is not None else 0.0
    return [((record.service,), fetch.time)], [((record.service,), failing)]


def health(row: ContainerRow) -> str:
    return row.health or NO_HEALTHCHECK


def container_samples(service: str, rows: Sequence[ContainerRow]) -> list[Sample]:
    """(service, compose service, state, health) -> how many containers are so."""
    counts: dict[Labels, float] = {}
    for row in rows:
        labels = (service, row.service, row.state, health(row))
        counts[labels] = counts.get(labels, 0.0) + 1.0
    return sorted(counts.items())


def healthy(rows: Iterable[ContainerRow]) -> bool:
    """Every container runs, and is healthy or has no healthcheck."""
    return all(r.state == "running" and r.health in ("", "healthy") for r in rows)


def compose_service_samples(service: str, rows: Sequence[ContainerRow]) -> list[Sample]:
    """(service, compose service) -> 1 if all its containers are up and healthy, else 0."""
    by_name: dict[str, list[ContainerRow]] = {}
    for row in rows:
        by_name.setdefault(row.service, []).append(row)
    return [((service, name), 1.0 if healthy(group) else 0.0)
            for name, group in sorted(by_name.items())]
