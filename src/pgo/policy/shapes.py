"""The shape of every value the policy reads, as podman-compose 1.6.0 reads it.

podman-compose accepts many shapes for one key (a string, a list, a mapping, long syntax,
null) and turns each into podman arguments in its own way: `norm_as_list` makes a mapping
`KEY=VALUE` items, but a plain `for item in value` gives a mapping's keys only, and a
string's characters. `canonical_model` runs podman-compose's own `normalize_service`, then
turns every accepted shape of every key into the one shape the checks read (what
podman-compose makes of it), and refuses any other shape, naming the key and what would
be accepted.

It also refuses, in the values podman parses as comma-separated lists (its `strings`
options: `--group-add`, `--log-opt`, `--sysctl`, `-p`, ...), the characters that would
make one value two settings: `,`, and `"` and line breaks, which podman's CSV reader
treats as quoting and record ends.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import podman_compose

SPLIT = ',"\n\r'  # what podman's CSV reading of a `strings` option splits or strips at


class ShapeError(ValueError):
    """A value in a shape pgod does not read the way podman-compose does."""


Reader = Callable[[str, Any], Any]
ListReader = Callable[[str, Any], list[str]]
_SCALAR = (str, int, float, bool)


def canonical_model(model: Mapping[str, Any]) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """The model with every service key in its canonical shape, and (compose service,
    message) for each value in a shape that is refused ("" for top-level keys)."""
    result = copy.deepcopy(dict(model))
    problems: list[tuple[str, str]] = []
    for key in ("networks", "volumes", "secrets"):
        value = result.get(key)
        if value is not None and not isinstance(value, Mapping):
            problems.append(("", f"top-level key {key!r} must be a mapping of names, not "
                                 f"{_kind(value)}"))
    services = result.get("services") or {}
    for name, service in services.items():
        if isinstance(service, dict):
            services[name], found = canonical_service(service)
            problems += [(str(name), m) for m in found]
    return result, problems


def canonical_service(service: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """One service, normalized as podman-compose does, each key in its canonical shape."""
    try:
        service = podman_compose.normalize_service(copy.deepcopy(service))
    except (AttributeError, TypeError, ValueError, KeyError) as err:
        return service, [f"podman-compose cannot normalize this service ({err}); write each "
                         "key in a shape the compose spec gives"]
    out: dict[str, Any] = {}
    problems: list[str] = []
    for key, value in service.items():
        reader = _READERS.get(key)
        try:
            out[key] = value if reader is None else reader(key, value)
        except ShapeError as err:
            problems.append(str(err))
    return out, problems


def _kind(value: object) -> str:
    return {dict: "a mapping", list: "a list", str: "a string", type(None): "null"}.get(
        type(value), type(value).__name__)


def _refuse(key: str, value: object, accepted: str, why: str = "") -> ShapeError:
    return ShapeError(f"key {key!r}: {_kind(value)} ({_brief(value)}) is not a shape pgod "
                      f"reads the way podman-compose does{why}; write {accepted}")


def _brief(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def unsplit(key: str, item: object, option: str) -> None:
    """A value for a `strings` option of podman's: one setting, not several."""
    if isinstance(item, str) and any(c in item for c in SPLIT):
        raise ShapeError(f"key {key!r}: {item!r} holds ',', '\"' or a line break: podman "
                         f"reads the value of {option} as a comma-separated list (quotes "
                         "stripped), so it would be more than one setting; write one value "
                         "per list item")


def _item(key: str, item: object, option: str | None) -> str:
    if isinstance(item, bool) or not isinstance(item, _SCALAR):
        raise _refuse(key, item, "each item as a string")
    text = str(item)
    if option:
        unsplit(key, text, option)
    return text


