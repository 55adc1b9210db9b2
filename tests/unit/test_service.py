"""ServiceRunner's failure paths: roll-back, holding a commit back, being unsure what runs.

Real git (repositories in tmp_path); podman-compose replaced by a recorder that can be told to
fail, since what is tested is what pgod decides, not what podman does (the integration tests
run the same paths with real podman).
"""

from __future__ import annotations

import asyncio
import logging
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from pgo import compose, deploy
from pgo.config import ServiceConfig
from pgo.errors import CommandFailed
from pgo.ports import PortRange
from pgo.proc import Account
from pgo.service import ServiceRunner

COMPOSE = "services:\n  web:\n    image: localhost/web\n    ports: ['5006:8080']\n"


@dataclass
class Podman:
    """What podman-compose was asked to do, at which commit; `fail` says what fails next."""

    root: Path
    calls: list[tuple[str, str]] = field(default_factory=list)   # (command, checkout head)
    fail: dict[str, int] = field(default_factory=dict)

    def head(self) -> str:
        return git(self.root / "lib" / "svc", "rev-parse", "HEAD")[:7]

    def did(self, command: str) -> None:
        self.calls.append((command, self.head()))
        if self.fail.get(command):
            self.fail[command] -= 1
            raise CommandFailed(["podman-compose", command], 1, f"{command} failed (test)")


@pytest.fixture
def podman(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Podman:
    recorder = Podman(tmp_path)

    async def run(self: compose.Project, *args: str, timeout: float | None = None) -> Any:
        recorder.did(args[0])

    async def containers(self: compose.Project) -> list[str]:
        return []
    async def no_problems(*_: Any) -> list[str]:  # the argument layer runs podman-compose
        return []
    monkeypatch.setattr(compose.Project, "run", run)
    monkeypatch.setattr(compose.Project, "containers", containers)
    monkeypatch.setattr(deploy, "argument_problems", no_problems)
    return recorder


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args],
                          cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


class Branch:
    """A bare repository and a clone that commits and pushes to it."""

    def __init__(self, root: Path) -> None:
        self.bare, self.work = root / "repo.git", root / "work"
        git(root, "init", "-q", "--bare", "-b", "main", str(self.bare))
        git(root, "clone", "-q", str(self.bare), str(self.work))

    def commit(self, text: str, compose_text: str = COMPOSE) -> str:
        (self.work / "compose.yaml").write_text(compose_text)
        (self.work / "index.html").write_text(text)
        git(self.work, "add", "-A")
        git(self.work, "commit", "-qm", text)
        git(self.work, "push", "-qf", "origin", "HEAD:main")
        return git(self.work, "rev-parse", "HEAD")


def runner(root: Path, branch: Branch) -> ServiceRunner:
    (root / "lib").mkdir(exist_ok=True)
    (root / "state").mkdir(exist_ok=True)
    config = ServiceConfig(name="svc", user="root", repository=f"file://{branch.bare}",
                           ports=(PortRange(5006, 5006),))
    return ServiceRunner(config, Account.current(), str(root / "lib"), str(root / "state"),
                         "podman-compose", 60)


# index.html is mounted into the container: a change to it restarts the project
USES_ALL = COMPOSE.replace("image: localhost/web", "image: localhost/web\n    build: .\n"
                           "    volumes: ['./index.html:/www/index.html:ro']")
# index.html reaches the container only through the image built from the context
BUILT_FROM = COMPOSE.replace("image: localhost/web", "image: localhost/web\n    build: .")


def deployed(tmp_path: Path) -> tuple[Branch, ServiceRunner, str]:
    branch = Branch(tmp_path)
    first = branch.commit("one", USES_ALL)
    service = runner(tmp_path, branch)
    assert asyncio.run(service.run_pass())
    return branch, service, first


def test_a_failed_up_rolls_back_and_holds_the_commit(tmp_path: Path, podman: Podman) -> None:
    branch, service, first = deployed(tmp_path)
    second = branch.commit("two", USES_ALL)
    podman.calls.clear()
    podman.fail["up"] = 1
    assert not asyncio.run(service.run_pass())
    assert podman.calls == [("pull", second[:7]), ("build", second[:7]), ("down", second[:7]),
                            ("up", second[:7]), ("down", first[:7]), ("up", first[:7])]
    assert service.status.state == "failed" and service.status.deployed == first
    assert f"{second[:12]} is not deployed again until the branch moves" in \
        (service.status.last_error or "")
    podman.calls.clear()
    assert not asyncio.run(service.run_pass())  # held: nothing runs, the tree stays
    assert podman.calls == [] and podman.head() == first[:7]
    assert asyncio.run(service.run_pass(retry=True))  # what sync does
    assert podman.calls[-1] == ("up", second[:7]) and service.status.state == "running"


