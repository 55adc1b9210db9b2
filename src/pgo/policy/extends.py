"""`extends` within the compose file (one naming a `file` is refused with the service keys).

podman-compose's `resolve_extends` merges the base service into the extending one, key by
key (`rec_merge`): mappings merge, lists are concatenated, other values replaced. The policy
checks each service as written. A merged list or mapping holds entries that were checked
where they are written, and read from the same directory, so the merge adds nothing
unchecked, except in `build`: the context of one service with the `dockerfile` of the other
(or the Dockerfile podman-compose looks for in that context) is a path neither names, which
may be a symlink or another service's file. So a service with a build may not extend,
directly or through other services, one with a build.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any


def check_extends(services: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """(compose service, message) for each service whose build would merge with another."""
    for name, service in services.items():
        if not isinstance(service, Mapping) or "build" not in service:
            continue
        base = next((b for b in bases(services, name) if "build" in services[b]), None)
        if base is not None:
            yield str(name), f"extends {base!r}, which has a build too: podman-compose " \
                  "would merge the two builds key by key (the context of one with the " \
                  "Dockerfile of the other) into a build pgod never checked; give this " \
                  "service its whole build and remove extends, or remove one of the builds"


def bases(services: Mapping[str, Any], name: str) -> Iterator[str]:
    """The services `name` extends within the file, nearest first, each once."""
    seen = {name}
    while True:
        extends = services[name].get("extends")
        if isinstance(extends, Mapping) and not extends.get("file"):
            extends = extends.get("service")
        if not isinstance(extends, str) or extends in seen or not isinstance(
                services.get(extends), Mapping):
            return
        seen.add(extends)
        yield extends
        name = extends
