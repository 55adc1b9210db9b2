"""What `git verify-commit` says, as git 2.39 with OpenSSH 9.2 prints it (seen here)."""

from __future__ import annotations

from pgo.signatures import judge

GOOD = 'Good "git" signature for ops@example.org with ED25519 key SHA256:q8/680Oy6EYAU\n'
OTHER = 'Good "git" signature with ED25519 key SHA256:XaCwh+BaEiCH\nNo principal matched.\n'
NO_FILE = ('Unable to open allowed keys file "/etc/pgo/signers": No such file or directory\n'
           "sig_find_principals: sshsig_find_principal: No such file or directory\n"
           "No principal matched.\n")


def test_a_commit_signed_by_an_allowed_signer() -> None:
    verdict = judge(0, GOOD)
    assert verdict.ok and verdict.signed_by == "ops@example.org (SHA256:q8/680Oy6EYAU)"


def test_an_unsigned_commit() -> None:
    verdict = judge(1, "")
    assert not verdict.ok and verdict.refusal("a" * 40) == (
        "commit aaaaaaaaaaaa is not signed by an allowed signer; signed by: none")


def test_a_commit_signed_by_another_key_names_the_key() -> None:
    verdict = judge(1, OTHER)
    assert not verdict.ok and verdict.signed_by.startswith("SHA256:XaCwh+BaEiCH, a key not")


def test_a_good_line_without_exit_0_is_no_pass() -> None:
    assert not judge(1, GOOD).ok


def test_an_unreadable_signers_file_says_so() -> None:
    verdict = judge(1, NO_FILE)
    assert not verdict.ok and "Unable to open allowed keys file" in verdict.signed_by
