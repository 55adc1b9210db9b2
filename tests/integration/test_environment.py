"""The fixtures themselves, for real: users, repositories, git daemon, podman-compose."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

from .conftest import GitDaemon
from .helpers import (
    BUSYBOX,
    Repo,
    compose_as,
    container_ids,
    free_port,
    hello_files,
    podman_as,
    processes_of,
    remove_user,
    run,
    wait_for_http,
)

MakeUser = Callable[[], str]
MakeRepo = Callable[[dict[str, str | bytes]], Repo]


def test_user_runs_hello_with_podman_compose(workdir: Path, make_user: MakeUser,
                                             make_repo: MakeRepo) -> None:
    """The example, cloned from its repository, built and started by a fresh user's
    podman-compose: served on its port, seen by that user's podman only."""
    user, port = make_user(), free_port()
    repo = make_repo(hello_files(port, "hello from the fixtures"))
    checkout = workdir / "checkout"
    run(["git", "clone", "-q", repo.url, str(checkout)])

    compose_as(user, checkout, "hello", "build")
    compose_as(user, checkout, "hello", "up", "-d")
    wait_for_http(port, "hello from the fixtures")
    ids = container_ids(user, "hello")
    assert len(ids) == 1
    assert not podman_as("root", "ps", "-aq", "--filter", "label=io.podman.compose.project=hello")

    compose_as(user, checkout, "hello", "up", "-d")
    assert container_ids(user, "hello") == ids, "an unchanged `up -d` recreates nothing"
    compose_as(user, checkout, "hello", "down")
    assert container_ids(user, "hello") == []


def test_git_daemon_serves_commits_and_force_pushes(workdir: Path, make_repo: MakeRepo,
                                                    git_daemon: GitDaemon) -> None:
    repo = make_repo({"a.txt": "one\n"})
    second = repo.commit({"b.txt": "two\n"}, "second", delete=["a.txt"])
    clone = workdir / "clone"
    run(["git", "clone", "-q", git_daemon.url(repo), str(clone)])
    assert run(["git", "-C", str(clone), "rev-parse", "HEAD"]).strip() == second
    assert sorted(p.name for p in clone.iterdir() if p.name != ".git") == ["b.txt"]

    forced = repo.force_push(f"{second}~1", {"c.txt": "three\n"}, "rewritten")
    run(["git", "-C", str(clone), "fetch", "-q", "--force", "origin"])
    assert run(["git", "-C", str(clone), "rev-parse", "origin/main"]).strip() == forced
    ancestor = subprocess.run(["git", "-C", str(clone), "merge-base", "--is-ancestor", second,
                               forced], check=False)
    assert ancestor.returncode == 1, "the force-push rewrote history"


def test_remove_user_leaves_nothing_behind(workdir: Path, make_user: MakeUser) -> None:
    """A user with a running container: removing it stops the container, kills every
    process of the user and deletes its home and podman's runtime directories."""
    user = make_user()
    entry = pwd.getpwnam(user)
    (workdir / "rootfs" / "bin").mkdir(parents=True)
    shutil.copy(BUSYBOX, workdir / "rootfs" / "bin" / "busybox")
    run(["tar", "-C", str(workdir / "rootfs"), "-cf", str(workdir / "bb.tar"), "bin"])
    podman_as(user, "import", "-q", str(workdir / "bb.tar"), "localhost/bb:latest")
    podman_as(user, "run", "-d", "--init", "localhost/bb", "/bin/busybox", "sleep", "600")
    assert any("sleep 600" in line for line in processes_of(entry.pw_uid))

    remove_user(user)
    assert processes_of(entry.pw_uid) == []
    assert not os.path.exists(entry.pw_dir)
    assert not os.path.exists(f"/tmp/podman-run-{entry.pw_uid}")
    assert not os.path.exists(f"/tmp/containers-user-{entry.pw_uid}")
