"""Trust what runs, with real git signing (SSH keys), a real pgod and OpenSSH's ssh-keygen
behind git verify-commit: only commits an allowed signer signed deploy; read-only keys."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from .helpers import GpgKey, free_port, http_get, wait_for_http
from .sshclients import fingerprint, keygen, pgoctl
from .test_trust import Service, files


def signed_service(workdir: Path, make_user: Any, make_repo: Any) -> tuple[Service, Path]:
    """A service whose config names an allowed-signers file with one key, `signer`; its
    first commit unsigned, its head signed: only the head is judged, so it deploys."""
    user, port, key, signer = make_user(), free_port(), keygen(workdir, "op"), \
        keygen(workdir, "signer")
    signers = workdir / "allowed_signers"
    signers.write_text(f"release@example.org {signer.with_suffix('.pub').read_text()}")
    signers.chmod(0o644)
    repo = make_repo(files(port, "unsigned first", key))
    repo.commit(files(port, "signed", key), "signed head", sign=signer)
    svc = Service(workdir, user, repo, port, key, f'signers = "{signers}"\n')
    svc.pgod.start()
    wait_for_http(port, "signed")
    svc.pgod.wait_log("operator key(s)")
    return svc, signer


def test_only_commits_an_allowed_signer_signed_are_deployed(workdir: Path, make_user: Any,
                                                            make_repo: Any) -> None:
    svc, signer = signed_service(workdir, make_user, make_repo)
    try:
        good = svc.wait_state("ok")["deployed"]
        unsigned = svc.repo.commit(files(svc.port, "unsigned", svc.key), "no signature")
        refused = svc.wait_state("refused")
        assert refused["upstream"] == unsigned and refused["deployed"] == good
        assert refused["reason"] == (f"commit {unsigned[:12]} refused: commit "
                                     f"{unsigned[:12]} is not signed by an allowed signer; "
                                     "signed by: none")
        assert "signed" in http_get(svc.port)

        stranger = keygen(workdir, "stranger")
        other = svc.repo.commit(files(svc.port, "stranger", svc.key), "someone else's",
                                sign=stranger)
        refused = svc.until("the stranger's commit upstream",
                            lambda status: status["upstream"] == other)
        assert refused["state"] == "refused"
        assert f"signed by: {fingerprint(stranger)}, a key not in the allowed signers" in \
            refused["reason"]

        fixed = svc.repo.commit(files(svc.port, "signed again", svc.key), "signed", sign=signer)
        wait_for_http(svc.port, "signed again")
        svc.wait_deployed(fixed)
    finally:
        svc.pgod.stop()


def test_keys_only_from_a_signed_commit_and_read_only_keys(workdir: Path, make_user: Any,
                                                           make_repo: Any) -> None:
    svc, signer = signed_service(workdir, make_user, make_repo)
    try:
        viewer = keygen(workdir, "viewer")
        svc.repo.commit({"ssh/readonly/viewer.pub": viewer.with_suffix(".pub").read_text()},
                        "a read-only operator", sign=signer)
        svc.pgod.wait_log("ssh/readonly/viewer.pub SHA256:")  # (the keys, once read)
        view = pgoctl(workdir, svc.ssh_port, str(viewer), "svc//status")
        assert view.returncode == 0, view.stderr
        down = pgoctl(workdir, svc.ssh_port, str(viewer), "svc//down")
        assert down.returncode == 77, down.stderr  # 401
        assert "this key is read-only for service 'svc' (ssh/readonly/viewer.pub)" in \
            down.stderr
        assert "signed" in http_get(svc.port)

        intruder = keygen(workdir, "intruder")  # push access, no signing key
        svc.repo.commit({"ssh/intruder.pub": intruder.with_suffix(".pub").read_text()},
                        "let me in")
        svc.wait_state("refused")
        time.sleep(2)
        assert pgoctl(workdir, svc.ssh_port, str(intruder), "svc//ping").returncode == 255
    finally:
        svc.pgod.stop()


def test_gpg_signed_commits_with_a_keyring(workdir: Path, make_user: Any,
                                           make_repo: Any) -> None:
    """signers_gpg: a commit signed by a key of the keyring deploys; unsigned, or signed
    by another GPG key: refused, naming the key; the last good keeps serving."""
    user, port, key = make_user(), free_port(), keygen(workdir, "op")
    release, stranger = GpgKey.make("Release <release@example.org>"), \
        GpgKey.make("Stranger <stranger@example.org>")
    try:
        gpg_signed(workdir, user, port, key, make_repo, release, stranger)
    finally:
        release.close()
        stranger.close()


def gpg_signed(workdir: Path, user: str, port: int, key: Path, make_repo: Any,
               release: GpgKey, stranger: GpgKey) -> None:
    keyring = release.export(workdir / "signers.gpg")
    repo = make_repo(files(port, "unsigned first", key))
    repo.commit(files(port, "gpg signed", key), "signed head", sign=release)
    svc = Service(workdir, user, repo, port, key, f'signers_gpg = "{keyring}"\n')
    svc.pgod.start()
    try:
        wait_for_http(port, "gpg signed")
        svc.pgod.wait_log("operator key(s)")
        good = svc.wait_state("ok")["deployed"]
        other = repo.commit(files(port, "stranger", key), "someone else's", sign=stranger)
        refused = svc.until("the stranger's commit upstream",
                            lambda status: status["upstream"] == other)
        assert refused["state"] == "refused" and refused["deployed"] == good
        assert f"signed by: key {stranger.fingerprint[-16:]}, not in the GPG keyring" in \
            refused["reason"]
        unsigned = repo.commit(files(port, "unsigned", key), "no signature")
        refused = svc.until("the unsigned commit upstream",
                            lambda status: status["upstream"] == unsigned)
        assert refused["reason"].endswith("signed by: none")
        assert "gpg signed" in http_get(port)
        fixed = repo.commit(files(port, "signed again", key), "signed", sign=release)
        wait_for_http(port, "signed again")
        svc.wait_deployed(fixed)
    finally:
        svc.pgod.stop()
