"""The checkout directory DIR/NAME itself: its owner, group and mode (never through a
symlink). The service user's files inside are git's business."""

from __future__ import annotations

import os

from pgo.errors import PgoError
from pgo.proc import Account


def prepare(path: str, account: Account) -> None:
    """An empty directory owned by the service user: private to it (0700), or, with a
    configured group, readable by that group and set-gid (2750) so git's files get the group."""
    os.makedirs(path, mode=0o700, exist_ok=True)
    if os.listdir(path):
        raise PgoError(f"{path} exists, is not empty and holds no git checkout; remove it")
    share(path, account)


def share(path: str, account: Account) -> None:
    """Owner, group and mode of the checkout directory itself (never through a symlink)."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        os.fchown(fd, account.uid,
                  account.gid if account.share_gid is None else account.share_gid)
        os.fchmod(fd, 0o700 if account.share_gid is None else 0o2750)
    finally:
        os.close(fd)
