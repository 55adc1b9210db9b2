"""pgoctl with several targets: one ssh per target, all at once, output per line labelled.

The pure part: `labels` (what prefixes a target's lines), `Lines` (bytes in, labelled
complete lines out), `merge_json` and `worst`. The I/O: `run_all`, a poll loop over every
ssh's stdout and stderr (no asyncio: pgoctl's start-up time is part of every command).
"""

from __future__ import annotations

import os
import select
import signal

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

    from pgo.target import Target

JSON_COMMANDS = ("status", "history")


def labels(targets: Sequence[Target]) -> list[str]:
    """`host` when every target names the same service, else `host:service`."""
    one_service = len({t.service for t in targets}) == 1
    return [t.host if one_service else f"{t.host}:{t.service}" for t in targets]


def json_key(target: Target) -> str:
    return f"{target.host}:{target.service}"


class Lines:
    """Bytes as they arrive -> complete lines, each behind `prefix`; `end()` flushes a
    last line without its newline (adding one)."""

    def __init__(self, prefix: bytes) -> None:
        self.prefix, self.partial = prefix, b""

    def feed(self, data: bytes) -> list[bytes]:
        *complete, self.partial = (self.partial + data).split(b"\n")
        return [self.prefix + line + b"\n" for line in complete]

    def end(self) -> list[bytes]:
        rest, self.partial = self.partial, b""
        return [self.prefix + rest + b"\n"] if rest else []


def merge_json(keys: Sequence[str], outputs: Sequence[bytes]) -> str:
    """One JSON object: each target's JSON output under its key, null where it printed
    none that parses (its stderr says why)."""
    import json  # noqa: PLC0415 (only with --json)

    merged: dict[str, object] = {}
    for key, output in zip(keys, outputs, strict=True):
        try:
            merged[key] = json.loads(output)
        except ValueError:
            merged[key] = None
    return json.dumps(merged, indent=2) + "\n"


def worst(codes: Sequence[int]) -> int:
    """The exit status of several: the highest (0 only if all are 0; 255, ssh failed,
    beats every other)."""
    return max(codes, default=0)


class Child:
    """One ssh: its pid, pipes, the labelled lines of both, and what stderr announced."""

    def __init__(self, pid: int, out: int, err: int, prefix: bytes, keep: bool) -> None:
        self.pid, self.out, self.err, self.keep = pid, out, err, keep
        self.lines = {out: Lines(prefix), err: Lines(prefix)}
        self.stdout = self.stderr = b""

    def take(self, fd: int, data: bytes) -> None:
        """Output of this child's: stdout kept (--json) or written, stderr written."""
        if fd == self.out and self.keep:
            self.stdout += data
            return
        if fd == self.err:
            self.stderr += data
        lines = self.lines[fd].feed(data) if data else self.lines[fd].end()
        _write_all(1 if fd == self.out else 2, b"".join(lines))


def spawn(argv: list[str], env: dict[str, str]) -> tuple[int, int, int]:
    """ssh with stdin from /dev/null, stdout and stderr into pipes."""
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    try:
        pid = os.posix_spawnp(argv[0], argv, env, file_actions=[
            (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
            (os.POSIX_SPAWN_DUP2, out_w, 1), (os.POSIX_SPAWN_DUP2, err_w, 2)])
    except BaseException:
        os.close(out_r)
        os.close(err_r)
        raise
    finally:
        os.close(out_w)
        os.close(err_w)
    return pid, out_r, err_r


def run_all(argvs: Sequence[list[str]], env: dict[str, str], prefixes: Sequence[str],
            keep_stdout: bool) -> list[tuple[int, bytes, bytes]]:
    """Every ssh at once; for each: its exit status, its stdout (if kept), its stderr (as
    written; also relayed, each line labelled). SIGTERM, SIGHUP, SIGINT: passed on."""
    children: list[Child] = []
    try:
        for argv, prefix in zip(argvs, prefixes, strict=True):
            pid, out, err = spawn(argv, env)
            children.append(Child(pid, out, err, f"{prefix}: ".encode(), keep_stdout))
    finally:
        def forward(signum: int, _frame: object) -> None:
            for child in children:
                _kill(child.pid, signum)

        for signum in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
            signal.signal(signum, forward)
    owners = {fd: child for child in children for fd in (child.out, child.err)}
    poller = select.poll()
    for fd in owners:
        poller.register(fd, select.POLLIN)
    while owners:
        for fd, _event in poller.poll():
            data = os.read(fd, 65536)
            owners[fd].take(fd, data)
            if not data:
                poller.unregister(fd)
                os.close(fd)
                del owners[fd]
    results = []
    for child in children:
        status = os.waitstatus_to_exitcode(os.waitpid(child.pid, 0)[1])
        results.append((status if status >= 0 else 128 - status, child.stdout, child.stderr))
    return results


def _kill(pid: int, signum: int) -> None:
    try:  # noqa: SIM105 (contextlib costs start-up time)
        os.kill(pid, signum)
    except ProcessLookupError:
        pass


def _write_all(fd: int, data: bytes) -> None:
    while data:
        data = data[os.write(fd, data):]
