"""The model layer reads every shape podman-compose accepts as podman-compose does: each
accepted shape of a key is checked exactly as its canonical form, any other is refused."""

from __future__ import annotations

from typing import Any

import pytest

from pgo.composefile import decode_text, load_model
from pgo.errors import ComposeError
from pgo.policy import check_policy
from pgo.policy.shapes import canonical_model
from pgo.ports import PortRange

RANGES = [PortRange(5005, 5010)]


def web(**service: Any) -> dict[str, Any]:
    return {"services": {"web": {"image": "nginx", **service}}}


def messages(model: dict[str, Any]) -> list[str]:
    return [str(v) for v in check_policy(model, RANGES)]


# (key, a shape podman-compose accepts, the canonical shape it means). Each value is one
# the checks refuse (so an equal result is not two empty lists), or, last, one they accept.
SAME = [
    ("volumes", "/:/host", ["/:/host"]),
    ("volumes", "./data:/data", ["./data:/data"]),
    ("env_file", "/etc/passwd", ["/etc/passwd"]),
    ("env_file", {"path": "/etc/passwd"}, [{"path": "/etc/passwd"}]),
    ("security_opt", "seccomp=unconfined", ["seccomp=unconfined"]),
    ("security_opt", "seccomp:unconfined", ["seccomp=unconfined"]),
    ("sysctls", {"kernel.core_pattern": "|/x"}, ["kernel.core_pattern=|/x"]),
    ("sysctls", {"kernel.core_pattern": None}, ["kernel.core_pattern=None"]),
    ("tmpfs", "relative", ["relative"]),
    ("ulimits", {"nofile": {"soft": 1, "hard": 2}}, ["nofile=1:2"]),
    ("ulimits", {"nofile": "1:2,nproc=9"}, ["nofile=1:2,nproc=9"]),
    ("ulimits", "nofile=1:2,nproc=9", ["nofile=1:2,nproc=9"]),
    ("dns", "1.1.1.1,8.8.8.8", ["1.1.1.1,8.8.8.8"]),
    ("dns_search", {"a,b": None}, ["a,b"]),
    ("dns_opt", {"ndots": "1,x"}, ["ndots=1,x"]),
    ("ports", "8080:80", ["8080:80"]),
    ("ports", [8080], ["8080"]),
    ("ports", [{"target": 80, "published": 8080}], ["8080:80"]),
    ("labels", ["a=b"], {"a": "b"}),
    ("environment", ["A=1", "B"], {"A": "1", "B": None}),
    ("command", "sh -c 'echo hi'", ["sh", "-c", "echo hi"]),
    ("entrypoint", "/bin/sh -c", ["/bin/sh", "-c"]),
    ("depends_on", ["db"], {"db": {"condition": "service_started"}}),
    ("extends", "base", {"service": "base"}),
    ("networks", ["front"], {"front": None}),
    ("build", "/etc", {"context": "/etc"}),
    ("build", {"context": ".", "additional_contexts": {"k": "/etc"}},
     {"context": ".", "additional_contexts": ["k=/etc"]}),
    ("build", {"context": ".", "args": {"A": "1"}}, {"context": ".", "args": ["A=1"]}),
    ("logging", {"options": {"tag": "a,path=/tmp/x"}},
     {"options": {"tag": "a,path=/tmp/x"}}),
]


def _with_network(service: dict[str, Any]) -> dict[str, Any]:
    model = web(**service)
    model["networks"] = {"front": None}
    model["services"]["db"] = {"image": "db"}
    model["services"]["base"] = {"image": "base"}
    return model


@pytest.mark.parametrize(("key", "shape", "canonical"), SAME)
def test_each_shape_is_checked_as_its_canonical_form(key: str, shape: object,
                                                     canonical: object) -> None:
    assert messages(_with_network({key: shape})) == messages(_with_network({key: canonical}))


@pytest.mark.parametrize(("key", "shape", "canonical"), SAME)
def test_the_canonical_form_is_what_podman_compose_makes_of_it(key: str, shape: object,
                                                              canonical: object) -> None:
    model, problems = canonical_model(web(**{key: shape}))
    again, _ = canonical_model(model)
    assert again == model  # canonical forms are fixed points
    if not problems and key not in ("ports", "build", "logging", "sysctls", "ulimits",
                                         "networks"):
        assert model["services"]["web"][key] == canonical


