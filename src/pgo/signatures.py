"""Signed commits: what `git verify-commit` says of one, against an allowed-signers file
(SSH signatures, `gpg.format=ssh`) or a GPG keyring (OpenPGP signatures, `--raw` status
lines). Pure: its exit status and output in, a verdict out; the git calls are
`Checkout.verify_commit` and `Checkout.verify_commit_gpg`."""

from __future__ import annotations

import re
from dataclasses import dataclass

_GOOD = re.compile(r'^Good "git" signature for (?P<who>.+?) with (?P<kind>\S+) key '
                   r"(?P<key>SHA256:\S+)\s*$", re.M)
_UNKNOWN = re.compile(r'^Good "git" signature with (?P<kind>\S+) key (?P<key>SHA256:\S+)',
                      re.M)


_GPG = re.compile(r"^\[GNUPG:\] (?P<what>[A-Z_]+)(?: (?P<rest>.*))?$", re.M)
# What gpg reports for a signature that is there but not good, and how status says it.
_GPG_BAD = {"BADSIG": "a bad signature by {}", "EXPKEYSIG": "{}, whose key expired",
            "REVKEYSIG": "{}, whose key is revoked", "EXPSIG": "{}, an expired signature",
            "ERRSIG": "key {}, not in the GPG keyring"}


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


def judge_gpg(returncode: int, output: str) -> Signature:
    """The verdict of `git verify-commit --raw` with OpenPGP: good only with exit 0, a
    GOODSIG and a VALIDSIG (the signing key's fingerprint) and nothing bad beside them."""
    status: dict[str, str] = {}
    for line in _GPG.finditer(output):
        status.setdefault(line["what"], (line["rest"] or "").strip())
    for what, text in _GPG_BAD.items():
        if what in status:
            keyid, _, uid = status[what].partition(" ")
            name = keyid if what == "ERRSIG" or not uid else f"{uid} ({keyid})"
            return Signature(False, text.format(name[:200]))
    if returncode == 0 and "GOODSIG" in status and "VALIDSIG" in status:
        uid = status["GOODSIG"].split(" ", 1)[-1][:200]
        return Signature(True, f"{uid} (GPG {status['VALIDSIG'].split(' ', 1)[0]})")
    if not output.strip() or "NEWSIG" not in status:
        return Signature(False, "none")
    return Signature(False, "unknown (gpg: " + output.strip().splitlines()[-1][:200] + ")")
