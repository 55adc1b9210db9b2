"""pgod's directory, DIR: its checks (pgod's own, writable by nobody else), DIR/.pgod,
the SSH host key in it, and files written for the service users to read."""

from __future__ import annotations

import hashlib
import os

import asyncssh

from pgo.errors import PgoError
from pgo.sshserver import load_host_key

HOST_KEY = "ssh_host_ed25519_key"


def open_host_key(directory: str) -> asyncssh.SSHKey:
    """pgod's host key, DIR/.pgod/ssh_host_ed25519_key, generated if missing (DIR and
    DIR/.pgod made, and DIR checked, as at pgod's start)."""
    return load_host_key(os.path.join(prepare_state_dir(directory), HOST_KEY))


def prepare_state_dir(directory: str) -> str:
    """DIR/.pgod, made if missing (DIR too), after checking DIR is pgod's own."""
    os.makedirs(directory, mode=0o711, exist_ok=True)
    check_private(directory)
    state_dir = os.path.join(directory, ".pgod")
    os.makedirs(state_dir, mode=0o700, exist_ok=True)
    return state_dir


def check_private(directory: str) -> int:
    """The mode of `directory`, which pgod must own and nobody else may write: pgod (root)
    chowns and writes what it finds there, so a planted symlink must be impossible."""
    st = os.stat(directory)
    if st.st_uid != os.getuid() or st.st_mode & 0o022:
        raise PgoError(f"{directory} belongs to uid {st.st_uid} with mode "
                       f"{st.st_mode & 0o7777:04o}: --dir must belong to the user running "
                       "pgod and be writable by nobody else (chmod go-w)")
    return st.st_mode


def write_public(path: str, text: str) -> None:
    """Write a root-owned file every user may read, atomically."""
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def digest(path: str) -> bytes | None:
    try:
        with open(path, "rb") as handle:
            return hashlib.sha256(handle.read()).digest()
    except OSError:
        return None
