"""Account: which gid and groups a service's processes get (reads this machine's users)."""

from __future__ import annotations

import asyncio
import gc
import grp
import os
import pwd
import sys
import threading
import warnings
from pathlib import Path
from typing import Any

import pytest

from pgo import proc
from pgo.errors import CommandFailed
from pgo.proc import Account


def test_no_group_means_primary_gid_and_no_supplementary_groups() -> None:
    account = Account.lookup("root")
    assert (account.gid, account.share_gid, account.extra_groups) == (0, None, [])


def test_primary_group_named_explicitly_adds_nothing() -> None:
    primary = grp.getgrgid(pwd.getpwnam("root").pw_gid).gr_name
    assert Account.lookup("root", primary).extra_groups == []


def test_other_group_is_supplementary_and_gid_stays_primary() -> None:
    """rootless podman's newuidmap refuses a gid other than the passwd one."""
    other = grp.getgrnam("daemon").gr_gid
    account = Account.lookup("root", "daemon")
    assert account.gid == pwd.getpwnam("root").pw_gid
    assert account.share_gid == other and account.extra_groups == [other]


def test_a_command_running_at_shutdown_leaves_no_unretrieved_exception() -> None:
    """pgod stopping (asyncio.run cancels every task) while git or podman-compose runs: the
    child is killed and the loop reports nothing ("exception was never retrieved")."""
    reported: list[dict[str, Any]] = []
    started: list[int] = []

    async def main() -> None:
        asyncio.get_running_loop().set_exception_handler(lambda _, ctx: reported.append(ctx))
        tasks = [asyncio.create_task(proc.run(["sleep", "30"], Account.current(), timeout=60,
                                              merge_stderr=merge)) for merge in (True, False)]
        await asyncio.sleep(0.3)
        started.extend(int(p) for p in os.listdir("/proc") if p.isdigit() and
                       _cmdline(p) == b"sleep\x0030\x00")

        assert not any(task.done() for task in tasks)  # left for asyncio.run to cancel

    asyncio.run(main())
    gc.collect()
    assert reported == []
    assert started and not any(os.path.exists(f"/proc/{p}") and _cmdline(str(p))
                               for p in started), "the children were killed"


def _cmdline(pid: str) -> bytes:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return handle.read()
    except OSError:
        return b""


def test_a_program_that_cannot_start_is_a_command_failure_not_a_crash(tmp_path: Path) -> None:
    """Not there, or not executable by the user: a CommandFailed naming the program (the
    service's status shows it), never an OSError that would end the pass as a bug."""
    script = tmp_path / "tool"
    script.write_text("#!/bin/sh\n")
    script.chmod(0o600)
    for program in (str(tmp_path / "missing"), str(script)):
        with pytest.raises(CommandFailed, match="could not be started as ") as caught:
            asyncio.run(proc.run([program, "x"], Account.current(), timeout=10))
        assert program in str(caught.value)


@pytest.mark.parametrize("stop", ["timeout", "cancel"])
def test_a_command_ended_early_gets_sigterm_first(tmp_path: Path, stop: str) -> None:
    """As git needs to remove its lock files: the group is sent SIGTERM, SIGKILL only
    after TERM_GRACE (a child that ignores SIGTERM is killed all the same)."""
    cleaned, stubborn = tmp_path / "cleaned", tmp_path / "stubborn"
    polite = f"trap 'touch {cleaned}; exit 1' TERM; while :; do sleep 0.1; done"
    deaf = f"trap '' TERM; touch {stubborn}; sleep 30"

    async def main() -> None:
        runs = [proc.run(["sh", "-c", script], Account.current(),
                         timeout=0.5 if stop == "timeout" else 60)
                for script in (polite, deaf)]
        tasks = [asyncio.create_task(run) for run in runs]
        if stop == "cancel":
            await asyncio.sleep(0.5)
            for task in tasks:
                task.cancel()
        async with asyncio.timeout(proc.TERM_GRACE + 10):
            results = await asyncio.gather(*tasks, return_exceptions=True)
        expected = CommandFailed if stop == "timeout" else asyncio.CancelledError
        assert all(isinstance(result, expected) for result in results), results

    asyncio.run(main())
    assert cleaned.exists() and stubborn.exists()


