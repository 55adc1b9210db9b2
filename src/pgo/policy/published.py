"""Published ports: every host port within the service's ranges, none random."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

from pgo.ports import PortRange, PublishedPort, parse_compose_port


def check_ports(ports: object, allowed: Sequence[PortRange]) -> Iterator[str]:
    """podman-compose's `norm_ports`: nothing, one string, or a list of entries."""
    if not ports:
        return
    if isinstance(ports, str):
        ports = [ports]
    if not isinstance(ports, list):
        yield f"ports must be a list, not {ports!r}"
        return
    for entry in ports:
        try:
            published = parse_compose_port(entry)
        except ValueError as err:
            yield str(err)
            continue
        yield from _check_published(published, allowed)


def _check_published(published: Sequence[PublishedPort],
                     allowed: Sequence[PortRange]) -> Iterator[str]:
    """At most two messages per entry: random host ports, and ports outside the ranges."""
    ranges = ", ".join(map(str, allowed))
    randoms = sorted({p.container_port for p in published if p.host_port is None}, key=int)
    if randoms:
        which = "container port" if len(randoms) == 1 else "container ports"
        yield f"{which} {_spans(map(int, randoms))} published on a random host port; " + (
            f"give an explicit host port within the allowed ranges {ranges}" if allowed else
            "this service may publish no host port (its config has no 'ports')")
    outside = sorted({p.host_port for p in published
                      if p.host_port is not None and not any(p.host_port in r for r in allowed)})
    if outside and not allowed:
        yield f"host {_plural(outside)} {_spans(outside)} published, but this service may " \
              "publish no host port (its config has no 'ports')"
    elif outside:
        verb = "is" if len(outside) == 1 else "are"
        yield f"host {_plural(outside)} {_spans(outside)} {verb} outside the allowed " \
              f"ranges {ranges}"


def _plural(ports: Sequence[int]) -> str:
    return "port" if len(ports) == 1 else "ports"


def _spans(ports: Iterable[int]) -> str:
    """8080, 8081, 8082, 9000 as '8080-8082, 9000'."""
    spans: list[list[int]] = []
    for port in sorted(set(ports)):
        if spans and port == spans[-1][1] + 1:
            spans[-1][1] = port
        else:
            spans.append([port, port])
    return ", ".join(str(PortRange(a, b)) for a, b in spans)
