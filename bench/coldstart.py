"""Benchmark: a cold start of N services, pgod with several -j values next to a serial shell
loop of `podman-compose up -d` over the same projects, in the same run.

    CONTAINERS_CONF=/etc/pgo/containers.conf /opt/pgo/venv/bin/python bench/coldstart.py \
        [SERVICES [JOBS,JOBS,...]]

Each service: a real local git repository holding a busybox httpd project with one published
port (the image, FROM scratch with Debian's static busybox, built once per service user
beforehand: localhost/ images are never pulled), its page mounted from the checkout; the
services spread over 4 users. For each configuration, on empty state: the wall time until
every service serves its own page over HTTP, pgod's peak RSS (sampled every 0.2 s), the most
podman-compose processes seen at once (pgod's dry runs counted, a podman-compose's child
between its fork and its exec not), and the failures (services that never came up or whose
deploy failed). The reference is the serial loop over checkouts cloned beforehand (the clone
is not timed; pgod's time includes its clones). After the default -j run, pgod is restarted
with everything running: the time until every service has passed once, and how many
podman-compose runs that restart started (should be none). Each configuration's containers
are taken down before the next one.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import Daemon, append, git, heading, make_users, remove_users, usage
from tests.integration.helpers import BUSYBOX, PODMAN_COMPOSE, as_user, free_port, http_get

from pgo.daemon import DEFAULT_JOBS

USERS = 4
IMAGE = "localhost/pgo-bench-web"
CONTAINERFILE = ('FROM scratch\nCOPY busybox /bin/busybox\n'
                 'CMD ["/bin/busybox", "httpd", "-f", "-p", "8080", "-h", "/www"]\n')
COMPOSE = ("services:\n  web:\n    image: " + IMAGE + "\n    ports: [\"{port}:8080\"]\n"
           "    volumes: [\"./www:/www:ro\"]\n    init: true\n    stop_grace_period: 1s\n")


class Service:
    def __init__(self, root: Path, index: int, user: str) -> None:
        self.name, self.user, self.port = f"b{index}", user, free_port()
        self.text = f"bench service {index} {os.urandom(4).hex()}"
        work = root / "src" / self.name
        (work / "www").mkdir(parents=True)
        (work / "compose.yaml").write_text(COMPOSE.format(port=self.port))
        (work / "www" / "index.html").write_text(f"<p>{self.text}</p>\n")
        git("init", "-q", str(work))
        git("add", "-A", cwd=work)
        git("commit", "-qm", "bench", cwd=work)
        self.repo = root / "repos" / f"{self.name}.git"
        git("clone", "-q", "--bare", str(work), str(self.repo))
        subprocess.run(["chown", "-R", f"{user}:", str(self.repo)], check=True)  # (theirs)

    def serves(self) -> bool:
        try:
            return self.text in http_get(self.port, timeout=2)
        except OSError:
            return False


def build_images(root: Path, users: list[str]) -> None:
    context = root / "image"
    context.mkdir(mode=0o755)
    shutil.copy(BUSYBOX, context / "busybox")
    (context / "Containerfile").write_text(CONTAINERFILE)
    for path in context.iterdir():
        path.chmod(0o755)
    for user in users:
        subprocess.run(["podman", "build", "-q", "-t", IMAGE, str(context)],
                       **as_user(user, context), check=True, capture_output=True)


def clear(users: list[str]) -> None:
    """Every container and network of the bench's users gone (what 100 serial `down`s
    would do, in a few podman calls): the next configuration starts on empty podman state."""
    for user in users:
        for argv in (["podman", "rm", "-af", "-t", "0"], ["podman", "network", "prune", "-f"]):
            subprocess.run(argv, **as_user(user, Path("/")), check=False, capture_output=True)


def compose(service: Service, checkout: Path, project: str, *args: str) -> None:
    subprocess.run([PODMAN_COMPOSE, "-f", str(checkout / "compose.yaml"), "-p", project,
                    *args], **as_user(service.user, checkout), check=False,
                   capture_output=True)


class Watch:
    """Samples, every 0.2 s: podman-compose processes running (its runs and pgod's dry runs,
    `python -I -c SOURCE`, together; not a child of one caught between its fork and its exec
    of podman, which still has its parent's command line); pgod's RSS."""

    def __init__(self, uids: set[int], pid: int | None = None) -> None:
        self.pid, self.most, self.rss, self.done = pid, 0, 0, False
        self.uids = uids  # the bench's users (other podman-composes may run on the machine)
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.done:
            found = self.composes()
            self.most = max(self.most, sum(1 for parent in found.values()
                                           if parent not in found))
            if self.pid is not None:
                with contextlib.suppress(OSError):
                    self.rss = max(self.rss, usage(self.pid).rss)
            time.sleep(0.2)

    def composes(self) -> dict[str, str]:
        """{pid: parent pid} of the podman-compose processes of the bench's users."""
        found = {}
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as handle:
                    argv = handle.read().split(b"\0")
                if (any(a.endswith(b"/podman-compose") for a in argv[:2])
                        or (argv[1:3] == [b"-I", b"-c"] and b"podman_compose" in argv[3])) \
                        and os.stat(f"/proc/{entry}").st_uid in self.uids:
                    with open(f"/proc/{entry}/stat", encoding="ascii") as handle:
                        found[entry] = handle.read().rsplit(")", 1)[1].split()[1]
            except (OSError, IndexError):
                continue
        return found

    def stop(self) -> None:
        self.done = True
        self.thread.join()


def uids(services: list[Service]) -> set[int]:
    return {pwd.getpwnam(s.user).pw_uid for s in services}


def wait_serving(services: list[Service], start: float, timeout: float) -> tuple[float, int]:
    """(seconds from `start` until all serve, how many never did within `timeout` of the
    first look: each is looked at at least once, however long the start took)."""
    left, first = list(services), time.monotonic()
    while left:
        left = [s for s in left if not s.serves()]
        if not left or time.monotonic() - first > timeout:
            break
        time.sleep(0.3)
    return time.monotonic() - start, len(left)


def serial_loop(root: Path, services: list[Service]) -> dict[str, object]:
    checkouts = root / "by-hand"
    for service in services:
        checkout = checkouts / service.name
        checkout.mkdir(parents=True)
        shutil.chown(checkout, service.user, service.user)
        subprocess.run(["git", "clone", "-q", f"file://{service.repo}", "."],
                       **as_user(service.user, checkout), check=True)
    watch = Watch(uids(services))
    start = time.monotonic()
    for service in services:
        compose(service, checkouts / service.name, service.name, "up", "-d")
    elapsed, failed = wait_serving(services, start, 300)
    watch.stop()
    clear(sorted({s.user for s in services}))
    return {"what": "serial `podman-compose up -d` loop", "time": elapsed, "failed": failed,
            "most": watch.most, "rss": None}


def with_pgod(root: Path, services: list[Service], jobs: int, restart: bool,
              ) -> list[dict[str, object]]:
    tag = f"j{jobs}"
    config = root / f"{tag}.toml"
    config.write_text("".join(
        f'[[services]]\nname = "{s.name}"\nuser = "{s.user}"\n'
        f'repository = "file://{s.repo}"\nports = ["{s.port}"]\nhealth_settle = "1s"\n'
        for s in services))
    directory = root / tag
    daemon = Daemon(config, directory, root / f"{tag}.log", "-t", "1h", "-d", "-j", str(jobs),
                    "-s", "127.0.0.1:0")
    start = time.monotonic()
    daemon.start()
    watch = Watch(uids(services), daemon.pid)
    rows: list[dict[str, object]] = []
    try:
        elapsed, failed = wait_serving(services, start, 600)
        with_gate = daemon.wait_for(" up at ", len(services), 300) + 0.0
        broke = daemon.log().count("state deploying -> broken") + \
            daemon.log().count("state deploying -> failing")
        watch.stop()
        rows.append({"what": f"pgod -j {jobs}" + (" (default)" if jobs == DEFAULT_JOBS else ""),
                     "time": elapsed, "failed": failed + broke, "most": watch.most,
                     "rss": watch.rss, "gated": with_gate})
        if restart:
            rows.append(restarted(daemon, services))
    finally:
        daemon.stop()
        clear(sorted({s.user for s in services}))
    return rows


def restarted(daemon: Daemon, services: list[Service]) -> dict[str, object]:
    daemon.stop()
    offset = daemon.size()
    daemon.start()
    watch = Watch(uids(services), daemon.pid)
    elapsed = daemon.wait_each("in step at", [s.name for s in services], 600)
    watch.stop()
    log = daemon.log(offset)
    runs = sum(1 for line in log.splitlines() if " run as " in line and "podman-compose" in line
               and "--version" not in line)
    serving = sum(1 for s in services if s.serves())
    return {"what": "pgod restarted, all running", "time": elapsed,
            "failed": len(services) - serving, "most": watch.most, "rss": watch.rss,
            "runs": runs}


def main(count: int, jobs: list[int]) -> None:
    load = os.getloadavg()[0]
    root = Path(tempfile.mkdtemp(prefix="pgo-bench-cold-", dir="/tmp"))
    root.chmod(0o755)
    users = make_users(USERS)
    try:
        build_images(root, users)
        services = [Service(root, i, users[i % USERS]) for i in range(count)]
        rows = [serial_loop(root, services)]
        for j in jobs:
            rows += with_pgod(root, services, j, restart=j == DEFAULT_JOBS)
        report(count, rows, load)
    finally:
        remove_users(users)
        if not os.environ.get("KEEP"):
            shutil.rmtree(root, ignore_errors=True)


def report(count: int, rows: list[dict[str, object]], load: float) -> None:
    reference = float(rows[0]["time"])  # type: ignore[arg-type]
    lines = [heading(f"cold start of {count} services on {USERS} users (bench/coldstart.py)"),
             "| run | until all serve | vs serial loop | failures | most podman-compose at "
             "once | peak RSS | note |", "|---|---|---|---|---|---|---|"]
    for row in rows:
        rss = f"{int(row['rss']) / 2**20:.0f} MiB" if row.get("rss") else "-"  # type: ignore[call-overload]
        note = ""
        if "gated" in row:
            gated = float(row["time"]) + float(row["gated"])  # type: ignore[arg-type]
            note = f"all health-gated (state ok) {float(row['gated']):.1f} s later: " \
                   f"{gated:.1f} s, {gated / reference:.2f}x"  # type: ignore[arg-type]
        if "runs" in row:
            note = f"until every service passed once; podman-compose runs: {row['runs']}"
        lines.append(f"| {row['what']} | {float(row['time']):.1f} s | "  # type: ignore[arg-type]
                     f"{float(row['time']) / reference:.2f}x | {row['failed']} | "  # type: ignore[arg-type]
                     f"{row['most']} | {rss} | {note} |")
    lines.append(f"\nLoad average (1 min) when the bench began {load:.1f}, at its end "
                 f"{os.getloadavg()[0]:.1f}.")
    append("\n".join(lines) + "\n")


if __name__ == "__main__":
    args = sys.argv[1:]
    main(int(args[0]) if args else 20,
         [int(j) for j in args[1].split(",")] if len(args) > 1 else [1, DEFAULT_JOBS, 1000])
