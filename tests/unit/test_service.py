"""ServiceRunner's paths: deploy, the gate, roll-back, holding a broken commit back, being
unsure what runs, self-heal, the host's stop file, the persisted record.

Real git (repositories in tmp_path); podman-compose and the gate's look at podman replaced
by a recorder that can be told to fail, since what is tested is what pgod decides, not what
podman does (the integration tests run the same paths with real podman).
"""

from __future__ import annotations

import asyncio
import logging
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest

from pgo import compose, deploy, dryrun, gitbatch, probes, proc, state, statestore, workspace
from pgo.compose import Project
from pgo.config import ServiceConfig
from pgo.errors import CommandFailed
from pgo.ports import PortRange
from pgo.proc import Account
from pgo.project import ProjectAt
from pgo.service import Checks, ServiceRunner, Watch
from pgo.state import Outcome, Record, State
from pgo.status import ContainerRow, ServiceLog

COMPOSE = "services:\n  web:\n    image: reg.example/web\n    ports: ['5006:8080']\n"


@dataclass
class Podman:
    """What podman-compose was asked to do, at which commit; `fail` says what fails next."""

    root: Path
    calls: list[tuple[str, str]] = field(default_factory=list)   # (command, checkout head)
    fail: dict[str, int] = field(default_factory=dict)
    unready: list[str] = field(default_factory=list)  # what the next gates say, in turn
    dead: list[str] = field(default_factory=list)     # what the next self-heal check finds
    left: list[str] = field(default_factory=list)     # the project's containers (podman ps)

    def checks(self, config: ServiceConfig, log: ServiceLog) -> Checks:
        async def ready(project: Project, at: ProjectAt) -> str | None:
            self.calls.append(("gate", self.head()))
            return self.unready.pop(0) if self.unready else None

        async def dead(project: Project, at: ProjectAt) -> tuple[list[str],
                                                                 list[ContainerRow]]:
            found, self.dead = self.dead, []
            return found, [ContainerRow("svc_web_1", "web", "exited" if found else "running")]

        async def rows(project: Project) -> list[ContainerRow]:
            return []
        return Checks(ready, dead, rows)

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

    async def run(self: compose.Project, *args: str, timeout: float | None = None,
                  go: Any = None) -> Any:
        recorder.did(args[0])

    async def containers(self: compose.Project) -> list[str]:
        return recorder.left
    async def no_problems(*_: Any) -> list[str]:  # the argument layer runs podman-compose
        return []
    monkeypatch.setattr(compose.Project, "_run", run)  # (run itself waits for a slot)
    monkeypatch.setattr(compose.Project, "containers", containers)
    monkeypatch.setattr(deploy, "argument_problems", no_problems)
    PODMAN.append(recorder)
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


PODMAN: list[Podman] = []  # the test's recorder (set by the fixture)


def runner(root: Path, branch: Branch, watchers: Sequence[Watch] = ()) -> ServiceRunner:
    (root / "lib").mkdir(exist_ok=True)
    (root / "state").mkdir(exist_ok=True)
    config = ServiceConfig(name="svc", user="root", repository=f"file://{branch.bare}",
                           ports=(PortRange(5006, 5006),))
    return ServiceRunner(config, Account.current(), str(root / "lib"), str(root / "state"),
                         "podman-compose", 60, PODMAN[-1].checks, watchers=watchers)


# index.html is mounted into the container: a change to it restarts the project
USES_ALL = COMPOSE.replace("image: reg.example/web", "image: reg.example/web\n    build: .\n"
                           "    volumes: ['./index.html:/www/index.html:ro']")
# index.html reaches the container only through the image built from the context
BUILT_FROM = COMPOSE.replace("image: reg.example/web", "image: reg.example/web\n    build: .")


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
                            ("up", second[:7]), ("down", first[:7]), ("up", first[:7]),
                            ("gate", first[:7])]
    record = service.record
    assert record.state is State.BROKEN and record.deployed == first
    assert record.broken == second and "up failed (test)" in (record.reason or "")
    assert [a.outcome for a in record.history[:2]] == [Outcome.ROLLED_BACK, Outcome.BROKEN]
    podman.calls.clear()
    assert not asyncio.run(service.run_pass())  # held: nothing runs, the tree stays
    assert podman.calls == [] and podman.head() == first[:7]
    assert asyncio.run(service.run_pass("sync", retry=True))  # what sync does
    assert podman.calls[-2:] == [("up", second[:7]), ("gate", second[:7])]
    assert service.record.state is State.OK and service.record.history[0].trigger == "sync"


def test_the_roll_back_brings_it_up_even_when_its_down_fails(tmp_path: Path,
                                                              podman: Podman) -> None:
    branch, service, first = deployed(tmp_path)
    branch.commit("two", USES_ALL)
    podman.calls.clear()
    podman.fail["down"] = 2  # the deploy's down fails (after stopping), then the roll-back's:
    asyncio.run(service.run_pass())  # up -d still runs
    assert podman.calls[-3:] == [("down", first[:7]), ("up", first[:7]), ("gate", first[:7])]


