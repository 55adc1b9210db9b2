"""Helpers shared by the allowlist checks: keys of a mapping, lists as podman-compose
normalizes them, and fields that could smuggle options into a joined argument."""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterator, Mapping
from typing import Any

Check = Callable[[Any], Iterator[str]]
PLAIN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*\Z")


def check_keys(where: str, value: object, allowed: Collection[str],
                reasons: Mapping[str, str] | None = None) -> Iterator[str]:
    """Keys of a nested mapping: each in `allowed`, else refused (with its reason if known)."""
    if value is None:
        return
    if not isinstance(value, Mapping):
        yield f"{where} must be a mapping, not {value!r}"
        return
    for key in value:
        if key not in allowed:
            reason = (reasons or {}).get(key, f"pgod does not allow it (allowed: "
                                              f"{', '.join(sorted(allowed))})")
            yield f"{where}.{key}: {reason}"


def unknown(key: str) -> str:
    return f"key {key!r} is not one pgod allows: podman-compose 1.6.0 ignores it, or pgod " \
           "cannot check what it does; remove it"


def as_list(value: object) -> list[Any]:
    """podman-compose's `norm_as_list`: nothing, one value, a list, or a mapping as k=v."""
    if value is None:
        return []
    if isinstance(value, Mapping):
        return [k if v is None else f"{k}={v}" for k, v in value.items()]
    return list(value) if isinstance(value, list) else [value]


def smuggles(value: object, separators: str = ",") -> bool:
    return isinstance(value, str) and any(s in value for s in separators)
