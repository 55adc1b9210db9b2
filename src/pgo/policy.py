"""The policy a compose project must meet before pgod runs it. Pure checks on the model.

An allowlist: every top-level key, service key, mount, network, volume and secret field must
be one podman-compose 1.6.0 reads and pgod knows to be safe; anything else is refused, named
with its compose service. What a project may do:

- publish host ports only within the service's ranges (none without ranges), never on a
  random host port (`publishall`), never around the check (`network_mode: host`, `ns:`,
  `container:`, `pasta:OPTIONS`, networks with a driver other than bridge or named `host`,
  `x-podman.pod_args`, `x-podman.in_pod` naming a pod);
- read and mount host paths only inside the repository: not absolute, `~` or `..`, not
  through a committed symlink, not `.git`; a writable bind mount may not be the repository
  itself nor contain another host path of the project (the compose file, `.env`, env files,
  build contexts, Dockerfiles, secrets, other bind sources): the container could rewrite
  them or swap them for symlinks that podman-compose then follows on the host;
- mounts of type bind, volume or tmpfs only, with no `,` or `:` smuggled into the fields
  podman-compose joins into `--mount`/`-v` arguments;
- no host devices, added capabilities, privileged mode, OCI runtime or init path, host PID or
  user namespaces, seccomp/AppArmor/SELinux changes, log files, SSH agents or keys for builds,
  OCI annotations or `--pod`: each of those reaches past the container.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pgo.composefile import (
    COMPOSE_NAMES,
    PODMAN_COMPOSE_NAMES,
    HostPath,
    host_paths,
    is_remote_context,
    repo_path,
)
from pgo.ports import PortRange, PublishedPort, parse_compose_port

_FINE_NETWORK_MODES = ("none", "private", "pasta", "bridge", "slirp4netns")
_FINE_NETWORK_PREFIXES = ("bridge:", "slirp4netns:", "service:")
_PLAIN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*\Z")
_DOCKERFILES = ("Containerfile", "ContainerFile", "containerfile", "Dockerfile", "DockerFile",
                "dockerfile")  # what podman-compose looks for in a context without one named

Check = Callable[[Any], Iterator[str]]


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
                 compose_dir: str = "", symlinks: Collection[str] = (),
                 compose_file: str = "") -> list[Violation]:
    """Every violation of the project; an empty list means it may run.

    `compose_dir` is the compose file's directory in the repository ("" for the top), so
    that `../x` from a subdirectory is still inside the repository. `symlinks` are the
    repository paths of every symlink in the commit, `compose_file` the compose file's
    repository path (without it, every name podman-compose looks for in `compose_dir`).
    """
    found = list(_check_project(model))
    for name, service in (model.get("services") or {}).items():
        if isinstance(service, Mapping):
            found += [Violation(str(name), m) for m in _check_service(service, allowed)]
    found += _check_host_paths(model, compose_dir, frozenset(symlinks), compose_file)
    return found


# -- keys ---------------------------------------------------------------------------------------

def _check_keys(where: str, value: object, allowed: Collection[str],
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


def _unknown(key: str) -> str:
    return f"key {key!r} is not one pgod allows: podman-compose 1.6.0 ignores it, or pgod " \
           "cannot check what it does; remove it"


def _as_list(value: object) -> list[Any]:
    """podman-compose's `norm_as_list`: nothing, one value, a list, or a mapping as k=v."""
    if value is None:
        return []
    if isinstance(value, Mapping):
        return [k if v is None else f"{k}={v}" for k, v in value.items()]
    return list(value) if isinstance(value, list) else [value]


def _smuggles(value: object, separators: str = ",") -> bool:
    return isinstance(value, str) and any(s in value for s in separators)


# -- the project ----------------------------------------------------------------------------------

_TOP_KEYS = ("version", "name", "services", "networks", "volumes", "secrets")
_TOP_REFUSED = {
    "include": "top-level 'include' pulls in compose files pgod does not check; put every "
               "service in the one compose file",
    "configs": "top-level 'configs' is ignored by podman-compose 1.6.0; mount the file "
               "read-only from the repository instead",
}


