"""Benchmark: `pgoctl host:svc//ping` as a first call (no held connection: it opens one)
and as a reused call (over the held connection), next to a plain OpenSSH `ssh ...
svc//ping` (a new connection each time) and `pgoctl --no-reuse`.

Run as root after scripts/install (it makes a real user, repository and pgod):

    CONTAINERS_CONF=/etc/pgo/containers.conf /opt/pgo/venv/bin/python bench/pgoctl_reuse.py \\
        [ROUNDS] [--out FILE]

The clients run interleaved, round by round, against the same pgod. Before each "first
call" the held connection is ended (`ssh -O exit`, not timed), so it opens a new one; the
calls after it ride that (all within its 60 s). `PGOCTL_BEFORE=DIR` adds the pgoctl of
another source tree DIR (the before), run side by side. The result is the ratio of
medians; printed, and appended to FILE with --out. One reference row is not pgoctl: ssh
given a TCP_NODELAY socket from the start (an fd-passing dialer), what ssh's handshake
would take without Nagle's algorithm waiting on pgod's delayed ACKs.
"""

from __future__ import annotations

import contextlib
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

from bench.common import machine
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
    not depend on how busy the machine is; the wall time does. A first call's figure takes
    in all the CPU time of the master it leaves behind (its handshake, its session)."""

    def __init__(self, pgod_pid: int, socket: Path) -> None:
        self.pgod, self.socket, self.master = pgod_pid, socket, 0

    def master_pid(self) -> int:
        check = subprocess.run(["ssh", "-o", f"ControlPath={self.socket}", "-O", "check", "x"],
                               capture_output=True, text=True, check=False)
        return int(check.stderr.split("pid=")[1].split(")")[0])

    def drop_master(self) -> None:
        subprocess.run(["ssh", "-o", f"ControlPath={self.socket}", "-O", "exit", "x"],
                       capture_output=True, check=False)
        for _ in range(100):
            if not self.socket.exists() and not (self.master and
                                                 Path(f"/proc/{self.master}").exists()):
                break
            time.sleep(0.01)
        self.master = 0

    @staticmethod
    def _run_time(pid: int) -> float:
        """CPU seconds of every thread of `pid` so far (schedstat: nanoseconds, where
        /proc/PID/stat counts 10 ms clock ticks, too coarse for a master's share)."""
        total = 0
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(OSError):
                total += int((task / "schedstat").read_text().split()[0])
        return total / 1e9

    def _cpu(self) -> tuple[float, float, float]:
        """CPU seconds so far: the clients', pgod's, the master's."""
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        return (usage.ru_utime + usage.ru_stime, self._run_time(self.pgod),
                self._run_time(self.master) if self.master else 0.0)

    def timed(self, argv: list[str], env: dict[str, str], first: bool = False,
              ) -> tuple[float, ...]:
        """Wall time, then the CPU time of the clients, pgod and the master."""
        cpu, start = self._cpu(), time.perf_counter()
        result = subprocess.run(argv, capture_output=True, env=env, check=False)
        elapsed = time.perf_counter() - start
        after = self._cpu()  # before `ssh -O check` below, whose CPU is not the call's
        if result.returncode != 0 or (argv[-1].endswith("//ping")
                                      and b"pong" not in result.stdout):
            raise SystemExit(f"{argv} failed: {result.stderr.decode()}")
        if first:  # a new master: all its CPU time so far is this call's
            self.master = self.master_pid()
            cpu, after = (*cpu[:2], 0.0), (*after[:2], self._run_time(self.master))
        return elapsed, *(a - b for a, b in zip(after, cpu, strict=True))


def wrappers(root: Path) -> dict[str, str]:
    """pgoctl started as pip's console script starts it (with site: the .pth files and
    sitecustomize; scripts/install writes an -IS one instead), and, with PGOCTL_BEFORE=DIR,
    the pgoctl of another source tree DIR (the before), started the way scripts/install's
    launcher started it before it called `entry` (-IS, `sys.exit(main())`)."""
    made, lines = {}, {"pgoctl-site": ("", "")}
    if os.environ.get("PGOCTL_BEFORE"):
        lines["pgoctl-before"] = (" -IS", os.path.join(os.environ["PGOCTL_BEFORE"], "src"))
    for name, (flags, path) in lines.items():
        script = root / name
        script.write_text(f"#!{sys.executable}{flags}\nimport sys\n"
                          + (f"sys.path.insert(0, {path!r})\n" if path else "")
                          + "from pgo.cli.pgoctl import main\nsys.exit(main())\n")
        script.chmod(0o755)
        made[name] = str(script)
    return made


# An fd-passing ProxyCommand: connects with TCP_NODELAY and hands ssh the socket. Not for
# use: a reference showing what ssh's own handshake loses to Nagle's algorithm meeting the
# server's delayed ACKs (ssh sets TCP_NODELAY only once logged in).
NODELAY_DIALER = ("import _socket as s, sys; c = s.socket(s.AF_INET, s.SOCK_STREAM); "
                  "c.setsockopt(s.IPPROTO_TCP, s.TCP_NODELAY, 1); "
                  "c.connect((sys.argv[1], int(sys.argv[2]))); "
                  "s.socket(fileno=1).sendmsg([b'\\0'], "
                  "[(s.SOL_SOCKET, s.SCM_RIGHTS, c.fileno().to_bytes(4, sys.byteorder))])")


def clients(key: Path, ssh_port: int, scripts: dict[str, str],
            ) -> dict[str, tuple[bool, list[str]]]:
    """name -> (whether the held connection is dropped before it, argv)."""
    words = ["--insecure", "-i", str(key), "-p", str(ssh_port), "127.0.0.1:bench//ping"]
    from_variable = [*words[:1], "-i", "$BENCH_KEY", *words[3:]]  # BENCH_KEY: the key's text
    ssh = ["ssh", *SSH_OPTIONS, "-i", str(key), "-p", str(ssh_port), "127.0.0.1", "bench//ping"]
    before = scripts.get("pgoctl-before")
    dialer = ["-o", "ProxyUseFdpass=yes",
              "-o", f"ProxyCommand={sys.executable} -IS -c \"{NODELAY_DIALER}\" %h %p"]
    found: dict[str, tuple[bool, list[str] | None]] = {
        "ssh": (False, ssh),
        "ssh, TCP_NODELAY from the start (dialer)": (False, [*ssh[:-2], *dialer,
                                                             *ssh[-2:]]),
        "pgoctl --no-reuse": (False, [PGOCTL, "--no-reuse", *words]),
        "pgoctl before, first call": (True, before and [before, *words]),
        "pgoctl before, held connection": (False, before and [before, *words]),
        "pgoctl, first call": (True, [PGOCTL, *words]),
        "pgoctl, held connection": (False, [PGOCTL, *words]),
        "pgoctl with site, held connection": (False, [scripts["pgoctl-site"], *words]),
        "pgoctl before -i '$VAR', held connection": (False, before and [before,
                                                                        *from_variable]),
        "pgoctl -i '$VAR', held connection": (False, [PGOCTL, *from_variable]),
    }
    return {name: (drop, argv) for name, (drop, argv) in found.items() if argv}


def baselines(socket: Path, scripts: dict[str, str]) -> dict[str, tuple[bool, list[str]]]:
    """What the held connection cannot save: ssh's own session over pgoctl's master (no
    Python), and Python's start-up (`pgoctl --version`: the interpreter, site, pgoctl's
    imports; `python -IS -c pass`: the interpreter alone)."""
    return {"ssh over the held connection": (False, [
                "ssh", "-o", f"ControlPath={socket}", "-o", "ControlMaster=no", "x",
                "bench//ping"]),
            "pgoctl --version (no SSH)": (False, [PGOCTL, "--version"]),
            "pgoctl with site --version (no SSH)": (False, [scripts["pgoctl-site"],
                                                           "--version"]),
            "python -IS -c pass (no SSH)": (False, [sys.executable, "-IS", "-c", "pass"])}


def report_lines(samples: dict[str, list[tuple[float, ...]]], rounds: int) -> list[str]:
    walls = {name: statistics.median(v[0] for v in values) for name, values in samples.items()}
    cpus = {name: [statistics.mean(v[i] for v in values) for i in (1, 2, 3)]
            for name, values in samples.items()}
    lines = [f"## {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {platform.node()}: "
             "pgoctl's first and reused calls vs ssh (bench/pgoctl_reuse.py)",
             f"{machine()}; {rounds} interleaved rounds, loopback; load average at the end "
             f"{os.getloadavg()[0]:.1f}. CPU: the mean per call of the client's processes, "
             "pgod and the held connection's ssh master together, and each.\n",
             "| client | median wall | p90 wall | vs ssh | CPU per call | vs ssh "
             "| client / pgod / master CPU |",
             "|---|---|---|---|---|---|---|"]
    ssh_cpu = sum(cpus["ssh"])
    for name, values in samples.items():
        wall = [v[0] for v in values]
        p90 = statistics.quantiles(wall, n=10)[-1] if len(wall) > 1 else wall[0]
        cpu = sum(cpus[name])
        lines.append(f"| {name} | {walls[name] * 1000:.1f} ms | {p90 * 1000:.1f} ms | "
                     f"{walls[name] / walls['ssh']:.2f}x | {cpu * 1000:.1f} ms | "
                     f"{cpu / ssh_cpu:.2f}x | "
                     + " / ".join(f"{c * 1000:.1f}" for c in cpus[name]) + " ms |")
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
    env = {"PATH": os.environ["PATH"], "HOME": str(root), "USER": "root",
           "BENCH_KEY": key.read_text()}
    try:
        wait_for_http(port, "bench")
        pgod.wait_log("operator key(s)")
        scripts = wrappers(root)
        argvs = clients(key, ssh_port, scripts)
        subprocess.run(argvs["pgoctl, first call"][1], env=env, capture_output=True,
                       check=True)  # makes the socket, to learn its name
        socket = next((root / ".cache" / "pgoctl").glob("k*"))
        assert pgod.proc is not None
        meter = Meter(pgod.proc.pid, socket)
        meter.master = meter.master_pid()
        argvs.update(baselines(socket, scripts))
        for drop, argv in argvs.values():
            if drop:
                meter.drop_master()
            meter.timed(argv, env, drop)  # warm up
        samples: dict[str, list[tuple[float, ...]]] = {name: [] for name in argvs}
        for _ in range(rounds):
            for name, (drop, argv) in argvs.items():
                if drop:
                    meter.drop_master()
                samples[name].append(meter.timed(argv, env, drop))
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
