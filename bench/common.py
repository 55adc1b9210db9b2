"""What the benchmarks share: the machine line, users, repositories, a pgod child and what
/proc says of it, and appending to bench/results.md.

Run as root after scripts/install; public tools only (git, podman, podman-compose, ssh).
`PGO_SRC=DIR` runs the pgod of another source tree (DIR/src/pgo), to measure a before next
to an after; by default the one installed in this venv.
"""

from __future__ import annotations

import os
import platform
import pwd
import secrets
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.integration.helpers import remove_user, run

BIN = os.path.dirname(sys.executable)
RESULTS = Path(__file__).with_name("results.md")
TICK = os.sysconf("SC_CLK_TCK")


def machine() -> str:
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    commit = subprocess.run(["git", "-C", str(Path(__file__).parent), "rev-parse", "--short",
                             "HEAD"], capture_output=True, text=True, check=False).stdout.strip()
    dirty = subprocess.run(["git", "-C", str(Path(__file__).parent), "status", "--porcelain",
                            "--", "src"], capture_output=True, text=True,
                           check=False).stdout.strip()
    return (f"{platform.machine()}, {os.cpu_count()} cores, {platform.platform()}, Python "
            f"{platform.python_version()}; commit {commit}{' (src modified)' if dirty else ''}"
            f"{'; pgod from ' + os.environ['PGO_SRC'] if os.environ.get('PGO_SRC') else ''}; "
            f"load average at the start {load}")


def heading(title: str) -> str:
    return f"\n## {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {platform.node()}: " \
           f"{title}\n{machine()}.\n"


def append(text: str) -> None:
    print(text)
    with open(RESULTS, "a", encoding="utf-8") as handle:
        handle.write(text)


def pgod_argv(src: str | None = None) -> list[str]:
    src = src or os.environ.get("PGO_SRC")
    if src:  # the installed pgo is an editable install: PYTHONPATH comes first
        return ["env", f"PYTHONPATH={src}/src", f"{BIN}/python", "-m", "pgo.cli.pgod"]
    return [f"{BIN}/pgod"]


def make_users(count: int) -> list[str]:
    users = [f"pgob{secrets.token_hex(2)}{i}" for i in range(count)]
    for user in users:
        run(["useradd", "-m", "-s", "/usr/sbin/nologin", user])
    return users


def remove_users(users: list[str]) -> None:
    for user in users:
        remove_user(user)


def git(*args: str, cwd: Path | None = None) -> str:
    return run(["git", "-c", "user.name=bench", "-c", "user.email=bench@pgo.invalid",
                "-c", "init.defaultBranch=main", *args], cwd=cwd)


def bare_copies(source: Path, root: Path, count: int) -> list[Path]:
    """`count` bare repositories holding the branch of `source` (a work tree)."""
    repos = []
    for i in range(count):
        repo = root / f"repo{i}.git"
        git("clone", "-q", "--bare", str(source), str(repo))
        repos.append(repo)
    return repos


@dataclass(frozen=True)
class Usage:
    """What /proc says of a process at one moment."""

    at: float
    own: float       # CPU seconds, user + system
    children: float  # CPU seconds of its children that it has reaped
    rss: int         # bytes

    def cpu(self) -> float:
        return self.own + self.children


def usage(pid: int) -> Usage:
    with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    with open(f"/proc/{pid}/status", encoding="ascii") as handle:
        rss = next(int(line.split()[1]) * 1024 for line in handle if line.startswith("VmRSS:"))
    utime, stime, cutime, cstime = (int(x) / TICK for x in fields[11:15])
    return Usage(time.monotonic(), utime + stime, cutime + cstime, rss)


class Daemon:
    """pgod as a child with its log in a file (a trimmed tests' Pgod, for any source tree)."""

    def __init__(self, config: Path, directory: Path, log: Path, *extra: str,
                 src: str | None = None) -> None:
        self.argv = [*pgod_argv(src), "-c", str(config), "--dir", str(directory), "-m", "",
                     *extra]
        self.log_path, self.proc = log, None  # type: ignore[var-annotated]
        self.offset = 0

    def start(self) -> Daemon:
        self.offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(self.argv, stdout=log, stderr=subprocess.STDOUT,
                                         env={**os.environ, "PYTHONUNBUFFERED": "1"})
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return int(self.proc.pid)

    def log(self, start: int | None = None) -> str:
        with open(self.log_path, encoding="utf-8", errors="replace") as handle:
            handle.seek(self.offset if start is None else start)
            return handle.read()

    def size(self) -> int:
        return self.log_path.stat().st_size

    def wait_each(self, needle: str, names: list[str], timeout: float) -> float:
        """Seconds until every one of `names` has logged "NAME: needle" in this run."""
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            text = self.log()
            if all(f" {name}: {needle}" in text for name in names):
                return time.monotonic() - start
            if self.proc is not None and self.proc.poll() is not None:
                raise SystemExit(f"pgod exited:\n{text[-3000:]}")
            time.sleep(0.5)
        raise SystemExit(f"{needle!r} not seen for all in {timeout:.0f}s")

    def wait_for(self, needle: str, count: int, timeout: float) -> float:
        """Seconds until `needle` is in this run's log `count` times."""
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            if self.log().count(needle) >= count:
                return time.monotonic() - start
            if self.proc is not None and self.proc.poll() is not None:
                raise SystemExit(f"pgod exited:\n{self.log()[-3000:]}")
            time.sleep(0.5)
        raise SystemExit(f"{needle!r} x{count} not seen in {timeout:.0f}s "
                         f"({self.log().count(needle)} times):\n{self.log()[-3000:]}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(90)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def owner_uid(user: str) -> int:
    return pwd.getpwnam(user).pw_uid
