"""The policy: published host ports within the service's ranges, and nothing around it."""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pgo.composefile import load_model, repo_path
from pgo.policy import Violation, check_policy
from pgo.ports import PortRange, parse_compose_port

RANGES = [PortRange(5005, 5010), PortRange(1025, 1030)]
NO_PORTS = "this service may publish no host port (its config has no 'ports')"


def web(**service: Any) -> dict[str, Any]:
    return {"services": {"web": {"image": "nginx", **service}}}


def messages(model: dict[str, Any], allowed: list[PortRange] = RANGES,
             compose_dir: str = "", symlinks: Collection[str] = (),
             compose_file: str = "", build_urls: Collection[str] = ()) -> list[str]:
    return [str(v) for v in check_policy(model, allowed, compose_dir, symlinks, compose_file,
                                         tuple(build_urls))]


def test_violation_names_the_service_or_the_file() -> None:
    assert str(Violation("web", "bad")) == "compose service 'web': bad"
    assert str(Violation("", "bad")) == "compose file: bad"


def test_the_message_from_the_brief() -> None:
    assert messages(web(ports=["8080:80"])) == [
        "compose service 'web': host port 8080 is outside the allowed ranges "
        "5005-5010, 1025-1030"]


@pytest.mark.parametrize("ports", [
    None, [], ["5005:80"], ["5010:80"], ["1025:22", "5006:80/udp"], ["127.0.0.1:5006:80"],
    ["[::1]:5006:80"], ["5005-5010:80-85"], "5006:80",
    [{"target": 80, "published": 5006}],
    [{"target": "80-81", "published": "5005-5006", "host_ip": "127.0.0.1"}],
])
def test_ports_within_the_ranges_pass(ports: object) -> None:
    assert messages(web(ports=ports)) == []


@pytest.mark.parametrize(("ports", "expected"), [
    (["8080:80"], ["host port 8080 is outside the allowed ranges 5005-5010, 1025-1030"]),
    (["5004:80"], ["host port 5004 is outside"]),
    (["5011:80"], ["host port 5011 is outside"]),
    (["5009-5012:80-83"], ["host ports 5011-5012 are outside the allowed ranges"]),
    (["1020-1040:1020-1040"], ["host ports 1020-1024, 1031-1040 are outside"]),
    (["1025-1030:1025-1030/tcp,udp"], ["podman reads the value of -p as a comma-separated"]),
    (["5006:80", "8080:80", "9090:90"], ["host port 8080 is outside",
                                          "host port 9090 is outside"]),
    ([{"target": 80, "published": 8080}], ["host port 8080 is outside"]),
    ([{"target": "8080:80"}], ["host port 8080 is outside"]),
    (["80"], ["container port 80 published on a random host port; give an explicit host "
              "port within the allowed ranges 5005-5010, 1025-1030"]),
    ([80], ["container port 80 published on a random host port"]),
    ([5006], ["container port 5006 published on a random host port"]),
    (["80-82"], ["container ports 80-82 published on a random host port"]),
    (["127.0.0.1::80"], ["container port 80 published on a random host port"]),
    ([{"target": 80}], ["container port 80 published on a random host port"]),
    (["abc"], ["ports entry 'abc': container port 'abc' is not PORT or FIRST-LAST"]),
    (["5005-5007:80"], ["differ in number"]),
    ([True], ["ports entry True is a boolean"]),
    ({"web": "5006:80"}, ["key 'ports': a mapping ({'web': '5006:80'}) is not a shape"]),
    (["::1:5006:80"], ["put an IPv6 address in brackets"]),
])
def test_ports_outside_the_ranges(ports: object, expected: list[str]) -> None:
    got = messages(web(ports=ports))
    assert len(got) == len(expected)
    for line, fragment in zip(got, expected, strict=True):
        assert line.startswith("compose service 'web': ")
        assert fragment in line


@pytest.mark.parametrize(("ports", "expected"), [
    (["5006:80"], f"host port 5006 published, but {NO_PORTS}"),
    (["5005-5006:80-81"], f"host ports 5005-5006 published, but {NO_PORTS}"),
    (["80"], f"container port 80 published on a random host port; {NO_PORTS}"),
])
def test_without_ranges_no_host_port_may_be_published(ports: list[str], expected: str) -> None:
    assert messages(web(ports=ports), []) == [f"compose service 'web': {expected}"]
    assert messages(web(expose=["80"]), []) == []


@pytest.mark.parametrize(("mode", "fragment"), [
    ("none", None),
    ("private", None),
    ("bridge", None),
    ("bridge:ip=10.88.0.5", None),
    ("slirp4netns", None),
    ("slirp4netns:allow_host_loopback=true", "slirp4netns options can let the container "
                                             "reach services on the host's loopback"),
    ("slirp4netns:port_handler=slirp4netns", "use plain 'slirp4netns'"),
    ("slirp4netns:", "use plain 'slirp4netns'"),
    ("slirp4netnsx", "is not one podman-compose knows"),
    ("pasta", None),
    ("service:db", None),
    ("host", "shares a network namespace with the host"),
    ("ns:/proc/1/ns/net", "shares a network namespace with the host"),
    ("pasta:-t,auto", "pasta options can forward host ports"),
    ("pasta:--map-gw", "pasta options can forward host ports"),
    ("container:other", "joins a container outside this project"),
    ("bridged", "is not one podman-compose knows"),
    ("Host", "is not one podman-compose knows"),
    ("", "is not one podman-compose knows"),
    (["host"], "key 'network_mode': a list (['host']) is not a shape"),
])
def test_network_modes(mode: object, fragment: str | None) -> None:
    got = messages(web(network_mode=mode))
    if fragment is None:
        assert got == []
    else:
        assert len(got) == 1 and fragment in got[0] and got[0].startswith("compose service")


