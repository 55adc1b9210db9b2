"""Real things for the integration tests: unix users, git repositories, podman, HTTP.

Every command run as a service user gets what pgod gives it: uid, gid, no supplementary
groups, and an environment of HOME, PATH, USER, LOGNAME and CONTAINERS_CONF only.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = REPO_ROOT / "examples" / "hello"
EXAMPLE_PORTS = '"5006:8080"'
BUSYBOX = Path("/bin/busybox")
PODMAN_COMPOSE = str(Path(sys.executable).parent / "podman-compose")
PATH = "/usr/local/bin:/usr/bin:/bin"


def run(argv: list[str], **kw: Any) -> str:
    """Run a command to completion, fail loudly with its output; return its stdout."""
    result = subprocess.run(argv, capture_output=True, text=True, check=False, **kw)
    if result.returncode != 0:
        raise AssertionError(f"{argv} exited {result.returncode}:\n{result.stdout}{result.stderr}")
    return str(result.stdout)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def user_env(user: str) -> dict[str, str]:
    home = pwd.getpwnam(user).pw_dir
    env = {"HOME": home, "PATH": PATH, "USER": user, "LOGNAME": user}
    if "CONTAINERS_CONF" in os.environ:
        env["CONTAINERS_CONF"] = os.environ["CONTAINERS_CONF"]
    return env


def as_user(user: str, cwd: str | Path = "/") -> dict[str, Any]:
    """subprocess keyword arguments that run a command as `user`, the way pgod does."""
    entry = pwd.getpwnam(user)
    kw: dict[str, Any] = {"env": user_env(user), "cwd": str(cwd)}
    if entry.pw_uid != os.geteuid():
        kw.update(user=entry.pw_uid, group=entry.pw_gid, extra_groups=[])
    return kw


def podman_as(user: str, *args: str) -> str:
    """podman as `user` (root included), in that user's own storage; its stdout."""
    return run(["podman", *args], **as_user(user))


def compose_as(user: str, directory: Path, project: str, *args: str) -> str:
    """podman-compose (the venv's, pinned) as `user` in `directory`: -f compose.yaml -p ..."""
    argv = [PODMAN_COMPOSE, "-f", str(directory / "compose.yaml"), "-p", project, *args]
    return run(argv, **as_user(user, directory), timeout=600)


def container_ids(user: str, project: str) -> list[str]:
    """Full ids of the project's containers (running or not) as `user`'s podman sees them."""
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


def hello_files(port: int, text: str) -> dict[str, str | bytes]:
    """examples/hello as a repository's files: busybox added, host port 5006 replaced by
    `port`, the page saying `text`."""
    files: dict[str, str | bytes] = {
        str(path.relative_to(EXAMPLE)): path.read_text()
        for path in sorted(EXAMPLE.rglob("*")) if path.is_file()}
    compose = str(files["compose.yaml"])
    assert EXAMPLE_PORTS in compose, f"examples/hello/compose.yaml must publish {EXAMPLE_PORTS}"
    files["compose.yaml"] = compose.replace(EXAMPLE_PORTS, f'"{port}:8080"')
    files["www/index.html"] = f"<!doctype html>\n<title>{text}</title>\n<p>{text}</p>\n"
    files["busybox"] = BUSYBOX.read_bytes()
    return files


