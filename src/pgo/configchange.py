"""What a new config changes on this machine, so pgod can apply it in place: the services
added, removed and changed (any key differs); the others are left alone, their containers
and passes untouched.

Pure.
"""

from __future__ import annotations

from dataclasses import dataclass

from pgo.config import Config, ServiceConfig


@dataclass(frozen=True)
class ConfigChange:
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.changed)

    def describe(self) -> str:
        parts = [f"{what} {', '.join(names)}" for what, names in
                 (("added", self.added), ("removed", self.removed), ("changed", self.changed))
                 if names]
        return "; ".join(parts) or "no service of this machine changed"


def here(config: Config, hosts: frozenset[str] | None) -> dict[str, ServiceConfig]:
    """The services of `config` that a pgod on `hosts` runs, by name."""
    return {s.name: s for s in config.services if s.runs_on(hosts)}


def config_change(old: Config, new: Config, hosts: frozenset[str] | None) -> ConfigChange:
    """What going from `old` to `new` means for the services this machine runs (a service
    that moves to another machine is removed here; one that moves here is added)."""
    before, after = here(old, hosts), here(new, hosts)
    return ConfigChange(
        added=tuple(sorted(set(after) - set(before))),
        removed=tuple(sorted(set(before) - set(after))),
        changed=tuple(sorted(n for n in set(before) & set(after) if before[n] != after[n])))
