"""Tree listings, cat-file answers and subjects read without git (gittree), and a Checkout
whose session reads through one `git cat-file --batch`, checked against git's own answers
in a real repository."""

from __future__ import annotations

import asyncio
import os
import subprocess
from pathlib import Path

import pytest

from pgo import gittree
from pgo.errors import PgoError
from pgo.git import Checkout
from pgo.gittree import Header, TreeEntry
from pgo.proc import DATA_LIMIT, Account

A, B = "a" * 40, "b" * 40
LISTING = (TreeEntry("100644", "blob", "compose.yaml", A, 10),
           TreeEntry("040000", "tree", "ssh", B),
           TreeEntry("100644", "blob", "ssh/alice.pub", A, 5),
           TreeEntry("040000", "tree", "ssh/readonly", B),
           TreeEntry("100644", "blob", "ssh/readonly/bob.pub", B, 6),
           TreeEntry("120000", "blob", "www", A, 3),
           TreeEntry("160000", "commit", "vendor", B))


def test_entries_at_answers_as_ls_tree_does() -> None:
    assert [e.name for e in gittree.entries_at(LISTING)] == \
        ["compose.yaml", "ssh", "www", "vendor"]
    assert [e.name for e in gittree.entries_at(LISTING, "ssh/")] == \
        ["ssh/alice.pub", "ssh/readonly"]
    assert [e.kind for e in gittree.entries_at(LISTING, "ssh")] == ["tree"]
    assert [e.name for e in gittree.entries_at(LISTING, "./ssh/readonly/")] == \
        ["ssh/readonly/bob.pub"]
    assert gittree.entries_at(LISTING, ".env") == []
    assert gittree.entries_at(LISTING, "compose.yaml/") == []  # a file has no entries
    assert gittree.entries_at(LISTING, "ss") == []  # no prefix matches


def test_blobs_and_symlinks() -> None:
    assert [e.name for e in gittree.blobs(LISTING)] == \
        ["compose.yaml", "ssh/alice.pub", "ssh/readonly/bob.pub"]
    assert gittree.symlinks(LISTING) == {"www"}


def test_changed_names_files_links_and_submodules_not_trees() -> None:
    new = (TreeEntry("100755", "blob", "compose.yaml", A, 10),   # mode
           TreeEntry("040000", "tree", "ssh", A),                # a tree: never a path
           TreeEntry("100644", "blob", "ssh/alice.pub", A, 5),   # the same
           TreeEntry("120000", "blob", "www", B, 3),             # another target
           TreeEntry("100644", "blob", "new.txt", A, 1))         # added
    assert gittree.changed(LISTING, new) == {"compose.yaml", "ssh/readonly/bob.pub",
                                             "www", "vendor", "new.txt"}
    assert gittree.changed(LISTING, LISTING) == frozenset()


def test_headers_and_answers() -> None:
    assert gittree.parse_header(f"{A} blob 12".encode()) == Header(A, "blob", 12)
    assert gittree.parse_header(b"HEAD~9^{commit} missing") == \
        Header("HEAD~9^{commit}", "missing")
    assert not gittree.parse_header(b"abc ambiguous").found
    with pytest.raises(ValueError, match="not a cat-file header"):
        gittree.parse_header(b"fatal: something")
    assert gittree.parse_answer(f"{A} blob 3\nxyz\n".encode()) == (Header(A, "blob", 3), b"xyz")
    with pytest.raises(ValueError, match="of 30 bytes"):
        gittree.parse_answer(f"{A} blob 30\nxyz\n".encode())


def test_fetched_head() -> None:
    assert gittree.fetched_head(f"{A}\t\tbranch 'main' of file:///r\n".encode()) == A
    assert gittree.fetched_head(f"{A}\tnot-for-merge\tbranch 'x'\n".encode()) is None
    assert gittree.fetched_head(b"") is None
    assert gittree.fetched_head(b"ref: refs/heads/main\n") is None


def test_subject_is_the_first_paragraph() -> None:
    head = b"tree " + A.encode() + b"\nauthor x <x@y> 1 +0000\ngpgsig -----BEGIN-----\n \n" \
        b" sig\n -----END-----\n\n"
    assert gittree.subject(head + b"Fix it  \nand more\n\nbody\n") == "Fix it and more"
    assert gittree.subject(head + b"\n\nlate\n") == "late"
    assert gittree.subject(head + b"x" * 300) == "x" * gittree.SUBJECT_LIMIT
    assert gittree.subject(b"tree " + A.encode() + b"\n") == ""


