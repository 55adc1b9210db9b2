"""What one service reports: its log lines' prefix, and `status` and `history` as text for a
person or JSON for a program (stable keys). Pure: a record and container rows in, text out.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import MutableMapping, Sequence
from dataclasses import dataclass
from typing import Any

from pgo.logformat import without_credentials
from pgo.state import Attempt, Mark, Record


class ServiceLog(logging.LoggerAdapter):  # type: ignore[type-arg]
    """Prefix every line with the service name."""

    def process(self, msg: Any, kwargs: MutableMapping[str, Any]) -> tuple[Any, Any]:
        return f"{self.extra['service'] if self.extra else '?'}: {msg}", kwargs


@dataclass(frozen=True)
class ContainerRow:
    """One container of the deployed project, as `status` shows it."""

    name: str
    service: str
    state: str          # podman's: running, exited, created, ...
    health: str = ""    # healthy, unhealthy, starting; "" without a healthcheck
    exit_code: int = 0


def when(seconds: float | None) -> str | None:
    """A time as UTC ISO 8601 (what JSON shows), None for none."""
    if not seconds:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def status_json(record: Record, repository: str, branch: str,
                containers: Sequence[ContainerRow] | None) -> dict[str, Any]:
    """`status --json`: one object, the same keys always (null where nothing is known)."""
    fetch = record.last_fetch
    return {
        "service": record.service,
        "repository": without_credentials(repository),
        "branch": branch,
        "state": record.state.value,
        "since": when(record.since),
        "reason": record.reason,
        "deployed": record.deployed,
        "last_good": record.last_good,
        "upstream": record.upstream,
        "broken": record.broken,
        "frozen": _mark(record.frozen),
        "stopped": _mark(record.host_stop or record.stopped),
        "last_attempt": attempt_json(record.last_attempt) if record.last_attempt else None,
        "images": {"broken": list(record.broken_images), "reason": record.image_reason},
        "last_fetch": None if fetch is None else {
            "time": when(fetch.time), "error": fetch.error, "failures": fetch.failures},
        "containers": None if containers is None else [
            {"name": c.name, "service": c.service, "state": c.state,
             "health": c.health or None, "exit_code": c.exit_code} for c in containers],
    }


def _mark(mark: Mark | None) -> dict[str, Any] | None:
    return None if mark is None else {"by": mark.by, "time": when(mark.at),
                                      "reason": mark.reason}


def attempt_json(attempt: Attempt) -> dict[str, Any]:
    return {"time": when(attempt.time), "commit": attempt.commit, "subject": attempt.subject,
            "trigger": attempt.trigger, "outcome": attempt.outcome.value,
            "reason": attempt.reason}


def status_text(record: Record, repository: str, branch: str,
                containers: Sequence[ContainerRow] | None) -> str:
    data = status_json(record, repository, branch, containers)
    lines = [
        f"service:      {record.service}",
        f"repository:   {data['repository']} (branch {branch})",
        f"state:        {record.state.value} since {data['since'] or '-'}",
        f"reason:       {record.reason or '-'}",
        f"deployed:     {record.deployed or '-'}",
        f"last good:    {record.last_good or '-'}",
        f"upstream:     {record.upstream or '-'}",
        f"frozen:       {_mark_text(record.frozen)}",
        f"stopped:      {_mark_text(record.host_stop or record.stopped)}",
        f"last attempt: {_attempt_text(record.last_attempt)}",
        f"last fetch:   {_fetch_text(data['last_fetch'])}",
        f"images:       {_images_text(record)}",
    ]
    if containers is None:
        lines.append("containers:   (could not be listed)")
    else:
        lines.append(f"containers:   {len(containers) or 'none'}")
        lines += [f"  {c.name}  {c.state}" + (f" ({c.health})" if c.health else "")
                  + (f" exit {c.exit_code}" if c.state == "exited" else "")
                  for c in containers]
    return "\n".join(lines) + "\n"


def _mark_text(mark: Mark | None) -> str:
    if mark is None:
        return "-"
    return f"by {mark.by} at {when(mark.at)}" + (f": {mark.reason}" if mark.reason else "")


def _attempt_text(attempt: Attempt | None) -> str:
    if attempt is None:
        return "-"
    return (f"{attempt.commit[:12]} {attempt.outcome.value} at {when(attempt.time)} "
            f"({attempt.trigger}): {attempt.reason or '-'}")


def _images_text(record: Record) -> str:
    if not record.broken_images:
        return "-"
    return (f"update to {', '.join(record.broken_images)} failed, the previous image runs "
            f"(not tried again until the tag moves): {record.image_reason or '-'}")


def _fetch_text(fetch: dict[str, Any] | None) -> str:
    if fetch is None:
        return "-"
    if fetch["error"] is None:
        return f"ok at {fetch['time']}"
    return f"failed at {fetch['time']} ({fetch['failures']} in a row): {fetch['error']}"


def history_text(record: Record, count: int) -> str:
    rows = record.history[:count]
    if not rows:
        return "no deploy attempts yet\n"
    return "".join(
        f"{when(a.time)}  {a.commit[:12]}  {a.outcome.value:<11}  {a.trigger}\n"
        f"    {a.subject or '-'}\n    {a.reason or '-'}\n" for a in rows)


def history_json(record: Record, count: int) -> str:
    return json.dumps([attempt_json(a) for a in record.history[:count]], indent=1) + "\n"
