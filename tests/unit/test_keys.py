"""Operators' keys from ssh/*.pub at a commit (a real git repository in tmp_path)."""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
from pathlib import Path

import asyncssh
import pytest

from pgo import keys as keys_module
from pgo.errors import PgoError
from pgo.git import Checkout
from pgo.keys import MAX_KEY_FILE, OperatorKey, read_keys
from pgo.proc import DATA_LIMIT, Account


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c",
                           "user.email=t@example.org", *args], check=True, capture_output=True,
                          text=True).stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    path = tmp_path / "repo"
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    return path


def public_key() -> str:
    return asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode()


def keys_committed(repo: Path, commit: str | None = None) -> tuple[str, tuple[OperatorKey, ...]]:
    """Commit what is in `repo` (unless `commit` is given), and read_keys at that commit."""
    if commit is None:
        git(repo, "add", ".")
        git(repo, "commit", "-q", "-m", "keys")
        commit = git(repo, "rev-parse", "HEAD")
    checkout = Checkout(str(repo), "file:///nowhere", "main", Account.current())
    return commit, asyncio.run(read_keys(checkout, commit, logging.LoggerAdapter(
        logging.getLogger("test"), {})))


def test_oversized_and_odd_key_files_are_skipped_the_others_read(
        repo: Path, caplog: pytest.LogCaptureFixture) -> None:
    keys = repo / "ssh"
    keys.mkdir()
    (keys / "alice.pub").write_text(public_key())
    (keys / "huge.pub").write_bytes(b"x" * (DATA_LIMIT + 1))  # more than git output may be
    big = public_key() + "#" * MAX_KEY_FILE
    (keys / "big.pub").write_text(big)
    (keys / "junk.pub").write_text("not a key\n")
    (keys / "link.pub").symlink_to("alice.pub")
    (keys / "sub.pub").mkdir()
    (keys / "sub.pub" / "x").write_text("x")
    (keys / "README").write_text("not a .pub")
    commit, found = keys_committed(repo)
    assert [key.source for key in found] == ["ssh/alice.pub"]
    for name, why in (("huge", f"{DATA_LIMIT + 1} bytes, more than a key file may have"),
                      ("big", f"{len(big)} bytes, more than a key file may have "
                              f"({MAX_KEY_FILE})"),
                      ("junk", "not an OpenSSH public key"), ("link", "not a regular file"),
                      ("sub", "not a regular file")):
        assert f"ignoring ssh/{name}.pub at {commit[:12]}: {why}" in caplog.text


def test_a_git_failure_is_an_error(repo: Path) -> None:
    with pytest.raises(PgoError):
        keys_committed(repo, "0" * 40)


def test_ls_tree_sizes(repo: Path) -> None:
    (repo / "a").write_bytes(b"12345")
    (repo / "d").mkdir()
    (repo / "d" / "b").write_text("")
    os.symlink("a", repo / "l")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "x")
    checkout = Checkout(str(repo), "file:///nowhere", "main", Account.current())
    entries = asyncio.run(checkout.ls_tree("HEAD", sizes=True))
    assert {(e.name, e.kind, e.size) for e in entries} == {
        ("a", "blob", 5), ("d", "tree", None), ("l", "blob", 1)}
    assert all(e.size is None for e in asyncio.run(checkout.ls_tree("HEAD")))


def test_key_files_past_the_cap_are_ignored_with_a_warning(
        repo: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(keys_module, "MAX_KEYS", 2)
    (repo / "ssh").mkdir()
    for name in ("a", "b", "c"):
        (repo / "ssh" / f"{name}.pub").write_text(public_key())
    commit, found = keys_committed(repo)
    assert [key.source for key in found] == ["ssh/a.pub", "ssh/b.pub"]
    assert f"3 key files in ssh/ at {commit[:12]}: " in caplog.text
    assert "ignoring ssh/c.pub and after" in caplog.text


def test_readonly_keys_come_from_ssh_readonly_and_a_full_key_wins(repo: Path) -> None:
    both, viewer = public_key(), public_key()
    (repo / "ssh" / "readonly").mkdir(parents=True)
    (repo / "ssh" / "ops.pub").write_text(both)
    (repo / "ssh" / "readonly" / "ops-too.pub").write_text(both)
    (repo / "ssh" / "readonly" / "viewer.pub").write_text(viewer)
    (repo / "ssh" / "readonly" / "notes.txt").write_text("not a key file")
    _, found = keys_committed(repo)
    assert sorted((k.source, k.readonly) for k in found) == [
        ("ssh/ops.pub", False), ("ssh/readonly/viewer.pub", True)]
