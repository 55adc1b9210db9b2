"""The route table as a Caddyfile snippet: pure.

One site block per scheme and host (`http://example.org`); a host with one route for all
of it proxies straight to it, otherwise each path prefix is a `handle` on `/PREFIX` and
`/PREFIX/*` (the path is passed on as it came, not stripped), longest first, and the
route for the whole host is the last `handle` (without one, the rest of the host is 404).
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import groupby

from pgo.proxy.routes import Route

HEADER = ("# Written by pgod: the routes of its services (see pgod(8), ROUTES).\n"
          "# Do not edit: pgod rewrites this file whenever a service's routes change.\n")


def render(routes: Iterable[Route]) -> str:
    """The snippet's text for `routes` (any order): the same routes, the same text."""
    def site(route: Route) -> tuple[str, str]:
        return route.site.scheme, route.site.host

    blocks = [_site_block(f"{scheme}://{host}", list(group))
              for (scheme, host), group in groupby(sorted(routes, key=site), key=site)]
    return HEADER + "".join("\n" + block for block in blocks)


def _site_block(address: str, routes: list[Route]) -> str:
    if len(routes) == 1 and not routes[0].site.path:
        only = routes[0]
        return (f"{address} {{\n\t# service {only.service}\n"
                f"\treverse_proxy {only.target.dial}\n}}\n")
    lines = [f"{address} {{"]
    ordered = sorted(routes, key=lambda r: (-len(r.site.path), r.site.path))
    for number, route in enumerate(ordered, 1):
        lines.append(f"\t# service {route.service}")
        path = route.site.path
        if path:
            lines.append(f"\t@pgo_{number} path {path} {path}/*")
        lines += [f"\thandle{f' @pgo_{number}' if path else ''} {{",
                  f"\t\treverse_proxy {route.target.dial}", "\t}"]
    if ordered[-1].site.path:  # no route for the whole host: the rest is not found
        lines += ["\thandle {", "\t\trespond 404", "\t}"]
    return "\n".join([*lines, "}"]) + "\n"