def test_the_roll_back_brings_it_up_even_when_its_down_fails(tmp_path: Path,
                                                              podman: Podman) -> None:
    branch, service, first = deployed(tmp_path)
    branch.commit("two", USES_ALL)
    podman.calls.clear()
    podman.fail["down"] = 2  # the deploy's down fails (after stopping), then the roll-back's:
    asyncio.run(service.run_pass())  # up -d still runs
    assert podman.calls[-2:] == [("down", first[:7]), ("up", first[:7])]


def test_an_unsure_service_is_brought_up_at_each_pass(tmp_path: Path, podman: Podman) -> None:
    """The deploy and the roll-back's up both fail: what runs is unknown; the next passes
    retry (nothing is held), and reverting upstream to what was deployed brings it up."""
    branch, service, first = deployed(tmp_path)
    branch.commit("two", USES_ALL)
    podman.fail["up"] = 2
    assert not asyncio.run(service.run_pass())
    assert "restoring failed too" in (service.status.last_error or "")
    assert "service may be down" in (service.status.last_error or "")
    git(branch.work, "reset", "-q", "--hard", first)
    git(branch.work, "push", "-qf", "origin", "HEAD:main")
    podman.calls.clear()
    assert asyncio.run(service.run_pass())
    assert podman.calls == [("up", first[:7])] and service.status.state == "running"


def test_a_commit_that_only_moves_the_checkout_ends_a_failed_state(tmp_path: Path,
                                                                  podman: Podman) -> None:
    branch = Branch(tmp_path)
    first = branch.commit("one")  # no build: index.html and README are not used
    service = runner(tmp_path, branch)
    assert asyncio.run(service.run_pass())
    second = branch.commit("two", COMPOSE + "# changed\n")
    podman.fail["build"] = 1  # before down: not held, the old version never stopped
    assert not asyncio.run(service.run_pass())
    assert "is not deployed again" not in (service.status.last_error or "")
    git(branch.work, "reset", "-q", "--hard", first)
    (branch.work / "README").write_text("docs\n")
    git(branch.work, "add", "-A")
    git(branch.work, "commit", "-qm", "docs only")
    git(branch.work, "push", "-qf", "origin", "HEAD:main")
    podman.calls.clear()
    assert asyncio.run(service.run_pass())
    assert podman.calls == [] and service.status.state == "running"
    assert service.status.deployed != second


def test_a_restart_mid_deploy_still_rolls_back(tmp_path: Path, podman: Podman) -> None:
    """pgod stopped after `reset` to the new commit (state file still names the old one):
    the next pgod's deploy starts with the tree at the target, and a failure still puts the
    old commit back."""
    branch, _service, first = deployed(tmp_path)
    second = branch.commit("two", USES_ALL)
    git(tmp_path / "lib" / "svc", "fetch", "-q", "origin")
    git(tmp_path / "lib" / "svc", "reset", "-q", "--hard", second)
    podman.calls.clear()
    podman.fail["up"] = 1
    again = runner(tmp_path, branch)
    assert not asyncio.run(again.run_pass())
    assert podman.calls[-2:] == [("down", first[:7]), ("up", first[:7])]
    assert podman.head() == first[:7]


def test_a_deployed_commit_that_is_gone_does_not_stop_the_deploy(tmp_path: Path,
                                                                 podman: Podman) -> None:
    branch, _service, first = deployed(tmp_path)
    (tmp_path / "state" / "svc").write_text("f" * 40 + "\n")  # after a force-push and reclone
    again = runner(tmp_path, branch)
    assert asyncio.run(again.run_pass())
    assert again.status.deployed == first


def unsure(tmp_path: Path, podman: Podman) -> tuple[Branch, ServiceRunner, str]:
    """A deploy whose up fails, and the roll-back's up too: pgod does not know what runs."""
    branch, service, first = deployed(tmp_path)
    branch.commit("two", USES_ALL)
    podman.fail["up"] = 2
    assert not asyncio.run(service.run_pass())
    podman.calls.clear()
    return branch, service, first