@pytest.mark.parametrize(("service", "fragment"), [
    ({"publishall": True}, "publishall publishes every exposed port"),
    ({"publishall": False}, None),
    ({"extends": {"service": "base", "file": "base.yaml"}},
     "extends a service from 'base.yaml', a file pgod does not check"),
    ({"extends": {"service": "base"}}, None),
    ({"extends": "base"}, None),
])
def test_service_keys_that_bypass_the_policy(service: dict[str, Any],
                                             fragment: str | None) -> None:
    got = messages(web(**service))
    assert got == [] if fragment is None else (len(got) == 1 and fragment in got[0])


@pytest.mark.parametrize(("top", "fragment"), [
    ({"include": ["other.yaml"]}, "top-level 'include' pulls in compose files"),
    ({"include": []}, "top-level 'include'"),
    ({"x-podman": {"pod_args": ["--infra=true", "-p", "80:80"]}}, "x-podman.pod_args"),
    ({"x-podman": {"in_pod": False}}, None),
    ({"networks": {"lan": {"driver": "macvlan"}}}, "network 'lan' uses driver 'macvlan'"),
    ({"networks": {"lan": {"driver": "ipvlan"}}}, "uses driver 'ipvlan'"),
    ({"networks": {"back": {"driver": "bridge"}, "front": None}}, None),
    ({"networks": {"ext": {"external": True}}}, "network 'ext'.external: an external network "
                                                "is not this project's"),
])
def test_project_keys_that_bypass_the_policy(top: dict[str, Any], fragment: str | None) -> None:
    got = messages({**web(), **top})
    if fragment is None:
        assert got == []
    else:
        assert len(got) == 1 and got[0].startswith("compose file: ") and fragment in got[0]


@pytest.mark.parametrize(("service", "expected"), [
    ({"build": "/srv/app"}, "build.context '/srv/app'"),
    ({"build": "../app"}, "build.context '../app'"),
    ({"build": {"context": ".", "dockerfile": "../Dockerfile"}},
     "build.dockerfile '../Dockerfile'"),
    ({"build": {"context": ".", "dockerfile": "/etc/Dockerfile"}},
     "build.dockerfile '/etc/Dockerfile'"),
    ({"build": {"additional_contexts": {"x": "/"}}}, "build.additional_contexts '/'"),
    ({"env_file": "/etc/environment"}, "env_file '/etc/environment'"),
    ({"env_file": [{"path": "../secrets.env"}]}, "env_file '../secrets.env'"),
    ({"volumes": ["/:/host"]}, "volumes '/'"),
    ({"volumes": ["~/.ssh:/ssh:ro"]}, "volumes '~/.ssh'"),
    ({"volumes": ["./a/../../b:/b"]}, "volumes './a/../../b'"),
    ({"volumes": [{"type": "bind", "source": "/run/podman/podman.sock", "target": "/s"}]},
     "volumes '/run/podman/podman.sock'"),
])
def test_host_paths_outside_the_repository(service: dict[str, Any], expected: str) -> None:
    assert messages(web(**service)) == [
        f"compose service 'web': {expected} is outside the repository (absolute, ~ or ..); "
        "use paths inside it"]


@pytest.mark.parametrize("service", [
    {"build": "."}, {"build": "app"}, {"build": "https://github.com/a/b.git"},
    {"build": {"context": "app", "dockerfile": "../Dockerfile"}},
    {"env_file": ["web.env", {"path": "opt.env", "required": False}]},
    {"volumes": ["./data:/data", "named:/x", "/anonymous", "./a/../b:/b"]},
])
def test_host_paths_inside_the_repository(service: dict[str, Any]) -> None:
    assert messages(web(**service), build_urls=["https://github.com/a/*"]) == []


@pytest.mark.parametrize(("service", "expected"), [
    ({"env_file": "./a\0b"}, "env_file './a\\x00b'"),
    ({"volumes": ["./da\nta:/d"]}, "volumes './da\\nta'"),
])
def test_host_paths_with_control_characters(service: dict[str, Any], expected: str) -> None:
    assert messages(web(**service)) == [
        f"compose service 'web': {expected} holds a control character (a NUL ends the path "
        "for podman); rename the file"]


def test_paths_are_judged_from_the_compose_files_directory() -> None:
    model = web(build="../src", volumes=["../../etc:/etc"])
    assert messages(model, RANGES, "deploy") == [
        "compose service 'web': volumes '../../etc' is outside the repository (absolute, ~ "
        "or ..); use paths inside it"]


def test_contexts_and_devices_are_judged_from_the_top() -> None:
    """podman build resolves --build-context paths, and podman a volume's device, in
    podman-compose's working directory: the checkout's top, not the compose file's."""
    model = {**web(build={"context": ".", "additional_contexts": {"up": "..", "b": "base"}}),
             "volumes": {"d": {"driver_opts": {"type": "none", "o": "bind", "device": "d"}}}}
    assert messages(model, compose_dir="deploy", symlinks={"deploy/base", "deploy/d"}) == [
        "compose service 'web': build.additional_contexts '..' is outside the repository "
        "(absolute, ~ or ..); use paths inside it (podman resolves it from the repository's "
        "top, where pgod runs podman-compose, not from the compose file's directory)"]
    assert messages(web(build={"additional_contexts": {"b": "base"}}), compose_dir="deploy",
                    symlinks={"base"}) == [
        "compose service 'web': build.additional_contexts 'base' goes through 'base', a "
        "symlink in the repository that could point anywhere on the host; commit the files "
        "themselves"]
    got = messages({**web(), "volumes": {"d": {"driver_opts": {"o": "bind", "device": ".git"}}}},
                   compose_dir="deploy")
    assert got == ["compose file: volumes.d.driver_opts.device '.git' is in .git, which "
                   "pgod's git commands read (its config can run commands on the host); use "
                   "another directory"]


