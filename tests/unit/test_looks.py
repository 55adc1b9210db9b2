"""Self-heal's shared look: one `podman ps` for all the projects of a user, never older
than `fresh` nor than the project's last podman-compose run."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest

from pgo import proc
from pgo.compose import Jobs, Project
from pgo.errors import CommandFailed
from pgo.looks import Looks
from pgo.proc import Account

ALICE = Account("alice", 2001, 2001, "/home/alice")
BOB = Account("bob", 2002, 2002, "/home/bob")


def entry(project: str, name: str, state: str = "running") -> dict[str, Any]:
    return {"Names": [name], "State": state, "Status": "Up 1 minute", "ExitCode": 0, "Id": name,
            "Labels": {"io.podman.compose.project": project,
                       "io.podman.compose.service": "web"}}


@pytest.fixture
def podman(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Each podman ps run, by user; it lists the user's two projects' containers."""
    calls: list[str] = []

    async def run(argv: list[str], account: Account, *_: Any, **__: Any) -> proc.Result:
        calls.append(account.user)
        await asyncio.sleep(0.01)
        if account.user == "bob":
            raise CommandFailed(argv, 125, "cannot re-exec process")
        return proc.Result(0, json.dumps([entry("a", "a_web_1"), entry("b", "b_web_1", "exited"),
                                          entry("other", "x")]))
    monkeypatch.setattr(proc, "run", run)
    return calls


def project(name: str, account: Account = ALICE) -> Project:
    return Project(name, f"/srv/{name}", "compose.yaml", account, "podman-compose")


def test_one_look_serves_every_project_of_a_user(podman: list[str]) -> None:
    looks = Looks(Jobs(2), fresh=60)

    async def main() -> list[list[tuple[str, str]]]:
        seen = await asyncio.gather(looks.containers(project("a")),
                                    looks.containers(project("b")))
        seen.append(await looks.containers(project("a")))
        return [[(c.name, c.status) for c in cs] for cs in seen]
    assert asyncio.run(main()) == [[("a_web_1", "running")], [("b_web_1", "exited")],
                                   [("a_web_1", "running")]]
    assert podman == ["alice"]


def test_a_look_older_than_the_projects_last_compose_run_is_not_used(
        podman: list[str]) -> None:
    jobs = Jobs(2)
    looks = Looks(jobs, fresh=60)

    async def main() -> None:
        await looks.containers(project("a"))
        jobs.ended["a"] = time.monotonic()  # (what Project.run does when it ends)
        await looks.containers(project("b"))  # b's containers: the look is good for b
        assert podman == ["alice"]
        await looks.containers(project("a"))
        assert podman == ["alice", "alice"]
        await looks.containers(project("b"))  # (the new look serves b too)
    asyncio.run(main())
    assert podman == ["alice", "alice"]


def test_a_stale_or_failed_look_is_taken_again_per_user(podman: list[str]) -> None:
    looks = Looks(Jobs(2), fresh=0.0)

    async def main() -> None:
        await looks.containers(project("a"))
        await looks.containers(project("a"))
        for _ in range(2):
            with pytest.raises(CommandFailed):
                await looks.containers(project("c", BOB))
    looks_again = Looks(Jobs(2), fresh=60)

    async def failing() -> None:
        for _ in range(2):  # a failed look is not kept
            with pytest.raises(CommandFailed):
                await looks_again.containers(project("c", BOB))
    asyncio.run(main())
    asyncio.run(failing())
    assert podman == ["alice", "alice", "bob", "bob", "bob", "bob"]
