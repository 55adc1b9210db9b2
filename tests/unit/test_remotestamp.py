"""A local remote's stamp: equal while its branch cannot have moved, different after any
way git moves it (push, force-push, update-ref, pack-refs, delete), None on any doubt."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from pgo.remotestamp import RECHECK, Asked, Stamp, git_dir, stamp, unchanged

STAMP = ((1, 2, 3, 4),)


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t",
                           "-c", "init.defaultBranch=main", *args], cwd=cwd, check=True,
                          capture_output=True, text=True).stdout.strip()


@pytest.fixture
def remote(tmp_path: Path) -> Path:
    bare, work = tmp_path / "repo.git", tmp_path / "work"
    git(tmp_path, "init", "-q", "--bare", str(bare))
    git(tmp_path, "clone", "-q", str(bare), str(work))
    for text in ("one", "two"):
        (work / "f").write_text(text)
        git(work, "add", "-A")
        git(work, "commit", "-qm", text)
    git(work, "push", "-q", "origin", "HEAD:main")
    return bare


def test_stamps_equal_and_recent_mean_no_git_run() -> None:
    assert unchanged(Asked(STAMP, 100.0), STAMP, 100.0 + RECHECK - 1)


@pytest.mark.parametrize(("last", "now", "at"), [
    (None, STAMP, 100.0),                              # never asked (or the last run failed)
    (Asked(STAMP, 100.0), None, 100.0),                # no stamp now: any doubt
    (Asked(STAMP, 100.0), ((1, 2, 3, 5),), 100.0),     # something was written
    (Asked(STAMP, 100.0), STAMP, 100.0 + RECHECK),     # asked too long ago
    (Asked(STAMP, 100.0), STAMP, 99.0),                # a clock that went back
])
def test_anything_else_means_git_runs(last: Asked | None, now: Stamp | None,
                                      at: float) -> None:
    assert not unchanged(last, now, at)


def test_nothing_done_the_stamp_stays(remote: Path, tmp_path: Path) -> None:
    first = stamp(f"file://{remote}", "main", str(tmp_path))
    assert first is not None
    git(remote, "rev-parse", "main")  # (reading changes nothing)
    git(remote, "ls-remote", str(remote))
    assert stamp(f"file://{remote}", "main", str(tmp_path)) == first
    assert stamp(str(remote), "main", str(tmp_path)) == first  # (a path is local too)


@pytest.mark.parametrize("change", ["push", "force-push", "update-ref", "pack-refs",
                                    "delete", "hidden", "users-config"])
def test_every_way_the_branch_moves_changes_the_stamp(remote: Path, tmp_path: Path,
                                                      change: str) -> None:
    url, work = f"file://{remote}", tmp_path / "work"
    before = stamp(url, "main", str(tmp_path))
    if change == "push":
        (work / "f").write_text("three")
        git(work, "commit", "-qam", "three")
        git(work, "push", "-q", "origin", "HEAD:main")
    elif change == "force-push":
        git(work, "push", "-qf", "origin", "HEAD~1:main")
    elif change == "update-ref":
        git(remote, "update-ref", "refs/heads/main", git(remote, "rev-parse", "main~1"))
    elif change == "pack-refs":
        git(remote, "pack-refs", "--all")  # (the loose ref goes, packed-refs holds it)
        assert not (remote / "refs" / "heads" / "main").exists()
    elif change == "delete":
        git(remote, "update-ref", "-d", "refs/heads/main")
    elif change == "hidden":
        git(remote, "config", "uploadpack.hideRefs", "refs/heads/main")
    else:
        (tmp_path / ".gitconfig").write_text("[url \"file:///elsewhere\"]\n\tinsteadOf = x\n")
    after = stamp(url, "main", str(tmp_path))
    assert after is not None and after != before


def test_a_packed_ref_that_moves_changes_the_stamp(remote: Path, tmp_path: Path) -> None:
    git(remote, "pack-refs", "--all")
    before = stamp(str(remote), "main", str(tmp_path))
    git(remote, "update-ref", "refs/heads/main", git(remote, "rev-parse", "main~1"))
    git(remote, "pack-refs", "--all")
    assert stamp(str(remote), "main", str(tmp_path)) != before


def test_git_finds_the_git_dir_as_git_does(remote: Path, tmp_path: Path) -> None:
    work = tmp_path / "work"
    assert git_dir(str(remote)) == str(remote)
    assert git_dir(str(remote).removesuffix(".git")) == str(remote)  # (git adds .git too)
    assert git_dir(str(work)) == str(work / ".git")  # a work tree: its .git
    assert git_dir(str(tmp_path / "nothing")) is None


@pytest.mark.parametrize("doubt", ["not-local", "reftable", "commondir", "gitfile",
                                   "symlinked-ref", "not-a-repo"])
def test_any_doubt_is_no_stamp(remote: Path, tmp_path: Path, doubt: str) -> None:
    url = f"file://{remote}"
    if doubt == "not-local":
        url = "https://example.invalid/repo.git"
    elif doubt in ("reftable", "commondir"):
        (remote / doubt).mkdir()
    elif doubt == "gitfile":
        other = tmp_path / "other"
        other.mkdir()
        (other / ".git").write_text(f"gitdir: {remote}\n")
        url = f"file://{other}"
    elif doubt == "symlinked-ref":
        ref = remote / "refs" / "heads" / "main"
        os.replace(ref, remote / "elsewhere")
        ref.symlink_to(remote / "elsewhere")
    else:
        url = f"file://{tmp_path}"
    assert stamp(url, "main", str(tmp_path)) is None