def test_a_writable_device_is_judged_from_the_top() -> None:
    model = {**web(env_file="../data/web.env"),
             "volumes": {"d": {"driver_opts": {"type": "none", "o": "bind", "device": "data"}}}}
    got = messages(model, compose_dir="deploy")
    assert len(got) == 1 and "volumes.d.driver_opts.device 'data' is mounted writable and " \
        "holds env_file '../data/web.env'" in got[0], got


def test_top_level_paths_belong_to_the_file() -> None:
    model = {**web(), "secrets": {"key": {"file": "/etc/ssl/private/key.pem"}},
             "volumes": {"host": {"driver_opts": {"o": "bind", "device": "/var"}}}}
    assert messages(model) == [
        "compose file: secrets.key.file '/etc/ssl/private/key.pem' is outside the repository "
        "(absolute, ~ or ..); use paths inside it",
        "compose file: volumes.host.driver_opts.device '/var' is outside the repository "
        "(absolute, ~ or ..); use paths inside it"]


def test_every_violation_is_reported_in_order() -> None:
    model = {"include": ["x.yaml"], "services": {
        "web": {"ports": ["8080:80"], "network_mode": "host", "env_file": "/etc/e"},
        "db": {"ports": ["80"], "publishall": True},
        "ok": {"ports": ["5006:80"]}}}
    assert [(v.service, v.message.split(" ")[0]) for v in check_policy(model, RANGES)] == [
        ("", "top-level"), ("web", "network_mode"), ("web", "host"), ("db", "publishall"),
        ("db", "container"), ("web", "env_file")]


def test_an_empty_project_passes() -> None:
    assert check_policy({"services": {}}, []) == []
    assert check_policy({}, RANGES) == []


# -- values podman-compose passes to podman as arguments of their own ----------------------------

@pytest.mark.parametrize(("service", "fragment"), [
    ({"image": "--privileged"}, "image '--privileged' is not an image reference"),
    ({"image": "--volume=/:/host"}, "image '--volume=/:/host' is not an image reference"),
    ({"image": "-v/:/host"}, "is not an image reference"),
    ({"image": "alpine sh"}, "image 'alpine sh' is not an image reference"),
    ({"image": ""}, "image '' is not an image reference"),
    ({"image": 1234}, "image 1234 is not an image reference"),
    ({"image": "dir:/home/svc/img"}, "image 'dir:/home/svc/img' names podman's 'dir' "
                                      "transport"),
    ({"image": "oci-archive:x.tar"}, "names podman's 'oci-archive' transport"),
    ({"image": "docker-archive:x.tar"}, "names podman's 'docker-archive' transport"),
    ({"image": "docker-daemon:alpine:3"}, "names podman's 'docker-daemon' transport"),
    ({"image": "containers-storage:img"}, "'containers-storage' transport"),
    ({"build": {"context": ".", "tags": ["dir:out"]}},
     "build.tags 'dir:out' names podman's 'dir' transport"),
    ({"build": {"context": ".", "tags": ["-x"]}}, "build.tags '-x' is not an image reference"),
    ({"build": "--secret=id=k,src=.ssh@host:x"},
     "build.context '--secret=id=k,src=.ssh@host:x' starts with '-'"),
    ({"container_name": "--all"}, "container_name '--all' is not a plain name"),
    ({"container_name": "web 1"}, "container_name 'web 1' is not a plain name"),
    ({"container_name": "a,b"}, "container_name 'a,b' is not a plain name"),
    ({"container_name": 5}, "container_name 5 is not a plain name"),
])
def test_argument_values_podman_could_misread(service: dict[str, Any], fragment: str) -> None:
    got = messages(web(**service))
    assert len(got) == 1, got
    assert got[0].startswith("compose service 'web': ") and fragment in got[0]


@pytest.mark.parametrize("service", [
    {"image": "nginx"}, {"image": "docker.io/library/nginx:1.27"}, {"image": "localhost/web"},
    {"image": "localhost:5000/team/app:v1.2-rc_1"}, {"image": "ghcr.io/a/b@sha256:" + "0" * 64},
    {"image": "oci"}, {"image": "dir"}, {"image": "docker.io/dir:latest"},
    {"image": "docker:27"}, {"image": "docker:27-dind"}, {"image": "docker://alpine"},
    {"build": {"context": ".", "tags": ["web:x", "localhost/web:1"]}},
    {"container_name": "web"}, {"container_name": "my_app.1-x"},
])
def test_argument_values_that_are_fine(service: dict[str, Any]) -> None:
    assert messages(web(**service)) == []


# -- extends --------------------------------------------------------------------------------------

def merged_build(base: str) -> str:
    return f"extends {base!r}, which has a build too: podman-compose would merge the two " \
           "builds key by key (the context of one with the Dockerfile of the other) into a " \
           "build pgod never checked; give this service its whole build and remove extends, " \
           "or remove one of the builds"


@pytest.mark.parametrize(("services", "expected"), [
    ({"a": {"build": {"context": "a"}}, "b": {"extends": "a", "build": {"dockerfile": "x"}}},
     [("b", "a")]),
    ({"a": {"build": {"context": "a", "dockerfile": "df"}},
      "b": {"extends": {"service": "a"}, "build": {"context": "b"}}}, [("b", "a")]),
    ({"a": {"build": "a"}, "b": {"extends": "a"}, "c": {"extends": "b", "build": "c"}},
     [("c", "a")]),
    ({"a": {"extends": "b", "build": "a"}, "b": {"extends": "a", "build": "b"}},
     [("a", "b"), ("b", "a")]),
])
def test_a_build_may_not_extend_a_build(services: dict[str, Any],
                                        expected: list[tuple[str, str]]) -> None:
    model = {"services": {name: {"image": "x", **s} for name, s in services.items()}}
    assert [(v.service, v.message) for v in check_policy(model, RANGES)] == [
        (name, merged_build(base)) for name, base in expected]


