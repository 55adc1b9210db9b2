"""The operators' public keys of a service: `ssh/*.pub` (every right) and
`ssh/readonly/*.pub` (commands that change nothing), as committed, read from git.

Never from the working tree (containers may write into it). Symlinks, files larger than
MAX_KEY_FILE (judged by git's blob size, before reading) and files that are not a single
OpenSSH public key are skipped with a warning.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import asyncssh

from pgo.git import Checkout, TreeEntry

KEY_DIR = "ssh"
READONLY_DIR = "ssh/readonly"
MAX_KEY_FILE = 16 * 1024
MAX_KEYS = 256  # key files read per commit (each is a git call, every time keys change)


@dataclass(frozen=True)
class OperatorKey:
    """One allowed key: where it came from, and its OpenSSH public form (no comment)."""

    source: str
    public: str
    fingerprint: str
    readonly: bool = False  # from ssh/readonly/: ping, status, history, ps, logs, diff


async def read_keys(checkout: Checkout, commit: str,
                    log: logging.LoggerAdapter) -> tuple[OperatorKey, ...]:  # type: ignore[type-arg]
    """Every usable `ssh/*.pub` and `ssh/readonly/*.pub` key at `commit` (a key in both
    has every right). A file that is no key (a symlink, larger than MAX_KEY_FILE, not one
    OpenSSH public key) is skipped with a warning; PgoError only when git fails (the
    commit is gone, say)."""
    found: list[OperatorKey] = []
    entries = [e for directory in (KEY_DIR, READONLY_DIR)
               for e in await checkout.ls_tree(commit, directory + "/", sizes=True)
               if e.name.endswith(".pub")]
    if len(entries) > MAX_KEYS:
        log.warning("%d key files in %s/ at %s: reading the first %d by name, ignoring %s "
                    "and after", len(entries), KEY_DIR, commit[:12], MAX_KEYS,
                    entries[MAX_KEYS].name)
    for entry in entries[:MAX_KEYS]:
        if problem := _not_a_key_file(entry):
            log.warning("ignoring %s at %s: %s", entry.name, commit[:12], problem)
            continue
        key = parse_key(await checkout.cat_blob(entry.oid))
        if key is None:
            log.warning("ignoring %s at %s: not an OpenSSH public key", entry.name, commit[:12])
            continue
        found.append(OperatorKey(entry.name, *key,
                                 readonly=entry.name.startswith(READONLY_DIR + "/")))
    full = {k.fingerprint for k in found if not k.readonly}
    return tuple(k for k in found if not (k.readonly and k.fingerprint in full))


def _not_a_key_file(entry: TreeEntry) -> str | None:
    """Why a tree entry cannot hold a key, judged before reading it; None if it may."""
    if entry.kind != "blob" or entry.mode == "120000":
        return "not a regular file"
    if entry.size is None:
        return "git gave no size for it"
    if entry.size > MAX_KEY_FILE:
        return f"{entry.size} bytes, more than a key file may have ({MAX_KEY_FILE})"
    return None


def parse_key(text: str) -> tuple[str, str] | None:
    """(public key without comment, SHA256 fingerprint) of a one-key .pub file, or None."""
    lines = [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
    if len(text) > MAX_KEY_FILE or len(lines) != 1:
        return None
    try:
        key = asyncssh.import_public_key(lines[0])
    except (asyncssh.KeyImportError, ValueError):
        return None
    algorithm, blob = key.export_public_key("openssh").decode("ascii").split()[:2]
    return f"{algorithm} {blob}", key.get_fingerprint()