def iterated(option: str | None = None) -> ListReader:
    """Keys podman-compose reads with `for item in value`: only a list means its items."""
    def read(key: str, value: Any) -> list[str]:
        if not isinstance(value, list):
            raise _refuse(key, value, "a list of strings", " (podman-compose passes each "
                          "item it iterates over: a mapping's keys, a string's characters)")
        return [_item(key, i, option) for i in value]
    return read


def as_list(option: str | None = None) -> ListReader:
    """Keys podman-compose reads with `norm_as_list`: null, a value, a list, or a mapping
    as `KEY=VALUE` items (`KEY` for a null value)."""
    def read(key: str, value: Any) -> list[str]:
        if value is not None and not isinstance(value, list | Mapping | str | int | float):
            raise _refuse(key, value, "a string or a list of strings")
        items = podman_compose.norm_as_list(value)
        return [_item(key, i, option) for i in items]
    return read


def _scalar(key: str, value: Any) -> Any:
    if value is not None and not isinstance(value, _SCALAR):
        raise _refuse(key, value, "one value (a string or a number)")
    return value


def _joined(key: str, value: Any) -> Any:
    """One value podman-compose joins with others by ',' into one argument
    (`mac_address` into `--network=NAME:mac=...,alias=...`)."""
    unsplit(key, _scalar(key, value), "--network")
    return value


def _mapping(key: str, value: Any) -> Any:
    if value is not None and not isinstance(value, Mapping):
        raise _refuse(key, value, "a mapping")
    return value


def _sysctls(key: str, value: Any) -> list[str]:
    """`container_to_args`: a mapping as `NAME=VALUE` (even a null VALUE), or a list."""
    if isinstance(value, Mapping):
        return [_item(key, f"{k}={v}", "--sysctl") for k, v in value.items()]
    return iterated("--sysctl")(key, value)


def _ulimits(key: str, value: Any) -> list[str]:
    """`ulimit_to_ulimit_args`: one string as is, else `norm_as_dict` and `norm_ulimit`."""
    if isinstance(value, str):
        return [_item(key, value, "--ulimit")]
    if not isinstance(value, list | Mapping):
        raise _refuse(key, value, "a mapping of limits, such as {nofile: {soft: 1024, hard: "
                      "1024}}")
    try:
        limits = {k: podman_compose.norm_ulimit(v)
                  for k, v in podman_compose.norm_as_dict(value).items()}
    except (AttributeError, TypeError, ValueError) as err:
        raise _refuse(key, value, "a mapping of limits", f" ({err})") from None
    return [_item(key, f"{k}={v}", "--ulimit") for k, v in limits.items()]


def _tmpfs(key: str, value: Any) -> list[str]:
    if isinstance(value, str):
        return [_item(key, value, None)]
    return iterated()(key, value)


def _entries(key: str, value: Any) -> list[Any]:
    """Lists of strings or long-syntax mappings (volumes, secrets), as podman-compose
    iterates them."""
    if not isinstance(value, list):
        raise _refuse(key, value, "a list of strings or mappings", " (podman-compose "
                      "iterates over it: a mapping's keys, a string's characters)")
    for item in value:
        if not isinstance(item, str | Mapping):
            raise _refuse(key, item, "each item as a string or a mapping")
    return value


def _env_file(key: str, value: Any) -> list[Any]:
    return _entries(key, [value] if isinstance(value, Mapping) else value)


def _ports(key: str, value: Any) -> list[Any]:
    """`norm_ports`: nothing, one string, or a list of strings, numbers and mappings."""
    items = [] if not value else [value] if isinstance(value, str) else value
    if not isinstance(items, list):
        raise _refuse(key, value, "a list of port entries such as ['5006:80']")
    for item in items:
        fields = item.values() if isinstance(item, Mapping) else [item]
        for field in fields:
            unsplit(key, field, "-p")
    return items


def _command(key: str, value: Any) -> Any:
    if value is not None and not isinstance(value, list):
        raise _refuse(key, value, "a string or a list of strings")
    return value


