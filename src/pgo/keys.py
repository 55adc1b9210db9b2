"""The operators' public keys of a service: `ssh/*.pub` as committed, read from git.

Never from the working tree (containers may write into it). Symlinks and files that are
not a single OpenSSH public key are skipped with a warning.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import asyncssh

from pgo.git import Checkout

KEY_DIR = "ssh"
MAX_KEY_FILE = 16 * 1024


@dataclass(frozen=True)
class OperatorKey:
    """One allowed key: where it came from, and its OpenSSH public form (no comment)."""

    source: str
    public: str
    fingerprint: str


async def read_keys(checkout: Checkout, commit: str,
                    log: logging.LoggerAdapter) -> tuple[OperatorKey, ...]:  # type: ignore[type-arg]
    """Every usable `ssh/*.pub` key at `commit`."""
    found = []
    for entry in await checkout.ls_tree(commit, KEY_DIR + "/"):
        if not entry.name.endswith(".pub"):
            continue
        if entry.kind != "blob" or entry.mode == "120000":
            log.warning("ignoring %s at %s: not a regular file", entry.name, commit[:12])
            continue
        text = await checkout.read(commit, entry.name)
        key = parse_key(text or "")
        if key is None:
            log.warning("ignoring %s at %s: not an OpenSSH public key", entry.name, commit[:12])
            continue
        found.append(OperatorKey(entry.name, *key))
    return tuple(found)


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
