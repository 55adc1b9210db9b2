"""Finding the compose file, loading its model, and the repository paths it uses."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pgo.composefile import (
    COMPOSE_NAMES,
    OVERRIDE_NAMES,
    PODMAN_COMPOSE_NAMES,
    HostPath,
    build_paths,
    find_compose_file,
    host_paths,
    is_remote_context,
    is_writable,
    load_model,
    repo_path,
    runtime_paths,
    touches,
    used_paths,
)
from pgo.errors import ComposeError

# -- find_compose_file ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", COMPOSE_NAMES + PODMAN_COMPOSE_NAMES)
def test_the_one_candidate_is_found(name: str) -> None:
    assert find_compose_file(["README.md", name, "src", "ssh"], None) == name


@pytest.mark.parametrize(("configured", "expected"), [
    ("compose.yaml", "compose.yaml"),
    ("./deploy/compose.yaml", "deploy/compose.yaml"),
    ("deploy//prod.yml", "deploy/prod.yml"),
])
def test_a_configured_file_wins(configured: str, expected: str) -> None:
    names = ["compose.yaml", "docker-compose.yml", "compose.override.yaml"]
    assert find_compose_file(names, configured) == expected
    assert find_compose_file([], configured) == expected


@pytest.mark.parametrize("configured", ["", ".", "/etc/compose.yaml", "../compose.yaml",
                                        "a/../../compose.yaml", "a/../compose.yaml",
                                        "~/compose.yaml"])
def test_a_configured_file_must_be_inside_the_repository(configured: str) -> None:
    with pytest.raises(ComposeError, match="is not a path inside the repository"):
        find_compose_file(["compose.yaml"], configured)


@pytest.mark.parametrize(("names", "fragments"), [
    ([], ["no compose file", "compose.yaml, compose.yml, docker-compose.yml"]),
    (["README.md", "Compose.yaml", "compose.yaml.bak"], ["no compose file"]),
    (["compose.yaml", "docker-compose.yml"], ["more than one compose file",
                                              "compose.yaml, docker-compose.yml", "'compose'"]),
    (["compose.yml", "podman-compose.yml"], ["compose.yml, podman-compose.yml"]),
    (["compose.yaml", "compose.override.yaml"], ["compose.override.yaml found",
                                                 "never merges overrides"]),
    (["docker-compose.override.yml"], ["docker-compose.override.yml found"]),
])
def test_no_single_compose_file(names: list[str], fragments: list[str]) -> None:
    with pytest.raises(ComposeError) as caught:
        find_compose_file(names, None)
    for fragment in fragments:
        assert fragment in str(caught.value)


@pytest.mark.parametrize("override", OVERRIDE_NAMES)
def test_every_override_name_is_refused(override: str) -> None:
    with pytest.raises(ComposeError, match="never merges overrides"):
        find_compose_file(["compose.yaml", override], None)


# -- load_model ----------------------------------------------------------------------------------

def test_load_model_interpolates() -> None:
    text = 'services:\n  web:\n    image: "nginx:${TAG:-latest}"\n    ports: ["${P}:80"]\n'
    assert load_model(text, {"P": "5006"}, "compose.yaml") == {
        "services": {"web": {"image": "nginx:latest", "ports": ["5006:80"]}}}


def test_list_environment_becomes_variables_as_in_podman_compose() -> None:
    text = "services:\n  web:\n    environment: [PORT=5006, BARE, '']\n" \
           "    ports: ['${PORT}:80']\n"
    model = load_model(text, {}, "compose.yaml")
    assert model["services"]["web"] == {"environment": {"PORT": "5006", "BARE": None},
                                        "ports": ["5006:80"]}
    text = "services:\n  web:\n    environment: PORT=5006\n    ports: ['${PORT}:80']\n"
    assert load_model(text, {}, "c.yml")["services"]["web"]["ports"] == ["5006:80"]


def test_empty_services_is_a_project_with_nothing_to_run() -> None:
    assert load_model("services: {}\n", {}, "compose.yaml") == {"services": {}}


@pytest.mark.parametrize(("text", "fragments"), [
    ("services:\n  web: [\n", ["deploy/compose.yaml: line 3, column 1: invalid YAML"]),
    ("services:\n\tweb: {}\n", ["deploy/compose.yaml: line 2, column 1:"]),
    ("a: b: c\n", ["line 1, column 5"]),
    ("", ["expected a mapping at the top"]),
    ("- web\n", ["expected a mapping at the top"]),
    ("version: '3'\n", ["'services' must be a mapping", "not NoneType"]),
    ("services: [web]\n", ["'services' must be a mapping", "not list"]),
    ("services:\n  web: nginx\n", ["service 'web' must be a mapping"]),
    ("services:\n  web:\n", ["service 'web' must be a mapping"]),
    ("services:\n  1: {}\n", ["service 1 must be a mapping under a name"]),
    ("services:\n  web:\n    image: ${A\n", ["deploy/compose.yaml: no closing brace"]),
    ("services:\n  web:\n    image: ${TAG:?set TAG}\n",
     ["deploy/compose.yaml: required variable TAG is missing a value: set TAG"]),
    ("services:\n  web:\n    environment: [1]\n",
     ["compose service 'web': podman-compose cannot normalize it"]),
    ("when: 2020-13-45\nservices: {}\n", ["deploy/compose.yaml: invalid YAML"]),
    ("services: !!python/object:os.system {}\n", ["deploy/compose.yaml: line 1"]),
])
def test_load_model_errors_name_the_file(text: str, fragments: list[str]) -> None:
    with pytest.raises(ComposeError) as caught:
        load_model(text, {}, "deploy/compose.yaml")
    for fragment in fragments:
        assert fragment in str(caught.value)


def test_alias_bombs_are_refused_before_interpolation() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 7)]
    with pytest.raises(ComposeError, match="more than 200000 values"):
        load_model("\n".join([*lines, "services: {}"]), {}, "compose.yaml")


# -- paths ---------------------------------------------------------------------------------------

@pytest.mark.parametrize(("base", "path", "expected"), [
    ("", ".", "."),
    ("", "", "."),
    ("", "./a/../b", "b"),
    ("", "a//b/./c/", "a/b/c"),
    ("deploy", "../src", "src"),
    ("deploy", ".", "deploy"),
    ("", "..", None),
    ("", "../x", None),
    ("deploy", "../../x", None),
    ("", "a/../../x", None),
    ("", "/etc", None),
    ("", "~/x", None),
    ("", "~", None),
    ("", "..x", "..x"),
])
def test_repo_path(base: str, path: str, expected: str | None) -> None:
    assert repo_path(base, path) == expected


@pytest.mark.parametrize(("context", "remote"), [
    ("https://github.com/a/b.git", True),
    ("git@github.com:a/b.git", True),
    ("github.com/a/b.git#main:dir", False),
    ("ssh://git@host/x", True),
    ("git://host/x", True),
    ("./app", False),
    (".", False),
    ("app", False),
    ("../app", False),
    ("/abs", False),
])
def test_remote_contexts_as_podman_compose_sees_them(context: str, remote: bool) -> None:
    assert is_remote_context(context) is remote


def project(**services: dict[str, Any]) -> dict[str, Any]:
    return {"services": services}


@pytest.mark.parametrize(("model", "expected"), [
    (project(web={"image": "nginx"}), []),
    (project(web={"build": "."}), [("build.context", ".")]),
    (project(web={"build": "./app"}), [("build.context", "./app")]),
    (project(web={"build": {}}), [("build.context", ".")]),
    (project(web={"build": {"context": "app", "dockerfile": "docker/Containerfile"}}),
     [("build.context", "app"), ("build.dockerfile", "app/docker/Containerfile")]),
    (project(web={"build": {"context": "app", "dockerfile": "/etc/Dockerfile"}}),
     [("build.context", "app"), ("build.dockerfile", "/etc/Dockerfile")]),
    (project(web={"build": "https://github.com/a/b.git"}), []),
    (project(web={"build": {"context": "app", "additional_contexts": {
        "base": "../base", "img": "docker-image://alpine", "git": "https://h/x.git"}}}),
     [("build.context", "app"), ("build.additional_contexts", "../base", False, True)]),
    (project(web={"build": {"additional_contexts": ["base=./base", "i=docker-image://a"]}}),
     [("build.context", "."), ("build.additional_contexts", "./base", False, True)]),
    (project(web={"env_file": "web.env"}), [("env_file", "web.env")]),
    (project(web={"env_file": ["a.env", {"path": "b.env", "required": False}]}),
     [("env_file", "a.env"), ("env_file", "b.env")]),
    (project(web={"volumes": ["./data:/data", "data:/var/lib", "/srv:/srv:ro", "/anon",
                              "~/x:/x", "../up:/up:z", ".:/app", "./cache:ro"]}),
     [("volumes", "./data", True), ("volumes", "/srv"), ("volumes", "~/x", True),
      ("volumes", "../up", True), ("volumes", ".", True)]),
    (project(web={"volumes": "./one:/one"}), [("volumes", "./one", True)]),
    (project(web={"volumes": [{"type": "bind", "source": "./conf", "target": "/c"},
                              {"type": "bind", "source": "./ro", "target": "/r",
                               "read_only": True},
                              {"type": "volume", "source": "data", "target": "/d"},
                              {"type": "glob", "source": "/etc/*.conf", "target": "/g"},
                              {"type": "tmpfs", "target": "/t"}]}),
     [("volumes", "./conf", True), ("volumes", "./ro"), ("volumes", "/etc/*.conf", True)]),
    (project(web={"x-podman.rootfs": "/var/lib/rootfs"}),
     [("x-podman.rootfs", "/var/lib/rootfs", True)]),
])
def test_service_host_paths(model: dict[str, Any], expected: list[tuple[Any, ...]]) -> None:
    assert host_paths(model) == [HostPath("web", *path) for path in expected]


@pytest.mark.parametrize(("volume", "writable"), [
    ("./d:/d", True), ("./d:/d:rw", True), ("./d:/d:ro", False), ("./d:/d:z,ro", False),
    ("./d:/d:ro,rw", True), ("./d:/d:rw,ro", False), ("./d:/d:rom", True),
    ({"type": "bind", "source": ".", "target": "/d"}, True),
    ({"type": "bind", "source": ".", "target": "/d", "read_only": False}, True),
    ({"type": "bind", "source": ".", "target": "/d", "read_only": True}, False),
])
def test_is_writable_as_podman_compose_reads_the_options(volume: object, writable: bool) -> None:
    assert is_writable(volume) is writable


def test_top_level_host_paths() -> None:
    model = {"services": {}, "secrets": {"db": {"file": "./db.secret"}, "env": {"environment":
             "X"}}, "volumes": {"b": {"driver_opts": {"type": "none", "o": "bind",
                                                      "device": "/srv/b"}},
                                "r": {"driver_opts": {"type": "none", "o": "bind,ro",
                                                      "device": "./r"}},
                                "t": {"driver_opts": {"type": "none", "device": "./t"}},
                                "tb": {"driver_opts": {"type": "tmpfs", "o": "rbind",
                                                       "device": "./tb"}},
                                "tmp": {"driver_opts": {"type": "tmpfs", "device": "tmpfs"}},
                                "n": {"driver_opts": {"type": "nfs", "device": ":/export"}},
                                "plain": None}}
    assert host_paths(model) == [
        HostPath("", "secrets.db.file", "./db.secret"),
        HostPath("", "volumes.b.driver_opts.device", "/srv/b", writable=True, from_top=True),
        HostPath("", "volumes.r.driver_opts.device", "./r", from_top=True),
        HostPath("", "volumes.t.driver_opts.device", "./t", writable=True, from_top=True),
        HostPath("", "volumes.tb.driver_opts.device", "./tb", writable=True, from_top=True)]


def test_used_paths_resolves_what_podman_resolves_from_the_top() -> None:
    model = {**project(web={"build": {"context": ".", "additional_contexts": {
        "shared": "shared", "up": "../x"}}}), "volumes": {"d": {"driver_opts": {
            "type": "none", "o": "bind", "device": "data"}}}}
    assert used_paths(model, "deploy/compose.yaml") == {
        "deploy/compose.yaml", "deploy/.env", ".env", "deploy", "shared", "data"}


def test_used_paths() -> None:
    model = project(
        web={"build": {"context": "./app", "dockerfile": "../docker/Web.Containerfile"},
             "env_file": ["web.env", "/etc/outside.env"],
             "volumes": ["./conf/nginx.conf:/etc/nginx.conf:ro", "data:/data", "../../up:/u"]},
        db={"image": "postgres", "volumes": [{"type": "bind", "source": "./initdb",
                                              "target": "/docker-entrypoint-initdb.d"}]})
    assert used_paths(model, "deploy/compose.yaml") == {
        "deploy/compose.yaml", "deploy/.env", ".env", "deploy/app", "deploy/docker/"
        "Web.Containerfile", "deploy/web.env", "deploy/conf/nginx.conf", "deploy/initdb"}
    assert used_paths(project(web={"image": "x"}), "compose.yaml") == {"compose.yaml", ".env"}
    assert "." in used_paths(project(web={"build": "."}), "compose.yaml")


@pytest.mark.parametrize(("changed", "used", "expected"), [
    ([], ["compose.yaml"], False),
    (["compose.yaml"], ["compose.yaml"], True),
    (["README.md"], ["compose.yaml", ".env"], False),
    (["app/src/main.py"], ["app"], True),
    (["app"], ["app"], True),
    (["application/x"], ["app"], False),
    (["app.py"], ["app"], False),
    (["deploy/app/x"], ["app"], False),
    (["a/b/c/d"], ["a/b"], True),
    (["a/bc"], ["a/b"], False),
    (["anything/at/all"], ["."], True),
    ([], ["."], False),
    (["x", "y", "conf/z"], ["conf"], True),
])
def test_touches(changed: list[str], used: list[str], expected: bool) -> None:
    assert touches(changed, used) is expected
    assert touches(iter(changed), iter(used)) is expected


segments = st.sampled_from(["a", "b", "c", ".", "..", "", "d.txt"])
relative = st.lists(segments, max_size=6).map("/".join)


@given(st.lists(st.sampled_from(["a", "b", "c"]), max_size=3).map("/".join), relative)
def test_repo_paths_never_leave_the_repository(base: str, path: str) -> None:
    result = repo_path(base, path)
    if result is not None:
        assert not result.startswith(("/", "../")) and result != ".."
        assert ".." not in result.split("/") and "" not in result.split("/")


@given(st.lists(relative.map(lambda p: repo_path("", p)).filter(
    lambda p: p is not None and p != "."), max_size=4), relative.map(lambda p: repo_path("", p)))
def test_a_used_path_is_touched_by_a_change_below_it(used: list[str], path: str | None) -> None:
    for root in used:
        assert touches([root], used)
        assert touches([f"{root}/below/it"], used)
    if path is not None and path != ".":
        assert touches([path], [*used, path])


def test_runtime_and_build_paths_split_the_used_paths() -> None:
    model = project(
        web={"build": {"context": "./app", "dockerfile": "../docker/Web.Containerfile",
                       "additional_contexts": {"shared": "lib"}},
             "env_file": "web.env", "volumes": ["./app/conf:/etc/app:ro"]})
    runtime = runtime_paths(model, "deploy/compose.yaml")
    built = build_paths(model, "deploy/compose.yaml")
    assert runtime == {"deploy/compose.yaml", "deploy/.env", ".env", "deploy/web.env",
                       "deploy/app/conf"}
    assert built == {"deploy/app", "deploy/docker/Web.Containerfile", "lib"}
    assert runtime | built == used_paths(model, "deploy/compose.yaml")
