"""The argument layer: the podman command lines podman-compose will run, each argument
checked against an allowlist (`podmanopts`). Pure: argv lists in, messages out.

What it holds every project to, whatever the compose file said: only options it knows,
values split as podman splits them and each part checked, bind mounts only from inside
the checkout (never .git, never the checkout itself writable), named volumes, published
host ports within the service's ranges, networks, pods and containers the same record
creates, images without transports, build contexts in the checkout or allowed by
`build_urls`. Anything else, and any command it does not know, is refused.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping, Sequence

from pgo.policy import podmanopts as opts
from pgo.policy.argbuild import OTHER_CHECKERS
from pgo.policy.argcreate import check_create
from pgo.policy.podmanargs import Scope, parse

_LABEL = "io.podman.compose.service="


def check_calls(calls: Sequence[Sequence[str]], scope: Scope) -> list[str]:
    """A message for every argument of every call that is not admitted."""
    scope = dataclasses.replace(scope, made=made_by(calls))
    services = _services_by_image(calls)
    found: list[str] = []
    for call in calls:
        where = _where(call, services)
        found += [f"{where}: {m}" for m in check_call(list(call), scope)]
    return found


def made_by(calls: Sequence[Sequence[str]]) -> dict[str, frozenset[str]]:
    """The containers, pods, networks and volumes the recorded calls create."""
    made: dict[str, set[str]] = {"container": set(), "pod": set(), "network": set(),
                                 "volume": set()}
    for call in calls:
        if call[:1] == ["create"] or call[:2] == ["pod", "create"]:
            names = [a.removeprefix("--name=") for a in call if a.startswith("--name=")]
            made["container" if call[0] == "create" else "pod"].update(names)
        elif call[:1] in (["network"], ["volume"]) and call[1:2] == ["create"]:
            made[call[0]].add(call[-1])
    return {k: frozenset(v) for k, v in made.items()}


def _services_by_image(calls: Sequence[Sequence[str]]) -> dict[str, str]:
    found: dict[str, str] = {}
    for call in calls:
        if call[:1] == ["create"]:
            labels = [a.removeprefix(_LABEL) for a in call if a.startswith(_LABEL)]
            parsed = parse(call[1:], opts.table(opts.CREATE))
            if labels and parsed.positionals:
                found.setdefault(parsed.positionals[0], labels[0])
    return found


def _where(call: Sequence[str], services: Mapping[str, str]) -> str:
    label = next((a.removeprefix(_LABEL) for a in call if a.startswith(_LABEL)), None)
    tag = next((call[i + 1] for i in range(len(call) - 1) if call[i] == "-t"), None)
    service = label or services.get(tag or "") or (services.get(call[-1]) if call[:1] == [
        "pull"] else None)
    command = " ".join(call[:2] if call[:1] in (["network"], ["volume"], ["pod"]) else call[:1])
    return (f"compose service {service!r}: " if service else "compose file: ") + \
        f"podman {command}"


def check_call(call: list[str], scope: Scope) -> Iterator[str]:
    head = call[:2] if call[:1] in (["network"], ["volume"], ["pod"]) else call[:1]
    checker = _CHECKERS.get(" ".join(head))
    if checker is None:
        yield f"{' '.join(call[:3])!r} is not a podman command pgod admits"
        return
    yield from checker(call[len(head):], scope)




_CHECKERS = {"create": check_create, **OTHER_CHECKERS}
