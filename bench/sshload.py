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
    stalls: list[tuple[float, float]] = field(default_factory=list)  # (ms, not waiting)
    deploys: int = 0

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


def stalls(log: str) -> list[tuple[float, float]]:
    """(ms, ms of it not waiting for a CPU) of each stall the lag probe logged."""
    return [(float(m[1]), float(m[1]) - float(m[2])) for m in re.finditer(
        r"event loop stalled (\d+) ms \((\d+) ms of it waiting for a CPU\)", log)]


def phase(name: str, daemon: Daemon, ssh_port: int, key: Path, requests: int,
          clients: int) -> Phase:
    result = Phase(name)
    offset = daemon.size()
    asyncio.run(drive(ssh_port, key, requests, clients, result))
    log = daemon.log(offset)
    result.stalls, result.deploys = stalls(log), log.count(" up at ")
    print(f"{name}: {len(result.latencies)} requests in {result.wall:.1f}s, p50 "
          f"{result.quantile(0.5) * 1000:.0f} ms p99 {result.quantile(0.99) * 1000:.0f} ms, "
          f"{len(result.failures)} failures {result.failures[:3]}, {len(result.stalls)} stalls, "
          f"{result.deploys} deploys", flush=True)
    return result


def main(requests: int, clients: int) -> None:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # (the cleanup runs)
    root = Path(tempfile.mkdtemp(prefix="pgo-bench-sshload-", dir="/tmp"))
    root.chmod(0o755)
    users = make_users(2)
    daemon, projects = None, {}
    names = ["svc", *(f"d{i}" for i in range(DEPLOYING))]
    try:
        build_images(root, users)
        key = keygen(root, "op")
        projects.update({name: Project(root, name, users[i % 2], key)
                         for i, name in enumerate(names)})
        ssh_port = free_port()
        config = root / "pgod.toml"
        config.write_text("".join(
            f'[[services]]\nname = "{p.name}"\nuser = "{p.user}"\n'
            f'repository = "file://{p.repo}"\nports = ["{p.port}"]\nhealth_settle = "1s"\n'
            for p in projects.values()))
        daemon = Daemon(config, root / "lib", root / "pgod.log", "-d", "-t", "2s", "-s",
                        f"127.0.0.1:{ssh_port}").start()
        daemon.wait_for("operator key(s)", len(names), 300)
        daemon.wait_for(" up at ", len(names), 300)
        idle = phase("idle", daemon, ssh_port, key, requests, clients)
        with Pusher([projects[n] for n in names[1:]]) as pusher:
            time.sleep(PUSH_EVERY + 2)  # (the deploys under way)
            loaded = phase("4 services deploying", daemon, ssh_port, key, requests, clients)
        print(f"{pusher.pushes} pushes")
        report(requests, clients, [idle, loaded])
    finally:
        if daemon is not None:
            daemon.stop()
            shutil.copy(daemon.log_path, "/tmp/pgo-bench-sshload.log")  # noqa: S108
            for project in projects.values():
                with contextlib.suppress(OSError):
                    subprocess.run([PODMAN_COMPOSE, "-p", project.name, "down"], **as_user(
                        project.user, root / "lib" / project.name), capture_output=True,
                        check=False)
        remove_users(users)
        if not os.environ.get("KEEP"):
            shutil.rmtree(root, ignore_errors=True)


def report(requests: int, clients: int, phases: list[Phase]) -> None:
    idle = phases[0]
    lines = [heading("SSH under load (bench/sshload.py)").rstrip("\n") + f" {clients} "
             f"asyncssh clients, {requests} requests per phase (ping and status in turn), "
             f"{DEPLOYING} other services pushed every {PUSH_EVERY:.0f} s under load.\n",
             "| phase | p50 | vs idle | p99 | vs idle | failures | connect p50 / max | "
             "requests/s | stalls > 50 ms (longest) | of them > 50 ms not waiting for a "
             "CPU (longest) | deploys |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for p in phases:
        own = [mine for _, mine in p.stalls if mine > 50]
        lines.append(
            f"| {p.name} | {p.quantile(0.5) * 1000:.0f} ms | "
            f"{p.quantile(0.5) / idle.quantile(0.5):.2f}x | {p.quantile(0.99) * 1000:.0f} ms | "
            f"{p.quantile(0.99) / idle.quantile(0.99):.2f}x | {len(p.failures)} | "
            f"{statistics.median(p.connects) * 1000:.0f} / {max(p.connects) * 1000:.0f} ms | "
            f"{len(p.latencies) / p.wall:.0f} | {len(p.stalls)} "
            f"({max((t for t, _ in p.stalls), default=0):.0f} ms) | {len(own)} "
            f"({max(own, default=0):.0f} ms) | {p.deploys} |")
    append("\n".join(lines) + "\n")


if __name__ == "__main__":
    args = sys.argv[1:]
    main(int(args[0]) if args else 2000, int(args[1]) if len(args) > 1 else 50)
