"""Counts kept between scrapes: counters and histograms by label values. Pure.

What pgod saw since it started (a deploy, a fetch, an SSH command) is added here as it
happens; a scrape reads it (`pgo.http.metrics`). Label values are tuples in the order of
the family's label names.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterator
from dataclasses import dataclass, field

Labels = tuple[str, ...]

# seconds: a deploy pulls and builds (minutes), a fetch is a network round trip or two
DEPLOY_BUCKETS = (1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0)
FETCH_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


@dataclass
class Counter:
    """Totals by label values; `zero` makes a series appear before its first event."""

    values: dict[Labels, float] = field(default_factory=dict)

    def inc(self, labels: Labels, by: float = 1.0) -> None:
        self.values[labels] = self.values.get(labels, 0.0) + by

    def zero(self, labels: Labels) -> None:
        self.values.setdefault(labels, 0.0)

    def get(self, labels: Labels) -> float:
        return self.values.get(labels, 0.0)

    def items(self) -> Iterator[tuple[Labels, float]]:
        yield from sorted(self.values.items())


@dataclass
class Series:
    """One histogram series: how many observations fell in each bucket (not cumulative;
    the last one past the largest bound), their sum."""

    counts: list[int]
    total: float = 0.0

    @property
    def count(self) -> int:
        return sum(self.counts)


@dataclass
class Histogram:
    bounds: tuple[float, ...]
    series: dict[Labels, Series] = field(default_factory=dict)

    def observe(self, labels: Labels, value: float) -> None:
        series = self._series(labels)
        series.counts[bisect.bisect_left(self.bounds, value)] += 1
        series.total += value

    def zero(self, labels: Labels) -> None:
        self._series(labels)

    def _series(self, labels: Labels) -> Series:
        if labels not in self.series:
            self.series[labels] = Series([0] * (len(self.bounds) + 1))
        return self.series[labels]

    def cumulative(self, labels: Labels) -> list[tuple[str, float]]:
        """(le, observations at most le) for every bound and +Inf, as Prometheus wants."""
        series = self.series[labels]
        out, running = [], 0
        for bound, count in zip((*self.bounds, math.inf), series.counts, strict=True):
            running += count
            out.append(("+Inf" if bound == math.inf else _bound(bound), float(running)))
        return out

    def items(self) -> Iterator[tuple[Labels, Series]]:
        yield from sorted(self.series.items())


def _bound(value: float) -> str:
    return repr(float(value))
