"""Real things for the integration tests: unix users, git repositories, podman, HTTP."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = REPO_ROOT / "examples" / "hello"
BUSYBOX = "/bin/busybox"


def run(argv: list[str], **kw: object) -> str:
    """Run a command, fail loudly with its output."""
    result = subprocess.run(argv, capture_output=True, text=True, check=False, **kw)  # type: ignore[call-overload]
    if result.returncode != 0:
        raise AssertionError(f"{argv} exited {result.returncode}:\n{result.stdout}{result.stderr}")
    return str(result.stdout)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def user_env(user: str) -> dict[str, str]:
    home = pwd.getpwnam(user).pw_dir
    env = {"HOME": home, "PATH": "/usr/local/bin:/usr/bin:/bin", "USER": user, "LOGNAME": user}
    if "CONTAINERS_CONF" in os.environ:
        env["CONTAINERS_CONF"] = os.environ["CONTAINERS_CONF"]
    return env


def podman_as(user: str, *args: str) -> str:
    """podman as `user` (root included), in that user's own storage."""
    if user == "root":
        return run(["podman", *args], env={**user_env("root")})
    entry = pwd.getpwnam(user)
    return run(["podman", *args], env=user_env(user), user=entry.pw_uid, group=entry.pw_gid,
               extra_groups=[], cwd="/")


def container_ids(user: str, project: str) -> list[str]:
    out = podman_as(user, "ps", "-aq", "--no-trunc", "--filter",
                    f"label=io.podman.compose.project={project}")
    return sorted(out.split())


def http_get(port: int, timeout: float = 5.0, path: str = "/") -> str:
    url = f"http://127.0.0.1:{port}{path}"
    with urllib.request.urlopen(url, timeout=timeout) as reply:
        return str(reply.read().decode())


def wait_for_http(port: int, expect: str, timeout: float = 180.0) -> str:
    """Poll until the page on `port` contains `expect` (the timeout is a safety net)."""
    deadline, last = time.monotonic() + timeout, ""
    while time.monotonic() < deadline:
        try:
            last = http_get(port)
            if expect in last:
                return last
        except (OSError, urllib.error.URLError) as err:
            last = repr(err)
        time.sleep(0.3)
    raise AssertionError(f"port {port}: {expect!r} never served; last: {last[:300]}")


def hello_files(port: int, text: str, service: str = "web") -> dict[str, str | bytes]:
    """The example service's files, publishing `port`, its page saying `text`."""
    compose = (f"services:\n  {service}:\n    build: .\n    ports:\n      - \"{port}:8080\"\n"
               "    init: true\n    stop_grace_period: 1s\n")
    return {
        "compose.yaml": compose,
        "Containerfile": (EXAMPLE / "Containerfile").read_text(),
        "www/index.html": f"<p>{text}</p>\n",
        "busybox": Path(BUSYBOX).read_bytes(),
    }


@dataclass
class Repo:
    """A bare repository (the remote pgod pulls) and a working clone to commit from."""

    bare: Path
    work: Path

    @property
    def url(self) -> str:
        return f"file://{self.bare}"

    def _git(self, *args: str) -> str:
        return run(["git", "-C", str(self.work), "-c", "user.name=pgo test",
                    "-c", "user.email=test@pgo.invalid", *args])

    def commit(self, files: dict[str, str | bytes], message: str,
               delete: tuple[str, ...] = ()) -> str:
        """Write `files`, remove `delete`, commit, push; return the new commit hash."""
        for name, content in files.items():
            path = self.work / name
            path.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                path.write_bytes(content)
                path.chmod(0o755)
            else:
                path.write_text(content)
        for name in delete:
            (self.work / name).unlink()
        self._git("add", "-A")
        self._git("commit", "-q", "-m", message)
        self._git("push", "-q", "origin", "HEAD:main")
        self._publish()
        return self._git("rev-parse", "HEAD").strip()

    def force_push(self, base: str, files: dict[str, str | bytes], message: str) -> str:
        """Rewrite history: a new commit on top of `base`, force-pushed over main."""
        self._git("reset", "-q", "--hard", base)
        self._git("push", "-q", "--force", "origin", "HEAD:main")
        return self.commit(files, message)

    def _publish(self) -> None:
        run(["chmod", "-R", "a+rX", str(self.bare)])


def make_repo_in(root: Path, files: dict[str, str | bytes]) -> Repo:
    bare = Path(tempfile.mkdtemp(prefix="repo-", suffix=".git", dir=root))
    work = Path(tempfile.mkdtemp(prefix="work-", dir=root))
    run(["git", "init", "-q", "--bare", "-b", "main", str(bare)])
    run(["git", "init", "-q", "-b", "main", str(work)])
    run(["git", "-C", str(work), "remote", "add", "origin", str(bare)])
    repo = Repo(bare, work)
    repo.commit(files, "first")
    return repo


def remove_user(user: str) -> None:
    """Stop everything the user runs, remove its containers and the user with its home."""
    entry = pwd.getpwnam(user)
    env = user_env(user)
    kw = {"env": env, "user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": [],
          "cwd": "/", "capture_output": True, "check": False, "timeout": 120}
    subprocess.run(["podman", "rm", "-af", "-t", "0"], **kw)  # type: ignore[call-overload]
    subprocess.run(["podman", "system", "migrate"], **kw)  # type: ignore[call-overload]
    subprocess.run(["pkill", "-KILL", "-u", user], capture_output=True, check=False)
    time.sleep(0.2)
    subprocess.run(["userdel", "-r", "-f", user], capture_output=True, check=False)
    shutil.rmtree(f"/tmp/podman-run-{entry.pw_uid}", ignore_errors=True)
