"""What git's plain outputs say, read without git: a commit's whole tree listing (`git
ls-tree -r -t -l -z --full-tree`), `git cat-file --batch` headers, a commit object's subject.

A pass reads one listing per commit and asks it every tree question (the entries at the top,
of a directory, of one path; the symlinks; what changed between two commits) instead of
running git for each.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

SUBJECT_LIMIT = 200
_OID = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")


@dataclass(frozen=True, slots=True)
class TreeEntry:
    mode: str
    kind: str
    name: str
    oid: str = ""
    size: int | None = None  # of a blob, when listed with sizes


@dataclass(frozen=True)
class Header:
    """A `git cat-file --batch` answer's first line: the object, or `missing` (its name)."""

    name: str
    kind: str  # blob, tree, commit, tag; "missing" or "ambiguous"
    size: int = 0

    @property
    def found(self) -> bool:
        return self.kind not in ("missing", "ambiguous")


def is_oid(name: object) -> bool:
    """Whether `name` is a whole object id, 40 (SHA-1) or 64 (SHA-256) lower-case hex
    digits: its objects never change."""
    return isinstance(name, str) and _OID.fullmatch(name) is not None


def parse_listing(text: str) -> tuple[TreeEntry, ...]:
    """The entries of `ls-tree -z` output (with or without -l, -r, -t)."""
    entries = []
    for record in text.split("\0"):
        if not record:
            continue
        meta, _, name = record.partition("\t")
        mode, kind, oid, *size = meta.split()
        entries.append(TreeEntry(mode, kind, name, oid,
                                 int(size[0]) if size and size[0].isdigit() else None))
    return tuple(entries)


def entries_at(listing: Sequence[TreeEntry], path: str = "") -> list[TreeEntry]:
    """What `git ls-tree COMMIT [-- PATH]` lists, from the commit's recursive listing with
    trees (-r -t): the top's entries (""), a directory's ("dir/"), or the one at `path`."""
    directory = path.endswith("/")
    path = posixpath.normpath(path) if path else "."
    if path == ".":
        return [e for e in listing if "/" not in e.name]
    if directory:
        return [e for e in listing if e.name.rpartition("/")[0] == path]
    return [e for e in listing if e.name == path]


def blobs(listing: Iterable[TreeEntry]) -> list[TreeEntry]:
    """The regular files (not symlinks, trees or submodules)."""
    return [e for e in listing if e.kind == "blob" and e.mode != "120000"]


def symlinks(listing: Iterable[TreeEntry]) -> frozenset[str]:
    return frozenset(e.name for e in listing if e.mode == "120000")


def changed(old: Iterable[TreeEntry], new: Iterable[TreeEntry]) -> frozenset[str]:
    """The paths `git diff --name-only --no-renames OLD NEW` names: every file, symlink or
    submodule added, removed, or with another object or mode (trees are not paths)."""
    before = {e.name: (e.mode, e.oid) for e in old if e.kind != "tree"}
    after = {e.name: (e.mode, e.oid) for e in new if e.kind != "tree"}
    return frozenset(p for p in before.keys() | after.keys() if before.get(p) != after.get(p))


def fetched_head(data: bytes) -> str | None:
    """The commit of `.git/FETCH_HEAD`'s first line (what `git fetch` of one branch just
    brought: `<oid>TAB[not-for-merge]TAB<what>`), or None if it says no such thing."""
    oid, tab, rest = data.split(b"\n", 1)[0].decode("ascii", "replace").partition("\t")
    return oid if tab and is_oid(oid) and not rest.startswith("not-for-merge") else None


def parse_header(line: bytes) -> Header:
    """`<oid> <type> <size>` or `<name> missing` (or `ambiguous`), without its newline."""
    text = line.decode("utf-8", "replace")
    name, _, rest = text.rpartition(" ")
    if rest in ("missing", "ambiguous"):
        return Header(name, rest)
    oid, _, kind = name.partition(" ")
    if not rest.isdigit() or not kind:
        raise ValueError(f"not a cat-file header: {text[:100]!r}")
    return Header(oid, kind, int(rest))


def subject(commit: bytes) -> str:
    """What `git log -1 --format=%s` prints for a raw commit object: the message's first
    paragraph, its lines joined by spaces (at most SUBJECT_LIMIT characters)."""
    text = commit.decode("utf-8", "replace")
    _, found, message = text.partition("\n\n")
    if not found:
        return ""
    lines = []
    for line in message.lstrip("\n").split("\n"):
        if not line.strip():
            break
        lines.append(line.rstrip())
    return " ".join(lines).strip()[:SUBJECT_LIMIT]


def parse_answer(data: bytes) -> tuple[Header, bytes]:
    """One whole `git cat-file --batch` answer: its header and the object's bytes."""
    line, _, rest = data.partition(b"\n")
    header = parse_header(line)
    if header.found and len(rest) < header.size:
        raise ValueError(f"cat-file gave {len(rest)} of {header.size} bytes")
    return header, rest[:header.size] if header.found else b""
