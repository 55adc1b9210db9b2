"""Port ranges (the config's "5005/5") and compose `ports:` entries. Pure."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

MAX_PORT = 65535
_RANGE = re.compile(r"(\d{1,5})(?:/(\d{1,5}))?")
_SPAN = r"\d{1,5}(?:-\d{1,5})?"


@dataclass(frozen=True, order=True)
class PortRange:
    """Ports first..last, inclusive."""

    first: int
    last: int

    def __contains__(self, port: object) -> bool:
        return isinstance(port, int) and self.first <= port <= self.last

    def __str__(self) -> str:
        return str(self.first) if self.first == self.last else f"{self.first}-{self.last}"


def parse_port_range(text: str) -> PortRange:
    """"5005/5" is 5005-5010 (the seed's syntax); "5005" is one port."""
    match = _RANGE.fullmatch(text)
    if match is None:
        raise ValueError(f"port range {text!r} is not PORT or PORT/COUNT such as \"5005/5\"")
    first, extra = int(match.group(1)), int(match.group(2) or 0)
    if not 1 <= first <= MAX_PORT or first + extra > MAX_PORT:
        raise ValueError(f"port range {text!r} must lie within 1-{MAX_PORT}")
    return PortRange(first, first + extra)


@dataclass(frozen=True)
class PublishedPort:
    """One container port published on the host (host_port None: a random host port)."""

    host_ip: str | None
    host_port: int | None
    container_port: str
    protocol: str

    def __str__(self) -> str:
        host = "a random host port" if self.host_port is None else f"host port {self.host_port}"
        return f"{host} ({self.container_port}/{self.protocol})"


def parse_compose_port(entry: object) -> list[PublishedPort]:
    """The host ports one `ports:` entry publishes (short or long syntax); ValueError if
    malformed. Container-only entries ("80") publish on random host ports."""
    if isinstance(entry, bool):
        raise ValueError(f"port entry {entry!r} is not a port")
    if isinstance(entry, int):
        entry = str(entry)
    if isinstance(entry, str):
        return _short(entry)
    if isinstance(entry, dict):
        return _long(entry)
    raise ValueError(f"port entry {entry!r} is neither a string nor a mapping")


def _span(text: str, what: str, entry: str) -> list[int]:
    first, _, last = text.partition("-")
    low, high = int(first), int(last or first)
    if not 1 <= low <= high <= MAX_PORT:
        raise ValueError(f"port entry {entry!r}: {what} {text!r} is not within 1-{MAX_PORT}")
    return list(range(low, high + 1))


def _short(entry: str) -> list[PublishedPort]:
    """[[IP:][HOST]:]CONTAINER[/PROTOCOL]; IP may be v4, [v6] or bare v6; ranges a-b."""
    text, _, proto = entry.strip().partition("/")
    proto = proto or "tcp"
    if proto not in ("tcp", "udp", "sctp"):
        raise ValueError(f"port entry {entry!r}: protocol {proto!r} is not tcp, udp or sctp")
    parts = text.rsplit(":", 2)
    ip = _ip(parts[0], entry) if len(parts) == 3 else None
    host = parts[-2] if len(parts) >= 2 else ""
    if not re.fullmatch(_SPAN, parts[-1]) or (host and not re.fullmatch(_SPAN, host)):
        raise ValueError(f"port entry {entry!r} is not [[IP:][HOST]:]CONTAINER[/PROTOCOL]")
    targets = _span(parts[-1], "container port", entry)
    if not host:
        return [PublishedPort(ip, None, str(t), proto) for t in targets]
    hosts = _span(host, "host port", entry)
    if len(targets) == 1:
        return [PublishedPort(ip, h, str(targets[0]), proto) for h in hosts]
    if len(hosts) != len(targets):
        raise ValueError(f"port entry {entry!r}: host and container ranges differ in size")
    return [PublishedPort(ip, h, str(t), proto) for h, t in zip(hosts, targets, strict=True)]


def _ip(text: str, entry: str) -> str:
    try:
        return str(ipaddress.ip_address(text.removeprefix("[").removesuffix("]")))
    except ValueError:
        raise ValueError(f"port entry {entry!r}: {text!r} is not an IP address") from None


def _long(entry: dict[object, object]) -> list[PublishedPort]:
    unknown = set(entry) - {"target", "published", "host_ip", "protocol", "mode", "name",
                            "app_protocol"}
    if unknown or "target" not in entry:
        raise ValueError(f"port entry {entry!r}: needs 'target'; unknown keys: "
                         f"{', '.join(sorted(map(str, unknown))) or 'none'}")
    target = str(entry["target"])
    if not re.fullmatch(_SPAN, target):
        raise ValueError(f"port entry {entry!r}: target {target!r} is not a port")
    proto = str(entry.get("protocol", "tcp"))
    if proto not in ("tcp", "udp", "sctp"):
        raise ValueError(f"port entry {entry!r}: protocol {proto!r} is not tcp, udp or sctp")
    ip = entry.get("host_ip")
    published = entry.get("published")
    if published is None or published == "":
        return [PublishedPort(str(ip) if ip else None, None, target, proto)]
    if isinstance(published, bool) or not re.fullmatch(_SPAN, str(published)):
        raise ValueError(f"port entry {entry!r}: published {published!r} is not a port")
    hosts = _span(str(published), "published port", str(entry))
    return [PublishedPort(str(ip) if ip else None, h, target, proto) for h in hosts]
