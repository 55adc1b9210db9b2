"""Signed commits: what `git verify-commit` says of one, against an allowed-signers file
(SSH signatures, `gpg.format=ssh`). Pure: its exit status and output in, a verdict out;
the git call is `Checkout.verify_commit`."""

from __future__ import annotations

import re
from dataclasses import dataclass

_GOOD = re.compile(r'^Good "git" signature for (?P<who>.+?) with (?P<kind>\S+) key '
                   r"(?P<key>SHA256:\S+)\s*$", re.M)
_UNKNOWN = re.compile(r'^Good "git" signature with (?P<kind>\S+) key (?P<key>SHA256:\S+)',
                      re.M)


@dataclass(frozen=True)
class Signature:
    ok: bool
    signed_by: str  # the principal and key, a key no signer has, or "none"

    def refusal(self, commit: str) -> str:
        """Why `commit` may not be deployed, for status and the log."""
        return f"commit {commit[:12]} is not signed by an allowed signer; signed by: " \
               f"{self.signed_by}"


def judge(returncode: int, output: str) -> Signature:
    """The verdict of `git verify-commit`'s exit status and (stderr) output."""
    good = _GOOD.search(output)
    if returncode == 0 and good is not None:
        return Signature(True, f"{good['who']} ({good['key']})")
    unknown = _UNKNOWN.search(output)
    if unknown is not None:
        return Signature(False, f"{unknown['key']}, a key not in the allowed signers")
    if not output.strip():
        return Signature(False, "none")
    last = output.strip().splitlines()[0][:200]
    return Signature(False, f"unknown (git: {last})")
