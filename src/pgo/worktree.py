"""The checkout as podman-compose will read it, checked just before it does.

The policy checks the project in git objects. Two things can make the working tree differ
from them: git attributes (`eol`, `ident`, `filter`, `working-tree-encoding` in a committed
`.gitattributes`) rewrite files on checkout, and files a container wrote into a writable bind
mount survive `git reset --hard` (they are untracked), so a symlink planted there by one
commit's container could carry a later commit's host path anywhere on the host. Checked here,
without following any symlink: the files pgod read have the bytes it checked, and no host path
goes through a symlink.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
from collections.abc import Iterable, Mapping

MAX_READ = 16 * 1024 * 1024  # more than pgod checks (1 MiB): a longer file differs anyway
_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def blob_id(data: bytes, hex_length: int = 40) -> str:
    """git's object id of a blob with these bytes (SHA-1, or SHA-256 for 64 hex digits)."""
    digest = hashlib.sha256() if hex_length == 64 else hashlib.sha1(usedforsecurity=False)
    digest.update(b"blob %d\0" % len(data))
    digest.update(data)
    return digest.hexdigest()


def check_worktree(root: str, blobs: Mapping[str, str], paths: Iterable[str]) -> list[str]:
    """What is wrong with the working tree at `root`: a file of `blobs` (repository path ->
    object id, "" for a file the commit does not have) whose bytes differ or that should not
    be there, or a path of `paths` (repository-relative, as written in the compose file) that
    goes through a symlink."""
    problems = []
    for path, oid in blobs.items():
        if not oid:
            if _present(root, path):
                problems.append(f"{path} is in the working tree but not in the commit (left by "
                                "a container?); podman-compose would read it; remove it")
            continue
        try:
            data = _read(root, path)
        except (OSError, ValueError):
            data = None
        if data is None:
            problems.append(f"{path} is not a regular file in the working tree")
        elif blob_id(data, len(oid)) != oid:
            problems.append(f"{path} in the working tree differs from the commit (a "
                            ".gitattributes rule such as eol, ident, filter or "
                            "working-tree-encoding?); pgod runs only the bytes it checked")
    for path in dict.fromkeys(paths):
        try:
            link = symlink_on_the_way(root, path)
        except (OSError, ValueError) as err:  # changed while we looked; a NUL in the path
            problems.append(f"{path!r}: {getattr(err, 'strerror', None) or err}")
            continue
        if link is not None:
            problems.append(f"{path!r} goes through {link!r}, a symlink that is not in the "
                            "commit (left by a container in a writable mount?), which "
                            "podman would follow on the host; remove it")
    return problems


def symlink_on_the_way(root: str, path: str) -> str | None:
    """The first component of `path` under `root` that is a symlink, walked as written and
    as podman-compose and podman resolve it: `a/..` looks at `a` (realpath follows it), and
    after a part that is missing or not a directory, `..` climbs back lexically (abspath,
    realpath and Go's filepath.Abs all do) and the walk goes on from there."""
    stack: list[int | None] = [os.open(root, _DIR)]  # None: a part with nothing under it
    walked: list[str] = []
    try:
        for part in path.split("/"):
            if part in ("", "."):
                continue
            if part == "..":
                if len(stack) > 1:
                    _close(stack.pop())
                    walked.pop()
                continue  # climbing out of the checkout is the policy's refusal, not ours
            walked.append(part)
            stack.append(_step(stack[-1], part))
    except _Symlink:
        return "/".join(walked)
    finally:
        for fd in stack:
            _close(fd)
    return None


class _Symlink(Exception):
    pass


def _step(parent: int | None, part: str) -> int | None:
    """The directory `part` in `parent` (an fd), None if it is missing or not a directory;
    _Symlink if it is a symlink."""
    if parent is None:
        return None
    try:
        info = os.stat(part, dir_fd=parent, follow_symlinks=False)
    except FileNotFoundError:
        return None
    if stat.S_ISLNK(info.st_mode):
        raise _Symlink
    return os.open(part, _DIR, dir_fd=parent) if stat.S_ISDIR(info.st_mode) else None


def _close(fd: int | None) -> None:
    if fd is not None:
        os.close(fd)


def _present(root: str, path: str) -> bool:
    """Whether anything (a symlink too) is at `path` under `root`, or a symlink on the way."""
    parent, _, name = path.rpartition("/")
    try:
        if parent and symlink_on_the_way(root, parent) is not None:
            return True
        fd = os.open(os.path.join(root, parent), _DIR)
    except (FileNotFoundError, NotADirectoryError):
        return False
    try:
        os.stat(name, dir_fd=fd, follow_symlinks=False)
    except FileNotFoundError:
        return False
    finally:
        os.close(fd)
    return True


def _read(root: str, path: str) -> bytes | None:
    """The bytes of regular file `path` under `root`, no symlink followed; else None."""
    *dirs, name = path.split("/")
    fd = os.open(root, _DIR)
    try:
        for part in dirs:
            fd, parent = os.open(part, _DIR, dir_fd=fd), fd
            os.close(parent)
        file = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK,
                       dir_fd=fd)
    except OSError as err:
        if err.errno in (errno.ENOENT, errno.ELOOP, errno.ENOTDIR):
            return None
        raise
    finally:
        os.close(fd)
    with os.fdopen(file, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            return None
        return handle.read(MAX_READ)