def test_unsure_and_the_target_refused_brings_the_deployed_commit_back(
        tmp_path: Path, podman: Podman) -> None:
    branch, service, first = unsure(tmp_path, podman)
    branch.commit("three", USES_ALL.replace("5006:8080", "6000:8080"))  # outside the ranges
    asyncio.run(service.run_pass())
    assert podman.calls == [("down", first[:7]), ("up", first[:7])]
    assert service.status.state == "running" and "refused" in (service.status.last_error or "")
    podman.calls.clear()
    asyncio.run(service.run_pass())
    assert podman.calls == []  # sure again: nothing more to do


def test_unsure_and_the_target_failing_early_brings_the_deployed_commit_back(
        tmp_path: Path, podman: Podman) -> None:
    _, service, first = unsure(tmp_path, podman)
    podman.fail["pull"] = 1
    assert not asyncio.run(service.run_pass())
    assert podman.calls[-2:] == [("down", first[:7]), ("up", first[:7])]
    assert "may be down" not in (service.status.last_error or "")


def test_a_failure_that_touched_nothing_does_not_claim_the_service_is_down(
        tmp_path: Path, podman: Podman) -> None:
    """The deployed commit is gone (a force-push, a new clone) and the pull fails: the
    containers were never touched, only the working tree could not be put back."""
    branch, _, _ = deployed(tmp_path)
    branch.commit("two", USES_ALL)
    (tmp_path / "state" / "svc").write_text("f" * 40 + "\n")
    again = runner(tmp_path, branch)
    podman.calls.clear()
    podman.fail["pull"] = 1
    assert not asyncio.run(again.run_pass())
    error = again.status.last_error or ""
    assert podman.calls[-1][0] == "pull" and len(podman.calls) == 1
    assert "pull exited 1" in error and "putting the working tree back failed too" in error
    assert "may be down" not in error


@pytest.mark.parametrize("current", [True, False])
def test_build_inputs_alone_restart_only_when_an_image_changed(
        tmp_path: Path, podman: Podman, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture, current: bool) -> None:
    """index.html reaches the container only through the image: a change to it is built;
    the containers are recreated only if that changed an image (or one is not running)."""
    async def images_current(self: compose.Project) -> bool:
        podman.calls.append(("images?", podman.head()))
        return current
    monkeypatch.setattr(compose.Project, "images_current", images_current)
    caplog.set_level(logging.INFO, "pgo")
    branch = Branch(tmp_path)
    branch.commit("one", BUILT_FROM)
    service = runner(tmp_path, branch)
    assert asyncio.run(service.run_pass())
    second = branch.commit("two", BUILT_FROM)
    podman.calls.clear()
    assert asyncio.run(service.run_pass())
    after = [] if current else [("down", second[:7]), ("up", second[:7])]
    assert podman.calls == [("build", second[:7]), ("images?", second[:7]), *after]
    assert service.status.deployed == second and service.status.state == "running"
    assert (f"up at {second[:12]}" in caplog.text) is not current
    assert (f"no image changed at {second[:12]}" in caplog.text) is current


def test_an_unsure_service_is_recreated_even_if_no_image_changed(
        tmp_path: Path, podman: Podman, monkeypatch: pytest.MonkeyPatch) -> None:
    async def images_current(self: compose.Project) -> bool:
        return True
    monkeypatch.setattr(compose.Project, "images_current", images_current)
    branch = Branch(tmp_path)
    branch.commit("one", BUILT_FROM)
    service = runner(tmp_path, branch)
    assert asyncio.run(service.run_pass())
    service._unsure = True
    second = branch.commit("two", BUILT_FROM)
    podman.calls.clear()
    assert asyncio.run(service.run_pass())
    assert podman.calls[-2:] == [("down", second[:7]), ("up", second[:7])]


def _stop_while(tmp_path: Path, podman: Podman, monkeypatch: pytest.MonkeyPatch, slow: str,
                fails: bool = False) -> tuple[ServiceRunner, str, str, list[str]]:
    """Deploy one commit, push another, and cancel the pass (pgod stopping) while `slow`
    (which takes 0.5 s, and fails if `fails`) runs for it. The service, both commits and
    the podman-compose commands that finished."""
    branch, service, first = deployed(tmp_path)
    second = branch.commit("two", USES_ALL)
    podman.calls.clear()
    finished: list[str] = []

    async def run(self: compose.Project, *args: str, timeout: float | None = None) -> Any:
        podman.calls.append((args[0], podman.head()))
        if args[0] == slow:
            await asyncio.sleep(0.5)
            if fails:
                raise CommandFailed(["podman-compose", slow], 1, f"{slow} failed")
        finished.append(args[0])
    monkeypatch.setattr(compose.Project, "run", run)

    async def cancel_during() -> None:
        task = asyncio.create_task(service.run_pass())
        async with asyncio.timeout(30):
            while (slow, second[:7]) not in podman.calls:
                await asyncio.sleep(0.01)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
    asyncio.run(cancel_during())
    return service, first, second, finished