def test_input_goes_to_stdin_and_its_value_is_not_logged(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("DEBUG", logger="pgo.proc")
    result = asyncio.run(proc.run(["cat"], Account.current(), timeout=10,
                                  input=b"hush-hush\n", env={"SECRET_NAME": "hush-value"}))
    assert result.output == "hush-hush\n"
    assert "SECRET_NAME" in caplog.text
    assert "hush" not in caplog.text


def _identity(account: Account) -> dict[str, str]:
    out = asyncio.run(proc.run(["grep", "-E", "^(Uid|Gid|Groups|Cap(Inh|Prm|Eff|Bnd|Amb)):",
                                "/proc/self/status"], account, "/", timeout=10)).output
    return {k: " ".join(v.split()) for k, v in
            (line.split(":", 1) for line in out.splitlines())}


@pytest.mark.skipif(os.getuid() != 0, reason="switching user needs root")
@pytest.mark.parametrize("through", [True, False])
def test_a_command_runs_as_the_user_with_its_groups_and_no_capabilities(
        monkeypatch: pytest.MonkeyPatch, through: bool) -> None:
    """Through setpriv (pgod vforks) or without it (Python forks and switches): the same
    identity, real, effective and saved; the share group as the only extra one."""
    if not through:
        monkeypatch.setattr(proc, "SETPRIV", None)
    elif proc.SETPRIV is None:
        pytest.fail("setpriv (util-linux) is missing: scripts/install installs it")
    entry = pwd.getpwnam("nobody")
    share = grp.getgrnam("users").gr_gid
    for account, groups in ((Account.lookup("nobody"), ""),
                            (Account("nobody", entry.pw_uid, entry.pw_gid, "/", share),
                             str(share))):
        seen = _identity(account)
        assert seen["Uid"] == " ".join([str(entry.pw_uid)] * 4)
        assert seen["Gid"] == " ".join([str(entry.pw_gid)] * 4)
        assert seen["Groups"] == groups
        assert {seen[k] for k in ("CapInh", "CapPrm", "CapEff", "CapAmb")} == \
            {"0000000000000000"}


@pytest.mark.skipif(os.getuid() != 0, reason="switching user needs root")
def test_a_program_the_user_cannot_start_is_a_command_failure(tmp_path: Path) -> None:
    tmp_path.chmod(0o755)
    script = tmp_path / "tool"
    script.write_text("#!/bin/sh\n")
    script.chmod(0o700)  # (root's: nobody may not run it)
    for program in (str(tmp_path / "missing"), str(script)):
        for check in (True, False):
            with pytest.raises(CommandFailed, match="could not be started as nobody") as caught:
                asyncio.run(proc.run([program, "x"], Account.lookup("nobody"), "/",
                                     timeout=10, check=check))
            assert program in str(caught.value)


def test_children_are_waited_for_by_pidfd_without_a_thread_each() -> None:
    async def three() -> tuple[bool, list[int], int]:
        watched = proc.watch_children(asyncio.get_running_loop())
        before = threading.active_count()
        procs = [await proc.start(["sh", "-c", f"sleep 0.2; exit {n}"], Account.current())
                 for n in range(3)]
        during = threading.active_count() - before
        return watched, [await p.wait() for p in procs], during

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        previous = asyncio.get_child_watcher()
    try:
        watched, codes, threads = asyncio.run(three())
    finally:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            asyncio.set_child_watcher(previous)
    assert codes == [0, 1, 2]
    if sys.version_info < (3, 12):
        assert watched and threads == 0