def _check_project(model: Mapping[str, Any]) -> Iterator[Violation]:
    for key in model:
        if key in _TOP_REFUSED:
            yield Violation("", _TOP_REFUSED[key])
        elif key not in _TOP_KEYS and key != "x-podman" and not str(key).startswith("x-"):
            yield Violation("", f"top-level {_unknown(str(key))}")
    checks: list[tuple[str, Check]] = [("x-podman", _check_x_podman), ("networks", _networks),
                                       ("volumes", _volumes), ("secrets", _secrets)]
    for key, check in checks:
        yield from (Violation("", m) for m in check(model.get(key)))


def _check_x_podman(x_podman: object) -> Iterator[str]:
    """podman-compose's `XPodmanSettingKey`s; unknown ones it ignores with a warning."""
    safe = ("docker_compose_compat", "default_net_name_compat",
            "default_net_behavior_compat", "name_separator_compat", "in_pod")
    yield from _check_keys("x-podman", x_podman, safe, {
        "pod_args": "passes arguments to 'podman pod create' that pgod does not check; "
                    "remove it"})
    in_pod = x_podman.get("in_pod") if isinstance(x_podman, Mapping) else None
    if in_pod is not None and str(in_pod).lower() not in ("true", "false", "1", "0"):
        yield f"x-podman.in_pod {in_pod!r} names a pod, which may be one outside this " \
              "project; use true or false"


def _networks(networks: object) -> Iterator[str]:
    safe = ("name", "external", "driver", "internal", "enable_ipv6", "ipam", "labels",
            "x-podman.disable_dns", "x-podman.dns", "x-podman.routes")
    for name, network in (networks.items() if isinstance(networks, Mapping) else ()):
        yield from _check_keys(f"network {name!r}", network, safe, {
            "driver_opts": "driver options are not checked by pgod; remove them"})
        spec = network if isinstance(network, Mapping) else {}
        driver = spec.get("driver")
        if driver not in (None, "bridge"):
            yield f"network {name!r} uses driver {driver!r}, which bypasses the port " \
                  "policy; use the default bridge driver"
        yield from _check_names(f"network {name!r}", name, spec, "host")
        ipam = spec.get("ipam")
        yield from _check_keys(f"network {name!r}: ipam", ipam, ("driver", "config"))
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
        if not _PLAIN_NAME.match(str(name)) or name in reserved:
            yield f"{what}: name {name!r} is not a plain name (letters, digits, _ . -" + (
                f", not {', '.join(reserved)}" if reserved else "") + "): podman would " \
                "read it as options"


def _volumes(volumes: object) -> Iterator[str]:
    safe = ("name", "external", "labels", "driver", "driver_opts")
    for name, volume in (volumes.items() if isinstance(volumes, Mapping) else ()):
        yield from _check_keys(f"volume {name!r}", volume, safe)
        spec = volume if isinstance(volume, Mapping) else {}
        yield from _check_names(f"volume {name!r}", name, spec)
        if spec.get("driver") not in (None, "local"):
            yield f"volume {name!r} uses driver {spec['driver']!r}; use the default local " \
                  "driver"
        opts = spec.get("driver_opts")
        yield from _check_keys(f"volume {name!r}: driver_opts", opts, ("type", "o", "device"))
        kind = opts.get("type") if isinstance(opts, Mapping) else None
        if kind not in (None, "none", "tmpfs"):
            yield f"volume {name!r}: driver_opts type {kind!r} mounts a filesystem pgod " \
                  "cannot check; use none (a bind of a repository path) or tmpfs"


def _secrets(secrets: object) -> Iterator[str]:
    safe = ("file", "environment", "external", "name", "x-podman.relabel")
    for name, secret in (secrets.items() if isinstance(secrets, Mapping) else ()):
        yield from _check_keys(f"secret {name!r}", secret, safe)
        spec = secret if isinstance(secret, Mapping) else {}
        for field in ("file", "environment", "name"):
            if _smuggles(spec.get(field), ",:"):
                yield f"secret {name!r}: {field} {spec[field]!r} contains ',' or ':', which " \
                      "podman would read as more options; rename it"
        if spec.get("x-podman.relabel") not in (None, "z", "Z"):
            yield f"secret {name!r}: x-podman.relabel must be z or Z"