def _logging(key: str, value: Any) -> Any:
    _mapping(key, value)
    options = (value or {}).get("options")
    _mapping(f"{key}.options", options)
    for name, option in (options or {}).items():
        _scalar(f"{key}.options.{name}", option)
        unsplit(f"{key}.options", f"{name}={option}", "--log-opt")
    return value


_NETWORK_FIELDS = ("aliases", "ipv4_address", "ipv6_address", "mac_address",
                   "x-podman.interface_name", "x-podman.mac_address")


def _networks(key: str, value: Any) -> Any:
    """A list of names, or a mapping of names to null or settings, whose fields
    podman-compose joins with ',' into one `--network` argument."""
    if isinstance(value, list):
        return [_item(key, i, "--network") for i in value]
    _mapping(key, value)
    for name, spec in (value or {}).items():
        unsplit(key, str(name), "--network")
        _mapping(f"{key}.{name}", spec)
        for field, item in (spec or {}).items():
            if field not in _NETWORK_FIELDS:
                continue  # refused by the checks, by name
            items = as_list()(f"{key}.{name}.{field}", item) if field == "aliases" else [
                _scalar(f"{key}.{name}.{field}", item)]
            for one in items:
                unsplit(f"{key}.{name}.{field}", one, "--network")
    return value


_READERS: dict[str, Reader] = {
    "cap_drop": iterated("--cap-drop"), "group_add": iterated("--group-add"),
    "expose": iterated("--expose"), "extra_hosts": iterated("--add-host"),
    "x-podman.uidmaps": iterated("--uidmap"), "x-podman.gidmaps": iterated("--gidmap"),
    "profiles": iterated(), "links": iterated(),
    "dns": as_list("--dns"), "dns_opt": as_list("--dns-option"),
    "dns_search": as_list("--dns-search"), "security_opt": as_list(),
    "sysctls": _sysctls, "ulimits": _ulimits, "tmpfs": _tmpfs, "volumes": _entries,
    "secrets": _entries, "env_file": _env_file, "ports": _ports, "command": _command,
    "entrypoint": _command, "logging": _logging, "networks": _networks,
    "healthcheck": _mapping, "deploy": _mapping, "depends_on": _mapping,
    "extends": _mapping, "environment": _mapping, "labels": _mapping,
    "mac_address": _joined,
    **dict.fromkeys(("cpu_shares", "cpus", "cpuset", "mem_limit", "mem_reservation",
                     "pids_limit", "shm_size", "hostname", "platform",
                     "pull_policy", "restart", "stop_grace_period", "stop_signal", "user",
                     "working_dir", "pid", "userns_mode", "network_mode", "container_name",
                     "image", "init", "read_only", "stdin_open", "tty", "http_proxy",
                     "publishall", "x-podman.no_hosts", "scale", "privileged"), _scalar),
}


def build_readers() -> Iterator[tuple[str, Reader]]:
    """The build keys, read the same way (see `canonical_build`)."""
    yield from (("tags", iterated("-t")), ("extra_hosts", iterated("--add-host")),
                ("cache_from", iterated()), ("cache_to", iterated()), ("secrets", _entries),
                ("args", as_list()), ("additional_contexts", as_list()),
                ("labels", _labels), ("ulimits", _ulimits),
                *((k, _scalar) for k in ("context", "dockerfile", "dockerfile_inline",
                                         "target")))


def _labels(key: str, value: Any) -> Any:
    """A build's labels: a mapping or a list (`container_to_build_args`)."""
    return iterated()(key, value) if not isinstance(value, Mapping) else value


def canonical_build(key: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _refuse(key, value, "a path or a mapping with a context")
    readers = dict(build_readers())
    problems, out = [], {}
    for field, item in value.items():
        try:
            out[field] = readers[field](f"build.{field}", item) if field in readers else item
        except ShapeError as err:
            problems.append(str(err))
    if problems:
        raise ShapeError("; ".join(problems))
    return out


_READERS["build"] = canonical_build
