"""Top-level keys of a compose file: x-podman, networks, volumes, secrets."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from pgo.policy.fields import PLAIN_NAME, Check, check_keys, smuggles, unknown

_TOP_KEYS = ("version", "name", "services", "networks", "volumes", "secrets")
_TOP_REFUSED = {
    "include": "top-level 'include' pulls in compose files pgod does not check; put every "
               "service in the one compose file",
    "configs": "top-level 'configs' is ignored by podman-compose 1.6.0; mount the file "
               "read-only from the repository instead",
}


def check_project(model: Mapping[str, Any]) -> Iterator[str]:
    for key in model:
        if key in _TOP_REFUSED:
            yield _TOP_REFUSED[key]
        elif key not in _TOP_KEYS and key != "x-podman" and not str(key).startswith("x-"):
            yield f"top-level {unknown(str(key))}"
    checks: list[tuple[str, Check]] = [("x-podman", _check_x_podman), ("networks", _networks),
                                       ("volumes", _volumes), ("secrets", _secrets)]
    for key, check in checks:
        yield from check(model.get(key))


def _check_x_podman(x_podman: object) -> Iterator[str]:
    """podman-compose's `XPodmanSettingKey`s; unknown ones it ignores with a warning."""
    safe = ("docker_compose_compat", "default_net_name_compat",
            "default_net_behavior_compat", "name_separator_compat", "in_pod")
    yield from check_keys("x-podman", x_podman, safe, {
        "pod_args": "passes arguments to 'podman pod create' that pgod does not check; "
                    "remove it"})
    in_pod = x_podman.get("in_pod") if isinstance(x_podman, Mapping) else None
    if in_pod is not None and str(in_pod).lower() not in ("true", "false", "1", "0"):
        yield f"x-podman.in_pod {in_pod!r} names a pod, which may be one outside this " \
              "project; use true or false"


def _networks(networks: object) -> Iterator[str]:
    safe = ("name", "driver", "internal", "enable_ipv6", "ipam", "labels",
            "x-podman.disable_dns", "x-podman.dns", "x-podman.routes")
    for name, network in (networks.items() if isinstance(networks, Mapping) else ()):
        yield from check_keys(f"network {name!r}", network, safe, {
            "driver_opts": "driver options are not checked by pgod; remove them",
            "external": "an external network is not this project's (another project's, or "
                        "one reaching the host); remove external and let podman-compose "
                        "create the project's own"})
        spec = network if isinstance(network, Mapping) else {}
        driver = spec.get("driver")
        if driver not in (None, "bridge"):
            yield f"network {name!r} uses driver {driver!r}, which bypasses the port " \
                  "policy; use the default bridge driver"
        yield from _check_names(f"network {name!r}", name, spec, "host")
        ipam = spec.get("ipam")
        yield from check_keys(f"network {name!r}: ipam", ipam, ("driver", "config"))
        if isinstance(ipam, Mapping) and ipam.get("driver") not in (None, "default",
                                                                    "host-local"):
            yield f"network {name!r}: ipam driver {ipam['driver']!r} is not allowed; use " \
                  "the default"


def _check_names(what: str, key: object, spec: Mapping[str, Any],
                 *reserved: str) -> Iterator[str]:
    """The names podman-compose passes to podman: the key, `name`, `external.name`."""
    external = spec.get("external")
    names = [key, spec.get("name"), external.get("name") if isinstance(external, Mapping)
             else None]
    for name in (n for n in names if n is not None):
        if not PLAIN_NAME.match(str(name)) or name in reserved:
            yield f"{what}: name {name!r} is not a plain name (letters, digits, _ . -" + (
                f", not {', '.join(reserved)}" if reserved else "") + "): podman would " \
                "read it as options"


def _volumes(volumes: object) -> Iterator[str]:
    safe = ("name", "external", "labels", "driver", "driver_opts")
    for name, volume in (volumes.items() if isinstance(volumes, Mapping) else ()):
        yield from check_keys(f"volume {name!r}", volume, safe)
        spec = volume if isinstance(volume, Mapping) else {}
        yield from _check_names(f"volume {name!r}", name, spec)
        if spec.get("driver") not in (None, "local"):
            yield f"volume {name!r} uses driver {spec['driver']!r}; use the default local " \
                  "driver"
        opts = spec.get("driver_opts")
        yield from check_keys(f"volume {name!r}: driver_opts", opts, ("type", "o", "device"))
        yield from _check_device(name, opts)
        kind = opts.get("type") if isinstance(opts, Mapping) else None
        if kind not in (None, "none", "tmpfs"):
            yield f"volume {name!r}: driver_opts type {kind!r} mounts a filesystem pgod " \
                  "cannot check; use none (a bind of a repository path) or tmpfs"


def _check_device(name: object, opts: object) -> Iterator[str]:
    """podman-compose passes `--opt device={value}` with str(), so a number or null would
    become a path the host path checks never saw."""
    if isinstance(opts, Mapping) and "device" in opts and not isinstance(opts["device"], str):
        yield f"volume {name!r}: driver_opts.device {opts['device']!r} must be a string " \
              f"(podman-compose would use it as the path {str(opts['device'])!r}); quote a " \
              "path in the repository"


def _secrets(secrets: object) -> Iterator[str]:
    safe = ("file", "environment", "external", "name", "x-podman.relabel")
    for name, secret in (secrets.items() if isinstance(secrets, Mapping) else ()):
        yield from check_keys(f"secret {name!r}", secret, safe)
        spec = secret if isinstance(secret, Mapping) else {}
        for field in ("file", "environment", "name"):
            if smuggles(spec.get(field), ",:"):
                yield f"secret {name!r}: {field} {spec[field]!r} contains ',' or ':', which " \
                      "podman would read as more options; rename it"
        if spec.get("x-podman.relabel") not in (None, "z", "Z"):
            yield f"secret {name!r}: x-podman.relabel must be z or Z"
