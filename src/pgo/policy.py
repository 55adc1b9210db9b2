"""The policy a compose project must meet before pgod runs it. Pure checks on the model.

Every host port the project publishes must lie in one of the service's ranges (none without
ranges). Nothing may sidestep that check or read files pgod did not see:

- `network_mode: host` and `ns:...` share a network namespace podman does not firewall;
  `pasta:OPTIONS` can forward host ports itself; `container:NAME` joins a container outside
  the project, which pgod cannot check. `none`, `private`, `bridge[:...]`, `slirp4netns[:...]`,
  plain `pasta` and `service:NAME` (checked itself) are fine; anything else is unknown.
- `publishall: true` publishes every exposed port on a random host port.
- top-level `include`, `extends` with a `file`: compose files pgod does not check.
- top-level `x-podman.pod_args`: arguments for `podman pod create` (may publish ports).
- networks with a driver other than bridge (macvlan, ipvlan put containers on the LAN).
- host paths (build contexts, Dockerfiles, env_file, bind mounts, secrets, ...) that are
  absolute, start with `~` or climb out of the repository with `..`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pgo.composefile import host_paths, repo_path
from pgo.ports import PortRange, PublishedPort, parse_compose_port

_FINE_NETWORK_MODES = ("none", "private", "pasta", "bridge", "slirp4netns")
_FINE_NETWORK_PREFIXES = ("bridge:", "slirp4netns:", "service:")


@dataclass(frozen=True)
class Violation:
    """One reason a project is refused, tied to the compose service it comes from
    ("" for the project as a whole)."""

    service: str
    message: str

    def __str__(self) -> str:
        where = f"compose service {self.service!r}" if self.service else "compose file"
        return f"{where}: {self.message}"


def check_policy(model: Mapping[str, Any], allowed: Sequence[PortRange],
                 compose_dir: str = "") -> list[Violation]:
    """Every violation of the project; an empty list means it may run.

    `compose_dir` is the compose file's directory in the repository ("" for the top), so
    that `../x` from a subdirectory is still inside the repository.
    """
    found = list(_check_project(model))
    for name, service in (model.get("services") or {}).items():
        if isinstance(service, Mapping):
            found += [Violation(str(name), m) for m in _check_service(service, allowed)]
    for path in host_paths(model):
        if repo_path(compose_dir, path.path) is None:
            found.append(Violation(path.service, f"{path.key} {path.path!r} is outside the "
                                   "repository (absolute, ~ or ..); use paths inside it"))
    return found


def _check_project(model: Mapping[str, Any]) -> Iterator[Violation]:
    if "include" in model:
        yield Violation("", "top-level 'include' pulls in compose files pgod does not check; "
                            "put every service in the one compose file")
    x_podman = model.get("x-podman")
    if isinstance(x_podman, Mapping) and "pod_args" in x_podman:
        yield Violation("", "x-podman.pod_args passes arguments to 'podman pod create' that "
                            "pgod does not check; remove it")
    networks = model.get("networks")
    for name, network in (networks.items() if isinstance(networks, Mapping) else ()):
        driver = network.get("driver") if isinstance(network, Mapping) else None
        if driver not in (None, "bridge"):
            yield Violation("", f"network {name!r} uses driver {driver!r}, which bypasses "
                                "the port policy; use the default bridge driver")


def _check_service(service: Mapping[str, Any], allowed: Sequence[PortRange]) -> Iterator[str]:
    mode = service.get("network_mode")
    if mode is not None:
        yield from _check_network_mode(mode)
    if service.get("publishall"):
        yield "publishall publishes every exposed port on a random host port; list ports " \
              "explicitly instead"
    extends = service.get("extends")
    if isinstance(extends, Mapping) and extends.get("file"):
        yield f"extends a service from {extends['file']!r}, a file pgod does not check; " \
              "keep every service in the one compose file"
    yield from _check_ports(service.get("ports"), allowed)


def _check_network_mode(mode: object) -> Iterator[str]:
    if not isinstance(mode, str):
        yield f"network_mode {mode!r} is not a string"
    elif mode == "host" or mode.startswith("ns:"):
        yield f"network_mode {mode!r} shares a network namespace with the host and bypasses " \
              "the port policy; publish ports instead"
    elif mode.startswith("container:"):
        yield f"network_mode {mode!r} joins a container outside this project, which pgod " \
              "cannot check; use service:NAME"
    elif mode.startswith("pasta") and mode != "pasta":
        yield f"network_mode {mode!r}: pasta options can forward host ports themselves; " \
              "use plain 'pasta' and publish ports"
    elif mode not in _FINE_NETWORK_MODES and not mode.startswith(_FINE_NETWORK_PREFIXES):
        yield f"network_mode {mode!r} is not one podman-compose knows"


def _check_ports(ports: object, allowed: Sequence[PortRange]) -> Iterator[str]:
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
