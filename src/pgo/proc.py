"""The only place that starts subprocesses.

Argv lists only, an explicit environment, the service user's uid/gid, a process group of
its own, a timeout, and the whole group killed when the caller is cancelled.
"""

from __future__ import annotations

import asyncio
import contextlib
import grp
import logging
import os
import pwd
import shutil
import signal
import sys
import warnings
from collections.abc import Awaitable, Mapping, Sequence
from dataclasses import dataclass

from pgo.errors import CommandFailed

log = logging.getLogger("pgo.proc")

SAFE_PATH = "/usr/local/bin:/usr/bin:/bin"
# Variables podman itself needs (see TEST-MACHINE.md): passed through from pgod's environment.
PASSTHROUGH = ("CONTAINERS_CONF", "CONTAINERS_REGISTRIES_CONF", "CONTAINERS_STORAGE_CONF", "TZ")
OUTPUT_LIMIT = 1024 * 1024       # the tail kept of a log-like output (merged stderr)
DATA_LIMIT = 16 * 1024 * 1024    # data on stdout: more than this is an error, never cut
TERM_GRACE = 2.0                 # seconds between SIGTERM and SIGKILL when a command ends early
# util-linux's setpriv switches to the user, then env (as the user, without capabilities:
# setpriv keeps root's until its exec) finds and execs the command. Python forks all of pgod
# (page tables for some 60 MiB, copy-on-write faults after) to switch user in the child
# itself, where it starts setpriv with a vfork: some 9 ms of pgod's CPU less per process.
SETPRIV = shutil.which("setpriv", path="/usr/bin:/bin")
ENV = shutil.which("env", path="/usr/bin:/bin")


def watch_children(loop: asyncio.AbstractEventLoop) -> bool:
    """Wait for the children through pidfds on `loop` (Linux 5.3+), not a thread each.
    Python 3.11's default starts a thread per process from the event loop, which waits until
    that thread runs: on a busy machine, tens of ms of a blocked loop per command (3.12
    uses pidfds by itself). Whether it did."""
    if sys.version_info >= (3, 12) or not hasattr(os, "pidfd_open"):
        return False
    try:
        os.close(os.pidfd_open(os.getpid()))
    except OSError:  # (an older kernel, or a seccomp filter)
        return False
    watcher = asyncio.PidfdChildWatcher()
    watcher.attach_loop(loop)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        asyncio.set_child_watcher(watcher)
    return True


