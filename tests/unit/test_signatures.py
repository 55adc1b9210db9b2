"""What `git verify-commit` says, as git 2.39 with OpenSSH 9.2 prints it (seen here)."""

from __future__ import annotations

from pgo.signatures import judge, judge_gpg

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


# What `git verify-commit --raw` printed with gpg 2.2.40 (Debian 12), trimmed.
FPR = "F430144EC968A9A4E55512A3291FB2E197EFFAC2"
GPG_GOOD = f"""[GNUPG:] NEWSIG
[GNUPG:] KEY_CONSIDERED {FPR} 0
[GNUPG:] GOODSIG 291FB2E197EFFAC2 Release <release@example.org>
[GNUPG:] VALIDSIG {FPR} 2026-12-02 1796171959 0 4 0 22 8 00 {FPR}
[GNUPG:] TRUST_UNDEFINED 0 pgp
"""
GPG_NO_KEY = f"""[GNUPG:] NEWSIG
[GNUPG:] ERRSIG 291FB2E197EFFAC2 22 8 00 1796171959 9 {FPR}
[GNUPG:] NO_PUBKEY 291FB2E197EFFAC2
"""


def test_gpg_a_good_signature_by_a_keyring_key() -> None:
    verdict = judge_gpg(0, GPG_GOOD)
    assert verdict.ok
    assert verdict.signed_by == f"Release <release@example.org> (GPG {FPR})"


def test_gpg_a_key_not_in_the_keyring_and_no_signature() -> None:
    assert judge_gpg(1, GPG_NO_KEY).signed_by == \
        "key 291FB2E197EFFAC2, not in the GPG keyring"
    assert not judge_gpg(1, GPG_NO_KEY).ok
    assert judge_gpg(1, "") == judge_gpg(1, "error: no signature found\n")
    assert judge_gpg(1, "").signed_by == "none"


def test_gpg_good_lines_need_exit_0_and_nothing_bad_beside_them() -> None:
    assert not judge_gpg(1, GPG_GOOD).ok
    bad = GPG_GOOD + "[GNUPG:] EXPKEYSIG 291FB2E197EFFAC2 Release <release@example.org>\n"
    assert judge_gpg(0, bad).signed_by == \
        "Release <release@example.org> (291FB2E197EFFAC2), whose key expired"
    assert not judge_gpg(0, GPG_GOOD.replace("VALIDSIG", "X")).ok
