"""Benchmark: pgod's steady state, N configured services whose repositories do not change.

    CONTAINERS_CONF=/etc/pgo/containers.conf /opt/pgo/venv/bin/python bench/steady.py \
        [SERVICES [SECONDS [INTERVAL [file|daemon]]]]

Each service is a real git repository (a bare one per service, on 4 service users) whose
compose project's only service is in a profile nobody enables: nothing to run, so the
containers cost nothing and what is measured is pgod's poll (fetch, checks, self-heal look).
The repositories are local (`file://`, the default) or served by a loopback `git daemon`
(`daemon`: git://127.0.0.1, what a remote server costs pgod; the server's own CPU, the
daemon's and its upload-packs', is reported apart).
pgod starts with a state record per service that says its head is deployed (written the way
pgod writes them), so no podman-compose runs at all; it clones each repository on its first
pass. Then, over SECONDS, from /proc: pgod's CPU seconds (its own and its reaped children's)
per pass over all N services (one "cycle"), the passes per second, the processes started per
pass (pgod -d logs each, by command; a ref worker tells pgod its own), RSS at the start and
end of the window. The CPU of pgod's children alive through the window (the ref workers,
one per user, long-lived: in no cutime of pgod's yet) is counted with the children's. The window
starts once every service passed twice (the second pass reads HEAD again: the first one's
fetch wrote to .git).

The reference, measured in the same run right after the window: a serial loop of plain
`git fetch` over the same N checkouts, as the services' users, what any poller must at least
do; the ratio is pgod's CPU per cycle to that loop's.
"""

from __future__ import annotations

import collections
import os
import re
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import (
    TICK,
    Daemon,
    Usage,
    append,
    bare_copies,
    git,
    heading,
    make_users,
    remove_users,
    usage,
)
from tests.integration.helpers import as_user

from pgo import statestore
from pgo.state import Record, State

USERS = 4
COMPOSE = ("services:\n  idle:\n    image: localhost/pgo-bench-idle\n"
           "    profiles: [\"never\"]\n")


def setup(root: Path, count: int, users: list[str], base: str) -> tuple[Path, str]:
    source = root / "source"
    source.mkdir()
    (source / "compose.yaml").write_text(COMPOSE)
    git("init", "-q", str(source))
    git("add", "-A", cwd=source)
    git("commit", "-qm", "idle", cwd=source)
    head = git("rev-parse", "HEAD", cwd=source).strip()
    first = bare_copies(source, root, 1)[0]
    repos = [first] + [root / f"repo{i}.git" for i in range(1, count)]
    for repo in repos[1:]:  # (copies: a clone each takes long at 1,000)
        shutil.copytree(first, repo, symlinks=True)
    lines = []
    state_dir = root / "lib" / ".pgod"
    for i, repo in enumerate(repos):
        user = users[i % len(users)]
        lines.append(f'[[services]]\nname = "s{i}"\nuser = "{user}"\n'
                     f'repository = "{base}/{repo.name}"\n')
        statestore.save(str(state_dir), Record(service=f"s{i}", user=user, state=State.OK,
                                               deployed=head, last_good=head, upstream=head))
    config = root / "pgo.toml"
    config.write_text("\n".join(lines))
    return config, head


def reference(root: Path, count: int, users: list[str]) -> tuple[float, float]:
    """(CPU seconds, wall seconds) of `git fetch` in each checkout, one after the other."""
    before, start = resource.getrusage(resource.RUSAGE_CHILDREN), time.monotonic()
    for i in range(count):
        checkout = root / "lib" / f"s{i}"
        kw = as_user(users[i % len(users)], checkout)  # pgod's gitconfig: safe.directory
        kw["env"]["GIT_CONFIG_SYSTEM"] = str(root / "lib" / ".pgod-gitconfig")
        subprocess.run(["git", "fetch", "-q", "origin"], **kw, check=True)
    after, wall = resource.getrusage(resource.RUSAGE_CHILDREN), time.monotonic() - start
    return (after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime), wall


def serve(root: Path) -> tuple[subprocess.Popen[bytes], str]:
    """A loopback `git daemon` serving the repositories under `root`, and its base URL."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    exec_path = subprocess.run(["git", "--exec-path"], capture_output=True, text=True,
                               check=True).stdout.strip()  # (`git daemon` would be its parent)
    server = subprocess.Popen([f"{exec_path}/git-daemon", "--reuseaddr", "--export-all",
                               f"--base-path={root}", "--listen=127.0.0.1", f"--port={port}",
                               "--max-connections=0", str(root)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return server, f"git://127.0.0.1:{port}"
        time.sleep(0.1)
    raise SystemExit("git daemon did not listen")


def living_children(pid: int) -> dict[tuple[int, str], float]:
    """pgod's children alive now (the ref workers, long-lived: their CPU is in no cutime
    of pgod's until they end), by (pid, start time): CPU seconds, theirs and their reaped
    children's."""
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found[int(entry), fields[19]] = sum(int(x) for x in fields[11:15]) / TICK
    return found


def kept_cpu(before: dict[tuple[int, str], float], after: dict[tuple[int, str], float]) -> float:
    """The CPU seconds of the children alive at both moments, between them."""
    return sum(after[key] - before[key] for key in after.keys() & before.keys())


def passes_twice(daemon: Daemon, count: int, timeout: float) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        seen = collections.Counter(re.findall(r" s(\d+): in step at ", daemon.log()))
        if len(seen) == count and min(seen.values()) >= 2:
            return time.monotonic() - start
        time.sleep(2)
    raise SystemExit(f"not every service passed twice in {timeout:.0f}s")


