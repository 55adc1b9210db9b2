"""What one service reports: its log lines' prefix and its `status` (state, since when,
deployed and upstream commits, last error)."""

from __future__ import annotations

import logging
import time
from collections.abc import MutableMapping
from dataclasses import dataclass
from typing import Any

from pgo.logformat import without_credentials


class ServiceLog(logging.LoggerAdapter):  # type: ignore[type-arg]
    """Prefix every line with the service name."""

    def process(self, msg: Any, kwargs: MutableMapping[str, Any]) -> tuple[Any, Any]:
        return f"{self.extra['service'] if self.extra else '?'}: {msg}", kwargs


@dataclass
class Status:
    """What `status` reports: deployed commit, state, since when, last error."""

    state: str = "starting"
    since: float = 0.0
    deployed: str | None = None
    upstream: str | None = None
    last_error: str | None = None

    def set(self, state: str, error: str | None = None) -> None:
        if state != self.state:
            self.state, self.since = state, time.time()
        self.last_error = without_credentials(error) if error is not None else self.last_error