# -- services -------------------------------------------------------------------------------------

# Read by podman-compose 1.6.0 (container_to_args, build, up, down) and harmless as they are.
_SERVICE_KEYS = frozenset((
    "cap_drop", "command", "container_name", "cpu_shares", "cpus", "cpuset", "depends_on",
    "dns", "dns_opt", "dns_search", "entrypoint", "env_file", "environment", "expose",
    "extra_hosts", "healthcheck", "hostname", "http_proxy", "image", "init", "labels", "links",
    "mac_address", "mem_limit", "mem_reservation", "pids_limit", "platform", "profiles",
    "pull_policy", "read_only", "restart", "scale", "shm_size", "stdin_open",
    "stop_grace_period", "stop_signal", "tty", "ulimits", "user", "working_dir",
    "x-podman.uidmaps", "x-podman.gidmaps", "x-podman.no_hosts"))

_SERVICE_REFUSED = {
    "runtime": "runtime picks the OCI runtime podman executes on the host (a path runs that "
               "file as the service user); remove it",
    "init-path": "init-path runs a host file as the container's init; use 'init: true'",
    "privileged": "privileged gives the container every capability and the host's "
                  "devices; remove it",
    "cap_add": "cap_add gives the container capabilities beyond podman's defaults; remove "
               "it",
    "devices": "devices passes host devices into the container; remove it",
    "device_cgroup_rules": "device_cgroup_rules opens host devices to the container; remove "
                           "it",
    "annotations": "annotations configure the OCI runtime (crun reads some as options); "
                   "use labels",
    "pod": "pod puts the container in a pod that may be outside this project; remove it",
    "x-podman": "x-podman as a mapping is no longer read by podman-compose (it stops with an "
                "error); use x-podman.uidmaps and x-podman.gidmaps",
    "x-podman.rootfs": "x-podman.rootfs runs a host directory as the container's writable "
                       "root; use image or build",
    "configs": "configs is ignored by podman-compose 1.6.0; mount the file read-only from "
               "the repository instead",
    "volumes_from": "volumes_from is ignored by podman-compose 1.6.0; declare the volumes",
}


def _check_service(service: Mapping[str, Any], allowed: Sequence[PortRange]) -> Iterator[str]:
    """Every key in document order, then the published ports."""
    for key, value in service.items():
        if key in _SERVICE_REFUSED and (key != "privileged" or value):
            yield _SERVICE_REFUSED[key]
        elif key in _SERVICE_CHECKS:
            yield from _SERVICE_CHECKS[key](value)
        elif key not in _SERVICE_KEYS and key not in ("ports", "privileged") and not (
                str(key).startswith("x-") and not str(key).startswith("x-podman")):
            yield _unknown(str(key))
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


def _check_publishall(value: object) -> Iterator[str]:
    if value:
        yield "publishall publishes every exposed port on a random host port; list ports " \
              "explicitly instead"


def _check_extends(extends: object) -> Iterator[str]:
    if isinstance(extends, Mapping) and extends.get("file"):
        yield f"extends a service from {extends['file']!r}, a file pgod does not check; " \
              "keep every service in the one compose file"


def _check_security_opt(value: object) -> Iterator[str]:
    for item in _as_list(value):
        if item not in ("no-new-privileges", "no-new-privileges:true",
                        "no-new-privileges=true"):
            yield f"security_opt {item!r} is not allowed: seccomp and AppArmor profiles, " \
                  "label and mask options loosen the container's confinement or name host " \
                  "files; only no-new-privileges is accepted"


def _check_logging(logging: object) -> Iterator[str]:
    yield from _check_keys("logging", logging, ("driver", "options"))
    spec = logging if isinstance(logging, Mapping) else {}
    if spec.get("driver", "k8s-file") not in ("k8s-file", "json-file", "journald", "none",
                                              "passthrough"):
        yield f"logging.driver {spec['driver']!r} is not one pgod allows; use k8s-file, " \
              "json-file, journald, none or passthrough"
    yield from _check_keys("logging", spec.get("options"), ("max-size", "tag"), {
        "path": "a log file path lets conmon write to any file the service user may write; "
                "remove it (logs go to podman's storage)"})


