"""Benchmark: how long `pgoctl host:svc//ping` takes next to OpenSSH's `ssh ... svc//ping`.

Run as root after scripts/install (it makes a real user, repository and pgod):

    CONTAINERS_CONF=/etc/pgo/containers.conf /opt/pgo/venv/bin/python bench/ping.py [ROUNDS]

The clients run interleaved, round by round, against the same pgod, so a noisy machine
affects both alike; the result is the ratio of medians. Appends to bench/results.md.
"""

from __future__ import annotations

import os
import platform
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.integration.helpers import (
    free_port,
    hello_files,
    make_repo_in,
    remove_user,
    run,
    wait_for_http,
)
from tests.integration.pgod_process import one_service
from tests.integration.sshclients import SSH_OPTIONS, keygen, pgoctl_argv

BIN = os.path.dirname(sys.executable)


def timed(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    result = subprocess.run(argv, capture_output=True, env=env, check=False)
    elapsed = time.perf_counter() - start
    if result.returncode != 0 or b"pong" not in result.stdout:
        raise SystemExit(f"{argv[0]} failed: {result.stderr.decode()}")
    return elapsed


def main(rounds: int) -> None:
    root = Path(tempfile.mkdtemp(prefix="pgo-bench-", dir="/tmp"))
    root.chmod(0o755)
    user = f"pgobench{secrets.token_hex(2)}"
    run(["useradd", "-m", "-s", "/usr/sbin/nologin", user])
    key, port, ssh_port = keygen(root, "k"), free_port(), free_port()
    files = hello_files(port, "bench")
    files["ssh/k.pub"] = key.with_suffix(".pub").read_text()
    repo = make_repo_in(root, files)
    pgod = one_service(root, "bench", user, repo.url, port, ssh_port)
    try:
        wait_for_http(port, "bench")
        pgod.wait_log("operator key(s)")
        env = {"PATH": os.environ["PATH"], "HOME": str(root)}
        clients = {
            "ssh": ["ssh", *SSH_OPTIONS, "-i", str(key), "-p", str(ssh_port), "127.0.0.1",
                    "bench//ping"],
            "pgoctl": [pgoctl_argv(ssh_port, str(key), "bench//ping")[0], "--insecure",
                       *pgoctl_argv(ssh_port, str(key), "bench//ping")[1:]],
        }
        baseline = {"python -c pass": [f"{BIN}/python", "-c", "print('pong')"],
                    "python -c 'import asyncssh'": [
                        f"{BIN}/python", "-c", "import asyncssh; print('pong')"]}
        samples: dict[str, list[float]] = {n: [] for n in [*clients, *baseline]}
        for argv in [*clients.values(), *baseline.values()]:
            timed(argv, env)  # warm up
        for _ in range(rounds):
            for name, argv in {**clients, **baseline}.items():
                samples[name].append(timed(argv, env))
        report(samples, rounds)
    finally:
        pgod.stop()
        remove_user(user)
        shutil.rmtree(root, ignore_errors=True)


def report(samples: dict[str, list[float]], rounds: int) -> None:
    medians = {name: statistics.median(values) for name, values in samples.items()}
    lines = [f"\n## {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {platform.node()}",
             f"{platform.machine()}, {os.cpu_count()} cores, {platform.platform()}, "
             f"Python {platform.python_version()}; {rounds} interleaved rounds, loopback.\n",
             "| client | median | p90 | vs ssh |", "|---|---|---|---|"]
    for name, values in samples.items():
        p90 = statistics.quantiles(values, n=10)[-1] if len(values) > 1 else values[0]
        lines.append(f"| {name} | {medians[name] * 1000:.1f} ms | {p90 * 1000:.1f} ms | "
                     f"{medians[name] / medians['ssh']:.2f}x |")
    text = "\n".join(lines) + "\n"
    print(text)
    with open(Path(__file__).with_name("results.md"), "a", encoding="utf-8") as handle:
        handle.write(text)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 30)
