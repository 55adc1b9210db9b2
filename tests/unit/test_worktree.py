"""The working-tree check: git's blob ids, and symlinks found without following them."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pgo.worktree import blob_id, check_worktree, symlink_on_the_way


@given(st.binary(max_size=300))
def test_blob_id_is_gits(data: bytes) -> None:
    out = subprocess.run(["git", "hash-object", "--no-filters", "--stdin"], input=data,
                         capture_output=True, check=True).stdout.decode().strip()
    assert blob_id(data) == out


def test_blob_id_sha256_length() -> None:
    assert len(blob_id(b"x", 64)) == 64 and blob_id(b"x", 64) != blob_id(b"x")


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "file").write_text("x")
    (tmp_path / "a" / "up").symlink_to("..")
    (tmp_path / "link").symlink_to("/")
    return tmp_path


@pytest.mark.parametrize(("path", "found"), [
    ("a/b/c", None),              # stops existing under a/b
    ("./a//b", None),
    ("a/file/x", None),           # a file on the way: podman fails, nothing is followed
    ("link", "link"),
    ("link/etc", "link"),
    ("a/up/a", "a/up"),
    ("a/b/../../link/x", "link"),
    ("a/up/..", "a/up"),          # `..` after a symlink still went through it
    # after a missing part or a file, `..` climbs back lexically, as abspath and realpath do
    ("nope/../link/x", "link"),
    ("a/file/../../link", "link"),
    ("a/nope/more/../../up", "a/up"),
    ("nope/../a/b", None),
    ("../x", None),               # out of the tree: the policy's refusal
])
def test_symlink_on_the_way(tree: Path, path: str, found: str | None) -> None:
    assert symlink_on_the_way(str(tree), path) == found


def test_a_nul_in_a_path_is_a_problem_not_a_crash(tree: Path) -> None:
    assert check_worktree(str(tree), {"a\0b": blob_id(b"")}, ["a/\0x"]) == [
        "a\0b is not a regular file in the working tree", "'a/\\x00x': embedded null byte"]


def test_check_worktree_reads_no_symlink(tree: Path) -> None:
    (tree / "real").write_bytes(b"services: {}\n")
    (tree / "a" / "via").symlink_to(tree / "real")
    oid = blob_id(b"services: {}\n")
    assert check_worktree(str(tree), {"real": oid}, []) == []
    assert check_worktree(str(tree), {"a/via": oid, "link/etc/x": oid, "a/b": oid}, []) == [
        f"{p} is not a regular file in the working tree" for p in ("a/via", "link/etc/x", "a/b")]


def test_a_file_absent_from_the_commit_must_be_absent_from_the_tree(tree: Path) -> None:
    absent = {"a/.env": "", "nope/.env": "", "a/file/.env": ""}
    assert check_worktree(str(tree), absent, []) == []
    (tree / "a" / ".env").write_text("PORT=1\n")
    (tree / "b").symlink_to(tree / "a")
    assert check_worktree(str(tree), {**absent, "link/.env": "", "b/.env": ""}, []) == [
        f"{p} is in the working tree but not in the commit (left by a container?); "
        "podman-compose would read it; remove it" for p in ("a/.env", "link/.env", "b/.env")]
