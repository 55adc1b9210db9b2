"""Mounts (`volumes` of a service): types, and fields podman-compose joins into one
`--mount` or `-v` argument, where a `,` or `:` would smuggle in options."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from pgo.composefile import repo_path
from pgo.policy.fields import as_list, check_keys, smuggles

_SHORT_OPTIONS = re.compile(r"(?:ro|rw|consistent|delegated|cached|z|Z|O|r?shared|r?slave|"
                            r"r?private|r?unbindable|r?bind|(?:no)?(?:exec|dev|suid))\Z")
_PROPAGATIONS = ("private", "rprivate", "shared", "rshared", "slave", "rslave")
_MOUNT_KEYS = ("type", "source", "target", "read_only", "bind", "volume", "tmpfs",
               "consistency")


def check_volumes(volumes: object) -> Iterator[str]:
    for volume in as_list(volumes):
        if isinstance(volume, Mapping):
            yield from _check_long_mount(volume)
        else:
            yield from _check_short_mount(str(volume))


def _check_short_mount(volume: str) -> Iterator[str]:
    """`SRC:DST:OPTS`, `DST:OPTS`, `SRC:DST` or `DST`, as podman-compose's
    `parse_short_mount` splits it."""
    parts = volume.split(":")
    if len(parts) > 3:
        yield f"volumes entry {volume!r} has more than three ':'-separated fields"
        return
    options = parts[2] if len(parts) == 3 else (
        parts[1] if len(parts) == 2 and not parts[1].startswith("/") else "")
    paths = parts[:2] if len(parts) == 3 or options == "" else parts[:1]
    if any("," in p for p in paths):
        yield f"volumes entry {volume!r}: ',' in a path would add fields to podman's " \
              "--mount option; rename the path"
    for option in (o for o in options.split(",") if o):
        if option == "U":
            yield f"volumes entry {volume!r}: option U changes the owner of the host " \
                  "files; remove it"
        elif not _SHORT_OPTIONS.match(option):
            yield f"volumes entry {volume!r}: unknown option {option!r}"


def _check_long_mount(volume: Mapping[str, Any]) -> Iterator[str]:
    kind = volume.get("type")
    where = f"volumes entry of type {kind!r}"
    yield from check_keys(where, volume, _MOUNT_KEYS)
    if kind not in ("bind", "volume", "tmpfs"):
        yield f"{where}: only bind, volume and tmpfs mounts are allowed (image and glob " \
              "read what pgod cannot check)"
    if kind == "bind" and not isinstance(volume.get("source"), str):
        yield f"{where}: source must be a path in the repository"
    for field in ("source", "target"):
        if smuggles(volume.get(field), ",:"):
            yield f"{where}: {field} {volume[field]!r} contains ',' or ':', which would add " \
                  "fields to podman's --mount or -v option; rename it"
    yield from _check_mount_options(where, volume)


def _check_mount_options(where: str, volume: Mapping[str, Any]) -> Iterator[str]:
    bind, sub, tmpfs = (volume.get(k) for k in ("bind", "volume", "tmpfs"))
    yield from check_keys(f"{where}: bind", bind, ("propagation", "selinux",
                                                    "create_host_path"))
    yield from check_keys(f"{where}: volume", sub, ("nocopy", "subpath"))
    yield from check_keys(f"{where}: tmpfs", tmpfs, ("size", "mode"))
    bind = bind if isinstance(bind, Mapping) else {}
    if bind.get("propagation") not in (None, *_PROPAGATIONS):
        yield f"{where}: bind.propagation must be one of {', '.join(_PROPAGATIONS)}"
    if bind.get("selinux") not in (None, "z", "Z"):
        yield f"{where}: bind.selinux must be z or Z"
    subpath = sub.get("subpath") if isinstance(sub, Mapping) else None
    if subpath is not None and (smuggles(subpath) or repo_path("", str(subpath)) is None):
        yield f"{where}: volume.subpath {subpath!r} must be a relative path inside the " \
              "volume, without ','"
    for key, value in (tmpfs.items() if isinstance(tmpfs, Mapping) else ()):
        if smuggles(str(value)):
            yield f"{where}: tmpfs.{key} {value!r} contains ','; give one value"