@pytest.mark.parametrize("services", [
    {"a": {"build": {"context": "a", "dockerfile": "df"}}, "b": {"extends": "a"}},
    {"a": {"env_file": "a.env", "volumes": ["./d:/d:ro"]}, "b": {"extends": "a", "build": "b"}},
    {"a": {"extends": "a", "build": "a"}},
    {"b": {"extends": "missing", "build": "b"}},
])
def test_extends_without_two_builds_passes(services: dict[str, Any]) -> None:
    model = {"services": {name: {"image": "x", **s} for name, s in services.items()}}
    assert check_policy(model, RANGES) == []


# -- property: the policy agrees with the ports the entries publish --------------------------

entries = st.sampled_from(["80", "5006:80", "8080:80", "5005-5007:80-82", "1024-1026:1-3",
                           "127.0.0.1:1030:80/udp", "[::1]:5010:80", "abc", "65535:1",
                           "5008-5011:8-11"]) | st.builds(
    lambda h, c: f"{h}:{c}", st.integers(1, 65535), st.integers(1, 65535))
range_lists = st.lists(st.builds(lambda a, n: PortRange(a, min(a + n, 65535)),
                                 st.integers(1, 65535), st.integers(0, 20)), max_size=3)


@given(st.lists(entries, max_size=5), range_lists)
def test_a_project_passes_exactly_when_every_host_port_is_in_a_range(
        ports: list[str], allowed: list[PortRange]) -> None:
    def fine(entry: str) -> bool:
        try:
            published = parse_compose_port(entry)
        except ValueError:
            return False
        return all(p.host_port is not None and any(p.host_port in r for r in allowed)
                   for p in published)

    violations = check_policy(web(ports=ports), allowed)
    assert (violations == []) == all(fine(e) for e in ports)
    assert all(v.service == "web" for v in violations)


# -- the allowlist: projects people write pass ----------------------------------------------------

ROOT = Path(__file__).resolve().parents[2]


def test_the_example_project_passes() -> None:
    text = (ROOT / "examples" / "hello" / "compose.yaml").read_text()
    model = load_model(text, {}, "compose.yaml")
    assert check_policy(model, [PortRange(5006, 5006)], "", (), "compose.yaml") == []
    assert check_policy(model, [PortRange(5007, 5007)], "", (), "compose.yaml") != []


def test_a_project_using_every_allowed_key_passes() -> None:
    web = {
        "image": "nginx", "command": ["nginx", "-g", "daemon off;"], "entrypoint": "/init",
        "build": {"context": "app", "dockerfile": "Containerfile", "args": {"V": "1"},
                  "target": "prod", "labels": ["a=b"], "tags": ["web:x"],
                  "additional_contexts": {"base": "./base", "img": "docker-image://alpine",
                                          "db": "service:db"},
                  "extra_hosts": ["h:10.0.0.1"], "cache_from": ["c"], "cache_to": ["c"],
                  "secrets": ["key"], "ulimits": {"nofile": 1024},
                  "dockerfile_inline": None},
        "environment": {"A": "1"}, "env_file": ["web.env"], "ports": ["5006:80"],
        "expose": ["80"], "volumes": ["data:/data", "./conf:/etc/nginx:ro,z", "/anon",
                                      {"type": "tmpfs", "target": "/t", "tmpfs": {"size": 1000}},
                                      {"type": "volume", "source": "data", "target": "/v",
                                       "volume": {"nocopy": True, "subpath": "a/b"}},
                                      {"type": "bind", "source": "./www", "target": "/www",
                                       "read_only": True,
                                       "bind": {"propagation": "rprivate", "selinux": "z",
                                                "create_host_path": False}}],
        "tmpfs": ["/run", "/tmp:size=64m"], "depends_on": {"db": {"condition":
                                                                  "service_healthy"}},
        "restart": "unless-stopped", "labels": {"a": "b"}, "container_name": "web",
        "hostname": "web", "working_dir": "/srv", "user": "1000", "group_add": ["wheel"],
        "networks": {"front": {"aliases": ["www"], "ipv4_address": "10.1.0.5"}},
        "extra_hosts": ["db:10.0.0.2"], "dns": ["9.9.9.9"], "dns_search": "lan",
        "dns_opt": ["ndots:1"], "deploy": {"resources": {"limits": {"cpus": "1",
                                                                    "memory": "1g"}}},
        "mem_limit": "1g", "cpus": 1, "pids_limit": 100, "init": True, "read_only": True,
        "shm_size": "64m", "stop_signal": "SIGQUIT", "stop_grace_period": "1s",
        "ulimits": {"nofile": {"soft": 1024, "hard": 2048}}, "tty": True, "stdin_open": True,
        "profiles": ["web"], "platform": "linux/amd64", "pull_policy": "missing",
        "cap_drop": ["ALL"], "secrets": ["key", {"source": "key", "target": "k.pem"}],
        "security_opt": ["no-new-privileges:true"], "privileged": False, "publishall": False,
        "logging": {"driver": "journald", "options": {"tag": "web"}},
        "sysctls": {"net.core.somaxconn": 1024}, "userns_mode": "keep-id",
        "x-podman.uidmaps": ["0:1:1000"], "x-podman.no_hosts": True, "x-notes": "anything",
        "healthcheck": {"test": ["CMD", "true"], "interval": "10s"}, "pid": "private",
    }
    model = {"version": "3.8", "name": "site", "x-common": {"a": 1},
             "x-podman": {"in_pod": False, "name_separator_compat": True},
             "services": {"web": web, "db": {"image": "postgres", "links": ["web:w"],
                                             "network_mode": "service:web", "scale": 1,
                                             "healthcheck": {"test": "true"}}},
             "networks": {"front": {"driver": "bridge", "internal": False, "labels": ["a"],
                                    "ipam": {"config": [{"subnet": "10.1.0.0/24"}]}}},
             "volumes": {"data": None, "cache": {"labels": {"a": "b"}},
                         "ext": {"external": True, "name": "shared-data"}},
             "secrets": {"key": {"file": "./secrets/key.pem"}}}
    assert messages(model) == []


