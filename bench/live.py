"""Benchmark: change to live. From the end of a `git push` until an HTTP GET returns the new
content: pgod woken by `pgoctl SERVICE//sync`, by a signed webhook request, by its own
polling (-t 5s), next to a person who runs `git pull && podman-compose up -d` as the
service's user in a checkout of their own.

    CONTAINERS_CONF=/etc/pgo/containers.conf /opt/pgo/venv/bin/python bench/live.py [ROUNDS]

One user, four projects of the busybox httpd that bench/coldstart.py builds (one published
port each, so nothing collides): "hand" (the person's checkout), "push" (a pgod at -t 1h
with -w: the sync and webhook rounds), "poll" (a second pgod at -t 5s). Each round pushes
to every one of them in turn, interleaved, two commits each: one that changes the page
mounted from the checkout (served as soon as the checkout moves), one that changes the
container (a second page, written by the command in compose.yaml: served once the container
is recreated). Each push's time is measured on its own, after the one before has settled (pgod:
status ok at the new commit; by hand: the command ended). pgod runs with -d: its log's
timestamps give the time of each step (printed per round, for finding where time goes).

`BEFORE=DIR` adds a fourth project, "before", and a pgod from the source tree DIR (DIR/src/pgo,
a worktree of main, say) at -t 1h with -w of its own: its sync and webhook rounds run in the
same rounds, interleaved with the others ("sync (before)", "webhook (before)").
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.coldstart import IMAGE, build_images
from bench.common import Daemon, append, heading, make_users, remove_users
from tests.integration.helpers import PODMAN_COMPOSE, as_user, free_port, http_get
from tests.integration.sshclients import keygen, pgoctl, pgoctl_argv

SECRET = "bench-live-webhook-secret"  # noqa: S105 (the bench's own)
KINDS = ("page", "container")
# Two pages: / is the page mounted from the checkout (a link to it: served as soon as the
# checkout moves), /box.html is written by the container's command (a change to compose.yaml:
# served once the container is recreated).
COMPOSE = ("services:\n  web:\n    image: " + IMAGE + "\n    ports: [\"{port}:8080\"]\n"
           "    volumes: [\"./www:/www:ro\"]\n    init: true\n    stop_grace_period: 1s\n"
           "    command: [\"/bin/busybox\", \"sh\", \"-c\", \"/bin/busybox mkdir -p /w && "
           "/bin/busybox ln -s /www/index.html /w/index.html && echo '<p>{text}</p>' > "
           "/w/box.html && exec /bin/busybox httpd -f -p 8080 -h /w\"]\n")
PATHS = {"page": "/", "container": "/box.html"}


class Project:
    """A bare repository owned by the user, and a developer's work tree (the user's too)
    that commits and pushes to it."""

    def __init__(self, root: Path, name: str, user: str, key: Path) -> None:
        self.name, self.user, self.port = name, user, free_port()
        self.work, self.repo = root / "dev" / name, root / "repos" / f"{name}.git"
        self.key_pub = key.with_suffix(".pub").read_text()
        for path in (self.work, self.repo):
            path.mkdir(parents=True)
            shutil.chown(path, user, user)
        self.git("init", "-q", "--bare", str(self.repo), cwd=self.repo)
        self.git("init", "-q", cwd=self.work)
        self.git("remote", "add", "origin", f"file://{self.repo}")
        self.texts = {kind: f"{name} first {kind}" for kind in KINDS}
        self.commit("page", "first")

    def git(self, *args: str, cwd: Path | None = None) -> str:
        result = subprocess.run(
            ["git", "-c", "user.name=bench", "-c", "user.email=bench@pgo.invalid", "-c",
             "init.defaultBranch=main", *args], **as_user(self.user, cwd or self.work),
            capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise SystemExit(f"git {args} failed: {result.stderr}")
        return result.stdout

    def commit(self, kind: str, label: str) -> str:
        """A commit whose page says something new (`kind`: where the page comes from),
        pushed; returns the new text."""
        self.texts[kind] = f"{self.name} {label} {kind} {os.urandom(4).hex()}"
        files = {"compose.yaml": COMPOSE.format(port=self.port, text=self.texts["container"]),
                 "www/index.html": f"<p>{self.texts['page']}</p>\n",
                 "ssh/op.pub": self.key_pub}
        for path, content in files.items():
            (self.work / path).parent.mkdir(exist_ok=True)
            (self.work / path).write_text(content)
            shutil.chown(self.work / path, self.user, self.user)
            shutil.chown((self.work / path).parent, self.user, self.user)
        self.git("add", "-A")
        self.git("commit", "-qm", f"{kind}: {label}")
        self.git("push", "-q", "origin", "HEAD:main")
        return self.texts[kind]

    def serves(self, text: str, kind: str = "page") -> bool:
        try:
            return text in http_get(self.port, timeout=2, path=PATHS[kind])
        except OSError:
            return False


def until_served(project: Project, text: str, kind: str, start: float,
                 timeout: float = 180) -> float:
    """Seconds from `start` until a GET returns `text` (polled every 20 ms)."""
    while not project.serves(text, kind):
        if time.monotonic() - start > timeout:
            raise SystemExit(f"{project.name}: {text!r} not served in {timeout:.0f}s")
        time.sleep(0.02)
    return time.monotonic() - start


def signed_post(port: int, url: str) -> None:
    body = json.dumps({"repository": url, "branch": "main"}).encode()
    digest = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    request = urllib.request.Request(f"http://127.0.0.1:{port}/hook", data=body, headers={
        "Content-Type": "application/json", "X-Pgo-Signature": digest}, method="POST")
    with urllib.request.urlopen(request, timeout=30) as reply:  # noqa: S310 (http:)
        if reply.status != 200:
            raise SystemExit(f"webhook: {reply.status} {reply.read()!r}")


class Hand:
    """The person: a checkout of their own, `git pull && podman-compose up -d` as the user."""

    def __init__(self, root: Path, project: Project) -> None:
        self.project, self.checkout = project, root / "by-hand"
        self.checkout.mkdir()
        shutil.chown(self.checkout, project.user, project.user)
        project.git("clone", "-q", f"file://{project.repo}", ".", cwd=self.checkout)
        self.up().wait()

    def up(self) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            ["sh", "-c", 'git pull -q && exec "$0" -p hand up -d', PODMAN_COMPOSE],
            **as_user(self.project.user, self.checkout), stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)

    def down(self) -> None:
        subprocess.run([PODMAN_COMPOSE, "-p", "hand", "down"], **as_user(
            self.project.user, self.checkout), capture_output=True, check=False)


class Pgods:
    """The two pgods: `push` (-t 1h, -w) and `poll` (-t 5s), each with one service."""

    def __init__(self, root: Path, user: str, key: Path, push: Project, poll: Project,
                 before: Project | None = None) -> None:
        self.root, self.key = root, key
        self.hooks = {"push": free_port(), "before": free_port()}
        secret = root / "hook.secret"
        secret.write_text(SECRET + "\n")
        secret.chmod(0o600)
        self.ssh = {"push": free_port(), "poll": free_port(), "before": free_port()}
        self.daemons = {}
        runs = [(push, "1h", ["-w", f"127.0.0.1:{self.hooks['push']}"], None),
                (poll, "5s", [], None)]
        if before is not None:
            runs.append((before, "1h", ["-w", f"127.0.0.1:{self.hooks['before']}"],
                         os.environ["BEFORE"]))
        for project, interval, extra, src in runs:
            config = root / f"{project.name}.toml"
            config.write_text(
                f'[[services]]\nname = "{project.name}"\nuser = "{user}"\n'
                f'repository = "file://{project.repo}"\nports = ["{project.port}"]\n'
                f'health_settle = "1s"\nwebhook_secret = "file:{secret}"\n')
            self.daemons[project.name] = Daemon(
                config, root / f"lib-{project.name}", root / f"{project.name}.log", "-d",
                "-t", interval, "-s", f"127.0.0.1:{self.ssh[project.name]}", *extra,
                src=src).start()

    def ctl(self, name: str, *args: str) -> subprocess.CompletedProcess[str]:
        return pgoctl(self.root, self.ssh[name], str(self.key), f"{name}//{args[0]}",
                      *args[1:])

    def wait_ok(self, name: str, timeout: float = 300) -> None:
        """Until the service's state is ok at the branch's head."""
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            result = self.ctl(name, "status", "--json")
            if result.returncode == 0:
                status = json.loads(result.stdout)
                if status["state"] == "ok" and status["deployed"] == status["upstream"] \
                        and status["deployed"] is not None:
                    return
            time.sleep(0.3)
        raise SystemExit(f"{name} never ok:\n{self.daemons[name].log()[-3000:]}")

    def stop(self) -> None:
        for daemon in self.daemons.values():
            daemon.stop()


def steps(log: str, since: str) -> str:
    """The -d log's lines after wall time `since` (HH:MM:SS,mmm), as offsets in ms from the
    first: what a pass spent where."""
    lines, first = [], None
    for line in log.splitlines():
        match = re.match(r"\d{4}-\d\d-\d\d (\d\d):(\d\d):(\d\d),(\d{3}) (\S+) (.*)", line)
        if not match:
            continue
        stamp = (int(match[1]) * 3600 + int(match[2]) * 60 + int(match[3])) * 1000 + int(
            match[4])
        if match[0][11:23] < since:
            continue
        first = stamp if first is None else first
        lines.append(f"  +{stamp - first:6d} ms {match[6][:150]}")
    return "\n".join(lines)


def wall() -> str:
    now = time.time()
    return time.strftime("%H:%M:%S", time.localtime(now)) + f",{int(now % 1 * 1000):03d}"


def measure(projects: dict[str, Project], hand: Hand, pgods: Pgods, kind: str, label: str,
            ) -> dict[str, float]:
    """One push per method, in turn: seconds from each push's end until served."""
    took: dict[str, float] = {}
    def sync(name: str) -> Callable[[], object]:
        return lambda: subprocess.Popen(
            ["env", f"HOME={pgods.root}", *pgoctl_args(pgods, name, "sync")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def webhook(name: str) -> Callable[[], object]:
        return lambda: signed_post(pgods.hooks[name], f"file://{projects[name].repo}")
    wake: dict[str, tuple[str, Callable[[], object]]] = {
        "by hand": ("hand", hand.up), "sync": ("push", sync("push")),
        "webhook": ("push", webhook("push")), "polling": ("poll", lambda: None)}
    if "before" in projects:
        wake["sync (before)"] = ("before", sync("before"))
        wake["webhook (before)"] = ("before", webhook("before"))
    for method, (name, act) in wake.items():
        project = projects[name]
        since = wall()
        text = project.commit(kind, label)
        start = time.monotonic()
        started = act()
        took[method] = until_served(project, text, kind, start)
        if isinstance(started, subprocess.Popen):
            started.wait()
        if method == "by hand":
            took["by hand: command ended"] = time.monotonic() - start
        else:
            pgods.wait_ok(name)
            if os.environ.get("STEPS"):
                print(f"{method} {kind} {took[method] * 1000:.0f} ms:\n"
                      f"{steps(pgods.daemons[name].log(), since)}")
        print(f"{label} {kind:9} {method:8} {took[method] * 1000:7.0f} ms", flush=True)
    return took


def pgoctl_args(pgods: Pgods, name: str, command: str) -> list[str]:
    return pgoctl_argv(pgods.ssh[name], str(pgods.key), f"{name}//{command}")


def main(rounds: int) -> None:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # (the cleanup runs)
    root = Path(tempfile.mkdtemp(prefix="pgo-bench-live-", dir="/tmp"))
    root.chmod(0o755)
    users = make_users(1)
    user, pgods, hand = users[0], None, None
    try:
        build_images(root, users)
        key = keygen(root, "op")
        names = ("hand", "push", "poll", *(("before",) if os.environ.get("BEFORE") else ()))
        projects = {name: Project(root, name, user, key) for name in names}
        hand = Hand(root, projects["hand"])
        pgods = Pgods(root, user, key, projects["push"], projects["poll"],
                      projects.get("before"))
        for name in pgods.daemons:  # (a key offered before it is known is penalised)
            pgods.daemons[name].wait_for("operator key(s)", 1, 300)
            pgods.wait_ok(name)
        samples: dict[tuple[str, str], list[float]] = {}
        for i in range(rounds):
            for kind in KINDS:
                for method, value in measure(projects, hand, pgods, kind, f"r{i}").items():
                    samples.setdefault((kind, method), []).append(value)
        report(rounds, samples)
    finally:
        if pgods is not None:
            pgods.stop()
            for name, daemon in pgods.daemons.items():
                subprocess.run([PODMAN_COMPOSE, "-p", name, "down"], **as_user(
                    user, root / f"lib-{name}" / name), capture_output=True, check=False)
                shutil.copy(daemon.log_path, f"/tmp/pgo-bench-live-{name}.log")  # noqa: S108
        if hand is not None:
            hand.down()
        remove_users(users)
        if not os.environ.get("KEEP"):
            shutil.rmtree(root, ignore_errors=True)


def report(rounds: int, samples: dict[tuple[str, str], list[float]]) -> None:
    before = f" Before: pgod from {os.environ['BEFORE']}." if os.environ.get("BEFORE") else ""
    lines = [heading("change to live (bench/live.py)").rstrip("\n") + before +
             f" {rounds} interleaved "
             "rounds; one push per method and kind per round.\n",
             "| change | woken by | median push-to-served | min | max | vs by hand |",
             "|---|---|---|---|---|---|"]
    for kind in KINDS:
        reference = statistics.median(samples[(kind, "by hand")])
        for (k, method), values in samples.items():
            if k == kind:
                median = statistics.median(values)
                lines.append(f"| {kind} | {method} | {median:.2f} s | {min(values):.2f} s | "
                             f"{max(values):.2f} s | {median / reference:.2f}x |")
    append("\n".join(lines) + "\n")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 4)
