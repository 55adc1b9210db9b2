"""The keys of one compose service, and its build section."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from pgo.composefile import is_remote_context
from pgo.policy.arguments import check_container_name, check_image
from pgo.policy.buildurls import check_build_urls, is_remote_url
from pgo.policy.fields import Check, as_list, check_keys, smuggles, unknown
from pgo.policy.mounts import check_volumes
from pgo.policy.published import check_ports
from pgo.ports import PortRange

_FINE_NETWORK_MODES = ("none", "private", "pasta", "bridge", "slirp4netns")
_FINE_NETWORK_PREFIXES = ("bridge:", "service:")

_SERVICE_KEYS = frozenset((
    "cap_drop", "command", "cpu_shares", "cpus", "cpuset", "depends_on", "dns", "dns_opt",
    "dns_search", "entrypoint", "env_file", "environment", "expose", "extra_hosts",
    "healthcheck", "hostname", "http_proxy", "init", "labels", "links",
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


def check_service(service: Mapping[str, Any], allowed: Sequence[PortRange],
                  build_urls: Sequence[str] = ()) -> Iterator[str]:
    """Every key in document order, then the published ports and the build's URLs."""
    for key, value in service.items():
        if key in _SERVICE_REFUSED and (key != "privileged" or value):
            yield _SERVICE_REFUSED[key]
        elif key in _SERVICE_CHECKS:
            yield from _SERVICE_CHECKS[key](value)
        elif key not in _SERVICE_KEYS and key not in ("ports", "privileged") and not (
                str(key).startswith("x-") and not str(key).startswith("x-podman")):
            yield unknown(str(key))
    yield from check_ports(service.get("ports"), allowed)
    if "build" in service:
        yield from check_build_urls(service["build"], build_urls)


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
    elif mode.startswith("slirp4netns:"):
        yield f"network_mode {mode!r}: slirp4netns options can let the container reach " \
              "services on the host's loopback (allow_host_loopback) or change how ports " \
              "are forwarded; use plain 'slirp4netns' and publish ports"
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
    for item in as_list(value):
        if item not in ("no-new-privileges", "no-new-privileges:true",
                        "no-new-privileges=true"):
            yield f"security_opt {item!r} is not allowed: seccomp and AppArmor profiles, " \
                  "label and mask options loosen the container's confinement or name host " \
                  "files; only no-new-privileges is accepted"


def _check_logging(logging: object) -> Iterator[str]:
    yield from check_keys("logging", logging, ("driver", "options"))
    spec = logging if isinstance(logging, Mapping) else {}
    if spec.get("driver", "k8s-file") not in ("k8s-file", "json-file", "journald", "none",
                                              "passthrough"):
        yield f"logging.driver {spec['driver']!r} is not one pgod allows; use k8s-file, " \
              "json-file, journald, none or passthrough"
    yield from check_keys("logging", spec.get("options"), ("max-size", "tag"), {
        "path": "a log file path lets conmon write to any file the service user may write; "
                "remove it (logs go to podman's storage)"})