# -- the allowlist: keys refused, with what they do -----------------------------------------------

@pytest.mark.parametrize(("service", "fragment"), [
    ({"runtime": "/home/svc/evil"}, "runtime picks the OCI runtime"),
    ({"init-path": "/bin/sh"}, "init-path runs a host file"),
    ({"privileged": True}, "privileged gives the container every capability"),
    ({"cap_add": ["SYS_ADMIN"]}, "cap_add gives the container capabilities"),
    ({"devices": ["/dev/fuse"]}, "devices passes host devices"),
    ({"device_cgroup_rules": ["c 1:3 mr"]}, "device_cgroup_rules opens host devices"),
    ({"annotations": {"run.oci.handler": "krun"}}, "annotations configure the OCI runtime"),
    ({"pod": "other"}, "pod puts the container in a pod"),
    ({"x-podman": {"uidmaps": []}}, "use x-podman.uidmaps"),
    ({"x-podman.rootfs": "rootfs"}, "x-podman.rootfs runs a host directory"),
    ({"configs": ["c"]}, "configs is ignored by podman-compose 1.6.0"),
    ({"volumes_from": ["container:db"]}, "volumes_from is ignored"),
    ({"domainname": "example.org"}, "key 'domainname' is not one pgod allows"),
    ({"init_path": "/x"}, "key 'init_path' is not one pgod allows"),
    ({"ipc": "host"}, "key 'ipc' is not one pgod allows"),
    ({"name": "other"}, "key 'name' is not one pgod allows"),
    ({"_aliases": ["x"]}, "key '_aliases' is not one pgod allows"),
    ({"x-podman.other": 1}, "key 'x-podman.other' is not one pgod allows"),
    ({"pid": "host"}, "pid 'host' shares a PID namespace"),
    ({"pid": "container:db"}, "pid 'container:db' shares"),
    ({"userns_mode": "host"}, "userns_mode 'host' shares a user namespace"),
    ({"userns_mode": "ns:/proc/1/ns/user"}, "userns_mode 'ns:/proc/1/ns/user'"),
    ({"group_add": ["keep-groups"]}, "group_add keep-groups"),
    ({"group_add": {"keep-groups": 1}}, "key 'group_add': a mapping ({'keep-groups': 1}) is "
                                        "not a shape pgod reads the way podman-compose does"),
    ({"group_add": "wheel"}, "key 'group_add': a string ('wheel') is not a shape"),
    ({"group_add": ["audio,keep-groups"]}, "podman reads the value of --group-add as a "
                                           "comma-separated list"),
    ({"sysctls": {"kernel.core_pattern": "|/x"}}, "sysctls 'kernel.core_pattern=|/x' is not"),
    ({"sysctls": ["vm.overcommit_memory=1"]}, "sysctls 'vm.overcommit_memory=1' is not"),
    ({"tmpfs": ["run"]}, "tmpfs entry 'run' must be an absolute container path"),
    ({"logging": {"driver": "k8s-file", "options": {"path": "/home/svc/.bashrc"}}},
     "logging.path: a log file path lets conmon write"),
    ({"logging": {"options": {"max-file": "3"}}}, "logging.max-file: pgod does not allow"),
    ({"logging": {"driver": "fluentd"}}, "logging.driver 'fluentd' is not one pgod allows"),
    ({"logging": {"driver": "k8s-file", "path": "/x"}}, "logging.path: pgod does not allow"),
    ({"deploy": {"resources": {"reservations": {"devices": [{"driver": "nvidia"}]}}}},
     "deploy.resources.reservations.devices: gives the container host devices"),
    ({"deploy": {"placement": {}}}, "deploy.placement: pgod does not allow it"),
    ({"networks": {"front": {"driver_opts": {}}}}, "networks.front.driver_opts: pgod does not"),
    ({"secrets": [{"source": "key", "target": "/k,src=/etc/shadow"}]},
     "secrets entry '/k,src=/etc/shadow' contains ',' or ':'"),
    ({"secrets": [{"source": "key", "target": "/k:/x:rw"}]}, "contains ',' or ':'"),
    ({"secrets": [{"source": "key", "other": 1}]}, "secrets.other: pgod does not allow it"),
])
def test_service_keys_refused(service: dict[str, Any], fragment: str) -> None:
    got = messages(web(**service))
    assert len(got) == 1, got
    assert got[0].startswith("compose service 'web': ") and fragment in got[0]


@pytest.mark.parametrize("option", [
    "seccomp=/home/svc/profile.json", "seccomp=unconfined",
    "apparmor=/etc/apparmor.d/x", "apparmor=unconfined", "label=disable", "label=type:spc_t",
    "unmask=ALL", "mask=/proc", "proc-opts=x", "no-new-privileges:false"])
def test_security_opt_allows_only_no_new_privileges(option: str) -> None:
    got = messages(web(security_opt=[option]))
    assert got == [f"compose service 'web': security_opt {option!r} is not allowed: seccomp "
                   "and AppArmor profiles, label and mask options loosen the container's "
                   "confinement or name host files; only no-new-privileges is accepted"]
    assert messages(web(security_opt=["no-new-privileges", "no-new-privileges=true"])) == []


