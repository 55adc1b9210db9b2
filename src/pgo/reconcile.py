"""Reconcile planning: pure. What one pass must do, given what was observed.

`plan(observed) -> Plan`; `service.py` observes (git, policy) and applies the plan.
First start and later passes go through the same function.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass, field

from pgo.composefile import touches


class Action(enum.Enum):
    CHECKOUT = "checkout"  # move the working tree to the target commit
    PULL = "pull"
    BUILD = "build"
    DOWN = "down"
    UP = "up"
    REJECT = "reject"      # policy violated: change nothing


@dataclass(frozen=True)
class Observed:
    """What one pass saw. `deployed` is the commit whose project was last brought up."""

    target: str                       # upstream head after fetch
    head: str                         # commit the working tree is at
    deployed: str | None              # None: never deployed (or state lost)
    unsure: bool                      # what runs is not known to be what was deployed
    violations: tuple[str, ...] = ()  # policy check of the target commit
    changed: frozenset[str] = field(default_factory=frozenset)  # deployed..target
    used: frozenset[str] = field(default_factory=frozenset)     # paths the target project uses
    # the used paths containers are made of directly (compose, env, mounts): a change to
    # one restarts; a change to the others (build inputs) rebuilds and restarts only if an
    # image changed. None: all of `used`.
    runtime: frozenset[str] | None = None
    exposed: tuple[str, ...] = ()  # target paths in writable mounts of the running version
    held: str = ""  # why the target is not tried now (it broke: held, or backing off)


@dataclass(frozen=True)
class Plan:
    actions: tuple[Action, ...]
    reason: str
    # DOWN and UP only if BUILD changed an image (or a container is not running): a change
    # to build inputs alone, e.g. a README in the build context that no COPY reads.
    if_image_changed: bool = False
    # DOWN only if the project has containers: a first deploy's, for containers left from
    # a lost state file (without any, `down` is a podman-compose run that stops nothing)
    if_containers: bool = False

    @property
    def restarts(self) -> bool:
        return Action.UP in self.actions


def plan(seen: Observed) -> Plan:
    """Decide what this pass does. Pure; see tests/unit/test_reconcile.py for every case."""
    checkout = (Action.CHECKOUT,) if seen.head != seen.target else ()
    if (stop := _stop(seen)) is not None:
        return stop
    if seen.deployed is None:  # DOWN: containers left from a lost state file use old images
        return Plan((*checkout, Action.PULL, Action.BUILD, Action.DOWN, Action.UP),
                    "first deploy", if_containers=True)
    if seen.deployed == seen.target:
        if seen.unsure:
            return Plan((*checkout, Action.UP), "ensure the deployed commit is up")
        return Plan(checkout, "in step" if not checkout else "restore the deployed checkout")
    if touches(seen.changed, seen.used):
        return _on_change(seen, checkout)
    ensure = (Action.UP,) if seen.unsure else ()
    return Plan((*checkout, *ensure), "no change to anything the project uses")


def _on_change(seen: Observed, checkout: tuple[Action, ...]) -> Plan:
    """A change to something the project uses. Build inputs alone (nothing compose reads
    itself, nothing mounted): build, and restart only if an image changed."""
    relevant = sorted(changed_and_used(seen.changed, seen.used))
    reason = "project changed: " + ", ".join(relevant[:5]) + (
        f" and {len(relevant) - 5} more" if len(relevant) > 5 else "")
    if seen.runtime is not None and not touches(relevant, seen.runtime) and not seen.exposed:
        return Plan((*checkout, Action.BUILD, Action.DOWN, Action.UP),
                    reason + " (build inputs only: restart if an image changed)",
                    if_image_changed=True)
    return redeploy(checkout, reason, seen.exposed)


def _stop(seen: Observed) -> Plan | None:
    """A target that must not be deployed (now): it breaks the policy, or it broke before
    (held until the branch moves, or backing off)."""
    if seen.violations:
        return Plan((Action.REJECT,), "policy violated: " + "; ".join(seen.violations))
    if seen.held and seen.deployed != seen.target:
        return Plan((), seen.held)
    return None


def redeploy(checkout: tuple[Action, ...], reason: str, exposed: tuple[str, ...] = ()) -> Plan:
    """Pull and build while the running version serves, then down and up; down first when
    a path the build reads is in one of its writable mounts (its containers could swap it
    for a symlink while we pull and build)."""
    if exposed:
        return Plan((*checkout, Action.DOWN, Action.PULL, Action.BUILD, Action.UP),
                    f"{reason}; down first: {exposed[0]} is in a writable mount of the "
                    "running version")
    return Plan((*checkout, Action.PULL, Action.BUILD, Action.DOWN, Action.UP), reason)


def changed_and_used(changed: Iterable[str], used: Iterable[str]) -> list[str]:
    """The changed paths that the project uses."""
    used = list(used)
    return [path for path in changed if touches([path], used)]
