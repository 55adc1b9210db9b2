"""The health gate against real containers: real podman-compose `up -d` as a real unix
user, then wait_ready as pgod would run it (podman as that user, through pgo.proc)."""

from __future__ import annotations

import asyncio
import logging
import secrets
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pgo.compose import Project
from pgo.composefile import load_model
from pgo.gate import GateResult, observe, wait_ready
from pgo.proc import Account

from .helpers import BUSYBOX, PODMAN_COMPOSE, as_user, compose_as, podman_as, remove_user, run

Up = Callable[[str], Project]
IMAGE = "localhost/busybox:latest"
SLEEPER = f"    image: {IMAGE}\n    command: [sleep, '600']\n    init: true\n" \
          "    stop_grace_period: 1s\n"


@pytest.fixture(scope="module")
def gate_user(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One user for the module's tests (each test has its own project), with a busybox
    image whose /bin has busybox's applets (sh, sleep, false, ...)."""
    name = f"pgoit-{secrets.token_hex(3)}"
    run(["useradd", "-m", "-s", "/usr/sbin/nologin", name])
    try:
        rootfs = tmp_path_factory.mktemp("rootfs")
        (rootfs / "bin").mkdir()
        run(["cp", str(BUSYBOX), str(rootfs / "bin" / "busybox")])
        for applet in run([str(BUSYBOX), "--list"]).split():
            if applet != "busybox":
                (rootfs / "bin" / applet).symlink_to("busybox")
        tar = Path(f"/tmp/{name}-busybox.tar")
        run(["tar", "-C", str(rootfs), "-cf", str(tar), "bin"])
        tar.chmod(0o644)
        podman_as(name, "import", "-q", "--change", "ENV PATH=/bin", str(tar), IMAGE)
        tar.unlink()
        yield name
    finally:
        remove_user(name)


@pytest.fixture
def up(gate_user: str, workdir: Path) -> Iterator[Up]:
    """`podman-compose up -d` of a compose text in this test's workdir; removed after."""
    started: list[str] = []

    def bring_up(compose: str) -> Project:
        name = f"gate{secrets.token_hex(2)}"
        (workdir / "compose.yaml").write_text(compose)
        (workdir / "compose.yaml").chmod(0o644)
        compose_as(gate_user, workdir, name, "up", "-d")
        started.append(name)
        return Project(name, str(workdir), "compose.yaml", Account.lookup(gate_user),
                       PODMAN_COMPOSE)

    yield bring_up
    for name in started:
        ids = podman_as(gate_user, "ps", "-aq", "--filter",
                        f"label=io.podman.compose.project={name}").split()
        if ids:
            subprocess.run(["podman", "rm", "-f", "-t", "0", *ids], **as_user(gate_user),
                           capture_output=True, check=False, timeout=120)


def gate(project: Project, timeout: float, settle: float = 1.0) -> tuple[GateResult, float]:
    """wait_ready on the compose file the project was brought up with; and how long it
    took."""
    model = load_model((Path(project.workdir) / project.file).read_text(), {}, "compose.yaml")
    began = time.monotonic()
    result = asyncio.run(wait_ready(project, model, timeout, settle=settle, poll=0.5))
    return result, time.monotonic() - began


def everything(result: GateResult) -> str:
    return "\n".join([result.reason, *(f.how for f in result.failures),
                      *(line for f in result.failures for line in f.log)])


def test_a_container_that_exits_3_fails_the_gate(up: Up) -> None:
    project = up("services:\n  web:\n" + SLEEPER + "  crash:\n"
                 f"    image: {IMAGE}\n"
                 "    command: [sh, -c, 'echo starting; echo giving up now; exit 3']\n")
    result, took = gate(project, timeout=60)
    assert not result.ok
    assert result.reason == f"container {project.name}_crash_1 exited with code 3"
    [failure] = result.failures
    assert (failure.container, failure.service) == (f"{project.name}_crash_1", "crash")
    assert failure.log == ("starting", "giving up now")
    assert took < 30


def test_a_healthcheck_that_never_passes_fails_the_gate(up: Up) -> None:
    project = up("services:\n  db:\n" + SLEEPER + "    healthcheck:\n"
                 "      test: [CMD-SHELL, 'echo db is not answering; false']\n"
                 "      interval: 1s\n      retries: 2\n")
    result, took = gate(project, timeout=30)
    assert not result.ok
    [failure] = result.failures
    assert failure.how == "unhealthy: db is not answering"
    assert result.reason == f"container {project.name}_db_1 unhealthy: db is not answering"
    assert took < 20, "unhealthy after two checks a second apart, well before the timeout"


def test_a_plain_false_healthcheck_is_unhealthy(up: Up) -> None:
    project = up("services:\n  db:\n" + SLEEPER + "    healthcheck:\n"
                 "      test: [CMD, 'false']\n      interval: 1s\n      retries: 1\n")
    result, _ = gate(project, timeout=30)
    assert not result.ok
    assert [f.how for f in result.failures] == ["unhealthy: (the check printed nothing)"]


def test_healthy_service_and_finished_job_pass_after_settling(up: Up) -> None:
    project = up("services:\n  web:\n" + SLEEPER + "    restart: always\n    scale: 2\n"
                 "    healthcheck:\n      test: [CMD, 'true']\n      interval: 1s\n"
                 "  job:\n"
                 f"    image: {IMAGE}\n    command: [sh, -c, 'echo migrated']\n")
    result, took = gate(project, timeout=60, settle=1.5)
    assert result == GateResult(True, (), "ready")
    assert took >= 1.5
    states = {c.name: c for c in asyncio.run(observe(project))}
    for replica in (1, 2):
        web = states[f"{project.name}_web_{replica}"]
        assert (web.service, web.status, web.health) == ("web", "running", "healthy")
    job = states[f"{project.name}_job_1"]
    assert (job.service, job.status, job.exit_code) == ("job", "exited", 0)


def test_a_crash_loop_fails_the_gate(up: Up) -> None:
    """`restart: always` brings it back each time; seen exited, or restarted while the
    project settles: a failure either way, not a ready project."""
    project = up("services:\n  loop:\n"
                 f"    image: {IMAGE}\n    restart: always\n"
                 "    command: [sh, -c, 'echo up; sleep 1; exit 1']\n")
    result, took = gate(project, timeout=60, settle=5)
    assert not result.ok
    [failure] = result.failures
    assert failure.how in ("restarted", "exited with code 1")
    assert "up" in failure.log
    assert took < 30


def test_a_timeout_names_what_was_not_ready(up: Up) -> None:
    """A healthcheck whose start period outlasts the timeout: failures during the start
    period do not count, so it is still starting when the timeout strikes."""
    project = up("services:\n  slow:\n" + SLEEPER + "    healthcheck:\n"
                 "      test: [CMD, 'false']\n      interval: 1s\n"
                 "      start_period: 60s\n")
    result, _ = gate(project, timeout=3)
    assert not result.ok
    assert result.reason == \
        f"container {project.name}_slow_1 not ready in time (health starting)"


def test_credentials_in_a_failed_containers_log_are_scrubbed(
        up: Up, caplog: pytest.LogCaptureFixture) -> None:
    project = up("services:\n  leak:\n"
                 f"    image: {IMAGE}\n"
                 "    command: [sh, -c, 'echo cloning https://user:s3cr3tpw@host/repo.git; "
                 "echo DB_PASSWORD=hunter2; exit 1']\n")
    with caplog.at_level(logging.ERROR, logger="pgo.gate"):
        result, _ = gate(project, timeout=60)
    assert not result.ok
    text = everything(result)
    assert "cloning https://host/repo.git" in text and "DB_PASSWORD=***" in text
    assert "s3cr3tpw" not in text and "hunter2" not in text
    assert "https://host/repo.git" in caplog.text
    assert "s3cr3tpw" not in caplog.text and "hunter2" not in caplog.text