@pytest.mark.parametrize(("top", "fragment"), [
    ({"configs": {"c": {"file": "c"}}}, "top-level 'configs' is ignored"),
    ({"models": {}}, "top-level key 'models' is not one pgod allows"),
    ({"x-podman": {"in_pod": "someones_pod"}}, "x-podman.in_pod 'someones_pod' names a pod"),
    ({"x-podman": {"unknown": 1}}, "x-podman.unknown: pgod does not allow it"),
    ({"x-podman": ["pod_args"]}, "x-podman must be a mapping"),
    ({"networks": {"lan": {"driver_opts": {"mode": "unmanaged"}}}},
     "network 'lan'.driver_opts: driver options are not checked"),
    ({"networks": {"lan": {"name": "host"}}}, "name 'host' is not a plain"),
    ({"networks": {"host": None}}, "name 'host' is not a plain name"),
    ({"networks": {"lan": {"name": "ns:/proc/1/ns/net"}}}, "'ns:/proc/1/ns/net' is not a"),
    ({"networks": {"lan": {"name": "x:ip=1.2.3.4"}}}, "'x:ip=1.2.3.4' is not"),
    ({"networks": {"lan": {"ipam": {"driver": "dhcp"}}}}, "ipam driver 'dhcp' is not allowed"),
    ({"networks": {"lan": {"attachable": True}}}, "network 'lan'.attachable: pgod does not"),
    ({"volumes": {"v": {"driver": "nfs"}}}, "volume 'v' uses driver 'nfs'"),
    ({"volumes": {"v": {"name": "x,type=bind,source=/home"}}}, "'x,type=bind,source=/home'"),
    ({"volumes": {"v,type=bind,src=/": None}}, "name 'v,type=bind,src=/' is not a plain"),
    ({"volumes": {"v": {"driver_opts": {"type": "nfs", "o": "addr=10.0.0.1"}}}},
     "driver_opts type 'nfs' mounts a filesystem"),
    ({"volumes": {"v": {"driver_opts": {"size": "1g"}}}}, "driver_opts.size: pgod does not"),
    ({"volumes": {"v": {"driver_opts": {"type": "none", "o": "bind", "device": 1234}}}},
     "volume 'v': driver_opts.device 1234 must be a string (podman-compose would use it as "
     "the path '1234')"),
    ({"secrets": {"s": {"file": "./s,src=/etc/shadow"}}}, "secret 's': file './s,src="),
    ({"secrets": {"s": {"environment": "A,src=/x"}}}, "secret 's': environment 'A,src=/x'"),
    ({"secrets": {"s": {"file": "./s", "x-podman.relabel": "shared"}}},
     "x-podman.relabel must be z or Z"),
    ({"secrets": {"s": {"file": "./s", "driver": "x"}}}, "secret 's'.driver: pgod does not"),
])
def test_project_keys_refused(top: dict[str, Any], fragment: str) -> None:
    got = messages({**web(), **top})
    assert len(got) == 1, got
    assert got[0].startswith("compose file: ") and fragment in got[0]


@pytest.mark.parametrize(("build", "fragment"), [
    ({"ssh": ["default"]}, "build.ssh: lends the build an SSH agent or a host key file"),
    ({"ssh": ["id=~/.ssh/id_ed25519"]}, "build.ssh: lends"),
    ({"network": "host"}, "build.network: is ignored by podman-compose 1.6.0"),
    ({"privileged": True}, "build.privileged: pgod does not allow it"),
    ({"context": "file:///home/svc"}, "build.context 'file:///home/svc' is neither"),
    ({"context": "rsync://host/x"}, "is neither a path in the repository"),
    ({"context": "x:/home/svc"}, "build.context 'x:/home/svc' is neither"),
    ({"context": 1}, "build.context 1 must be a path or a URL"),
    ({"additional_contexts": {"k": "oci-layout:///home/svc/layout"}},
     "build.additional_contexts 'oci-layout:///home/svc/layout': use a path"),
    ({"additional_contexts": ["k=file:///etc"]}, "'file:///etc': use a path"),
    ({"additional_contexts": {"k": "/etc"}}, "build.additional_contexts '/etc' is outside"),
    ({"additional_contexts": {"k": [1]}}, "build.additional_contexts '[1]': use a path"),
    ({"secrets": [{"source": "key", "target": "k,src=/home/svc/.ssh/id_rsa"}]},
     "build.secrets entry 'k,src=/home/svc/.ssh/id_rsa' contains ','"),
])
def test_build_keys_refused(build: dict[str, Any], fragment: str) -> None:
    got = messages(web(build=build))
    assert len(got) == 1, got
    assert got[0].startswith("compose service 'web': ") and fragment in got[0]


@pytest.mark.parametrize("context", [
    ".", "app", "https://github.com/a/b.git", "https://github.com/a/b.git#main:dir",
    "git@github.com:a/b.git", "ssh://git@host/x.git", "git://host/x"])
def test_build_contexts_allowed(context: str) -> None:
    allowed = ["https://github.com/a/*", "git@github.com:a/*", "ssh://git@host/*",
               "git://host/*"]
    assert messages(web(build=context), build_urls=allowed) == []


# -- mounts ---------------------------------------------------------------------------------------

