"""Benchmark: SSH under load. 50 concurrent SSH clients send 2,000 exec requests,
`svc//ping` and `svc//status` in turn, to one pgod: once while everything is idle, then while
four other services of the same pgod redeploy continuously (a push that recreates their
container every few seconds each, pgod polling at -t 2s). Per phase: p50 and p99 of a
request's time over an open connection, failures, the connections' set-up time, and what
pgod's lag probe (-d) logged: event-loop stalls over 50 ms, their count and the longest.

    CONTAINERS_CONF=/etc/pgo/containers.conf /opt/pgo/venv/bin/python bench/sshload.py \
        [REQUESTS [CLIENTS]]

The clients are asyncssh connections from this process, each from a loopback address of
its own (127.0.0.2, ...: pgod admits at most 8 unauthenticated connections per address and
32 in all, so they are opened at most 8 at a time), with a key from the service's ssh/.

`BEFORE=DIR` measures the pgod of another source tree (DIR/src/pgo, e.g. a worktree of
main) first, in the same run, then this one: each pgod gets both phases on the same
services (its own state directory, the containers taken down between them); `ROUNDS=N`
alternates them N times. The callbacks
pgod's -d names (over 20 ms of their own CPU or 50 ms) are counted and the worst listed.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import asyncssh

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.coldstart import build_images
from bench.common import Daemon, append, heading, make_users, remove_users
from bench.live import Project
from tests.integration.helpers import PODMAN_COMPOSE, as_user, free_port
from tests.integration.sshclients import keygen

DEPLOYING = 4
PUSH_EVERY = 3.0  # seconds between pushes to each deploying service
CONNECTING = 8    # connections being opened at once


@dataclass
class Phase:
    name: str
    latencies: list[float] = field(default_factory=list)
    connects: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    wall: float = 0.0
    stalls: list[tuple[float, float, float]] = field(default_factory=list)  # ms: late,
    deploys: int = 0  # not waiting for a CPU, of the loop's CPU (-1: not logged)
    slow: list[tuple[float, float, str]] = field(default_factory=list)  # CPU, wall ms, what
    longest: tuple[float, float, str] | None = None  # the most CPU of one callback
    kinds: dict[str, list[float]] = field(default_factory=dict)  # calls, CPU ms, wall ms
    gc: tuple[int, float, float] = (0, 0.0, 0.0)  # gc passes, ms in all, the longest ms

    def quantile(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


async def client(index: int, port: int, key: asyncssh.SSHKey, gate: asyncio.Semaphore,
                 left: list[int], phase: Phase) -> None:
    start = time.monotonic()
    try:
        async with gate:
            conn = await asyncssh.connect(
                "127.0.0.1", port, username="bench", client_keys=[key], known_hosts=None,
                local_addr=(f"127.0.0.{2 + index}", 0), agent_path=None, connect_timeout=60)
    except (OSError, asyncssh.Error) as err:
        phase.failures.append(f"connect: {err}")
        return
    phase.connects.append(time.monotonic() - start)
    async with conn:
        while left:
            n = left.pop()
            command, expect = ("svc//ping", "pong") if n % 2 else ("svc//status", "svc")
            began = time.monotonic()
            try:
                result = await conn.run(command, check=False, timeout=60)
            except (OSError, asyncssh.Error, TimeoutError) as err:
                phase.failures.append(f"{command}: {err!r}")
                continue
            phase.latencies.append(time.monotonic() - began)
            if result.exit_status != 0 or expect not in str(result.stdout):
                phase.failures.append(f"{command}: exit {result.exit_status} "
                                      f"{str(result.stderr)[:200]}")


async def drive(port: int, key_path: Path, requests: int, clients: int, phase: Phase) -> None:
    key = asyncssh.read_private_key(str(key_path))
    left = list(range(requests))
    gate = asyncio.Semaphore(CONNECTING)
    start = time.monotonic()
    await asyncio.gather(*(client(i, port, key, gate, left, phase) for i in range(clients)))
    phase.wall = time.monotonic() - start


class Pusher:
    """Pushes a commit that recreates the container to each deploying project, every
    PUSH_EVERY seconds, until stopped."""

    def __init__(self, projects: list[Project]) -> None:
        self.projects, self.done, self.pushes = projects, threading.Event(), 0
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        n = 0
        while not self.done.is_set():
            for project in self.projects:
                project.commit("container", f"load{n}")
                self.pushes += 1
            n += 1
            self.done.wait(PUSH_EVERY)

    def __enter__(self) -> Pusher:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.done.set()
        self.thread.join()


def stalls(log: str) -> list[tuple[float, float, float]]:
    """(ms, ms of it not waiting for a CPU, ms of the loop's CPU or -1) of each stall the
    lag probe logged (an older pgod does not log the CPU)."""
    return [(float(m[1]), float(m[1]) - float(m[2]), float(m[3] or -1)) for m in re.finditer(
        r"event loop stalled (\d+) ms \((\d+) ms of it waiting for a CPU(?:; (\d+) ms of "
        r"the loop's CPU)?\)", log)]


def slow_callbacks(log: str) -> list[tuple[float, float, str]]:
    """(CPU ms, wall ms, source) of each callback pgod's -d named."""
    return [(float(m[1]), float(m[2]), m[3].strip()) for m in re.finditer(
        r"callback used (\d+) ms of CPU in (\d+) ms(?: \(\d+ ms of it collecting garbage\))?: "
        r"(.*)", log)]


def meanwhile(log: str, result: Phase) -> None:
    """The longest callback and the CPU by kind from the lines pgod's -d logs every 10 s."""
    kinds = False
    for line in log.splitlines():
        head = re.search(r"callbacks in \d+ s: \d+ run, \d+ ms of CPU(?:; (\d+) gc passes, "
                         r"(\d+) ms, the longest ([\d.]+) ms[^;]*)?"
                         r"(?:; the longest callback ([\d.]+) ms of CPU in ([\d.]+) ms "
                         r"\(([\d.]+) ms of it collecting garbage\): (.*))?", line)
        if head:
            kinds = True
            if head[1]:
                result.gc = (result.gc[0] + int(head[1]), result.gc[1] + float(head[2]),
                             max(result.gc[2], float(head[3])))
            if head[4] and (result.longest is None or float(head[4]) > result.longest[0]):
                result.longest = (float(head[4]), float(head[5]), head[7].strip())
            continue
        part = re.search(r"^\s+\|?\s*(\d+) ms of CPU, (\d+) ms in (\d+) call\(s\): (.*)", line)
        if kinds and part:
            sums = result.kinds.setdefault(part[4].strip(), [0, 0.0, 0.0])
            sums[0] += int(part[3])
            sums[1] += float(part[1])
            sums[2] += float(part[2])
        else:
            kinds = False


def phase(name: str, daemon: Daemon, ssh_port: int, key: Path, requests: int,
          clients: int) -> Phase:
    result = Phase(name)
    offset = daemon.size()
    asyncio.run(drive(ssh_port, key, requests, clients, result))
    log = daemon.log(offset)
    result.stalls, result.deploys = stalls(log), log.count(" up at ")
    result.slow = slow_callbacks(log)
    meanwhile(log, result)
    top = max(result.slow, default=None)  # (its 10 s line may come after the phase)
    if top is not None and (result.longest is None or top[0] > result.longest[0]):
        result.longest = top
    print(f"{name}: {len(result.latencies)} requests in {result.wall:.1f}s, p50 "
          f"{result.quantile(0.5) * 1000:.0f} ms p99 {result.quantile(0.99) * 1000:.0f} ms, "
          f"{len(result.failures)} failures {result.failures[:3]}, {len(result.stalls)} stalls, "
          f"{result.deploys} deploys, {len(result.slow)} slow callbacks", flush=True)
    return result


def main(requests: int, clients: int) -> None:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # (the cleanup runs)
    root = Path(tempfile.mkdtemp(prefix="pgo-bench-sshload-", dir="/tmp"))
    root.chmod(0o755)
    users = make_users(2)
    projects: dict[str, Project] = {}
    names = ["svc", *(f"d{i}" for i in range(DEPLOYING))]
    pgods = [(Path(d).name, d) for d in os.environ["BEFORE"].split(":")] \
        if os.environ.get("BEFORE") else []  # (DIR:DIR...: several befores)
    pgods.append(("after" if pgods else "", os.environ.get("PGO_SRC", "")))
    rounds = int(os.environ.get("ROUNDS", "1"))  # before, after, before, after, ...
    runs = [(f"{label} {n + 1}" if rounds > 1 else label, src)
            for n in range(rounds) for label, src in pgods]
    try:
        build_images(root, users)
        key = keygen(root, "op")
        projects.update({name: Project(root, name, users[i % 2], key)
                         for i, name in enumerate(names)})
        config = root / "pgod.toml"
        config.write_text("".join(
            f'[[services]]\nname = "{p.name}"\nuser = "{p.user}"\n'
            f'repository = "file://{p.repo}"\nports = ["{p.port}"]\nhealth_settle = "1s"\n'
            for p in projects.values()))
        phases = []
        for label, src in runs:
            phases += measure(label, src, root, config, key, projects, requests, clients)
        report(requests, clients, phases, pgods)
    finally:
        remove_users(users)
        if not os.environ.get("KEEP"):
            shutil.rmtree(root, ignore_errors=True)


def measure(label: str, src: str, root: Path, config: Path, key: Path,
            projects: dict[str, Project], requests: int, clients: int) -> list[Phase]:
    """Both phases with one pgod (from source tree `src`, or this venv's)."""
    os.environ["PGO_SRC"] = src  # (read when the Daemon is made)
    names, ssh_port = list(projects), free_port()
    file = label.replace(" ", "") or "pgod"
    lib, prefix = root / f"lib-{file}", f"{label}: " if label else ""
    daemon = Daemon(config, lib, root / f"pgod-{file}.log", "-d", "-t", "2s",
                    "-s", f"127.0.0.1:{ssh_port}")
    try:
        daemon.start()
        daemon.wait_for("operator key(s)", len(names), 300)
        daemon.wait_for(" up at ", len(names), 300)
        idle = phase(f"{prefix}idle", daemon, ssh_port, key, requests, clients)
        with Pusher([projects[n] for n in names[1:]]) as pusher:
            time.sleep(PUSH_EVERY + 2)  # (the deploys under way)
            loaded = phase(f"{prefix}4 services deploying", daemon, ssh_port, key, requests,
                           clients)
        print(f"{pusher.pushes} pushes")
        return [idle, loaded]
    finally:
        daemon.stop()
        copy = f"-{file}" if label else ""
        shutil.copy(daemon.log_path, f"/tmp/pgo-bench-sshload{copy}.log")  # noqa: S108
        for project in projects.values():
            with contextlib.suppress(OSError):
                subprocess.run([PODMAN_COMPOSE, "-p", project.name, "down"], **as_user(
                    project.user, lib / project.name), capture_output=True, check=False)


def report(requests: int, clients: int, phases: list[Phase],
           pgods: list[tuple[str, str]]) -> None:
    which = f" ({', '.join(f'{label}: pgod from {src or sys.prefix}' for label, src in pgods)})" \
        if len(pgods) > 1 else ""
    lines = [heading("SSH under load (bench/sshload.py)").rstrip("\n") + f" {clients} "
             f"asyncssh clients, {requests} requests per phase (ping and status in turn), "
             f"{DEPLOYING} other services pushed every {PUSH_EVERY:.0f} s under load{which}; "
             "the ratios against the same pgod's idle phase.\n",
             "| phase | p50 | vs idle | p99 | vs idle | failures | connect p50 / max | "
             "requests/s | stalls > 50 ms (longest) | of them > 50 ms not waiting for a "
             "CPU (longest) | with > 50 ms of the loop's CPU (most) | callbacks > 20 ms "
             "CPU / > 50 ms CPU | longest callback CPU (its wall) | gc passes, longest | "
             "deploys |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for n, p in enumerate(phases):
        idle = phases[n - n % 2]
        own = [mine for _, mine, _ in p.stalls if mine > 50]
        busy = [cpu for _, _, cpu in p.stalls if cpu > 50]
        logged = any(cpu >= 0 for _, _, cpu in p.stalls) or p.slow
        lines.append(
            f"| {p.name} | {p.quantile(0.5) * 1000:.0f} ms | "
            f"{p.quantile(0.5) / idle.quantile(0.5):.2f}x | {p.quantile(0.99) * 1000:.0f} ms | "
            f"{p.quantile(0.99) / idle.quantile(0.99):.2f}x | {len(p.failures)} | "
            f"{statistics.median(p.connects) * 1000:.0f} / {max(p.connects) * 1000:.0f} ms | "
            f"{len(p.latencies) / p.wall:.0f} | {len(p.stalls)} "
            f"({max((t for t, _, _ in p.stalls), default=0):.0f} ms) | {len(own)} "
            f"({max(own, default=0):.0f} ms) | "
            + (f"{len(busy)} ({max(busy, default=0):.0f} ms) | "
               f"{sum(c > 20 for c, _, _ in p.slow)} / {sum(c > 50 for c, _, _ in p.slow)} | "
               + (f"{p.longest[0]:.1f} ms ({p.longest[1]:.1f} ms) | " if p.longest else "- | ")
               + f"{p.gc[0]}, {p.gc[2]:.1f} ms | "
               if logged else "(not logged) | (not logged) | (not logged) | (not logged) | ")
            + f"{p.deploys} |")
    for p in phases:
        worst = sorted(p.slow, reverse=True)[:3]
        if p.longest:
            lines.append(f"\n{p.name}: the longest callback, {p.longest[0]:.1f} ms of CPU: "
                         f"`{p.longest[2][:300]}`")
        if worst:
            lines.append(f"\n{p.name}: the callbacks over 20 ms of CPU or 50 ms, the most CPU "
                         "first (CPU / wall ms: source):\n")
            lines += [f"- {c:.0f} / {w:.0f}: `{what[:300]}`" for c, w, what in worst]
        if p.kinds:
            total = sum(k[1] for k in p.kinds.values())
            lines.append(f"\n{p.name}: the loop's CPU by kind of callback ({total / 1000:.1f} s "
                         "in all; calls, CPU, wall):\n")
            lines += [f"- `{name[:200]}`: {int(k[0])}, {k[1]:.0f} ms, {k[2]:.0f} ms"
                      for name, k in sorted(p.kinds.items(), key=lambda kv: -kv[1][1])[:3]]
    append("\n".join(lines) + "\n")


if __name__ == "__main__":
    args = sys.argv[1:]
    main(int(args[0]) if args else 2000, int(args[1]) if len(args) > 1 else 50)