def _check_deploy(deploy: object) -> Iterator[str]:
    yield from _check_keys("deploy", deploy, ("resources", "replicas", "mode"))
    resources = deploy.get("resources") if isinstance(deploy, Mapping) else None
    yield from _check_keys("deploy.resources", resources, ("limits", "reservations"))
    spec = resources if isinstance(resources, Mapping) else {}
    yield from _check_keys("deploy.resources.limits", spec.get("limits"),
                           ("cpus", "memory", "pids"))
    yield from _check_keys("deploy.resources.reservations", spec.get("reservations"),
                           ("cpus", "memory"), {
        "devices": "gives the container host devices (GPUs); remove it"})


def _check_pid(pid: object) -> Iterator[str]:
    if pid and pid != "private":
        yield f"pid {pid!r} shares a PID namespace outside the container (the container " \
              "could signal or read the host's processes); remove it"


def _check_userns(mode: object) -> Iterator[str]:
    text = str(mode)
    if text not in ("", "private", "nomap", "auto", "keep-id") and not text.startswith(
            ("auto:", "keep-id:")):
        yield f"userns_mode {mode!r} shares a user namespace outside the container; use " \
              "keep-id, nomap, auto or private"


def _check_group_add(groups: object) -> Iterator[str]:
    if "keep-groups" in _as_list(groups):
        yield "group_add keep-groups gives the container the service user's supplementary " \
              "groups on the host; name the groups inside the container instead"


def _check_sysctls(sysctls: object) -> Iterator[str]:
    namespaced = ("net.", "kernel.shm", "kernel.msg", "kernel.sem", "fs.mqueue.")
    for item in _as_list(sysctls):
        if not str(item).startswith(namespaced):
            yield f"sysctls {item!r} is not a namespaced sysctl (net.*, kernel.shm*, " \
                  "kernel.msg*, kernel.sem, fs.mqueue.*); remove it"


def _check_tmpfs(tmpfs: object) -> Iterator[str]:
    for item in _as_list(tmpfs):
        if not isinstance(item, str) or not item.startswith("/"):
            yield f"tmpfs entry {item!r} must be an absolute container path"


def _check_service_networks(networks: object) -> Iterator[str]:
    safe = ("aliases", "ipv4_address", "ipv6_address", "mac_address",
            "x-podman.interface_name", "x-podman.mac_address")
    if isinstance(networks, Mapping):
        for name, spec in networks.items():
            yield from _check_keys(f"networks.{name}", spec, safe)


def _check_service_secrets(secrets: object, where: str = "secrets") -> Iterator[str]:
    safe = ("source", "target", "uid", "gid", "mode", "type")
    for item in _as_list(secrets):
        yield from _check_keys(where, item if isinstance(item, Mapping) else None, safe)
        values = item.values() if isinstance(item, Mapping) else [item]
        for value in values:
            if _smuggles(value, ",:"):
                yield f"{where} entry {value!r} contains ',' or ':', which podman would read " \
                      "as more options; rename it"


# -- build ----------------------------------------------------------------------------------------

_BUILD_KEYS = ("context", "dockerfile", "dockerfile_inline", "args", "target", "labels", "tags",
               "additional_contexts", "extra_hosts", "cache_from", "cache_to", "secrets",
               "ulimits")
_REMOTE = ("https://", "http://", "git://", "ssh://")
_IMAGES = ("docker-image://", "container-image://", "service:")


def _check_build(build: object) -> Iterator[str]:
    if isinstance(build, str):
        build = {"context": build}
    yield from _check_keys("build", build, _BUILD_KEYS, {
        "ssh": "lends the build an SSH agent or a host key file; fetch what the build needs "
               "over https, or commit it",
        "network": "is ignored by podman-compose 1.6.0; remove it"})
    spec = build if isinstance(build, Mapping) else {}
    context = spec.get("context", ".")
    if not isinstance(context, str):
        yield f"build.context {context!r} must be a path or a URL"
    elif is_remote_context(context) and not _is_remote_url(context):
        yield f"build.context {context!r} is neither a path in the repository nor an " \
              "https, git or ssh URL"
    yield from _check_service_secrets(spec.get("secrets"), "build.secrets")
    extra = spec.get("additional_contexts")
    for item in _as_list(extra):
        value = str(item).partition("=")[2]
        if value.startswith(_IMAGES) or _is_remote_url(value):
            continue
        if "://" in value or is_remote_context(value):
            yield f"build.additional_contexts {value!r}: use a path in the repository, " \
                  "docker-image://, container-image://, service:NAME or an https/git URL"