def test_an_unsure_service_is_brought_up_at_each_pass(tmp_path: Path, podman: Podman) -> None:
    """The deploy and the roll-back's up both fail: what runs is unknown; the next passes
    retry (nothing is held), and reverting upstream to what was deployed brings it up."""
    branch, service, first = deployed(tmp_path)
    branch.commit("two", USES_ALL)
    podman.fail["up"] = 2
    assert not asyncio.run(service.run_pass())
    assert "restoring" in (service.record.reason or "")
    assert "failed too" in (service.record.reason or "")
    assert service.record.state is State.FAILING
    git(branch.work, "reset", "-q", "--hard", first)
    git(branch.work, "push", "-qf", "origin", "HEAD:main")
    podman.calls.clear()
    service.record = replace(service.record, retry_at=0.0)  # the backoff has run out
    assert asyncio.run(service.run_pass())
    assert podman.calls == [("up", first[:7]), ("gate", first[:7])]
    assert service.record.state is State.OK


def test_a_commit_that_only_moves_the_checkout_ends_a_failed_state(tmp_path: Path,
                                                                  podman: Podman) -> None:
    branch = Branch(tmp_path)
    first = branch.commit("one")  # no build: index.html and README are not used
    service = runner(tmp_path, branch)
    assert asyncio.run(service.run_pass())
    second = branch.commit("two", COMPOSE + "# changed\n")
    podman.fail["pull"] = 1  # before down: not held, the old version never stopped
    assert not asyncio.run(service.run_pass())
    assert service.record.state is State.BROKEN and service.record.held  # (not retried)
    git(branch.work, "reset", "-q", "--hard", first)
    (branch.work / "README").write_text("docs\n")
    git(branch.work, "add", "-A")
    git(branch.work, "commit", "-qm", "docs only")
    git(branch.work, "push", "-qf", "origin", "HEAD:main")
    podman.calls.clear()
    assert asyncio.run(service.run_pass())
    assert podman.calls == [] and service.record.state is State.OK
    assert service.record.deployed != second


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
    assert podman.calls[-3:] == [("down", first[:7]), ("up", first[:7]), ("gate", first[:7])]
    assert podman.head() == first[:7]


def test_a_deployed_commit_that_is_gone_does_not_stop_the_deploy(tmp_path: Path,
                                                                 podman: Podman) -> None:
    branch, _service, first = deployed(tmp_path)
    gone(tmp_path)  # after a force-push and reclone
    again = runner(tmp_path, branch)
    assert asyncio.run(again.run_pass())
    assert again.record.deployed == first


def gone(tmp_path: Path) -> None:
    """The record names a deployed commit the repository no longer has."""
    record = statestore.load(str(tmp_path / "state"), "svc")
    assert record is not None
    statestore.save(str(tmp_path / "state"), replace(record, deployed="f" * 40,
                                                     last_good="f" * 40))


def unsure(tmp_path: Path, podman: Podman) -> tuple[Branch, ServiceRunner, str]:
    """A deploy whose up fails, and the roll-back's up too: pgod does not know what runs."""
    branch, service, first = deployed(tmp_path)
    branch.commit("two", USES_ALL)
    podman.fail["up"] = 2
    assert not asyncio.run(service.run_pass())
    podman.calls.clear()
    service.record = replace(service.record, retry_at=0.0)  # the backoff has run out
    return branch, service, first


def test_unsure_and_the_target_refused_brings_the_deployed_commit_back(
        tmp_path: Path, podman: Podman) -> None:
    branch, service, first = unsure(tmp_path, podman)
    branch.commit("three", USES_ALL.replace("5006:8080", "6000:8080"))  # outside the ranges
    asyncio.run(service.run_pass())
    assert podman.calls == [("down", first[:7]), ("up", first[:7]), ("gate", first[:7])]
    assert service.record.state is State.REFUSED and "refused" in (service.record.reason or "")
    podman.calls.clear()
    asyncio.run(service.run_pass())
    assert podman.calls == []  # sure again: nothing more to do


def test_unsure_and_the_target_failing_early_brings_the_deployed_commit_back(
        tmp_path: Path, podman: Podman) -> None:
    _, service, first = unsure(tmp_path, podman)
    podman.fail["pull"] = 1
    assert not asyncio.run(service.run_pass())
    assert podman.calls[-3:] == [("down", first[:7]), ("up", first[:7]), ("gate", first[:7])]
    assert service.record.state is State.BROKEN and not service.record.failing


def test_a_failure_that_touched_nothing_does_not_claim_the_service_is_down(
        tmp_path: Path, podman: Podman) -> None:
    """The deployed commit is gone (a force-push, a new clone) and the pull fails: the
    containers were never touched, only the working tree could not be put back."""
    branch, _, _ = deployed(tmp_path)
    branch.commit("two", USES_ALL)
    gone(tmp_path)
    again = runner(tmp_path, branch)
    podman.calls.clear()
    podman.fail["pull"] = 1
    assert not asyncio.run(again.run_pass())
    error = again.record.reason or ""
    assert podman.calls[-1][0] == "pull" and len(podman.calls) == 1
    assert "pull exited 1" in error and "putting the working tree back" in error
    assert not again.record.failing


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
    after += [("gate", second[:7])] if after else []
    assert podman.calls == [("build", second[:7]), ("images?", second[:7]), *after]
    assert service.record.deployed == second and service.record.state is State.OK
    assert service.record.history[0].outcome is (Outcome.NO_CHANGE if current
                                                 else Outcome.DEPLOYED)
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
    service.record = replace(service.record, failing=True)
    second = branch.commit("two", BUILT_FROM)
    podman.calls.clear()
    assert asyncio.run(service.run_pass())
    assert podman.calls[-3:] == [("down", second[:7]), ("up", second[:7]), ("gate", second[:7])]


