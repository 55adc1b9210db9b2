"""Per-source penalties for the SSH server, after OpenSSH 9.8's PerSourcePenalties: a
source (an IPv4 address or an IPv6 /64, see `sshserver.client_network`) whose connections
keep failing to authenticate, or never try, is refused for a while; each penalty doubles
the next, up to a cap.

Pure policy: events in, decisions out, the clock injected. Each failed connection adds
points to its source's score, which drains at a steady rate; a score that reaches the limit
earns a penalty. A source that authenticated recently is trusted: its failures weigh less.
The counters are plain attributes, for a metrics module to read.
"""

from __future__ import annotations

import enum
import math
import time
from collections.abc import Callable
from dataclasses import dataclass


class Failure(enum.Enum):
    """How a connection ended without authenticating."""

    AUTH = "refused keys"        # it offered keys, none was allowed
    NOAUTH = "no authentication"  # it never offered one (idle, timed out, a scanner)


@dataclass(frozen=True)
class PenaltyPolicy:
    limit: float = 8.0           # score that earns a penalty
    drain: float = 15.0          # seconds for one point to drain away
    weights: tuple[tuple[Failure, float], ...] = ((Failure.AUTH, 1.0), (Failure.NOAUTH, 0.5))
    trusted_weight: float = 0.25  # times the weight, for a source that authenticated
    trust: float = 3600.0        # how long a success keeps its source trusted
    first: float = 30.0          # the first penalty; each next one doubles ...
    longest: float = 600.0       # ... up to this
    forget: float = 3600.0       # clean this long after its last penalty or failure: a
    #                              source starts over (its next penalty is `first` again)
    max_sources: int = 65536     # remembered at once; the least recently seen go first

    def weight(self, failure: Failure, trusted: bool) -> float:
        base = dict(self.weights)[failure]
        return base * self.trusted_weight if trusted else base

    def length(self, served: int) -> float:
        """The penalty after `served` earlier ones."""
        return min(self.first * 2.0 ** min(served, 62), self.longest)


@dataclass
class _Source:
    score: float = 0.0
    at: float = 0.0               # when `score` was last brought up to date
    served: int = 0               # penalties so far
    until: float = -math.inf      # refused until then
    trusted_until: float = -math.inf


@dataclass(frozen=True)
class Penalty:
    """A penalty just imposed: log it, once."""

    source: str
    seconds: float
    nth: int        # 1 for the source's first penalty (since it was forgotten)
    trusted: bool   # it had authenticated before


class Penalties:
    """The sources' scores and penalties, and counters of what happened."""

    def __init__(self, policy: PenaltyPolicy | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.policy = policy or PenaltyPolicy()
        self._clock = clock
        self._sources: dict[str, _Source] = {}
        self.penalties_total = 0   # penalties imposed
        self.refused_total = 0     # connections refused because their source was penalised
        self.failures_total = dict.fromkeys(Failure, 0)  # failed connections
        self.successes_total = 0   # authenticated connections

    def refusing(self, source: str) -> float:
        """Seconds `source` stays penalised (0: let its connection in). A refusal counts."""
        entry = self._sources.get(source)
        left = entry.until - self._clock() if entry is not None else 0.0
        if left <= 0:
            return 0.0
        self.refused_total += 1
        return left

    def failed(self, source: str, failure: Failure) -> Penalty | None:
        """A connection from `source` ended without authenticating: the penalty this earns,
        if any. While a penalty runs, connections that were already open add nothing."""
        self.failures_total[failure] += 1
        now = self._clock()
        entry = self._touch(source, now)
        if entry.until > now:
            return None
        trusted = entry.trusted_until > now
        entry.score += self.policy.weight(failure, trusted)
        if entry.score < self.policy.limit:
            return None
        seconds = self.policy.length(entry.served)
        entry.served += 1
        entry.until, entry.score = now + seconds, 0.0
        self.penalties_total += 1
        return Penalty(source, seconds, entry.served, trusted)

    def succeeded(self, source: str) -> None:
        """A connection from `source` authenticated: trust it for a while, clear its score."""
        self.successes_total += 1
        now = self._clock()
        entry = self._touch(source, now)
        entry.score, entry.trusted_until = 0.0, now + self.policy.trust

    def penalised(self) -> int:
        """How many sources are refused right now."""
        now = self._clock()
        return sum(1 for entry in self._sources.values() if entry.until > now)

    def __len__(self) -> int:
        return len(self._sources)

    def _touch(self, source: str, now: float) -> _Source:
        """`source`'s entry, its score drained up to `now`, made the most recently seen; a
        forgotten source starts over, keeping only its trust."""
        entry = self._sources.pop(source, None)
        if entry is None:
            self._make_room()
            entry = _Source(at=now)
        elif self._forgotten(entry, now):
            entry = _Source(at=now, trusted_until=entry.trusted_until)
        entry.score = max(0.0, entry.score - (now - entry.at) / self.policy.drain)
        entry.at = now
        self._sources[source] = entry
        return entry

    def _forgotten(self, entry: _Source, now: float) -> bool:
        return now - max(entry.at, entry.until) >= self.policy.forget

    def _make_room(self) -> None:
        """Forget the least recently seen sources beyond `max_sources` (one dict walk step
        each: a flood of new sources costs no sweep)."""
        while len(self._sources) >= self.policy.max_sources:
            del self._sources[next(iter(self._sources))]