def _is_remote_url(text: str) -> bool:
    """An https/http/git/ssh URL with a host, or git's user@host:path."""
    if text.startswith(_REMOTE):
        return bool(text.split("://", 1)[1].split("/", 1)[0])
    return is_remote_context(text) and "@" in text.split(":", 1)[0]


# -- mounts ---------------------------------------------------------------------------------------

_SHORT_OPTIONS = re.compile(r"(?:ro|rw|consistent|delegated|cached|z|Z|O|r?shared|r?slave|"
                            r"r?private|r?unbindable|r?bind|(?:no)?(?:exec|dev|suid))\Z")
_PROPAGATIONS = ("private", "rprivate", "shared", "rshared", "slave", "rslave")
_MOUNT_KEYS = ("type", "source", "target", "read_only", "bind", "volume", "tmpfs",
               "consistency")


def _check_volumes(volumes: object) -> Iterator[str]:
    for volume in _as_list(volumes):
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
    yield from _check_keys(where, volume, _MOUNT_KEYS)
    if kind not in ("bind", "volume", "tmpfs"):
        yield f"{where}: only bind, volume and tmpfs mounts are allowed (image and glob " \
              "read what pgod cannot check)"
    if kind == "bind" and not isinstance(volume.get("source"), str):
        yield f"{where}: source must be a path in the repository"
    for field in ("source", "target"):
        if _smuggles(volume.get(field), ",:"):
            yield f"{where}: {field} {volume[field]!r} contains ',' or ':', which would add " \
                  "fields to podman's --mount or -v option; rename it"
    yield from _check_mount_options(where, volume)


def _check_mount_options(where: str, volume: Mapping[str, Any]) -> Iterator[str]:
    bind, sub, tmpfs = (volume.get(k) for k in ("bind", "volume", "tmpfs"))
    yield from _check_keys(f"{where}: bind", bind, ("propagation", "selinux",
                                                    "create_host_path"))
    yield from _check_keys(f"{where}: volume", sub, ("nocopy", "subpath"))
    yield from _check_keys(f"{where}: tmpfs", tmpfs, ("size", "mode"))
    bind = bind if isinstance(bind, Mapping) else {}
    if bind.get("propagation") not in (None, *_PROPAGATIONS):
        yield f"{where}: bind.propagation must be one of {', '.join(_PROPAGATIONS)}"
    if bind.get("selinux") not in (None, "z", "Z"):
        yield f"{where}: bind.selinux must be z or Z"
    subpath = sub.get("subpath") if isinstance(sub, Mapping) else None
    if subpath is not None and (_smuggles(subpath) or repo_path("", str(subpath)) is None):
        yield f"{where}: volume.subpath {subpath!r} must be a relative path inside the " \
              "volume, without ','"
    for key, value in (tmpfs.items() if isinstance(tmpfs, Mapping) else ()):
        if _smuggles(str(value)):
            yield f"{where}: tmpfs.{key} {value!r} contains ','; give one value"


_SERVICE_CHECKS: dict[str, Check] = {
    "network_mode": _check_network_mode, "publishall": _check_publishall,
    "extends": _check_extends, "security_opt": _check_security_opt,
    "logging": _check_logging, "deploy": _check_deploy, "pid": _check_pid,
    "userns_mode": _check_userns, "group_add": _check_group_add, "sysctls": _check_sysctls,
    "tmpfs": _check_tmpfs, "networks": _check_service_networks,
    "secrets": _check_service_secrets, "build": _check_build, "volumes": _check_volumes,
}


# -- host paths -----------------------------------------------------------------------------------

