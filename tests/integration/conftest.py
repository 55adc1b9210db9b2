"""Fixtures that build real things: unix users, git repositories (file:// and a git daemon
on loopback), a world-traversable work directory. No mocks of git, podman or SSH."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from .helpers import Repo, free_port, make_repo_in, remove_user, run


@pytest.fixture(scope="session", autouse=True)
def _real_environment() -> None:
    """Fail (never skip) when the machine cannot run the integration tests."""
    problems = []
    if os.geteuid() != 0:
        problems.append("they need root (to create unix users and switch to them)")
    for tool in ("podman", "git", "ssh", "ssh-keygen", "useradd", "busybox"):
        if shutil.which(tool) is None:
            problems.append(f"{tool} is not installed")
    if "CONTAINERS_CONF" not in os.environ:
        problems.append("CONTAINERS_CONF is not set")
    if problems:
        pytest.fail("integration tests: " + "; ".join(problems) + ". Run them with scripts/test, "
                    "which installs and configures everything.", pytrace=False)


@pytest.fixture(scope="session")
def session_dir() -> Iterator[Path]:
    """A directory service users can traverse (pytest's tmp_path is 0700)."""
    path = Path(tempfile.mkdtemp(prefix="pgo-it-", dir="/tmp"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def workdir(session_dir: Path, request: pytest.FixtureRequest) -> Path:
    path = Path(tempfile.mkdtemp(prefix=request.node.name[:40] + "-", dir=session_dir))
    path.chmod(0o755)
    return path


@pytest.fixture
def make_user() -> Iterator[Callable[[], str]]:
    """Create real unix users (`useradd -m`); removed with their containers afterwards."""
    made: list[str] = []

    def make() -> str:
        name = f"pgoit{secrets.token_hex(3)}"
        run(["useradd", "-m", "-s", "/usr/sbin/nologin", name])
        made.append(name)
        return name

    yield make
    for name in made:
        remove_user(name)


@pytest.fixture
def make_repo(workdir: Path) -> Callable[[dict[str, str | bytes]], Repo]:
    def make(files: dict[str, str | bytes]) -> Repo:
        return make_repo_in(workdir, files)
    return make


class GitDaemon:
    """`git daemon` serving the bare repositories under `base` on loopback."""

    def __init__(self, base: Path) -> None:
        self.base, self.port = base, free_port()
        self.proc = subprocess.Popen(
            ["git", "daemon", "--reuseaddr", "--export-all", "--listen=127.0.0.1",
             f"--port={self.port}", f"--base-path={base}", str(base)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            probe = subprocess.run(["git", "ls-remote", f"git://127.0.0.1:{self.port}/"],
                                   capture_output=True, check=False)
            if b"Connection refused" not in probe.stderr:
                return
            time.sleep(0.1)
        raise AssertionError("git daemon did not start")

    def url(self, repo: Repo) -> str:
        return f"git://127.0.0.1:{self.port}/{repo.bare.relative_to(self.base)}"


@pytest.fixture(scope="session")
def git_daemon(session_dir: Path) -> Iterator[GitDaemon]:
    daemon = GitDaemon(session_dir)
    yield daemon
    daemon.proc.terminate()
    daemon.proc.wait(10)
