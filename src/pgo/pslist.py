"""`ps --json`: the project's containers as one JSON array, the same keys for every
container whatever podman version printed them.

Pure: podman 4.3.1's `podman ps -a --format json` entries in, pgod's own shape out. Keys:
name, service (its compose service), id, image, state (created, running, exited, ...),
status (podman's words, e.g. "Up 2 minutes (healthy)"), health (healthy, unhealthy,
starting, or null without a healthcheck), exit_code, started (UTC ISO 8601 or null) and
ports ("HOST_IP:HOST_PORT->PORT/PROTOCOL", as `podman ps` prints them).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from pgo.health import from_ps
from pgo.status import when

ANY = "0.0.0.0"  # noqa: S104 (how podman ps spells a port published on every address)


def _count(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _span(first: int, count: int) -> str:
    return f"{first}-{first + count - 1}" if count > 1 else str(first)


def port_words(ports: object) -> list[str]:
    """podman's Ports entries as `podman ps` prints them; anything else is left out."""
    words = []
    for port in ports if isinstance(ports, list) else []:
        if not isinstance(port, Mapping):
            continue
        host_port, inside = _count(port.get("host_port")), _count(port.get("container_port"))
        if host_port is None or inside is None:
            continue
        count = max(_count(port.get("range")) or 1, 1)
        words.append(f"{port.get('host_ip') or ANY}:{_span(host_port, count)}->"
                     f"{_span(inside, count)}/{port.get('protocol') or 'tcp'}")
    return words


def entry(raw: Mapping[str, Any]) -> dict[str, Any]:
    """One container in pgod's shape."""
    seen = from_ps(raw)
    return {"name": seen.name, "service": seen.service, "id": seen.id,
            "image": str(raw.get("Image") or ""), "state": seen.status,
            "status": str(raw.get("Status") or ""), "health": seen.health,
            "exit_code": seen.exit_code, "started": when(seen.started_at),
            "ports": port_words(raw.get("Ports"))}


def ps_json(raw: Iterable[Mapping[str, Any]]) -> str:
    """The JSON text `ps --json` prints: the containers sorted by name."""
    rows = sorted((entry(r) for r in raw), key=lambda row: str(row["name"]))
    return json.dumps(rows, indent=1) + "\n"
