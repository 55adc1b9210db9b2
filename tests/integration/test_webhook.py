"""Deploy on push: real HTTP requests to a real pgod's /hook, signed the way GitHub,
GitLab, Gitea/Forgejo and pgo's generic form sign them (the test computes the HMAC),
about a real repository. pgod polls once an hour here: only the webhook can deploy."""

from __future__ import annotations

import hashlib
import hmac
import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from .helpers import free_port, wait_for_http
from .pgod_process import Pgod
from .sshclients import keygen
from .test_trust import Service, files

SECRET = "webhook-secret-for-the-test"  # noqa: S105 (a test's)


def post(port: int, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/hook", data=body,
                                     headers={"Content-Type": "application/json", **headers},
                                     method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 (http:)
            return response.status, response.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def hmac_hex(body: bytes) -> str:
    return hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()


def test_a_signed_push_deploys_at_once_and_the_rest_is_refused(
        workdir: Path, make_user: Any, make_repo: Any) -> None:
    user, port, key, hook = make_user(), free_port(), keygen(workdir, "op"), free_port()
    repo = make_repo(files(port, "first", key))
    secret_file = workdir / "hook.secret"
    secret_file.write_text(SECRET + "\n")
    secret_file.chmod(0o600)
    svc = Service(workdir, user, repo, port, key, f'webhook_secret = "file:{secret_file}"\n')
    svc.pgod = Pgod(svc.config, workdir / "lib", "-s", f"127.0.0.1:{svc.ssh_port}", "-w",
                    f"127.0.0.1:{hook}", duration="1h")
    svc.pgod.start()
    try:
        wait_for_http(port, "first")
        svc.pgod.wait_log("operator key(s)")
        svc.wait_state("ok")

        second = repo.commit(files(port, "second", key), "pushed")
        github = json.dumps({"ref": "refs/heads/main",
                             "repository": {"clone_url": repo.url}}).encode()
        assert post(hook, github, {"X-GitHub-Event": "push", "X-Hub-Signature-256":
                                   "sha256=" + hmac_hex(github)}) == (200, "pass started: svc\n")
        wait_for_http(port, "second")
        svc.wait_deployed(second)
        assert svc.status()["last_attempt"]["trigger"] == "webhook"

        third = repo.commit(files(port, "third", key), "pushed again")
        generic = json.dumps({"repository": repo.url, "branch": "main"}).encode()
        assert post(hook, generic, {"X-Pgo-Signature": hmac_hex(generic)})[0] == 200
        wait_for_http(port, "third")
        svc.wait_deployed(third)

        gitea = json.dumps({"ref": "refs/heads/main", "repository": {
            "clone_url": repo.url}}).encode()
        for headers in ({"X-Gitea-Event": "push", "X-Gitea-Signature": hmac_hex(gitea)},
                        {"X-Forgejo-Event": "push", "X-Forgejo-Signature": hmac_hex(gitea)},
                        {"X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": SECRET}):
            assert post(hook, gitea, headers)[0] == 200, headers

        other = json.dumps({"ref": "refs/heads/dev", "repository": repo.url}).encode()
        assert post(hook, other, {"X-Pgo-Signature": hmac_hex(other)})[0] == 202
        unknown = json.dumps({"ref": "refs/heads/main",
                              "repository": "file:///elsewhere.git"}).encode()
        assert post(hook, unknown, {"X-Pgo-Signature": hmac_hex(unknown)})[0] == 404
        assert post(hook, github, {"X-Hub-Signature-256": "sha256=" + "0" * 64})[0] == 401
        assert post(hook, github, {})[0] == 401
        assert post(hook, b"[]", {"X-Pgo-Signature": hmac_hex(b"[]")})[0] == 400
        big = b" " * (1 << 20) + github
        assert post(hook, big, {"X-Pgo-Signature": hmac_hex(big)})[0] == 413
        assert SECRET not in svc.pgod.log
    finally:
        svc.pgod.stop()
