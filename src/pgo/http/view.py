"""What the status page and /status.json show of each service. Pure.

Per service it is `status --json` (`pgo.status.status_json`, the same keys), with the
containers as pgod last saw them instead of asking podman, and three keys more:
`containers_at` (when they were seen; null: not looked at yet), `deployed_subject` (the
deployed commit's subject, from history) and `history` (the newest attempts, as
`history --json` shows them). Nothing `status` would not show: no environment values, no
URL credentials (status_json and the record scrub them).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pgo.state import Record
from pgo.status import ContainerRow, attempt_json, status_json, when

HISTORY_SHOWN = 5  # the newest attempts shown per service


@dataclass(frozen=True)
class ServiceView:
    """One service as a request finds it: its record, where it comes from, and the
    containers at the last look (`seen_at` 0: never looked)."""

    record: Record
    repository: str
    branch: str
    seen_at: float = 0.0
    rows: tuple[ContainerRow, ...] = ()


def deployed_subject(record: Record) -> str | None:
    """The subject of the deployed commit, as the newest attempt of it that has one says."""
    return next((a.subject for a in record.history
                 if a.commit == record.deployed and a.subject), None)


def service_json(view: ServiceView, history: int = HISTORY_SHOWN) -> dict[str, Any]:
    """One service: `status --json`'s object plus containers_at, deployed_subject, history."""
    rows = view.rows if view.seen_at else None
    data = status_json(view.record, view.repository, view.branch, rows)
    data["containers_at"] = when(view.seen_at)
    data["deployed_subject"] = deployed_subject(view.record)
    data["history"] = [attempt_json(a) for a in view.record.history[:history]]
    return data


def status_document(views: Sequence[ServiceView]) -> dict[str, dict[str, Any]]:
    """/status.json: an object keyed by service name, in the config's order."""
    return {view.record.service: service_json(view) for view in views}
