"""Which services Caddy routes to, and the route table: pure.

A service is routed while what it runs passed the health gate: `ok`, or `refused`,
`broken` or `frozen` with a good commit deployed; and through a `deploying` that follows
one (the deploy ends in the new commit or the old one brought back, so its routes stay
rather than flap). It is not routed while `stopped`, `failing`, `cloning`, deploying its
first commit, or `broken` or `refused` with nothing good deployed; a removed service (not
in the config) and one run by another machine's pgod (no record here) have no routes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from pgo.config import ServiceConfig
from pgo.proxy.urls import Site, Target, parse_site, parse_target
from pgo.state import Record, State

ROUTED = frozenset({State.OK, State.REFUSED, State.BROKEN, State.FROZEN, State.DEPLOYING})


@dataclass(frozen=True, order=True)
class Route:
    """One `urls` entry of a routed service."""

    site: Site
    target: Target
    service: str


def routed(record: Record) -> bool:
    """Whether the service's `urls` are served: what runs passed the gate."""
    return (record.state in ROUTED and record.deployed is not None
            and record.last_good is not None and not record.failing)


def routes_of(service: ServiceConfig) -> tuple[Route, ...]:
    """Every `urls` entry of `service` (validated by the config) as a route."""
    return tuple(Route(parse_site(key), parse_target(value), service.name)
                 for key, value in service.urls)


def table(services: Iterable[ServiceConfig],
          records: Mapping[str, Record]) -> tuple[Route, ...]:
    """The routes of every configured service whose record says it is routed, sorted."""
    return tuple(sorted(route for service in services
                        if service.name in records and routed(records[service.name])
                        for route in routes_of(service)))