@dataclass(frozen=True)
class Account:
    """The unix identity a command runs as.

    `gid` is always the user's primary group: rootless podman's newuidmap refuses a process
    whose gid is not the one in /etc/passwd. A configured `group` is therefore carried as the
    only supplementary group (`share_gid`), and it owns the service's checkout.
    """

    user: str
    uid: int
    gid: int
    home: str
    share_gid: int | None = None

    @classmethod
    def lookup(cls, user: str, group: str | None = None) -> Account:
        entry = pwd.getpwnam(user)
        share = grp.getgrnam(group).gr_gid if group else None
        return cls(user=user, uid=entry.pw_uid, gid=entry.pw_gid, home=entry.pw_dir,
                   share_gid=share if share != entry.pw_gid else None)

    @classmethod
    def current(cls) -> Account:
        entry = pwd.getpwuid(os.getuid())
        return cls(user=entry.pw_name, uid=entry.pw_uid, gid=os.getgid(), home=entry.pw_dir)

    @property
    def extra_groups(self) -> list[int]:
        return [] if self.share_gid is None else [self.share_gid]

    def environment(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """A clean environment: HOME, PATH, USER, LOGNAME and what podman needs."""
        env = {"HOME": self.home, "PATH": SAFE_PATH, "USER": self.user, "LOGNAME": self.user,
               "LANG": "C.UTF-8"}
        env.update({k: os.environ[k] for k in PASSTHROUGH if k in os.environ})
        env.update(extra or {})
        return env


@dataclass(frozen=True)
class Result:
    returncode: int
    output: str
    errors: str = ""
    data: bytes = b""  # stdout as it came, undecoded (for files read through a command)


async def start(argv: Sequence[str], account: Account, cwd: str | None = None,
                env: Mapping[str, str] | None = None, *, merge_stderr: bool = True,
                stdin: bool = False) -> asyncio.subprocess.Process:
    """Start `argv` as `account` in a new process group, stdout piped (stdin too, if
    `stdin`; else /dev/null)."""
    full_env = account.environment(env)
    log.debug("run as %s (uid %d gid %d groups %s) in %s: %s [env: %s]", account.user,
              account.uid, account.gid, account.extra_groups, cwd or "-", _shown(argv),
              " ".join(sorted(full_env)))
    drop = account.uid != os.getuid()
    through = drop and SETPRIV is not None and ENV is not None and "=" not in argv[0]
    try:
        return await asyncio.create_subprocess_exec(
            *(as_account(argv, account) if through else argv), cwd=cwd, env=full_env,
            stdin=asyncio.subprocess.PIPE if stdin else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT if merge_stderr else asyncio.subprocess.PIPE,
            start_new_session=True,
            user=account.uid if drop and not through else None,
            group=account.gid if drop and not through else None,
            extra_groups=account.extra_groups if drop and not through else None,
        )
    except OSError as err:  # not found, not executable by the user, cwd gone, ...
        raise CommandFailed(argv, None, f"{err.strerror or err}: {err.filename or argv[0]}",
                            status=f"could not be started as {account.user}") from None


def as_account(argv: Sequence[str], account: Account) -> list[str]:
    """`argv` run through setpriv and env as `account`: real, effective and saved uid and
    gid its, its supplementary groups only (none, or the share group), no capabilities
    (setpriv's exec of env drops them); env looks the command up and execs it with the
    user's own rights, as Python's exec in a forked child would."""
    assert SETPRIV is not None and ENV is not None
    groups = ",".join(map(str, account.extra_groups))
    return [SETPRIV, f"--reuid={account.uid}", f"--regid={account.gid}",
            f"--groups={groups}" if groups else "--clear-groups", "--", ENV, "--", *argv]


def _not_started(argv: Sequence[str], account: Account, code: int, text: str) -> None:
    """env's word that it could not exec the command (126, 127): as when Python cannot."""
    if ENV is not None and account.uid != os.getuid() and code in (126, 127) and \
            text.startswith(f"{ENV}: "):
        reason = text.strip().rsplit(": ", 1)[-1]
        raise CommandFailed(argv, None, f"{reason}: {argv[0]}",
                            status=f"could not be started as {account.user}")


def _shown(argv: Sequence[str]) -> str:
    """A command line for the log: an argument longer than a line (a script given with
    -c) shown by its start and length."""
    return " ".join(a if len(a) <= 200 else f"{a[:40]!r}... ({len(a)} characters)"
                    for a in argv)


def kill_group(proc: asyncio.subprocess.Process, signum: int = signal.SIGKILL) -> None:
    """Signal the process group of `proc` (it is its leader); ignore if already gone."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signum)


async def end_group(proc: asyncio.subprocess.Process) -> None:
    """SIGTERM the process group of `proc` (git removes its lock files then: killed at once,
    a `reset` leaves .git/index.lock and every later one fails); SIGKILL what is left after
    TERM_GRACE seconds. A second cancellation meanwhile goes straight to SIGKILL."""
    kill_group(proc, signal.SIGTERM)
    with contextlib.suppress(TimeoutError, asyncio.CancelledError):
        await asyncio.wait_for(asyncio.shield(proc.wait()), TERM_GRACE)
    kill_group(proc)
    with contextlib.suppress(TimeoutError, asyncio.CancelledError):
        await asyncio.wait_for(asyncio.shield(proc.wait()), 5)


async def run(argv: Sequence[str], account: Account, cwd: str | None = None, *,
              timeout: float, env: Mapping[str, str] | None = None,
              check: bool = True, merge_stderr: bool = True,
              input: bytes | None = None, go: Awaitable[bytes] | None = None) -> Result:
    """Run to completion; raise CommandFailed on a non-zero exit (if `check`) or timeout.
    `input` is written to its stdin (a secret, say: never in argv), which is then closed.
    With `go`, the process is started at once and what `go` gives is its input, once it
    does: the timeout counts from then (a process started ahead of its turn that waits
    for a word on stdin, see pgo.compose.Ahead).

    With `merge_stderr` False, stderr is kept apart (for commands whose stdout is data), and
    stdout is data: all of it, or CommandFailed past DATA_LIMIT (a cut file could hide what
    a check must see).
    """
    proc = await start(argv, account, cwd, env, merge_stderr=merge_stderr,
                       stdin=input is not None or go is not None)
    try:
        if go is not None:
            input = await go
        async with asyncio.timeout(timeout):
            # A TaskGroup, not gather: when the loop shuts down and cancels every task, a
            # gather whose children were cancelled logs "exception was never retrieved".
            async with asyncio.TaskGroup() as group:
                out = group.create_task(
                    _read_all(proc.stdout) if merge_stderr else _read_data(proc))
                errs = group.create_task(_read_all(proc.stderr))
                if input is not None:
                    group.create_task(_feed(proc, input))
            await proc.wait()
        raw, err = out.result(), errs.result()
    except TimeoutError:
        await end_group(proc)
        raise CommandFailed(argv, None, f"killed after {timeout:.0f}s") from None
    except BaseException:
        await end_group(proc)
        raise
    if raw is None:
        raise CommandFailed(argv, None, f"more than {DATA_LIMIT} bytes of output")
    output, errors = raw.decode("utf-8", "replace"), err.decode("utf-8", "replace")
    code = proc.returncode if proc.returncode is not None else -1
    _not_started(argv, account, code, errors or output)
    if check and code != 0:
        raise CommandFailed(argv, code, errors or output)
    return Result(code, output, errors, raw)


async def _feed(proc: asyncio.subprocess.Process, data: bytes) -> None:
    """Write `data` to the process's stdin and close it (a process that does not read it
    all and exits is no error here: its exit status says)."""
    assert proc.stdin is not None
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        proc.stdin.write(data)
        await proc.stdin.drain()
    proc.stdin.close()


async def _read_data(proc: asyncio.subprocess.Process) -> bytes | None:
    """All of stdout; None (and the process killed, its output drained) past DATA_LIMIT."""
    assert proc.stdout is not None
    chunks: list[bytes] = []
    size = 0
    while chunk := await proc.stdout.read(65536):
        size += len(chunk)
        if size <= DATA_LIMIT:
            chunks.append(chunk)
        elif chunks:
            chunks.clear()
            kill_group(proc)
    return b"".join(chunks) if size <= DATA_LIMIT else None


async def _read_all(stream: asyncio.StreamReader | None) -> bytes:
    """Read a stream to its end, keeping at most about OUTPUT_LIMIT bytes of its tail."""
    if stream is None:
        return b""
    chunks: list[bytes] = []
    size = 0
    while chunk := await stream.read(65536):
        chunks.append(chunk)
        size += len(chunk)
        while size > OUTPUT_LIMIT and len(chunks) > 1:
            size -= len(chunks.pop(0))
    return b"".join(chunks)