def test_a_stop_once_down_has_begun_waits_for_up(tmp_path: Path, podman: Podman,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """pgod stopping (its tasks cancelled) must not leave a service down that was about to
    come up: the deploy finishes, and what it deployed is recorded."""
    service, _, second, finished = _stop_while(tmp_path, podman, monkeypatch, "up")
    assert finished[-1] == "up" and service.status.deployed == second
    assert service.status.state == "running"


def test_a_stop_before_down_stops_at_once(tmp_path: Path, podman: Podman,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    service, first, _, finished = _stop_while(tmp_path, podman, monkeypatch, "build")
    assert "build" not in finished and [c for c, _ in podman.calls] == ["pull", "build"]
    assert service.status.deployed == first


def test_a_deploy_that_fails_while_pgod_stops_says_so(
        tmp_path: Path, podman: Podman, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    """The up pgod waited for fails: the roll-back runs, and log and status say what
    happened (the stop must not swallow it)."""
    service, first, second, _ = _stop_while(tmp_path, podman, monkeypatch, "up", fails=True)
    assert podman.calls[-2:] == [("down", first[:7]), ("up", first[:7])]  # rolled back
    assert f"the deploy of {second[:12]} failed while pgod stops" in caplog.text
    assert service.status.state == "failed" and "up failed" in (service.status.last_error or "")


def test_no_pass_starts_once_pgod_is_stopping(tmp_path: Path, podman: Podman) -> None:
    branch, service, first = deployed(tmp_path)
    branch.commit("two", USES_ALL)
    podman.calls.clear()
    service.stopping = True
    assert asyncio.run(service.run_pass(retry=True)) is None  # sync says "pgod is stopping"
    assert podman.calls == [] and service.status.deployed == first


def test_a_stale_index_lock_and_an_unfinished_clone_are_repaired(tmp_path: Path,
                                                                  podman: Podman) -> None:
    """pgod killed mid-git: a restart removes the index.lock git left (or every reset
    fails), and clones again where a clone never finished (a .git without a HEAD)."""
    branch, _service, _first = deployed(tmp_path)
    checkout = tmp_path / "lib" / "svc"
    (checkout / ".git" / "index.lock").write_text("")
    second = branch.commit("two", USES_ALL)
    restarted = runner(tmp_path, branch)
    assert asyncio.run(restarted.run_pass())
    assert restarted.status.deployed == second and podman.head() == second[:7]
    assert not (checkout / ".git" / "index.lock").exists()

    subprocess.run(["rm", "-rf", str(checkout)], check=True)
    checkout.mkdir()
    git(checkout, "init", "-q", "-b", "main")  # what a clone killed early leaves
    (checkout / "partial").write_text("x")
    again = runner(tmp_path, branch)
    assert asyncio.run(again.run_pass())
    assert podman.head() == second[:7] and not (checkout / "partial").exists()


def test_after_a_restart_ssh_commands_have_the_deployed_project_even_if_up_fails(
        tmp_path: Path, podman: Podman) -> None:
    branch, _service, first = deployed(tmp_path)
    restarted = runner(tmp_path, branch)
    podman.fail["up"] = 1  # the first pass's "ensure it is up"
    assert not asyncio.run(restarted.run_pass())
    assert restarted.project is not None and restarted.status.deployed == first


def test_a_pass_going_when_pgod_begins_to_stop_goes_no_further_before_down(
        tmp_path: Path, podman: Podman, monkeypatch: pytest.MonkeyPatch) -> None:
    """An SSH sync's pass pulling when the stop begins: no build, down or up after it."""
    branch, service, first = deployed(tmp_path)
    branch.commit("two", USES_ALL)
    podman.calls.clear()

    async def run(self: compose.Project, *args: str, timeout: float | None = None) -> Any:
        podman.calls.append((args[0], podman.head()))
        if args[0] == "pull":
            service.stopping = True
    monkeypatch.setattr(compose.Project, "run", run)
    assert not asyncio.run(service.run_pass())
    assert [c for c, _ in podman.calls] == ["pull"] and service.status.deployed == first
    assert "pgod is stopping" in (service.status.last_error or "")
    assert podman.head() == first[:7]  # the working tree put back
