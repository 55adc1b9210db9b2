"""The argument layer on the corpus in tests/policy_corpus: each file's podman argv, as
podman-compose 1.6.0 itself works it out (pgo.recorder, run for real, nothing started),
must be refused, with the fragment its first line names. The argument layer checks
these whether or not the model layer would have refused them first."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from pgo import compose
from pgo.config import ServiceConfig
from pgo.dryrun import argument_problems, recorded_calls
from pgo.ports import PortRange
from pgo.proc import Account

CORPUS = Path(__file__).parent.parent / "policy_corpus"
SERVICE = ServiceConfig(name="corpus", user="root", repository="unused",
                        ports=(PortRange(5006, 5010),),
                        build_urls=("https://github.com/org/*",))


def project(tmp_path: Path, text: str) -> compose.Project:
    (tmp_path / "compose.yaml").write_text(text)
    (tmp_path / "Containerfile").write_text("FROM scratch\n")
    (tmp_path / "data").mkdir()
    return compose.Project("corpus", str(tmp_path), "compose.yaml", Account.current(),
                           compose.find_podman_compose())


@pytest.mark.parametrize("case", sorted(p.name for p in CORPUS.glob("*.yaml")))
def test_the_corpus_is_refused(case: str, tmp_path: Path) -> None:
    text = (CORPUS / case).read_text()
    fragment = text.splitlines()[0].removeprefix("# refused: ")
    got = asyncio.run(argument_problems(project(tmp_path, text), SERVICE, ["up", "-d"]))
    assert got, f"{case}: nothing refused"
    assert got[0].startswith(("the argument layer refused what the model layer passed",
                              "podman-compose up -d: its podman commands could not be "))
    assert any(fragment in m for m in got), (case, got)


ACCEPTED = """\
x-podman: {in_pod: false}
services:
  web:
    build: {context: ., args: {A: "1"}, labels: {a: b}, tags: [localhost/web:extra],
            additional_contexts: {lib: ./data}}
    image: localhost/web:1
    ports: ["5006:8080", "127.0.0.1:5007:8081/udp"]
    volumes: ["./data:/data:ro", "named:/n", "/anon",
              {type: tmpfs, target: /t, tmpfs: {size: 1000}}]
    tmpfs: [/run/x]
    environment: {A: "a,b", B: '"quoted"'}
    labels: [x=y]
    logging: {driver: k8s-file, options: {max-size: 1m, tag: web}}
    security_opt: [no-new-privileges]
    cap_drop: [ALL]
    group_add: [audio]
    sysctls: {net.core.somaxconn: "1024"}
    ulimits: {nofile: {soft: 1024, hard: 1024}}
    healthcheck: {test: ["CMD", "true"], interval: 10s}
    user: "1000"
    working_dir: /data
    init: true
    read_only: true
    stop_signal: SIGINT
    mem_limit: 64m
    cpus: 0.5
    pids_limit: 100
    depends_on: [db]
    networks: {front: {aliases: [www]}}
    command: ["sh", "-c", "echo 'a, b'"]
  db:
    image: docker.io/library/busybox:1
    network_mode: "service:web"
networks:
  front: {}
volumes:
  named: {}
"""


def test_a_project_with_every_admitted_feature_passes(tmp_path: Path) -> None:
    got = asyncio.run(argument_problems(project(tmp_path, ACCEPTED), SERVICE, ["up", "-d"]))
    assert got == []
    for args in (["pull"], ["build"]):
        assert asyncio.run(argument_problems(project_again(tmp_path), SERVICE, args)) == []


def project_again(tmp_path: Path) -> compose.Project:
    return compose.Project("corpus", str(tmp_path), "compose.yaml", Account.current(),
                           compose.find_podman_compose())


def test_the_record_is_podman_composes_and_nothing_ran(tmp_path: Path) -> None:
    calls = asyncio.run(recorded_calls(project(tmp_path, ACCEPTED.replace(
        "./data:/data:ro", "./missing:/m:ro")), ["up", "-d"]))
    assert isinstance(calls, list)
    names = [a for c in calls if c[:1] == ["create"] for a in c if a.startswith("--name=")]
    assert sorted(names) == ["--name=corpus_db_1", "--name=corpus_web_1"]
    assert ["build", "-f", f"{tmp_path}/Containerfile", "-t", "localhost/web:1", "-t",
            "localhost/web:extra"] == next(c for c in calls if c[:1] == ["build"])[:7]
    assert ["network", "create", "--label", "io.podman.compose.project=corpus", "--label",
            "com.docker.compose.project=corpus", "corpus_front"] in calls
    assert not os.path.exists(tmp_path / "missing")  # podman-compose would have made it


def test_podman_compose_failing_is_a_refusal(tmp_path: Path) -> None:
    text = "services:\n  web: {image: x, env_file: [missing.env]}\n"
    got = asyncio.run(argument_problems(project(tmp_path, text), SERVICE, ["up", "-d"]))
    assert len(got) == 1 and "its podman commands could not be worked out" in got[0]
    assert "Env file at" in got[0]


def test_the_checkout_cannot_shadow_podman_compose(tmp_path: Path) -> None:
    """The recorder runs `python -I`: a podman_compose.py (or json.py) committed in the
    repository, podman-compose's working directory, is never imported."""
    for name in ("podman_compose.py", "json.py", "asyncio.py"):
        (tmp_path / name).write_text("raise SystemExit('shadowed')\n")
    calls = asyncio.run(recorded_calls(project(tmp_path, ACCEPTED), ["up", "-d"]))
    assert isinstance(calls, list) and calls, calls