def _check_host_paths(model: Mapping[str, Any], compose_dir: str, symlinks: frozenset[str],
                      compose_file: str) -> list[Violation]:
    found: list[Violation] = []
    inside: list[tuple[HostPath, str]] = []
    for path in host_paths(model):
        where = repo_path(compose_dir, path.path)
        if where is None:
            found.append(Violation(path.service, f"{path.key} {path.path!r} is outside the "
                                   "repository (absolute, ~ or ..); use paths inside it"))
            continue
        inside.append((path, where))
        message = _check_repo_path(path, compose_dir, symlinks)
        if message:
            found.append(Violation(path.service, message))
    for service, file in _default_dockerfiles(model, compose_dir):
        if file in symlinks:
            found.append(Violation(service, f"{file} is a symlink in the repository, which "
                                   "podman-compose would follow on the host; commit the file"))
    read = [*inside, *_read_by_pgod(compose_dir, compose_file)]
    for path, where in inside:
        if path.writable:
            found += [Violation(path.service, m) for m in _check_writable(path, where, read)]
    return found


def _check_repo_path(path: HostPath, compose_dir: str, symlinks: frozenset[str]) -> str | None:
    """`.git`, or a committed symlink on the way (checked as written: podman-compose
    resolves some paths with realpath, so `link/..` goes through `link`)."""
    parts = path.path.split("/")
    walked = [repo_path(compose_dir, "/".join(parts[:n])) for n in range(1, len(parts) + 1)]
    for where in walked:
        if where == ".git" or (where or "").startswith(".git/"):
            return f"{path.key} {path.path!r} is in .git, which pgod's git commands read " \
                   "(its config can run commands on the host); use another directory"
        if where in symlinks:
            return f"{path.key} {path.path!r} goes through {where!r}, a symlink in the " \
                   "repository that could point anywhere on the host; commit the files " \
                   "themselves"
    return None


def _default_dockerfiles(model: Mapping[str, Any], compose_dir: str) -> Iterator[tuple[str, str]]:
    """The Dockerfiles podman-compose looks for in local contexts that name none."""
    for name, service in (model.get("services") or {}).items():
        build = service.get("build") if isinstance(service, Mapping) else None
        spec = {"context": build} if isinstance(build, str) else build
        if not isinstance(spec, Mapping) or spec.get("dockerfile"):
            continue
        context = spec.get("context", ".")
        where = repo_path(compose_dir, context) if isinstance(context, str) else None
        if where is not None and not is_remote_context(context):
            yield from ((str(name), posixpath.normpath(posixpath.join(where, f)))
                        for f in _DOCKERFILES)


def _read_by_pgod(compose_dir: str, compose_file: str) -> Iterator[tuple[HostPath, str]]:
    """The compose file and both `.env` files, which podman-compose reads from the checkout."""
    files = [compose_file] if compose_file else [
        posixpath.join(compose_dir, n) for n in COMPOSE_NAMES + PODMAN_COMPOSE_NAMES]
    for file in [*files, posixpath.join(compose_dir, ".env"), ".env"]:
        where = repo_path("", file)
        if where is not None:
            yield HostPath("", "the compose file" if file in files else ".env", where), where


def _check_writable(mount: HostPath, where: str,
                    read: Iterable[tuple[HostPath, str]]) -> Iterator[str]:
    """A writable bind mount may not be the repository, nor hold another host path (an
    equal bind source is fine: a container cannot swap its own mount point)."""
    if where == ".":
        yield f"{mount.key} {mount.path!r} mounts the whole repository writable: the " \
              "container could rewrite .git/config (commands on the host), the compose file " \
              "or .env; mount a subdirectory, or add :ro"
        return
    binds = ("volumes", "x-podman.rootfs")
    held = [other for other, path in dict.fromkeys(read) if other is not mount and (
        path.startswith(where + "/") or (path == where and not (
            other.key.startswith(binds) or other.key.endswith(".driver_opts.device"))))]
    if held:
        owner = f" of service {held[0].service!r}" if held[0].service else ""
        more = f" (and {len(held) - 1} more)" if len(held) > 1 else ""
        yield f"{mount.key} {mount.path!r} is mounted writable and holds {held[0].key} " \
              f"{held[0].path!r}{owner}{more}, which podman-compose reads on the host: the " \
              "container could change it or swap it for a symlink; mount it read-only (:ro, " \
              "read_only: true) or keep them in separate directories"


# -- ports ----------------------------------------------------------------------------------------

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