@pytest.mark.parametrize(("volume", "fragment"), [
    ("/x,type=bind,source=/home", "',' in a path would add fields"),
    ("data:/x,type=bind,source=/home", "',' in a path"),
    ("./a,b:/x", "',' in a path"),
    ("./a:/b:/c:ro", "has more than three ':'-separated fields"),
    ("./data:/data:U", "option U changes the owner of the host files"),
    ("./data:/data:ro,idmap", "unknown option 'idmap'"),
    ("/data:U", "option U"),
    ({"type": "glob", "source": "./*.conf", "target": "/c"}, "only bind, volume and tmpfs"),
    ({"type": "image", "source": "alpine", "target": "/i"}, "only bind, volume and tmpfs"),
    ({"type": "npipe", "source": "x", "target": "/i"}, "only bind, volume and tmpfs"),
    ({"source": "data", "target": "/i"}, "only bind, volume and tmpfs"),
    ({"type": "bind", "target": "/i"}, "source must be a path in the repository"),
    ({"type": "bind", "source": "./d", "target": "/srv,source=/home/*/.ssh/*"},
     "target '/srv,source=/home/*/.ssh/*' contains ',' or ':'"),
    ({"type": "bind", "source": "./d,src=/", "target": "/srv"}, "source './d,src=/' contains"),
    ({"type": "bind", "source": "./d", "target": "/srv:/x:rw"}, "target '/srv:/x:rw' contains"),
    ({"type": "volume", "source": "data", "target": "/d,type=bind"}, "contains ',' or ':'"),
    ({"type": "tmpfs", "target": "/t", "tmpfs": {"size": "1m,exec"}}, "tmpfs.size '1m,exec'"),
    ({"type": "tmpfs", "target": "/t", "tmpfs": {"mode": "1777,x"}}, "tmpfs.mode '1777,x'"),
    ({"type": "bind", "source": "./d", "target": "/d", "bind": {"propagation": "shared,x"}},
     "bind.propagation must be one of private, rprivate"),
    ({"type": "bind", "source": "./d", "target": "/d", "bind": {"selinux": "z,src=/"}},
     "bind.selinux must be z or Z"),
    ({"type": "volume", "source": "data", "target": "/d", "volume": {"subpath": "../.."}},
     "volume.subpath '../..' must be a relative path inside the volume"),
    ({"type": "volume", "source": "data", "target": "/d", "volume": {"subpath": "a,ro"}},
     "volume.subpath 'a,ro'"),
    ({"type": "volume", "source": "data", "target": "/d", "extra": 1},
     "volumes entry of type 'volume'.extra: pgod does not allow it"),
])
def test_mounts_refused(volume: object, fragment: str) -> None:
    model = {**web(volumes=[volume]), "volumes": {"data": None}}
    got = messages(model)
    assert len(got) == 1, got
    assert got[0].startswith("compose service 'web': ") and fragment in got[0]


field_text = st.text(alphabet="ab/.,:=-", max_size=12)


@given(field_text, st.sampled_from(["source", "target"]))
def test_a_long_mount_field_is_refused_exactly_when_it_could_add_fields(
        text: str, field: str) -> None:
    volume = {"type": "volume", "source": "data", "target": "/d", field: "/" + text}
    model = {**web(volumes=[volume]), "volumes": {"data": None}}
    assert (messages(model) != []) == ("," in text or ":" in text)


@given(st.text(alphabet="ab/.,=-", max_size=12), st.text(alphabet="ab/.,=-", max_size=12))
def test_a_short_bind_is_refused_exactly_when_a_path_has_a_comma(source: str,
                                                                 target: str) -> None:
    got = messages(web(volumes=[f"./{source}:/{target}:ro"]))
    outside = repo_path("", f"./{source}") is None
    assert (got != []) == ("," in source + target or outside)


# -- symlinks and .git ----------------------------------------------------------------------------

@pytest.mark.parametrize(("service", "links", "expected"), [
    ({"volumes": ["./data:/x:ro"]}, {"data"}, "volumes './data' goes through 'data'"),
    ({"volumes": ["./data/sub:/x:ro"]}, {"data"}, "volumes './data/sub' goes through 'data'"),
    ({"volumes": ["./link/../data:/x:ro"]}, {"link"}, "goes through 'link'"),
    ({"volumes": [{"type": "bind", "source": "conf", "target": "/c", "read_only": True}]},
     {"conf"}, "volumes 'conf' goes through 'conf'"),
    ({"build": "app"}, {"app"}, "build.context 'app' goes through 'app'"),
    ({"build": {"context": "app", "dockerfile": "Containerfile"}}, {"app/Containerfile"},
     "build.dockerfile 'app/Containerfile' goes through 'app/Containerfile'"),
    ({"build": {"additional_contexts": {"b": "./base"}}}, {"base"},
     "build.additional_contexts './base' goes through 'base'"),
    ({"env_file": "env/web.env"}, {"env"}, "env_file 'env/web.env' goes through 'env'"),
    ({"build": "."}, {"Containerfile"}, "Containerfile is a symlink in the repository"),
    ({"build": {"context": "app"}}, {"app/Dockerfile"}, "app/Dockerfile is a symlink"),
])
def test_host_paths_through_a_committed_symlink(service: dict[str, Any], links: set[str],
                                                expected: str) -> None:
    got = messages(web(**service), symlinks=links)
    assert len(got) == 1, got
    assert got[0].startswith("compose service 'web': ") and expected in got[0]
    assert messages(web(**service)) == []


def test_symlinks_are_judged_from_the_compose_files_directory() -> None:
    model = {**web(volumes=["./data:/d:ro", "../shared:/s:ro"]),
             "secrets": {"k": {"file": "./secret/k"}}}
    assert messages(model, compose_dir="deploy", symlinks={"data", "secret"}) == []
    assert messages(model, compose_dir="deploy", symlinks={"deploy/data", "shared",
                                                           "deploy/secret"}) == [
        "compose service 'web': volumes './data' goes through 'deploy/data', a symlink in the "
        "repository that could point anywhere on the host; commit the files themselves",
        "compose service 'web': volumes '../shared' goes through 'shared', a symlink in the "
        "repository that could point anywhere on the host; commit the files themselves",
        "compose file: secrets.k.file './secret/k' goes through 'deploy/secret', a symlink in "
        "the repository that could point anywhere on the host; commit the files themselves"]