def _stop_while(tmp_path: Path, podman: Podman, monkeypatch: pytest.MonkeyPatch, slow: str,
                fails: bool = False) -> tuple[ServiceRunner, str, str, list[str]]:
    """Deploy one commit, push another, and cancel the pass (pgod stopping) while `slow`
    (which takes 0.5 s, and fails if `fails`) runs for it. The service, both commits and
    the podman-compose commands that finished."""
    branch, service, first = deployed(tmp_path)
    second = branch.commit("two", USES_ALL)
    podman.calls.clear()
    finished: list[str] = []

    async def run(self: compose.Project, *args: str, timeout: float | None = None,
                  go: Any = None) -> Any:
        podman.calls.append((args[0], podman.head()))
        if args[0] == slow:
            await asyncio.sleep(0.5)
            if fails:
                raise CommandFailed(["podman-compose", slow], 1, f"{slow} failed")
        finished.append(args[0])
    monkeypatch.setattr(compose.Project, "_run", run)  # (run itself waits for a slot)

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
    assert finished[-1] == "up" and service.record.deployed == second
    assert service.record.state is State.OK


def test_a_stop_before_down_stops_at_once(tmp_path: Path, podman: Podman,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    service, first, _, finished = _stop_while(tmp_path, podman, monkeypatch, "build")
    assert "build" not in finished and [c for c, _ in podman.calls] == ["pull", "build"]
    assert service.record.deployed == first
    assert service.record.state is State.OK  # not left "deploying" (a start would redeploy)


def test_a_deploy_that_fails_while_pgod_stops_says_so(
        tmp_path: Path, podman: Podman, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    """The up pgod waited for fails: the roll-back runs, and log and status say what
    happened (the stop must not swallow it)."""
    service, first, second, _ = _stop_while(tmp_path, podman, monkeypatch, "up", fails=True)
    assert podman.calls[-2:] == [("down", first[:7]), ("up", first[:7])]  # (fails too)
    assert f"deploy of {second[:12]} failed" in caplog.text
    assert service.record.state is State.FAILING and "up failed" in (service.record.reason or "")


def test_no_pass_starts_once_pgod_is_stopping(tmp_path: Path, podman: Podman) -> None:
    branch, service, first = deployed(tmp_path)
    branch.commit("two", USES_ALL)
    podman.calls.clear()
    service.stopping = True
    assert asyncio.run(service.run_pass(retry=True)) is None  # sync says "pgod is stopping"
    assert podman.calls == [] and service.record.deployed == first


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
    assert restarted.record.deployed == second and podman.head() == second[:7]
    assert not (checkout / ".git" / "index.lock").exists()

    subprocess.run(["rm", "-rf", str(checkout)], check=True)
    checkout.mkdir()
    git(checkout, "init", "-q", "-b", "main")  # what a clone killed early leaves
    (checkout / "partial").write_text("x")
    again = runner(tmp_path, branch)
    assert asyncio.run(again.run_pass())
    assert podman.head() == second[:7] and not (checkout / "partial").exists()


def test_a_restart_restarts_nothing_and_ssh_commands_have_the_deployed_project(
        tmp_path: Path, podman: Podman) -> None:
    branch, _service, first = deployed(tmp_path)
    podman.calls.clear()
    restarted = runner(tmp_path, branch)
    assert asyncio.run(restarted.run_pass("start"))
    assert podman.calls == [] and restarted.project is not None
    assert restarted.record.deployed == first and restarted.record.state is State.OK


def test_a_pass_going_when_pgod_begins_to_stop_goes_no_further_before_down(
        tmp_path: Path, podman: Podman, monkeypatch: pytest.MonkeyPatch) -> None:
    """An SSH sync's pass pulling when the stop begins: no build, down or up after it."""
    branch, service, first = deployed(tmp_path)
    branch.commit("two", USES_ALL)
    podman.calls.clear()

    async def run(self: compose.Project, *args: str, timeout: float | None = None,
                  go: Any = None) -> Any:
        podman.calls.append((args[0], podman.head()))
        if args[0] == "pull":
            service.stopping = True
    monkeypatch.setattr(compose.Project, "_run", run)  # (run itself waits for a slot)
    assert not asyncio.run(service.run_pass())
    assert [c for c, _ in podman.calls] == ["pull"] and service.record.deployed == first
    assert "pgod is stopping" in (service.record.reason or "")
    assert podman.head() == first[:7]  # the working tree put back


def test_a_failed_gate_brings_the_last_good_back_and_holds_the_commit(
        tmp_path: Path, podman: Podman) -> None:
    branch, service, first = deployed(tmp_path)
    second = branch.commit("two", USES_ALL)
    podman.calls.clear()
    podman.unready = ["container svc_web_1 exited with code 3"]
    assert not asyncio.run(service.run_pass())
    assert podman.calls[-5:] == [("up", second[:7]), ("gate", second[:7]), ("down", first[:7]),
                                 ("up", first[:7]), ("gate", first[:7])]
    record = service.record
    assert record.state is State.BROKEN and record.deployed == first and record.held
    assert "exited with code 3" in (record.reason or "")
    podman.calls.clear()
    for _ in range(3):  # no loop: the broken commit is not tried again
        asyncio.run(service.run_pass())
    assert podman.calls == []


def test_the_record_survives_a_restart(tmp_path: Path, podman: Podman) -> None:
    branch, service, _ = deployed(tmp_path)
    second = branch.commit("two", USES_ALL)
    podman.unready = ["never healthy"]
    asyncio.run(service.run_pass())
    again = runner(tmp_path, branch)
    assert again.record == service.record
    assert again.record.state is State.BROKEN and again.record.broken == second
    podman.calls.clear()
    asyncio.run(again.run_pass("start"))
    assert podman.calls == []  # still held after the restart


def test_a_garbage_record_is_rebuilt_from_what_runs(tmp_path: Path, podman: Podman,
                                                    monkeypatch: pytest.MonkeyPatch,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    branch, _service, first = deployed(tmp_path)
    Path(statestore.record_path(str(tmp_path / "state"), "svc")).write_bytes(b"\xff\x00junk")

    async def containers(self: compose.Project) -> list[str]:
        return ["svc_web_1"]
    monkeypatch.setattr(compose.Project, "containers", containers)
    podman.calls.clear()
    again = runner(tmp_path, branch)
    assert asyncio.run(again.run_pass("start"))
    assert "state record unreadable" in caplog.text and "state rebuilt" in caplog.text
    assert again.record.deployed == first and podman.calls == []  # nothing restarted
    assert statestore.load(str(tmp_path / "state"), "svc") == again.record


def test_self_heal_brings_dead_containers_back_and_records_it(tmp_path: Path,
                                                              podman: Podman) -> None:
    _branch, service, first = deployed(tmp_path)
    podman.calls.clear()
    podman.dead = ["svc_web_1 exited with code 137"]
    asyncio.run(service.run_pass())
    assert podman.calls == [("up", first[:7]), ("gate", first[:7])]
    assert service.record.history[0].trigger == "self-heal"
    assert service.record.state is State.OK


def test_a_self_heal_that_fails_is_failing_and_backs_off(tmp_path: Path,
                                                         podman: Podman) -> None:
    _branch, service, first = deployed(tmp_path)
    podman.calls.clear()
    podman.dead = ["svc_web_1 exited with code 1"]
    podman.unready = ["svc_web_1 exited with code 1"]
    asyncio.run(service.run_pass())
    assert service.record.state is State.FAILING and service.record.retry_at > 0
    podman.calls.clear()
    asyncio.run(service.run_pass())
    assert podman.calls == []  # backing off
    service.record = replace(service.record, retry_at=0.0)
    asyncio.run(service.run_pass())
    assert podman.calls == [("up", first[:7]), ("gate", first[:7])]
    assert service.record.state is State.OK


def test_the_hosts_stop_file_takes_it_down_and_keeps_it_down(
        tmp_path: Path, podman: Podman, monkeypatch: pytest.MonkeyPatch) -> None:
    branch, service, _ = deployed(tmp_path)
    stop = tmp_path / "lib" / "svc.stop"
    stop.write_text("")
    downs: list[str] = []

    async def down(self: compose.Project, ahead: Any = None) -> None:
        downs.append(self.name)
    monkeypatch.setattr(compose.Project, "down", down)
    branch.commit("two", USES_ALL)
    podman.calls.clear()
    asyncio.run(service.run_pass())
    asyncio.run(service.run_pass())
    assert downs == ["svc"] and podman.calls == []
    assert service.record.state is State.STOPPED and service.record.host_stop is not None
    assert "svc.stop" in service.record.host_stop.by
    stop.unlink()
    asyncio.run(service.run_pass())
    assert service.record.state is State.OK and podman.calls[-2][0] == "up"


def test_frozen_it_does_not_follow_the_branch(tmp_path: Path, podman: Podman) -> None:
    branch, service, first = deployed(tmp_path)
    service.event(state.Froze("SHA256:k", "release"))
    branch.commit("two", USES_ALL)
    podman.calls.clear()
    asyncio.run(service.run_pass())
    assert podman.calls == [] and service.record.deployed == first
    assert service.record.state is State.FROZEN and service.record.upstream != first


def test_history_says_why_it_redeployed(tmp_path: Path, podman: Podman) -> None:
    branch, service, _first = deployed(tmp_path)
    second = branch.commit("two", USES_ALL)
    asyncio.run(service.run_pass())
    latest = service.record.history[0]
    assert (latest.commit, latest.subject, latest.trigger) == (second, "two", "poll")
    assert latest.outcome is Outcome.DEPLOYED and "index.html" in latest.reason


def test_the_way_back_runs_the_images_that_ran_not_the_new_build(
        tmp_path: Path, podman: Podman, monkeypatch: pytest.MonkeyPatch) -> None:
    """The failed deploy's build moved the image name; the last good must come back with
    the image it ran (its name pointed back at it before its up), not the new one."""
    branch, service, first = deployed(tmp_path)
    second = branch.commit("two", USES_ALL)

    async def images(self: compose.Project) -> dict[str, str]:
        podman.calls.append(("images?", podman.head()))
        return {"localhost/web:latest": "0ld1d"}

    async def tag(self: compose.Project, images: dict[str, str]) -> None:
        podman.calls.append((f"tag {images['localhost/web:latest']}", podman.head()))
    monkeypatch.setattr(compose.Project, "images", images)
    monkeypatch.setattr(compose.Project, "tag", tag)
    podman.calls.clear()
    podman.unready = ["container svc_web_1 exited with code 3"]
    asyncio.run(service.run_pass())
    assert podman.calls == [("images?", first[:7]), ("pull", second[:7]),
                            ("build", second[:7]), ("down", second[:7]), ("up", second[:7]),
                            ("gate", second[:7]), ("tag 0ld1d", first[:7]),
                            ("down", first[:7]), ("up", first[:7]), ("gate", first[:7])]


def test_a_good_deploy_prunes_the_images_it_replaced_and_no_other(
        tmp_path: Path, podman: Podman, monkeypatch: pytest.MonkeyPatch) -> None:
    branch, service, _ = deployed(tmp_path)
    branch.commit("two", USES_ALL)
    seen = iter([{"localhost/web:latest": "0ld", "localhost/db:1": "same"},
                 {"localhost/web:latest": "n3w", "localhost/db:1": "same"}])
    pruned: list[set[str]] = []

    async def images(self: compose.Project) -> dict[str, str]:
        return next(seen)

    async def prune(self: compose.Project, images: set[str]) -> list[str]:
        pruned.append(images)
        return sorted(images)
    monkeypatch.setattr(compose.Project, "images", images)
    monkeypatch.setattr(compose.Project, "prune", prune)
    assert asyncio.run(service.run_pass())
    assert pruned == [{"0ld"}]


def test_a_deploy_that_pulled_and_built_nothing_looks_at_no_images(
        tmp_path: Path, podman: Podman, monkeypatch: pytest.MonkeyPatch) -> None:
    """No pull, no build: no image name can have moved, so neither before the deploy nor
    after its gate does it ask podman which images its containers run."""
    asked: list[str] = []

    async def images(self: compose.Project) -> dict[str, str]:
        asked.append(podman.head())
        return {"localhost/web:latest": "0ld"}
    monkeypatch.setattr(compose.Project, "images", images)
    branch = Branch(tmp_path)
    local = COMPOSE.replace("reg.example/web", "localhost/web")
    first = branch.commit("one", local)
    service = runner(tmp_path, branch)
    assert asyncio.run(service.run_pass())
    second = branch.commit("two", local.replace("5006:8080", "5006:8081"))
    assert asyncio.run(service.run_pass())
    assert service.record.deployed == second != first
    assert ("up", second[:7]) in podman.calls and ("gate", second[:7]) in podman.calls
    assert asked == []


def test_failing_brings_the_last_good_back_not_the_broken_commit(tmp_path: Path,
                                                                 podman: Podman) -> None:
    _branch, service, first = unsure(tmp_path, podman)  # upstream stays at the broken one
    assert service.record.state is State.FAILING and service.record.held
    asyncio.run(service.run_pass())
    assert podman.calls == [("down", first[:7]), ("up", first[:7]), ("gate", first[:7])]
    assert service.record.state is State.BROKEN and service.record.deployed == first
    podman.calls.clear()
    asyncio.run(service.run_pass())
    assert podman.calls == []


def test_an_operators_stop_outlives_the_hosts_stop_file(tmp_path: Path, podman: Podman,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    async def down(self: compose.Project) -> None:
        podman.calls.append(("down", podman.head()))
    monkeypatch.setattr(compose.Project, "down", down)
    _, service, _ = deployed(tmp_path)
    service.event(state.Stopped("operator SHA256:k", "down"))
    stop = tmp_path / "lib" / "svc.stop"
    stop.write_text("")
    asyncio.run(service.run_pass())
    stop.unlink()
    podman.calls.clear()
    asyncio.run(service.run_pass())
    assert service.record.state is State.STOPPED and podman.calls == []  # still the operator's
    assert service.record.stopped is not None and service.record.host_stop is None


def test_after_a_restart_a_stopped_service_has_its_project_for_up(tmp_path: Path,
                                                                  podman: Podman) -> None:
    branch, service, _ = deployed(tmp_path)
    service.event(state.Stopped("operator SHA256:k", "down"))
    again = runner(tmp_path, branch)
    asyncio.run(again.run_pass("start"))
    assert again.record.state is State.STOPPED and again.project is not None


def test_a_host_stop_file_seen_at_start_takes_the_project_down(
        tmp_path: Path, podman: Podman, monkeypatch: pytest.MonkeyPatch) -> None:
    async def down(self: compose.Project) -> None:
        podman.calls.append(("down", podman.head()))
    monkeypatch.setattr(compose.Project, "down", down)
    branch, _service, first = deployed(tmp_path)
    (tmp_path / "lib" / "svc.stop").write_text("")
    podman.calls.clear()
    again = runner(tmp_path, branch)
    asyncio.run(again.run_pass("start"))
    assert podman.calls == [("down", first[:7])] and again.record.state is State.STOPPED


def test_a_reason_is_scrubbed_and_cut(tmp_path: Path, podman: Podman) -> None:
    branch, service, _ = deployed(tmp_path)
    branch.commit("two", USES_ALL)
    podman.unready = ["https://user:hunter2@example.org/x " + "y" * 5000]
    asyncio.run(service.run_pass())
    reason = service.record.history[1].reason
    assert "hunter2" not in reason and len(reason) <= state.REASON


def test_watchers_see_every_event_and_a_failing_one_changes_nothing(tmp_path: Path,
                                                                   podman: Podman) -> None:
    seen: list[tuple[State, str, State]] = []

    def watch(before: Record, event: state.Event, after: Record) -> None:
        seen.append((before.state, type(event).__name__, after.state))

    def broken(before: Record, event: state.Event, after: Record) -> None:
        raise RuntimeError("a watcher's bug")
    branch = Branch(tmp_path)
    branch.commit("one", USES_ALL)
    service = runner(tmp_path, branch, (broken, watch))
    assert asyncio.run(service.run_pass())
    assert ("deploying", "Deployed", "ok") in [(b.value, e, a.value) for b, e, a in seen]
    assert [e for _, e, _ in seen][:2] == ["Cloning", "Fetched"]
    assert service.record.state is State.OK
    assert service.seen is None  # (a pass that deployed does not look again)
    assert asyncio.run(service.run_pass())
    assert service.seen is not None  # the self-heal check's look is kept
    assert [r.state for r in service.seen.rows] == ["running"]


@pytest.mark.parametrize("jobs", [1, 2, None])
def test_jobs_bound_the_podman_compose_processes_of_all_services_at_once(
        tmp_path: Path, podman: Podman, monkeypatch: pytest.MonkeyPatch,
        jobs: int | None) -> None:
    """Six services deploying at once with -j N share N slots: never more podman-compose
    processes than that at a time, its runs and the argument layer's dry runs (a Python
    podman-compose each) counted together (and with no bound, more run at once: the test
    can fail); a deploy holds its slot from its first step to its last."""
    now, most, ran = [0], [0], []

    async def busy(name: str, what: str) -> None:
        now[0] += 1
        most[0] = max(most[0], now[0])
        await asyncio.sleep(0.05)
        now[0] -= 1
        ran.append((name, what))

    async def slow(self: compose.Project, *args: str, timeout: float | None = None,
                   go: Any = None) -> Any:
        await busy(self.name, args[0])
    real_run = proc.run

    async def dry(argv: Sequence[str], *args: Any, **kwargs: Any) -> proc.Result:
        if list(argv[1:3]) != ["-I", "-c"]:  # (git: for real)
            return await real_run(argv, *args, **kwargs)
        await busy(argv[argv.index("-p") + 1], "dry run " + argv[argv.index("-p") + 2])
        return proc.Result(0, '{"calls": []}\n')
    monkeypatch.setattr(compose.Project, "_run", slow)
    monkeypatch.setattr(proc, "run", dry)
    monkeypatch.setattr(deploy, "argument_problems", dryrun.argument_problems)

    def checks(config: ServiceConfig, log: ServiceLog) -> Checks:
        async def ready(project: Project, at: ProjectAt) -> str | None:
            return None

        async def dead(project: Project, at: ProjectAt) -> tuple[list[str],
                                                                 list[ContainerRow]]:
            return [], []
        return Checks(ready, dead, lambda project: asyncio.sleep(0, []))
    (tmp_path / "lib").mkdir()
    (tmp_path / "state").mkdir()

    async def main() -> list[bool | None]:
        shared = None if jobs is None else compose.Jobs(jobs)
        runners = []
        for i in range(6):
            branch = Branch(tmp_path / f"b{i}")
            branch.commit(f"{i}")
            config = ServiceConfig(name=f"svc{i}", user="root",
                                   repository=f"file://{branch.bare}",
                                   ports=(PortRange(5006, 5006),))
            runners.append(ServiceRunner(
                config, Account.current(), str(tmp_path / "lib"), str(tmp_path / "state"),
                "podman-compose", 60, checks, jobs=shared))
        return await asyncio.gather(*(r.run_pass() for r in runners))
    for i in range(6):
        (tmp_path / f"b{i}").mkdir()
    assert asyncio.run(main()) == [True] * 6
    # each: the dry runs of pull and up, then pull and up (nothing to build; no containers
    # to take down)
    assert sorted(what for name, what in ran if name == "svc0") == [
        "dry run pull", "dry run up", "pull", "up"]
    assert len(ran) == 6 * 4
    assert most[0] == jobs if jobs is not None else most[0] > 2
    if jobs == 1:  # a deploy keeps its slot for all its steps: one deploy after another
        names = [name for name, _ in ran]
        assert names == sorted(names, key=names.index)


def test_a_first_pass_clones_and_reads_head_once(tmp_path: Path, podman: Podman,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """The clone fetched the branch: no fetch nor ls-remote after it in the same pass, and
    HEAD read once (it was read three times, and fetched twice, per service at a cold
    start of 100); every object of the pass read by one cat-file."""
    started: list[list[str]] = []
    real = proc.start
    asked = asking(monkeypatch)

    async def counting(argv: Sequence[str], *args: Any, **kwargs: Any) -> Any:
        if argv[0] == "git":
            started.append([a for a in argv[1:] if a != "-c" and not a.startswith(
                ("core.", "protocol."))])
        return await real(argv, *args, **kwargs)
    monkeypatch.setattr(proc, "start", counting)
    branch = Branch(tmp_path)
    first = branch.commit("one", USES_ALL)
    service = runner(tmp_path, branch)
    assert asyncio.run(service.run_pass())
    assert service.record.deployed == first and service.record.upstream == first
    commands = [argv[0] for argv in started]
    assert commands.count("clone") == 1
    assert "fetch" not in commands and "ls-remote" not in commands
    assert commands.count("cat-file") == 1 and "rev-parse" not in commands
    assert asked.count("HEAD^{commit}") == 1
    second = branch.commit("two", USES_ALL)
    started.clear()
    assert asyncio.run(service.run_pass())  # (the next pass fetches)
    assert "ls-remote" in [argv[0] for argv in started]
    assert service.record.deployed == second


def test_a_restart_runs_no_rm_without_a_lock(
        tmp_path: Path, podman: Podman, monkeypatch: pytest.MonkeyPatch) -> None:
    """A restart's first pass over a healthy checkout: no `rm` of an index.lock that is
    not there; HEAD read by the repair's look and once more after the fetch (which writes
    in .git: the stamp moves), not more."""
    branch, _, first = deployed(tmp_path)
    started: list[list[str]] = []
    real = proc.start
    asked = asking(monkeypatch)

    async def counting(argv: Sequence[str], *args: Any, **kwargs: Any) -> Any:
        started.append([a for a in argv if a != "-c" and not a.startswith(
            ("core.", "protocol."))])
        return await real(argv, *args, **kwargs)
    monkeypatch.setattr(proc, "start", counting)
    again = runner(tmp_path, branch)  # (a new pgod)
    assert asyncio.run(again.run_pass())
    assert again.record.deployed == first and again.record.state is State.OK
    assert "rm" not in [argv[0] for argv in started]
    assert asked.count("HEAD^{commit}") == 2
    # (the look before the fetch had a cat-file; it is not trusted after the fetch)
    assert [argv[:2] for argv in started].count(["git", "cat-file"]) == 2


def asking(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every object name asked of a pass's cat-file (gitbatch.Batch), in order."""
    asked: list[str] = []
    real = gitbatch.Batch.get

    async def get(self: gitbatch.Batch, name: str) -> Any:
        asked.append(name)
        return await real(self, name)
    monkeypatch.setattr(gitbatch.Batch, "get", get)
    return asked


PS_JSON = ('[{"Names": ["svc_web_1"], "State": "running", "Status": "Up 2 minutes (healthy)",'
           ' "ExitCode": 0, "Labels": {"io.podman.compose.service": "web"}, "Id": "c1"}]')


def test_an_idle_pass_starts_one_podman_process(
        tmp_path: Path, podman: Podman, monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing changed upstream nor in the checkout: no git (the local remote's refs have
    the stamp they had when `git ls-remote` last ran; no fetch, no rev-parse, no re-read of
    the project) and the self-heal check's one `podman ps` (the real check, podman's answer
    canned)."""
    _, service, _ = deployed(tmp_path)
    service.checks = probes.checks_for(service.config, service.log)
    started: list[list[str]] = []
    real = proc.start

    async def counting(argv: Sequence[str], *args: Any, **kwargs: Any) -> Any:
        started.append([a for a in argv if not a.startswith(("core.", "protocol."))])
        if argv[0] == "podman":
            argv = ["printf", "%s", PS_JSON]
        return await real(argv, *args, **kwargs)
    monkeypatch.setattr(proc, "start", counting)
    assert asyncio.run(service.run_pass())
    started.clear()
    for _ in range(3):
        assert asyncio.run(service.run_pass())
    assert [(argv[0], next(a for a in argv[1:] if not a.startswith("-")))
            for argv in started] == [("podman", "ps")] * 3
    assert service.seen is not None and service.seen.rows[0].health == "healthy"
    assert service.record.state is State.OK and podman.calls[-1][0] == "gate"


def test_a_moved_checkout_head_is_seen_without_a_fetch(tmp_path: Path, podman: Podman) -> None:
    """HEAD is read again only when git may have moved it; moved, the pass puts it back."""
    branch, service, first = deployed(tmp_path)
    second = branch.commit("two", USES_ALL)
    git(branch.work, "reset", "-q", "--hard", first)
    git(branch.work, "push", "-qf", "origin", "HEAD:main")  # (second is fetched nowhere)
    assert asyncio.run(service.run_pass())
    checkout = tmp_path / "lib" / "svc"
    git(checkout, "fetch", "-q", str(branch.bare), second)
    git(checkout, "reset", "-q", "--hard", second)  # someone moves the checkout
    assert podman.head() == second[:7]
    assert asyncio.run(service.run_pass())
    assert podman.head() == first[:7]
    assert service.record.deployed == first


def test_nothing_to_pull_or_build_starts_neither(tmp_path: Path, podman: Podman) -> None:
    """A local image (podman-compose never pulls localhost/) and no build: no podman-compose
    pull or build (nor their dry runs) that would do nothing."""
    branch = Branch(tmp_path)
    first = branch.commit("one", COMPOSE.replace("reg.example/web", "localhost/web"))
    service = runner(tmp_path, branch)
    assert asyncio.run(service.run_pass())
    assert podman.calls == [("up", first[:7]), ("gate", first[:7])]


@pytest.mark.parametrize("left", [[], ["svc_web_1"]])
def test_a_first_deploy_takes_down_only_containers_that_exist(
        tmp_path: Path, podman: Podman, monkeypatch: pytest.MonkeyPatch,
        left: list[str]) -> None:
    """Containers left from a lost state file are taken down before the first up; with none
    (the usual first start) no podman-compose down runs."""
    async def down(self: compose.Project, ahead: Any = None) -> None:
        podman.did("down")
    monkeypatch.setattr(compose.Project, "down", down)
    branch = Branch(tmp_path)
    first = branch.commit("one", COMPOSE.replace("reg.example/web", "localhost/web"))
    podman.left = left
    assert asyncio.run(runner(tmp_path, branch).run_pass())
    assert podman.calls == [("down", first[:7])] * bool(left) + [("up", first[:7]),
                                                                 ("gate", first[:7])]


def test_a_restart_reads_the_deployed_project_once(tmp_path: Path, podman: Podman,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    branch, _, first = deployed(tmp_path)
    trees: list[str] = []
    real = workspace.read_project

    async def counting(checkout: Any, config: Any, commit: str, *args: Any,
                       **kwargs: Any) -> Any:
        trees.append(commit)  # (one per read of the project)
        return await real(checkout, config, commit, *args, **kwargs)
    monkeypatch.setattr(workspace, "read_project", counting)
    podman.calls.clear()
    again = runner(tmp_path, branch)  # (the same config: a new pgod)
    assert asyncio.run(again.run_pass())
    assert trees == [first] and podman.calls == []


def counted(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """The argv of every process started from now on (they still run)."""
    started: list[list[str]] = []
    real = proc.start

    async def start(argv: Sequence[str], *args: Any, **kwargs: Any) -> Any:
        started.append(list(argv))
        return await real(argv, *args, **kwargs)
    monkeypatch.setattr(proc, "start", start)
    return started


def test_an_idle_pass_starts_no_process_and_writes_no_record(
        tmp_path: Path, podman: Podman, monkeypatch: pytest.MonkeyPatch) -> None:
    """The branch's stamp in the local remote is what it was: no git at all (the self-heal
    look is the fake's here), and only the time of the fetch changed: no write."""
    _, service, first = deployed(tmp_path)
    asyncio.run(service.run_pass())  # (the head seen, the remote asked once with a stamp)
    saved = Path(statestore.record_path(str(tmp_path / "state"), "svc")).stat()
    started = counted(monkeypatch)
    for _ in range(3):
        assert asyncio.run(service.run_pass())
    assert started == []
    assert service.record.upstream == first and service.record.state is State.OK
    again = Path(statestore.record_path(str(tmp_path / "state"), "svc")).stat()
    assert (again.st_ino, again.st_mtime_ns) == (saved.st_ino, saved.st_mtime_ns)
    asyncio.run(service.run_pass("sync"))  # an operator's pass fetches all the same,
    assert any("fetch" in argv for argv in started)  # without asking ls-remote first
    assert not any("ls-remote" in argv for argv in started)


@pytest.mark.parametrize("change", ["push", "force-push", "update-ref", "pack-refs"])
def test_a_poll_sees_every_way_the_branch_moves(tmp_path: Path, podman: Podman,
                                               change: str) -> None:
    branch, service, first = deployed(tmp_path)
    asyncio.run(service.run_pass())
    if change == "push":
        want = branch.commit("two", USES_ALL)
    elif change == "force-push":
        second = branch.commit("two", USES_ALL)
        asyncio.run(service.run_pass())
        assert service.record.deployed == second
        git(branch.work, "push", "-qf", "origin", f"{first}:main")
        want = first
    else:
        second = branch.commit("two", USES_ALL)
        asyncio.run(service.run_pass())
        assert service.record.deployed == second
        git(branch.bare, "update-ref", "refs/heads/main", first)
        if change == "pack-refs":
            git(branch.bare, "pack-refs", "--all")
        want = first
    assert asyncio.run(service.run_pass())
    assert service.record.upstream == want and service.record.deployed == want


def test_a_failed_save_is_tried_again_at_the_next_event(tmp_path: Path, podman: Podman,
                                                         monkeypatch: pytest.MonkeyPatch
                                                         ) -> None:
    _, service, _ = deployed(tmp_path)
    real, failing = statestore.save, [True]

    def save(state_dir: str, record: Record) -> None:
        if failing.pop(0) if failing else False:
            raise OSError(28, "No space left on device")
        real(state_dir, record)
    monkeypatch.setattr(statestore, "save", save)
    service.event(state.Trouble("full"))     # (not written)
    service.event(state.Fetched(service.record.upstream or ""))  # only a time: written now
    assert statestore.load(str(tmp_path / "state"), "svc") == service.record
