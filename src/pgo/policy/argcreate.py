"""`podman create`: what podman-compose's `container_to_args` emits, each argument
checked (mounts, networks, published ports, the project's pods and containers)."""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterator, Mapping, Sequence

from pgo.policy import podmanopts as opts
from pgo.policy.arguments import check_image
from pgo.policy.podmanargs import Scope, check_options, decrypted, inside, parse
from pgo.ports import PortRange, parse_compose_port

_VOLUME_OPTIONS = re.compile(r"(ro|rw|z|Z|r?shared|r?slave|r?private|r?unbindable|r?bind|"
                             r"(no)?(exec|dev|suid)|nocopy)\Z")
_MOUNT_KEYS = ("type", "source", "src", "destination", "dst", "target", "ro", "readonly",
               "bind-propagation", "tmpfs-size", "tmpfs-mode", "subpath", "z", "Z", "relabel")
_NETWORK_OPTIONS = ("alias", "ip", "ip6", "mac", "interface_name")


def check_create(args: list[str], scope: Scope) -> Iterator[str]:
    table = opts.table(opts.CREATE)
    parsed = parse(args, table)
    yield from check_options(parsed, table)
    if parsed.problems:
        return  # the rest is unread
    for name, value in parsed.options:
        yield from _create_value(name, value, scope)
    if not parsed.positionals:
        yield "no image"
    else:
        yield from check_image(parsed.positionals[0])


def _create_value(name: str, value: str, scope: Scope) -> Iterator[str]:
    made = scope.made
    if name in ("-v", "--volume"):
        yield from _volume(value, scope.workdir, scope.secrets)
    elif name == "--mount":
        yield from _mount(value, scope.workdir)
    elif name == "--network":
        yield from _network(value, made)
    elif name in ("-p", "--publish"):
        yield from _published(value, scope.ports)
    elif name == "--pod" and value not in made.get("pod", ()):
        yield f"argument --pod {value!r}: not a pod of this project"
    elif name == "--requires":
        for part in (opts.split_like_podman(value) or []):
            if part not in made.get("container", ()):
                yield f"argument --requires {value!r}: {part!r} is not a container of " \
                      "this project"
    elif name == "--secret":
        yield from _secret(value)


def _volume(value: str, workdir: str, secrets: str | None = None) -> Iterator[str]:
    parts = value.split(":")
    if len(parts) == 1:
        return  # an anonymous volume
    if len(parts) > 3:
        yield f"argument -v {value!r}: more than three ':'-separated fields"
        return
    source, options = parts[0], (parts[2].split(",") if len(parts) == 3 else [])
    bad = [o for o in options if not _VOLUME_OPTIONS.match(o)]
    if bad:
        yield f"argument -v {value!r}: option {bad[0]!r} is not admitted (U would change " \
              "the owner of host files)"
    if decrypted(source, secrets) and [o for o in options if o in ("ro", "rw")][-1:] == ["ro"]:
        return  # a compose secret's file: pgod's decrypted one, read-only
    if source.startswith("/"):
        why = inside(source, workdir)
        if why:
            yield f"argument -v {value!r}: {why}; bind only paths in the repository"
        elif posixpath.normpath(source) == posixpath.normpath(workdir) and "ro" not in options:
            yield f"argument -v {value!r}: mounts the whole checkout writable"
    elif not opts.NAME.match(source):
        yield f"argument -v {value!r}: {source!r} is neither a path nor a volume name"


def _mount(value: str, workdir: str) -> Iterator[str]:
    fields = dict(f.partition("=")[::2] for f in value.split(","))
    if '"' in value or len(fields) != len(value.split(",")):
        yield f"argument --mount {value!r}: a quote or a repeated field"
        return
    unknown = sorted(set(fields) - set(_MOUNT_KEYS))
    kind, source = fields.get("type"), fields.get("source", fields.get("src"))
    if unknown or kind not in ("bind", "volume", "tmpfs"):
        yield f"argument --mount {value!r}: only types bind, volume and tmpfs with the " \
              f"fields {', '.join(_MOUNT_KEYS)} are admitted"
    elif kind == "bind":
        why = inside(source or "", workdir) if (source or "").startswith("/") else \
            "a bind source must be an absolute path"
        if why:
            yield f"argument --mount {value!r}: {why}"
    elif kind == "volume" and source is not None and not opts.NAME.match(source):
        yield f"argument --mount {value!r}: {source!r} is not a volume name"


def _network(value: str, made: Mapping[str, frozenset[str]]) -> Iterator[str]:
    name, _, options = value.partition(":")
    if name == "container":
        if options not in made.get("container", ()):
            yield f"argument --network {value!r}: not a container of this project"
        return
    if name not in (*made.get("network", ()), "bridge", "none", "private", "slirp4netns",
                    "pasta"):
        yield f"argument --network {value!r}: {name!r} is not a network of this project " \
              "(host, ns: and other projects' networks reach past the container)"
    for option in (o for o in options.split(",") if o):
        if option.partition("=")[0] not in _NETWORK_OPTIONS:
            yield f"argument --network {value!r}: option {option!r} is not admitted (only " \
                  f"{', '.join(_NETWORK_OPTIONS)}; slirp4netns and pasta options reach " \
                  "the host)"


def _published(value: str, ranges: Sequence[PortRange]) -> Iterator[str]:
    for part in opts.split_like_podman(value) or [value]:
        try:
            published = parse_compose_port(part)
        except ValueError as err:
            yield f"argument -p {value!r}: {err}"
            continue
        for port in published:
            if port.host_port is None or not any(port.host_port in r for r in ranges):
                allowed = ", ".join(map(str, ranges)) or "none"
                yield f"argument -p {value!r}: host port {port.host_port or 'random'} is " \
                      f"outside the service's ranges ({allowed})"
                break


def _secret(value: str) -> Iterator[str]:
    name, *fields = value.split(",")
    keys = {f.partition("=")[0] for f in fields}
    if not opts.NAME.match(name) or keys - {"uid", "gid", "mode", "type", "target"}:
        yield f"argument --secret {value!r}: only NAME with uid, gid, mode, type, target"