# --- a Checkout on a real repository, next to git's own answers ---

def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c",
                           "user.email=t@example.org", *args], check=True, capture_output=True,
                          text=True).stdout


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    path = tmp_path / "repo"
    (path / "ssh").mkdir(parents=True)
    git(path, "init", "-q", "-b", "main")
    (path / "compose.yaml").write_text("services: {}\n")
    (path / "ssh" / "a.pub").write_text("key a\n")
    (path / "gone.txt").write_text("x\n")
    git(path, "add", ".")
    git(path, "commit", "-q", "-m", "first one\nsecond line\n\nbody")
    (path / "compose.yaml").write_text("services: {x: {}}\n")
    (path / "gone.txt").unlink()
    (path / "ssh" / "b").mkdir()
    (path / "ssh" / "b" / "c.pub").write_text("key c\n")
    os.symlink("compose.yaml", path / "link")
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "  second: ü ")
    return path


def test_a_session_reads_everything_through_one_cat_file(repo: Path) -> None:
    checkout = Checkout(str(repo), "file:///nowhere", "main", Account.current())
    old, new = git(repo, "rev-parse", "HEAD~1").strip(), git(repo, "rev-parse", "HEAD").strip()

    async def session() -> tuple[int, list[object]]:
        async with checkout.batch():
            reader = checkout._batch[-1]
            seen = [await checkout.head(), await checkout.rev_parse("HEAD~1"),
                    await checkout.subject(old), await checkout.subject(new),
                    await checkout.read(new, "compose.yaml"), await checkout.read(new, "link"),
                    await checkout.read(new, "ssh"), await checkout.read(new, ".env"),
                    await checkout.changed_paths(old, new),
                    sorted(e.name for e in await checkout.ls_tree(new, "ssh/")),
                    await checkout.symlinks(new), await checkout.subject("nosuch")]
            with pytest.raises(PgoError):
                await checkout.rev_parse("nosuch")
            with pytest.raises(PgoError):  # a tree is no blob
                await checkout.cat_blob(git(repo, "rev-parse", "HEAD:ssh").strip())
            return reader.started, seen

    started, seen = asyncio.run(session())
    assert started == 1
    assert seen == [new, old,
                    git(repo, "log", "-1", "--format=%s", old).strip(),
                    git(repo, "log", "-1", "--format=%s", new).strip(),
                    "services: {x: {}}\n", None, None, None,
                    frozenset(git(repo, "diff", "--name-only", old, new).split()),
                    ["ssh/a.pub", "ssh/b"], {"link"}, ""]
    assert seen[2] == "first one second line"


def test_reads_outside_a_session_and_too_large_a_blob(repo: Path) -> None:
    checkout = Checkout(str(repo), "file:///nowhere", "main", Account.current())
    (repo / "big").write_bytes(b"x" * (DATA_LIMIT + 1))
    git(repo, "add", "big")
    git(repo, "commit", "-q", "-m", "big")
    big = git(repo, "rev-parse", "HEAD:big").strip()
    assert asyncio.run(checkout.subject("HEAD")) == "big"
    assert asyncio.run(checkout.read("HEAD", "compose.yaml")) == "services: {x: {}}\n"
    with pytest.raises(PgoError):
        asyncio.run(checkout.blob_bytes(big))

    async def session() -> tuple[str, int]:
        async with checkout.batch():
            with pytest.raises(PgoError, match="more than"):
                await checkout.blob_bytes(big)
            text = await checkout.cat_blob(git(repo, "rev-parse", "HEAD:ssh/a.pub").strip())
            return text, checkout._batch[-1].started

    assert asyncio.run(session()) == ("key a\n", 2)  # the cut answer ended the first one


def test_a_fetch_lists_the_new_commit_while_it_reads_the_ref(repo: Path, tmp_path: Path) -> None:
    clone = tmp_path / "clone"
    clone.mkdir()
    checkout = Checkout(str(clone), f"file://{repo}", "main", Account.current())
    asyncio.run(checkout.clone())
    (repo / "new.txt").write_text("new\n")
    git(repo, "add", "new.txt")
    git(repo, "commit", "-q", "-m", "new")
    new = git(repo, "rev-parse", "HEAD").strip()

    async def fetch() -> str:
        async with checkout.batch():
            return await checkout.fetch()

    assert asyncio.run(fetch()) == new
    assert checkout.fetched_hint() == new
    assert "new.txt" in {e.name for e in checkout._trees[new]}  # listed by the fetch
