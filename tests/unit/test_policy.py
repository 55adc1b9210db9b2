"""The policy: published host ports within the service's ranges, and nothing around it."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pgo.policy import Violation, check_policy
from pgo.ports import PortRange, parse_compose_port

RANGES = [PortRange(5005, 5010), PortRange(1025, 1030)]
NO_PORTS = "this service may publish no host port (its config has no 'ports')"


def web(**service: Any) -> dict[str, Any]:
    return {"services": {"web": {"image": "nginx", **service}}}


def messages(model: dict[str, Any], allowed: list[PortRange] = RANGES,
             compose_dir: str = "") -> list[str]:
    return [str(v) for v in check_policy(model, allowed, compose_dir)]


def test_violation_names_the_service_or_the_file() -> None:
    assert str(Violation("web", "bad")) == "compose service 'web': bad"
    assert str(Violation("", "bad")) == "compose file: bad"


def test_the_message_from_the_brief() -> None:
    assert messages(web(ports=["8080:80"])) == [
        "compose service 'web': host port 8080 is outside the allowed ranges "
        "5005-5010, 1025-1030"]


@pytest.mark.parametrize("ports", [
    None, [], ["5005:80"], ["5010:80"], ["1025:22", "5006:80/udp"], ["127.0.0.1:5006:80"],
    ["[::1]:5006:80"], ["5005-5010:80-85"], ["1025-1030:1025-1030/tcp,udp"], "5006:80",
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
    (["8080:80/tcp,udp"], ["host port 8080 is outside"]),
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
    ({"web": "5006:80"}, ["ports must be a list"]),
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
    ("slirp4netns:allow_host_loopback=true", None),
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
    (["host"], "is not a string"),
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
    ({"networks": {"back": {"driver": "bridge"}, "front": None, "ext": {"external": True}}},
     None),
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
    ({"x-podman.rootfs": "/"}, "x-podman.rootfs '/'"),
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
    assert messages(web(**service)) == []


def test_paths_are_judged_from_the_compose_files_directory() -> None:
    model = web(build="../src", volumes=["../../etc:/etc"])
    assert messages(model, RANGES, "deploy") == [
        "compose service 'web': volumes '../../etc' is outside the repository (absolute, ~ "
        "or ..); use paths inside it"]


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