@pytest.mark.parametrize(("service", "fragment"), [
    ({"volumes": {"/:/host": None}}, "key 'volumes': a mapping"),
    ({"volumes": {"/:/host:rw": "x"}}, "key 'volumes': a mapping"),
    ({"group_add": {"keep-groups": 1}}, "key 'group_add': a mapping"),
    ({"group_add": "keep-groups"}, "key 'group_add': a string"),
    ({"cap_drop": "ALL"}, "key 'cap_drop': a string"),
    ({"cap_drop": None}, "key 'cap_drop': null"),
    ({"expose": "80"}, "key 'expose': a string"),
    ({"extra_hosts": {"host": "1.2.3.4"}}, "key 'extra_hosts': a mapping"),
    ({"tmpfs": {"/tmp": "size=1"}}, "key 'tmpfs': a mapping"),
    ({"x-podman.uidmaps": "0:1:1"}, "key 'x-podman.uidmaps': a string"),
    ({"secrets": {"db": None}}, "key 'secrets': a mapping"),
    ({"user": ["root"]}, "key 'user': a list"),
    ({"pid": {"host": 1}}, "key 'pid': a mapping"),
    ({"healthcheck": "curl x"}, "key 'healthcheck': a string"),
    ({"logging": {"options": ["path=/x"]}}, "key 'logging.options': a list"),
    ({"networks": {"front": ["x"]}}, "key 'networks.front': a list"),
    ({"build": {"context": ".", "tags": "a"}}, "key 'build.tags': a string"),
    ({"build": {"context": ".", "extra_hosts": {"h": "1.2.3.4"}}},
     "key 'build.extra_hosts': a mapping"),
    ({"build": {"context": ".", "cache_from": "x"}}, "key 'build.cache_from': a string"),
    ({"build": ["."]}, "key 'build': a list"),
    ({"ports": {"web": "5006:80"}}, "key 'ports': a mapping"),
    ({"depends_on": {"db": "x"}}, "podman-compose cannot normalize this service"),
])
def test_shapes_pgod_does_not_read_like_podman_compose_are_refused(
        service: dict[str, Any], fragment: str) -> None:
    got = messages(web(**service))
    assert len(got) == 1 and got[0].startswith("compose service 'web': "), got
    assert fragment in got[0]
    assert "write " in got[0]  # and it says what would be accepted


@pytest.mark.parametrize(("top", "kind"), [({"networks": ["front"]}, "a list"),
                                           ({"volumes": "data"}, "a string"),
                                           ({"secrets": ["x"]}, "a list")])
def test_top_level_mappings_must_be_mappings(top: dict[str, Any], kind: str) -> None:
    got = messages({**web(), **top})
    assert got == [f"compose file: top-level key {next(iter(top))!r} must be a mapping of "
                   f"names, not {kind}"]


@pytest.mark.parametrize(("service", "option"), [
    ({"group_add": ["audio,keep-groups"]}, "--group-add"),
    ({"cap_drop": ["NET_RAW,ALL"]}, "--cap-drop"),
    ({"dns": ["1.1.1.1,8.8.8.8"]}, "--dns"),
    ({"dns_opt": ['"ndots:1"']}, "--dns-option"),
    ({"dns_search": ["a\nb"]}, "--dns-search"),
    ({"expose": ["80,81"]}, "--expose"),
    ({"extra_hosts": ["a:1.2.3.4,b:5.6.7.8"]}, "--add-host"),
    ({"sysctls": {"net.core.somaxconn": "1,kernel.core_pattern=|/x"}}, "--sysctl"),
    ({"ulimits": {"nofile": "1:2,core=-1"}}, "--ulimit"),
    ({"logging": {"options": {"tag": "x,path=/home/svc/.bashrc"}}}, "--log-opt"),
    ({"logging": {"options": {"max-size": '"1m"'}}}, "--log-opt"),
    ({"ports": ["5006:80,8080:80"]}, "-p"),
    ({"ports": [{"target": 80, "published": "5006,8080"}]}, "-p"),
    ({"networks": {"front": {"aliases": ["a,ip=10.0.0.1"]}}}, "--network"),
    ({"networks": {"front": {"ipv4_address": "10.0.0.2,alias=x"}}}, "--network"),
    ({"x-podman.uidmaps": ["0:1:1,1:0:1"]}, "--uidmap"),
    ({"mac_address": "92:d0:c6:0a:29:33,ip=10.0.0.9"}, "--network"),
    ({"build": {"context": ".", "tags": ["a,b"]}}, "-t"),
    ({"build": {"context": ".", "extra_hosts": ["a:1.2.3.4,b:1.2.3.5"]}}, "--add-host"),
])
def test_values_podman_splits_are_refused(service: dict[str, Any], option: str) -> None:
    model = web(**service)
    model["networks"] = {"front": None}
    got = messages(model)
    assert len(got) == 1, got
    assert f"podman reads the value of {option} as a comma-separated list" in got[0]


def test_invalid_utf8_is_refused_naming_the_file_and_line() -> None:
    with pytest.raises(ComposeError) as caught:
        decode_text("deploy/compose.yaml", b"services:\n  web:\n    image: \xff\xfe\n")
    assert str(caught.value).startswith("deploy/compose.yaml: line 3: bytes that are not "
                                        "valid UTF-8 (b'\\xff' at byte 28)")


def test_text_is_read_with_podman_composes_newlines() -> None:
    assert decode_text("f", b"a: 1\r\nb: 2\rc: \xc3\xa9\n") == "a: 1\nb: 2\nc: \u00e9\n"


def test_normalization_runs_before_interpolation_as_in_podman_compose() -> None:
    model = load_model("services:\n  web:\n    image: x\n    command: echo '$A B'\n"
                       "    volumes: $V\n", {"A": "1", "V": "./d:/d"}, "compose.yaml")
    assert model["services"]["web"]["command"] == ["echo", "1 B"]
    assert model["services"]["web"]["volumes"] == ["./d:/d"]


def test_a_command_podman_compose_cannot_split_is_refused() -> None:
    with pytest.raises(ComposeError, match="compose service 'web': podman-compose cannot "
                                           "normalize it"):
        load_model("services:\n  web:\n    image: x\n    command: echo 'x\n", {}, "c.yaml")