@pytest.mark.parametrize(("service", "links"), [
    ({"volumes": ["./data:/x:ro"]}, {"data2", "dat", "other/data"}),
    ({"build": {"context": "app", "dockerfile": "Dockerfile"}}, {"app/Containerfile"}),
    ({"build": "https://github.com/a/b.git"}, {"Containerfile"}),
    ({"volumes": ["data:/x"]}, {"data"}),
])
def test_symlinks_elsewhere_are_fine(service: dict[str, Any], links: set[str]) -> None:
    assert messages({**web(**service), "volumes": {"data": None}}, symlinks=links,
                    build_urls=["https://github.com/a/*"]) == []


@pytest.mark.parametrize(("service", "compose_dir", "expected"), [
    ({"volumes": [".git:/g:ro"]}, "", "volumes '.git' is in .git"),
    ({"volumes": ["./.git/hooks:/h:ro"]}, "", "volumes './.git/hooks' is in .git"),
    ({"volumes": ["../.git/config:/c:ro"]}, "deploy", "volumes '../.git/config' is in .git"),
    ({"build": ".git"}, "", "build.context '.git' is in .git"),
    ({"env_file": ".git/../.git/config"}, "", "env_file '.git/../.git/config' is in .git"),
])
def test_nothing_may_use_git(service: dict[str, Any], compose_dir: str, expected: str) -> None:
    got = messages(web(**service), compose_dir=compose_dir)
    assert got == [f"compose service 'web': {expected}, which pgod's git commands read (its "
                   "config can run commands on the host); use another directory"]


def test_names_that_only_start_like_git_are_fine() -> None:
    assert messages(web(volumes=["./.gitignore:/g:ro", "./.github:/h:ro", "./a/.git:/a:ro"])) \
        == []


# -- writable mounts ------------------------------------------------------------------------------

WHOLE = "mounts the whole repository writable: the container could rewrite .git/config"


@pytest.mark.parametrize("volume", [
    ".:/w", "./:/w", ".:/w:rw", ".:/w:ro,rw", "./a/..:/w:z",
    {"type": "bind", "source": ".", "target": "/w"},
    {"type": "bind", "source": ".", "target": "/w", "read_only": False}])
def test_the_repository_may_not_be_mounted_writable(volume: object) -> None:
    got = messages(web(volumes=[volume]))
    assert len(got) == 1 and WHOLE in got[0], got


@pytest.mark.parametrize("volume", [
    ".:/w:ro", ".:/w:z,ro", {"type": "bind", "source": ".", "target": "/w", "read_only": True}])
def test_the_repository_may_be_mounted_read_only(volume: object) -> None:
    assert messages(web(volumes=[volume], env_file="web.env", build=".")) == []


def test_a_writable_mount_from_a_subdirectory_may_not_be_its_directory() -> None:
    got = messages(web(volumes=["../deploy:/w"]), compose_dir="deploy",
                   compose_file="deploy/compose.yaml")
    assert got == [
        "compose service 'web': volumes '../deploy' is mounted writable and holds the compose "
        "file 'deploy/compose.yaml' (and 1 more), which podman-compose reads on the host: the "
        "container could change it or swap it for a symlink; mount it read-only (:ro, "
        "read_only: true) or keep them in separate directories"]
    assert messages(web(volumes=["../deploy/data:/w"]), compose_dir="deploy") == []


@pytest.mark.parametrize(("model", "compose_file", "holds"), [
    (web(volumes=["./conf:/c"], env_file="conf/web.env"), "", "env_file 'conf/web.env'"),
    (web(volumes=["./conf:/c", "./conf/nginx.conf:/n:ro"]), "", "volumes './conf/nginx.conf'"),
    (web(volumes=["./app/data:/d"], build={"context": "app/data"}), "",
     "build.context 'app/data'"),
    (web(volumes=["./docker:/d"], build={"context": "app", "dockerfile": "../docker/F"}), "",
     "build.dockerfile 'docker/F'"),
    (web(volumes=["./deploy:/d"]), "deploy/prod.yml", "the compose file 'deploy/prod.yml'"),
    (web(volumes=["./compose.yaml:/c.yaml"]), "", "the compose file 'compose.yaml'"),
    (web(volumes=["./prod.yml:/c.yaml"]), "prod.yml", "the compose file 'prod.yml'"),
    (web(volumes=["./.env:/e"]), "", ".env '.env'"),
    ({**web(volumes=["./s:/s"]), "secrets": {"k": {"file": "s/k.pem"}}}, "",
     "secrets.k.file 's/k.pem'"),
    ({**web(), "volumes": {"d": {"driver_opts": {"type": "none", "o": "bind",
                                                 "device": "./data"}}},
      "secrets": {"k": {"file": "data/k"}}}, "", "secrets.k.file 'data/k'"),
])
def test_a_writable_mount_may_not_hold_what_podman_compose_reads(
        model: dict[str, Any], compose_file: str, holds: str) -> None:
    got = messages(model, compose_file=compose_file)
    assert len(got) == 1, got
    assert f"is mounted writable and holds {holds}" in got[0]


@pytest.mark.parametrize(("model", "compose_file"), [
    (web(volumes=["./data:/d", "./data:/e:ro"]), ""),
    ({"services": {"a": {"image": "x", "volumes": ["./data:/d"]},
                   "b": {"image": "y", "volumes": ["./data:/d"]}}}, ""),
    (web(volumes=["./app/data:/d"], build="app"), ""),
    (web(volumes=["./data:/d"], env_file="conf/web.env"), ""),
    (web(volumes=["./compose.yaml:/c.yaml"]), "deploy/compose.yaml"),
    (web(volumes=["./conf:/c:ro"], env_file="conf/web.env"), ""),
    ({**web(), "volumes": {"d": {"driver_opts": {"type": "none", "o": "bind,ro",
                                                 "device": "./data"}}},
      "secrets": {"k": {"file": "data/k"}}}, ""),
])
def test_writable_mounts_apart_from_what_podman_compose_reads(model: dict[str, Any],
                                                              compose_file: str) -> None:
    assert messages(model, compose_file=compose_file) == []
