"""Files only root may read (a webhook secret, say): read by pgod, never by a service user.

A file others may read, or that belongs to someone else, is refused: its secret would not
be one. Symlinks are not followed (a service user could point one elsewhere).
"""

from __future__ import annotations

import os
import stat

MAX_SIZE = 64 * 1024


class Unsafe(Exception):
    """Why a private file cannot be used; the message names the file, never its content."""


def read_private(path: str) -> str:
    """The text of `path`, which must be a regular file of pgod's own user (or root),
    readable by nobody else, UTF-8, at most MAX_SIZE bytes."""
    if not path.startswith("/"):
        raise Unsafe(f"{path!r} is not an absolute path")
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as err:
        raise Unsafe(f"cannot read {path}: {err.strerror}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise Unsafe(f"{path} is not a regular file")
        if st.st_uid not in (0, os.getuid()):
            raise Unsafe(f"{path} belongs to uid {st.st_uid}, not to root")
        if st.st_mode & 0o077:
            raise Unsafe(f"{path} has mode {st.st_mode & 0o7777:04o}: others may read or "
                         "change it (chmod 600)")
        if st.st_size > MAX_SIZE:
            raise Unsafe(f"{path} is larger than {MAX_SIZE} bytes")
        data = os.read(fd, MAX_SIZE + 1)
    finally:
        os.close(fd)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise Unsafe(f"{path} is not UTF-8 text") from None