def _check_deploy(deploy: object) -> Iterator[str]:
    yield from check_keys("deploy", deploy, ("resources", "replicas", "mode"))
    resources = deploy.get("resources") if isinstance(deploy, Mapping) else None
    yield from check_keys("deploy.resources", resources, ("limits", "reservations"))
    spec = resources if isinstance(resources, Mapping) else {}
    yield from check_keys("deploy.resources.limits", spec.get("limits"),
                           ("cpus", "memory", "pids"))
    yield from check_keys("deploy.resources.reservations", spec.get("reservations"),
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
    """A list of strings: podman-compose passes whatever it iterates over as --group-add,
    so a mapping would give its keys (`{keep-groups: 1}`), a string its characters."""
    if not isinstance(groups, list) or not all(isinstance(g, str) for g in groups):
        yield f"group_add {groups!r} must be a list of group names or ids, as strings " \
              "(podman-compose passes each item it iterates over to podman); write e.g. " \
              "['audio', '1000']"
    elif "keep-groups" in groups:
        yield "group_add keep-groups gives the container the service user's supplementary " \
              "groups on the host; name the groups inside the container instead"


def _check_sysctls(sysctls: object) -> Iterator[str]:
    namespaced = ("net.", "kernel.shm", "kernel.msg", "kernel.sem", "fs.mqueue.")
    for item in as_list(sysctls):
        if not str(item).startswith(namespaced):
            yield f"sysctls {item!r} is not a namespaced sysctl (net.*, kernel.shm*, " \
                  "kernel.msg*, kernel.sem, fs.mqueue.*); remove it"


def _check_tmpfs(tmpfs: object) -> Iterator[str]:
    for item in as_list(tmpfs):
        if not isinstance(item, str) or not item.startswith("/"):
            yield f"tmpfs entry {item!r} must be an absolute container path"


def _check_service_networks(networks: object) -> Iterator[str]:
    safe = ("aliases", "ipv4_address", "ipv6_address", "mac_address",
            "x-podman.interface_name", "x-podman.mac_address")
    if isinstance(networks, Mapping):
        for name, spec in networks.items():
            yield from check_keys(f"networks.{name}", spec, safe)


def _check_service_secrets(secrets: object, where: str = "secrets") -> Iterator[str]:
    safe = ("source", "target", "uid", "gid", "mode", "type")
    for item in as_list(secrets):
        yield from check_keys(where, item if isinstance(item, Mapping) else None, safe)
        values = item.values() if isinstance(item, Mapping) else [item]
        for value in values:
            if smuggles(value, ",:"):
                yield f"{where} entry {value!r} contains ',' or ':', which podman would read " \
                      "as more options; rename it"


# -- build ----------------------------------------------------------------------------------------

_BUILD_KEYS = ("context", "dockerfile", "dockerfile_inline", "args", "target", "labels", "tags",
               "additional_contexts", "extra_hosts", "cache_from", "cache_to", "secrets",
               "ulimits")
_IMAGES = ("docker-image://", "container-image://", "service:")


def _check_build(build: object) -> Iterator[str]:
    if isinstance(build, str):
        build = {"context": build}
    yield from check_keys("build", build, _BUILD_KEYS, {
        "ssh": "lends the build an SSH agent or a host key file; fetch what the build needs "
               "over https, or commit it",
        "network": "is ignored by podman-compose 1.6.0; remove it"})
    spec = build if isinstance(build, Mapping) else {}
    context = spec.get("context", ".")
    if not isinstance(context, str):
        yield f"build.context {context!r} must be a path or a URL"
    elif context.startswith("-"):  # podman-compose passes a remote one last, as written
        yield f"build.context {context!r} starts with '-', which podman build would read " \
              "as an option; use a path in the repository or an https, git or ssh URL"
    elif is_remote_context(context) and not is_remote_url(context):
        yield f"build.context {context!r} is neither a path in the repository nor an " \
              "https, git or ssh URL"
    for tag in as_list(spec.get("tags")):
        yield from check_image(tag, "build.tags")
    yield from _check_service_secrets(spec.get("secrets"), "build.secrets")
    yield from _check_additional_contexts(spec.get("additional_contexts"))


def _check_additional_contexts(extra: object) -> Iterator[str]:
    """A mapping of names to contexts, or a list of NAME=CONTEXT strings. podman-compose
    writes a mapping's values into `NAME=VALUE` with str(), so a number or null would
    become a path the host path checks never saw."""
    where = "build.additional_contexts"
    named = extra.items() if isinstance(extra, Mapping) else [(None, i) for i in as_list(extra)]
    for name, value in named:
        if not isinstance(value, str):
            yield f"{where} {value!r} must be a string NAME=CONTEXT" if name is None else \
                f"{where}.{name} {value!r} must be a string (podman-compose would use it as " \
                f"the path {str(value)!r}); quote a path in the repository"
            continue
        context = value if name is not None else value.partition("=")[2]
        if context.startswith(_IMAGES) or is_remote_url(context):
            continue
        if "://" in context or is_remote_context(context):
            yield f"{where} {context!r}: use a path in the repository, docker-image://, " \
                  "container-image://, service:NAME or an https/git URL"


_SERVICE_CHECKS: dict[str, Check] = {
    "network_mode": _check_network_mode, "publishall": _check_publishall,
    "extends": _check_extends, "security_opt": _check_security_opt,
    "logging": _check_logging, "deploy": _check_deploy, "pid": _check_pid,
    "userns_mode": _check_userns, "group_add": _check_group_add, "sysctls": _check_sysctls,
    "tmpfs": _check_tmpfs, "networks": _check_service_networks,
    "secrets": _check_service_secrets, "build": _check_build, "volumes": check_volumes,
    "image": check_image, "container_name": check_container_name,
}
