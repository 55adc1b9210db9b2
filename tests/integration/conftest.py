"""Fixtures that build real things: unix users, git repositories (file:// and a git daemon
on loopback), a world-traversable work directory. No mocks of git, podman or SSH.

Nothing is skipped: on a machine that cannot run these tests they fail, naming what is
missing and pointing at scripts/test (which installs and configures all of it)."""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import stat
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from .helpers import PODMAN_COMPOSE, Repo, free_port, make_repo_in, remove_user, run

TOOLS = ("podman", "git", "ssh", "ssh-keygen", "useradd", "userdel", "pgrep", "pkill", "busybox")


def world_usable(path: str, mode: int) -> bool:
    """`path` has the `mode` bits for others, and every directory above it is traversable."""
    parents = [p for p in Path(path).parents if str(p) != "/"]
    return (os.stat(path).st_mode & mode == mode
            and all(p.stat().st_mode & stat.S_IXOTH for p in parents))


def environment_problems() -> list[str]:
    problems = [] if os.geteuid() == 0 else ["they need root (to create and become unix users)"]
    problems += [f"{tool} is not installed" for tool in TOOLS if shutil.which(tool) is None]
    conf = os.environ.get("CONTAINERS_CONF")
    if not conf or not os.path.exists(conf) or not world_usable(conf, stat.S_IROTH):
        problems.append("CONTAINERS_CONF must name a containers.conf every user can read")
    if not os.path.exists(PODMAN_COMPOSE) or not world_usable(PODMAN_COMPOSE, stat.S_IXOTH):
        problems.append(f"{PODMAN_COMPOSE} must exist and be executable by every user "
                        "(a venv made from Debian's /usr/bin/python3, outside /root)")
    if not world_usable("/dev/net/tun", stat.S_IROTH | stat.S_IWOTH):
        problems.append("/dev/net/tun must be mode 0666 (rootless podman's slirp4netns)")
    return problems


@pytest.fixture(scope="session", autouse=True)
def _real_environment() -> None:
    """Fail (never skip) when the machine cannot run the integration tests."""
    if problems := environment_problems():
        pytest.fail("integration tests: " + "; ".join(problems) + ". Run them with "
                    "scripts/test, which installs and configures everything.", pytrace=False)


@pytest.fixture(scope="session")
def session_dir() -> Iterator[Path]:
    """A directory service users can traverse (pytest's tmp_path is 0700)."""
    path = Path(tempfile.mkdtemp(prefix="pgo-it-", dir="/tmp"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Keep each phase's report on the test item, so fixtures can tell a failed test."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    setattr(item, f"report_{report.when}", report)


@pytest.fixture
def workdir(session_dir: Path, request: pytest.FixtureRequest) -> Iterator[Path]:
    """This test's own directory inside `session_dir`, traversable by every user. When the
    test fails, the tail of every pgod log in it is printed (CI keeps nothing else)."""
    path = Path(tempfile.mkdtemp(prefix=request.node.name[:40] + "-", dir=session_dir))
    path.chmod(0o755)
    yield path
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        for log in sorted(path.glob("*.log")):
            print(f"--- {log.name} (last 8000 characters) ---")
            print(log.read_text(errors="replace")[-8000:])


@pytest.fixture
def make_user() -> Iterator[Callable[[], str]]:
    """Create real unix users (`useradd -m`); removed with their containers afterwards."""
    made: list[str] = []

    def make() -> str:
        name = f"pgoit-{secrets.token_hex(3)}"
        run(["useradd", "-m", "-s", "/usr/sbin/nologin", name])
        made.append(name)
        return name

    yield make
    for name in made:
        remove_user(name)


@pytest.fixture
def make_repo(workdir: Path) -> Callable[[dict[str, str | bytes]], Repo]:
    """Bare repositories under `workdir` (so `git_daemon` serves them too)."""

    def make(files: dict[str, str | bytes]) -> Repo:
        return make_repo_in(workdir, files)

    return make


class GitDaemon:
    """`git daemon` serving every repository under `base` on loopback."""

    def __init__(self, base: Path) -> None:
        self.base, self.port = base, free_port()
        self.proc = subprocess.Popen(
            ["git", "daemon", "--reuseaddr", "--export-all", "--listen=127.0.0.1",
             f"--port={self.port}", f"--base-path={base}", str(base)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self._wait_listening(deadline=time.monotonic() + 30)

    def _wait_listening(self, deadline: float) -> None:
        while self.proc.poll() is None and time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        raise AssertionError(f"git daemon did not listen on port {self.port}")

    def url(self, repo: Repo) -> str:
        return f"git://127.0.0.1:{self.port}/{repo.bare.relative_to(self.base)}"

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


@pytest.fixture(scope="session")
def git_daemon(session_dir: Path) -> Iterator[GitDaemon]:
    daemon = GitDaemon(session_dir)
    yield daemon
    daemon.stop()
