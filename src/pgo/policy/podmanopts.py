"""The podman options the argument layer admits, per subcommand, and how podman reads each.

An allowlist of what podman-compose 1.6.0 emits for the compose keys the model layer
admits; every other option is refused. `splits` marks podman's `strings` options (see
`podman create --help`), whose value podman reads as comma-separated CSV: one argument
there is as many settings as `split_like_podman` finds, and each is checked. A value
holding a quote or a line break is refused outright: CSV quoting is where readers differ.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

Check = Callable[[str], "str | None"]  # a value -> None if fine, else why not

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*\Z")
_NUMBER = re.compile(r"[0-9]+(\.[0-9]+)?[bkmgBKMG]?[bB]?\Z")


@dataclass(frozen=True)
class Option:
    names: tuple[str, ...]
    value: bool = True          # takes a value (next word, or after '=')
    splits: bool = False        # podman reads the value as comma-separated CSV
    check: Check | None = None  # each (split) value; None: any value


def split_like_podman(value: str) -> list[str] | None:
    """What pflag's `strings` makes of one argument: empty is nothing, otherwise the
    fields between commas. None when the value holds a quote or a line break, where CSV
    quoting (and pflag reading one record only) decide, which pgod does not follow."""
    if any(c in value for c in '"\r\n'):
        return None
    return [] if value == "" else value.split(",")


def one_of(*allowed: str) -> Check:
    return lambda v: None if v in allowed else f"only {', '.join(allowed)} is accepted"


def matching(regex: str, what: str) -> Check:
    pattern = re.compile(regex + r"\Z")
    return lambda v: None if pattern.match(v) else f"it is not {what}"


def _plain(v: str) -> str | None:
    return None if NAME.match(v) else "it is not a plain name (letters, digits, _ . -)"


def _group(v: str) -> str | None:
    if v == "keep-groups":
        return "keep-groups gives the container the service user's host groups"
    return _plain(v)


def _log_opt(v: str) -> str | None:
    key = v.partition("=")[0]
    return None if key in ("max-size", "tag") else \
        "only max-size and tag are accepted (a path lets conmon write any file)"


def _sysctl(v: str) -> str | None:
    return None if v.startswith(("net.", "kernel.shm", "kernel.msg", "kernel.sem",
                                 "fs.mqueue.")) else "it is not a namespaced sysctl"


def _userns(v: str) -> str | None:
    return None if v in ("private", "nomap", "auto", "keep-id") or v.startswith(
        ("auto:", "keep-id:")) else "only keep-id, nomap, auto or private is accepted"


def _tmpfs(v: str) -> str | None:
    return None if v.startswith("/") and '"' not in v else "it is not a container path"


_NNP = one_of("no-new-privileges", "no-new-privileges=true", "no-new-privileges:true")
_LOG_DRIVER = one_of("k8s-file", "json-file", "journald", "none", "passthrough")
_ULIMIT = matching(r"(host|[a-z]+=-?[0-9]+(:-?[0-9]+)?)", "NAME=SOFT[:HARD]")
_IDMAP = matching(r"[0-9]+:[0-9]+:[0-9]+", "CONTAINER:HOST:COUNT")
_CAP = matching(r"(ALL|(CAP_)?[A-Za-z_]+)", "a capability name")
_HOSTS = matching(r"[A-Za-z0-9_.-]+:[0-9A-Fa-f.:\[\]]+", "HOST:IP")
_EXPOSE = matching(r"[0-9]+(-[0-9]+)?(/(tcp|udp|sctp))?", "PORT[/PROTOCOL]")
_SIZE = lambda v: None if _NUMBER.match(v) else "it is not a size"  # noqa: E731

# Options of `podman create` (podman-compose's `container_to_args`) checked on their
# own; -v, --mount, --network, -p, --pod, --requires, --name and the image are checked
# against the project in `argv`.
CREATE = (
    Option(("-d", "--detach"), value=False), Option(("--read-only",), value=False),
    Option(("-i", "--interactive"), value=False), Option(("-t", "--tty"), value=False),
    Option(("--init",), value=False), Option(("--no-hosts",), value=False),
    Option(("--no-healthcheck",), value=False),
    Option(("--http-proxy",), check=one_of("false")),
    Option(("--security-opt",), check=_NNP),
    Option(("-l", "--label")), Option(("-e", "--env")),
    Option(("--cap-drop",), splits=True, check=_CAP),
    Option(("--group-add",), splits=True, check=_group),
    Option(("--dns",), splits=True, check=matching(r"[0-9A-Fa-f.:]+", "an IP address")),
    Option(("--dns-opt", "--dns-option"), splits=True),
    Option(("--dns-search",), splits=True), Option(("--tmpfs",), check=_tmpfs),
    Option(("--log-driver",), check=_LOG_DRIVER),
    Option(("--log-opt",), splits=True, check=_log_opt),
    Option(("--add-host",), splits=True, check=_HOSTS),
    Option(("--expose",), splits=True, check=_EXPOSE),
    Option(("--userns",), check=_userns), Option(("-u", "--user")),
    Option(("-w", "--workdir")), Option(("-h", "--hostname")),
    Option(("--shm-size",), check=_SIZE), Option(("--stop-signal",)),
    Option(("--sysctl",), splits=True, check=_sysctl),
    Option(("--pid",), check=one_of("private")),
    Option(("--pull",), check=one_of("always", "missing", "never", "newer")),
    Option(("--restart",), check=matching(r"(no|always|unless-stopped|on-failure(:[0-9]+)?)",
                                          "a restart policy")),
    Option(("--ulimit",), splits=True, check=_ULIMIT),
    Option(("--cpus",), check=matching(r"[0-9]+(\.[0-9]+)?", "a number")),
    Option(("--cpu-shares",), check=matching(r"[0-9]+", "a number")),
    Option(("-m", "--memory"), check=_SIZE), Option(("--memory-reservation",), check=_SIZE),
    Option(("--pids-limit",), check=matching(r"-?[0-9]+", "a number")),
    Option(("--cpuset-cpus",), check=matching(r"[0-9,-]+", "a CPU list")),
    Option(("--entrypoint",)), Option(("--platform",)),
    Option(("--health-cmd",)), Option(("--health-interval",)),
    Option(("--health-timeout",)), Option(("--health-start-period",)),
    Option(("--health-startup-interval",)), Option(("--health-retries",)),
    Option(("--uidmap",), splits=True, check=_IDMAP),
    Option(("--gidmap",), splits=True, check=_IDMAP),
    Option(("--mac-address",)), Option(("--network-alias",), splits=True, check=_plain),
    Option(("--name",), check=_plain), Option(("--pod",)), Option(("--requires",), splits=True),
    Option(("-v", "--volume")), Option(("--mount",)), Option(("--network",)),
    Option(("-p", "--publish"), splits=True), Option(("--secret",)),
)

# `podman build` (podman-compose's `container_to_build_args`); -f, --build-context,
# --secret and the context are checked against the checkout in `argv`.
BUILD = (
    Option(("-f", "--file")), Option(("-t", "--tag"), splits=True),
    Option(("--platform",)), Option(("--add-host",), splits=True, check=_HOSTS),
    Option(("--label",)), Option(("--build-context",)), Option(("--target",)),
    Option(("--ulimit",), splits=True, check=_ULIMIT), Option(("--no-cache",), value=False),
    Option(("--pull",)), Option(("--build-arg",)), Option(("--cache-from",)),
    Option(("--cache-to",)), Option(("--secret",)),
)

PULL = (Option(("--policy",), check=one_of("always", "missing", "never", "newer")),
        Option(("-q", "--quiet"), value=False))

NETWORK_CREATE = (
    Option(("--label",)), Option(("--internal",), value=False),
    Option(("--driver", "-d"), check=one_of("bridge")),
    Option(("--ipam-driver",), check=one_of("default", "host-local")),
    Option(("--ipv6",), value=False), Option(("--disable-dns",), value=False),
    Option(("--dns",), splits=True), Option(("--route",)),
    Option(("--subnet",)), Option(("--ip-range",)), Option(("--gateway",), splits=True),
)

VOLUME_CREATE = (Option(("--label", "-l"), splits=True), Option(("--driver",),
                 check=one_of("local")), Option(("-o", "--opt")))

POD_CREATE = (Option(("--name",), check=_plain), Option(("--infra",), check=one_of("false")),
              Option(("--share",), check=one_of("")))


def table(options: tuple[Option, ...]) -> dict[str, Option]:
    return {name: option for option in options for name in option.names}