@dataclass(frozen=True)
class GpgKey:
    """A GPG signing key: the GNUPGHOME that holds it, and its fingerprint."""

    home: Path
    fingerprint: str

    @staticmethod
    def make(uid: str) -> GpgKey:
        """A new key in a new GNUPGHOME, short-named under /tmp (gpg-agent's socket path
        must be short); `close` ends its agent and removes it."""
        home = Path(tempfile.mkdtemp(prefix="pgo-gpg-"))
        gpg = ["gpg", "--batch", "--quiet", "--homedir", str(home)]
        run([*gpg, "--passphrase", "", "--quick-gen-key", uid, "ed25519", "sign", "never"])
        listing = run([*gpg, "--list-keys", "--with-colons"])
        fpr = next(line.split(":")[9] for line in listing.splitlines()
                   if line.startswith("fpr:"))
        return GpgKey(home, fpr)

    def export(self, path: Path) -> Path:
        """The public key, as a keyring file (gpg --export) everyone may read."""
        data = subprocess.run(["gpg", "--batch", "--homedir", str(self.home), "--export",
                               self.fingerprint], capture_output=True, check=True).stdout
        path.write_bytes(data)
        path.chmod(0o644)
        return path

    def close(self) -> None:
        subprocess.run(["gpgconf", "--homedir", str(self.home), "--kill", "all"],
                       capture_output=True, check=False)
        shutil.rmtree(self.home, ignore_errors=True)


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
               delete: Iterable[str] = (), sign: Path | GpgKey | None = None) -> str:
        """Write `files`, remove `delete`, commit (signed with the SSH key or GPG key
        `sign`, if given), push; return the new commit hash."""
        for name, content in files.items():
            write_file(self.work / name, content)
        for name in delete:
            (self.work / name).unlink()
        self._git("add", "-A")
        if isinstance(sign, GpgKey):
            run(["git", "-C", str(self.work), "-c", "user.name=pgo test", "-c",
                 "user.email=test@pgo.invalid", "-c", "gpg.format=openpgp", "-c",
                 f"user.signingkey={sign.fingerprint}", "commit", "-q", "--allow-empty", "-S",
                 "-m", message], env={**os.environ, "GNUPGHOME": str(sign.home)})
        else:
            signing = ["-c", "gpg.format=ssh", "-c", f"user.signingkey={sign}"] if sign else []
            self._git(*signing, "commit", "-q", "--allow-empty", *(["-S"] if sign else []),
                      "-m", message)
        self._git("push", "-q", "origin", "HEAD:main")
        run(["chmod", "-R", "a+rX", str(self.bare)])
        return self._git("rev-parse", "HEAD").strip()

    def force_push(self, base: str, files: dict[str, str | bytes], message: str) -> str:
        """Rewrite history: a new commit on top of `base`, force-pushed over main."""
        self._git("reset", "-q", "--hard", base)
        self._git("push", "-q", "--force", "origin", "HEAD:main")
        return self.commit(files, message)


def write_file(path: Path, content: str | bytes) -> None:
    """Text as is; bytes (binaries such as busybox) executable."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
        path.chmod(0o755)
    else:
        path.write_text(content)


def make_repo_in(root: Path, files: dict[str, str | bytes]) -> Repo:
    """A bare repository under `root`, readable by every user, with `files` as commit one."""
    bare = Path(tempfile.mkdtemp(prefix="repo-", suffix=".git", dir=root))
    work = Path(tempfile.mkdtemp(prefix="work-", dir=root))
    run(["git", "init", "-q", "--bare", "-b", "main", str(bare)])
    run(["git", "init", "-q", "-b", "main", str(work)])
    run(["git", "-C", str(work), "remote", "add", "origin", str(bare)])
    repo = Repo(bare, work)
    repo.commit(files, "first")
    return repo


def processes_of(uid: int) -> list[str]:
    out = subprocess.run(["pgrep", "-a", "-U", str(uid)], capture_output=True, text=True,
                         check=False).stdout
    return out.splitlines()


def user_exists(user: str) -> bool:
    try:
        pwd.getpwnam(user)
    except KeyError:
        return False
    return True


def remove_user(user: str) -> None:
    """Remove the user's containers, kill what it still runs, delete it with its home and
    podman's runtime directories. Nothing of it is left; a user already gone is fine."""
    if not user_exists(user):
        return
    uid = pwd.getpwnam(user).pw_uid
    kw = {**as_user(user), "capture_output": True, "check": False, "timeout": 120}
    subprocess.run(["podman", "rm", "-af", "-t", "0"], **kw)
    deadline = time.monotonic() + 30
    while processes_of(uid) and time.monotonic() < deadline:
        subprocess.run(["pkill", "-KILL", "-U", str(uid)], capture_output=True, check=False)
        time.sleep(0.1)
    deleted = subprocess.run(["userdel", "-r", "-f", user], capture_output=True, text=True,
                             check=False)
    if user_exists(user):
        raise AssertionError(f"userdel {user}: {deleted.stderr}")
    for runtime in (f"/tmp/podman-run-{uid}", f"/tmp/containers-user-{uid}"):
        shutil.rmtree(runtime, ignore_errors=True)
