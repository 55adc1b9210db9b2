"""Benchmark: a repeated `pgoctl host:svc//ping` over the held connection, next to a plain
OpenSSH `ssh ... svc//ping` (a new connection each time) and `pgoctl --no-reuse`.

Run as root after scripts/install (it makes a real user, repository and pgod):

    CONTAINERS_CONF=/etc/pgo/containers.conf /opt/pgo/venv/bin/python bench/pgoctl_reuse.py \\
        [ROUNDS] [--out FILE]

The clients run interleaved, round by round, against the same pgod; pgoctl's first call of
the run opens the master connection (not timed), every timed pgoctl call after it rides it
(all within its 60 s: each round takes well under a second). The result is the ratio of
medians; printed, and appended to FILE with --out.
"""

from __future__ import annotations

import os
import platform
import resource
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
from tests.integration.sshclients import PGOCTL, SSH_OPTIONS, keygen


class Meter:
    """Wall time of a call, and the CPU time it cost everywhere: the client's processes
    (their rusage), pgod's, and the background ssh master's (from /proc). The CPU time does
    not depend on how busy the machine is; the wall time does."""

    def __init__(self, pgod_pid: int) -> None:
        self.pids = [pgod_pid]

    def held_master(self, socket: Path) -> None:
        check = subprocess.run(["ssh", "-o", f"ControlPath={socket}", "-O", "check", "x"],
                               capture_output=True, text=True, check=False)
        self.pids.append(int(check.stderr.split("pid=")[1].split(")")[0]))

    def _cpu(self) -> float:
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        ticks = 0
        for pid in self.pids:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])  # utime, stime
        return usage.ru_utime + usage.ru_stime + ticks / os.sysconf("SC_CLK_TCK")

    def timed(self, argv: list[str], env: dict[str, str]) -> tuple[float, float]:
        cpu, start = self._cpu(), time.perf_counter()
        result = subprocess.run(argv, capture_output=True, env=env, check=False)
        elapsed = time.perf_counter() - start
        if result.returncode != 0 or (argv[-1].endswith("//ping")
                                      and b"pong" not in result.stdout):
            raise SystemExit(f"{argv} failed: {result.stderr.decode()}")
        return elapsed, self._cpu() - cpu


def clients(key: Path, ssh_port: int) -> dict[str, list[str]]:
    pgoctl = [PGOCTL, "--insecure", "-i", str(key), "-p", str(ssh_port), "127.0.0.1:bench//ping"]
    return {
        "ssh": ["ssh", *SSH_OPTIONS, "-i", str(key), "-p", str(ssh_port), "127.0.0.1",
                "bench//ping"],
        "pgoctl --no-reuse": [*pgoctl[:1], "--no-reuse", *pgoctl[1:]],
        "pgoctl (held connection)": pgoctl,
    }


def baselines(root: Path) -> dict[str, list[str]]:
    """What the held connection cannot save: ssh's own session over pgoctl's master (no
    Python), and Python's start-up (`pgoctl --version`: the interpreter, site, pgoctl's
    imports). Run after `clients`' warm-up, so the master exists."""
    socket = next((root / ".cache" / "pgoctl").glob("k*"))
    return {"ssh over the held connection": ["ssh", "-o", f"ControlPath={socket}",
                                             "-o", "ControlMaster=no", "x", "bench//ping"],
            "pgoctl --version (no SSH)": [PGOCTL, "--version"]}


def report_lines(samples: dict[str, list[tuple[float, float]]], rounds: int) -> list[str]:
    walls = {name: statistics.median(w for w, _ in values) for name, values in samples.items()}
    cpus = {name: statistics.mean(c for _, c in values) for name, values in samples.items()}
    lines = [f"## {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {platform.node()}: "
             "pgoctl's held connection",
             f"{platform.machine()}, {os.cpu_count()} cores, {platform.platform()}, "
             f"Python {platform.python_version()}; {rounds} interleaved rounds, loopback; "
             f"load average {os.getloadavg()[0]:.1f}. CPU: the mean per call of the client's "
             "processes, pgod and the held connection's ssh master together.\n",
             "| client | median wall | p90 wall | vs ssh | CPU per call | vs ssh |",
             "|---|---|---|---|---|---|"]
    for name, values in samples.items():
        wall = [w for w, _ in values]
        p90 = statistics.quantiles(wall, n=10)[-1] if len(wall) > 1 else wall[0]
        lines.append(f"| {name} | {walls[name] * 1000:.1f} ms | {p90 * 1000:.1f} ms | "
                     f"{walls[name] / walls['ssh']:.2f}x | {cpus[name] * 1000:.1f} ms | "
                     f"{cpus[name] / cpus['ssh']:.2f}x |")
    return lines


def main(rounds: int, out: str | None) -> None:
    root = Path(tempfile.mkdtemp(prefix="pgo-bench-", dir="/tmp"))
    root.chmod(0o755)
    user = f"pgobench{secrets.token_hex(2)}"
    run(["useradd", "-m", "-s", "/usr/sbin/nologin", user])
    key, port, ssh_port = keygen(root, "k"), free_port(), free_port()
    files = hello_files(port, "bench")
    files["ssh/k.pub"] = key.with_suffix(".pub").read_text()
    repo = make_repo_in(root, files)
    pgod = one_service(root, "bench", user, repo.url, port, ssh_port)
    env = {"PATH": os.environ["PATH"], "HOME": str(root)}
    try:
        wait_for_http(port, "bench")
        pgod.wait_log("operator key(s)")
        argvs = clients(key, ssh_port)
        assert pgod.proc is not None
        meter = Meter(pgod.proc.pid)
        for argv in argvs.values():
            meter.timed(argv, env)  # warm up; the last one opens the held connection
        argvs.update(baselines(root))
        meter.held_master(next((root / ".cache" / "pgoctl").glob("k*")))
        samples: dict[str, list[tuple[float, float]]] = {name: [] for name in argvs}
        for _ in range(rounds):
            for name, argv in argvs.items():
                samples[name].append(meter.timed(argv, env))
        text = "\n".join(report_lines(samples, rounds)) + "\n"
        print(text)
        if out:
            with open(out, "a", encoding="utf-8") as handle:
                handle.write(text)
    finally:
        for socket in (root / ".cache" / "pgoctl").glob("*"):
            subprocess.run(["ssh", "-o", f"ControlPath={socket}", "-O", "exit", "x"],
                           capture_output=True, check=False)
        pgod.stop()
        remove_user(user)
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    words = sys.argv[1:]
    target = words.pop(words.index("--out") + 1) if "--out" in words else None
    words = [w for w in words if w != "--out"]
    main(int(words[0]) if words else 30, target)
