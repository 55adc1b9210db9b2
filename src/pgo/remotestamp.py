"""When a local repository's branch cannot have moved: no `git ls-remote` needed.

An idle pass asks the remote for the branch's head (`git ls-remote`, as the service user).
For a repository on this machine (a `file://` URL or a path) the answer is in at most two
files of the remote's git directory, `refs/heads/BRANCH` and `packed-refs`, and git changes
them only by writing a lock file and renaming it into place (a new inode, a new ctime; nobody
can set a ctime). So pgod lstats them, as root, reading nothing (no content, nothing the
user could not read leaks: the head still comes only from git run as the user), and while
that stamp is what it was before the last successful git run, that run's answer stands.

Any doubt means git runs as before: not a local path; no git directory where git would look
first; a gitfile, a worktree's `commondir`, a `reftable`; a ref that is a symlink; a stamp
that cannot be taken. The stamp also covers the remote's `config` (hidden refs, say) and the
user's own git config files (an `insteadOf` that sends the URL elsewhere: git runs once
when it appears). What a stamp cannot see (a permission taken away above the repository, a
rewrite already in the user's config) is seen by the git run that comes at least every
RECHECK seconds regardless, and by any pass an operator or a webhook asks for.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass

from pgo.git import local_path

RECHECK = 600.0  # seconds: git runs at least this often, stamps or not

# One file's stamp: (inode, size, mtime_ns, ctime_ns), (0, 0, 0, 0) for ENOENT.
Stamp = tuple[tuple[int, int, int, int], ...]
_GONE = (0, 0, 0, 0)


@dataclass(frozen=True)
class Asked:
    """The stamp taken just before a git run that succeeded, and when that run began."""

    stamp: Stamp
    at: float


def unchanged(last: Asked | None, now: Stamp | None, at: float) -> bool:
    """Whether the head the last git run brought stands without a new one: a stamp taken
    now, equal to the one taken before that run, and that run less than RECHECK ago."""
    return last is not None and now is not None and now == last.stamp and \
        0 <= at - last.at < RECHECK


def git_dir(path: str) -> str | None:
    """The git directory git uses for the local repository `path`, if it is a plain one
    (git tries path/.git, path, path.git/.git, path.git in turn); None on any doubt."""
    path = path.rstrip("/") or "/"
    for candidate in (os.path.join(path, ".git"), path, f"{path}.git/.git", f"{path}.git"):
        try:
            mode = os.lstat(candidate).st_mode
        except OSError:
            continue
        if stat.S_ISREG(mode):
            return None  # a gitfile: a pointer to elsewhere
        if not stat.S_ISDIR(mode) or not _is_git_dir(candidate):
            continue
        if any(os.path.lexists(os.path.join(candidate, name))
               for name in ("commondir", "reftable")):
            return None
        return candidate
    return None


def _is_git_dir(path: str) -> bool:
    return all(os.path.lexists(os.path.join(path, name)) for name in ("HEAD", "objects", "refs"))


def stamp(url: str, branch: str, home: str) -> Stamp | None:
    """The stamp of what `git ls-remote URL refs/heads/BRANCH` reads, for a local URL; None
    if there is none (not local, or any doubt). lstat only; run as root."""
    path = local_path(url)
    found = git_dir(path) if path is not None else None
    if found is None or not branch or ".." in branch.split("/"):
        return None
    files = (os.path.join(found, "refs", "heads", *branch.split("/")),
             os.path.join(found, "packed-refs"), os.path.join(found, "config"),
             os.path.join(home, ".gitconfig"), os.path.join(home, ".config", "git", "config"))
    stamps = []
    for name in (found, *files):
        one = _of(name)
        if one is None:
            return None
        stamps.append(one)
    return tuple(stamps)


def _of(path: str) -> tuple[int, int, int, int] | None:
    """One path's stamp (_GONE if there is none); None if it is neither a regular file nor
    a directory (a symlink, say), or cannot be stamped."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return _GONE
    except OSError:
        return None
    if not (stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode)):
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
