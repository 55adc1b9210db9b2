"""The policy a compose project must meet before pgod runs it. Pure checks on the model.

Every published host port must lie in one of the service's ranges (none allowed without
ranges); nothing may sidestep that check (host networking) or pull in files the check did
not see (`include`, `extends` from another file).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pgo.ports import PortRange, PublishedPort, parse_compose_port

_NETWORK_MODES_REFUSED = ("host", "ns:")


@dataclass(frozen=True)
class Violation:
    """One reason a project is refused, tied to the compose service it comes from."""

    service: str
    message: str

    def __str__(self) -> str:
        return f"compose service {self.service!r}: {self.message}" if self.service \
            else self.message


def check_policy(model: Mapping[str, Any], allowed: Sequence[PortRange]) -> list[Violation]:
    """Every violation of the project; an empty list means it may run."""
    found = []
    if "include" in model:
        found.append(Violation("", "top-level 'include' pulls in files pgod does not check; "
                                   "put everything in the one compose file"))
    for name, service in model.get("services", {}).items():
        found.extend(_check_service(str(name), service, allowed))
    return found


def _check_service(name: str, service: Mapping[str, Any],
                   allowed: Sequence[PortRange]) -> Iterator[Violation]:
    mode = str(service.get("network_mode", ""))
    if mode == "host" or mode.startswith(_NETWORK_MODES_REFUSED[1]):
        yield Violation(name, f"network_mode {mode!r} would bypass the port policy")
    extends = service.get("extends")
    if isinstance(extends, Mapping) and extends.get("file"):
        yield Violation(name, f"extends from file {extends['file']!r}, which pgod does not "
                              "check; keep services in the one compose file")
    ports = service.get("ports") or []
    if not isinstance(ports, list):
        yield Violation(name, f"ports must be a list, not {ports!r}")
        return
    for entry in ports:
        try:
            published = parse_compose_port(entry)
        except ValueError as err:
            yield Violation(name, str(err))
            continue
        yield from (Violation(name, _why(p, allowed)) for p in published
                    if not _permitted(p, allowed))


def _permitted(port: PublishedPort, allowed: Sequence[PortRange]) -> bool:
    return port.host_port is not None and any(port.host_port in r for r in allowed)


def _why(port: PublishedPort, allowed: Sequence[PortRange]) -> str:
    ranges = ", ".join(map(str, allowed))
    if not allowed:
        return f"publishes {port}, but this service may publish no host port (no 'ports' " \
               "in its config)"
    if port.host_port is None:
        return f"publishes {port}; give an explicit host port within the allowed ranges " \
               f"{ranges}"
    return f"host port {port.host_port} is outside the allowed ranges {ranges}"