def main(count: int, window: float, interval: str, kind: str) -> None:
    root = Path(tempfile.mkdtemp(prefix="pgo-bench-steady-", dir="/tmp"))
    root.chmod(0o755)
    users = make_users(USERS)
    daemon: Daemon | None = None
    server, base = serve(root) if kind == "daemon" else (None, f"file://{root}")
    try:
        config, _ = setup(root, count, users, base)
        daemon = Daemon(config, root / "lib", root / "pgod.log", "-t", interval, "-d",
                        "-s", "127.0.0.1:0").start()
        started = daemon.wait_each("in step at", [f"s{i}" for i in range(count)], 900)
        print(f"all {count} passed once in {started:.1f}s", flush=True)
        # The second pass of each reads HEAD again (the first one's fetch wrote to .git):
        # the window starts once every service had it.
        seconds = passes_twice(daemon, count, 900)
        print(f"all {count} passed twice {seconds:.1f}s later", flush=True)
        offset, first = daemon.size(), usage(daemon.pid)
        served = usage(server.pid) if server is not None else None
        kept = living_children(daemon.pid)
        time.sleep(window)
        last, text = usage(daemon.pid), daemon.log(offset)
        workers = kept_cpu(kept, living_children(daemon.pid))
        server_cpu = usage(server.pid).cpu() - served.cpu() \
            if server is not None and served is not None else None
        ref_cpu, ref_wall = reference(root, count, users)
        passes, procs = text.count("in step at"), text.count(" run as ")
        report(Run(count, window, interval, kind, started, first, last, passes, procs,
                   server_cpu, commands(text), workers), ref_cpu, ref_wall)
    finally:
        if daemon is not None:
            daemon.stop()
        if server is not None:
            server.terminate()
            server.wait()
        remove_users(users)
        if not os.environ.get("KEEP"):
            shutil.rmtree(root, ignore_errors=True)


@dataclass(frozen=True)
class Run:
    count: int
    window: float
    interval: str
    kind: str
    started: float
    first: Usage
    last: Usage
    passes: int
    procs: int
    server_cpu: float | None  # the git daemon's (with its children's) over the window
    started_by_command: dict[str, int]  # "git ls-remote", "podman ps": how many in the window
    workers: float = 0.0  # CPU seconds of pgod's long-lived children (ref workers) in it


def commands(log: str) -> dict[str, int]:
    """The processes pgod -d logged starting, by program (and git's subcommand)."""
    counts: dict[str, int] = {}
    for line in log.splitlines():
        if " run as " not in line or ": " not in line.split(" run as ", 1)[1]:
            continue
        argv = line.split(" run as ", 1)[1].split(": ", 1)[1].split(" [env: ")[0].split()
        words = [a for i, a in enumerate(argv) if not a.startswith("-") and
                 (i == 0 or argv[i - 1] != "-c")]
        name = " ".join([os.path.basename(words[0]), *words[1:2]]) if words else "?"
        counts[name] = counts.get(name, 0) + 1
    return counts


def report(run: Run, ref_cpu: float, ref_wall: float) -> None:
    count, first, last, passes = run.count, run.first, run.last, run.passes
    if passes == 0:
        raise SystemExit("no pass in the window")
    cpu = last.cpu() - first.cpu() + run.workers
    own, children = last.own - first.own, last.children - first.children + run.workers
    per_cycle = cpu / passes * count
    cycle_wall = count / (passes / (last.at - first.at))
    kind = "file://" if run.kind == "file" else "git:// (loopback git daemon)"
    server = [] if run.server_cpu is None else [
        ("the git daemon's CPU seconds per 1,000 service passes",
         f"{run.server_cpu / passes * 1000:.2f} s", "")]
    rows = [
        ("services; interval; repositories", f"{count}; -t {run.interval}; {kind}", ""),
        ("first pass of all (clone, read, check)", f"{run.started:.1f} s", ""),
        ("passes in the window", f"{passes} in {last.at - first.at:.0f} s", ""),
        ("CPU seconds per cycle (N passes)", f"{per_cycle:.2f} s (pgod {own / passes * count:.2f}"
         f", children {children / passes * count:.2f})", f"{per_cycle / ref_cpu:.2f}x"),
        ("CPU seconds per 1,000 service passes", f"{cpu / passes * 1000:.2f} s", ""),
        ("wall time of a cycle (N / passes per second)", f"{cycle_wall:.1f} s", ""),
        ("processes started per pass per service", f"{run.procs / passes:.2f}", ""),
        ("of them, by command", ", ".join(
            f"{name} {n / passes:.3f}" for name, n in sorted(
                run.started_by_command.items(), key=lambda kv: -kv[1])[:4]) or "none", ""),
        ("pgod's own CPU per pass", f"{own / passes * 1000:.2f} ms", ""),
        ("of the children's, the ref workers' (alive through the window) per pass",
         f"{run.workers / passes * 1000:.2f} ms", ""),
        *server,
        ("RSS of pgod, window start / end", f"{first.rss / 2**20:.1f} / "
         f"{last.rss / 2**20:.1f} MiB", ""),
        ("reference: serial `git fetch` loop over the N checkouts",
         f"{ref_cpu:.2f} CPU s, {ref_wall:.1f} s wall", "1.00x"),
    ]
    lines = [heading(f"steady state, {count} unchanged services, {kind} (bench/steady.py)"),
             "| figure | value | vs reference |", "|---|---|---|"]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in rows]
    append("\n".join(lines) + "\n")


if __name__ == "__main__":
    args = sys.argv[1:]
    main(int(args[0]) if args else 200, float(args[1]) if len(args) > 1 else 60.0,
         args[2] if len(args) > 2 else "30s", args[3] if len(args) > 3 else "file")
