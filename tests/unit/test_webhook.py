"""Push events, judged (pgo.http.push) and answered (pgo.http.webhook.accept): signatures
the way each forge makes them, repositories and branches matched, the status codes."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from dataclasses import dataclass, field

import pytest

from pgo.config import ServiceConfig
from pgo.http.push import BadRequest, names, normalize, parse_push, signed_with
from pgo.http.webhook import accept
from pgo.service import ServiceRunner

SECRET = "s3cret-s3cret-s3cret"  # noqa: S105 (a test's)
URL = "https://github.com/org/app.git"


def sign(body: bytes, secret: str = SECRET) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def github(ref: str = "refs/heads/main", url: str = URL) -> bytes:
    name = normalize(url).split("/", 1)[1]
    return json.dumps({"ref": ref, "repository": {"full_name": name,
                                                  "clone_url": url}}).encode()


@pytest.mark.parametrize("headers", [
    {"X-Hub-Signature-256": "sha256=" + sign(github())},
    {"X-Gitea-Signature": sign(github())},
    {"X-Forgejo-Signature": sign(github())},
    {"X-Pgo-Signature": sign(github())},
    {"X-Pgo-Signature": "sha256=" + sign(github()).upper()},
    {"X-Gitlab-Token": SECRET},
])
def test_each_forge_s_signature(headers: dict[str, str]) -> None:
    assert signed_with(SECRET, github(), headers)
    assert not signed_with("another-secret-xxxx", github(), headers)
    # a changed body breaks an HMAC; GitLab's token signs nothing
    assert signed_with(SECRET, github() + b" ", headers) is ("X-Gitlab-Token" in headers)


def test_no_signature_or_a_wrong_one_is_not_signed() -> None:
    assert not signed_with(SECRET, github(), {})
    assert not signed_with(SECRET, github(), {"X-Hub-Signature-256": "sha256=00"})
    assert not signed_with(SECRET, github(), {"X-Gitlab-Token": SECRET[:-1]})


@pytest.mark.parametrize(("url", "normal"), [
    ("https://u:p@GitHub.com/org/repo.git", "github.com/org/repo"),
    ("ssh://git@github.com:22/org/repo", "github.com/org/repo"),
    ("git@github.com:org/repo.git", "github.com/org/repo"),
    ("https://github.com/org/repo/", "github.com/org/repo"),
    ("file:///srv/git/repo.git", "/srv/git/repo"),
    ("/srv/git/repo", "/srv/git/repo"),
    ("git://127.0.0.1:9418/repo.git", "127.0.0.1/repo"),
])
def test_repository_urls_are_compared_without_scheme_credentials_or_dot_git(
        url: str, normal: str) -> None:
    assert normalize(url) == normal


def test_a_push_names_its_repository_by_url_or_full_name() -> None:
    push = parse_push(github(url="git@github.com:org/app.git"), {"X-GitHub-Event": "push"})
    assert push.branch == "main" and push.event == "push"
    assert names(URL, push) and names("ssh://git@github.com/org/app", push)
    assert not names("https://github.com/org/other.git", push)
    gitlab = json.dumps({"ref": "refs/heads/dev", "project": {
        "git_http_url": "https://gitlab.example.org/team/app.git",
        "path_with_namespace": "team/app"}}).encode()
    push = parse_push(gitlab, {"X-Gitlab-Event": "Push Hook"})
    assert names("https://gitlab.example.org/team/app", push) and push.branch == "dev"
    generic = parse_push(b'{"repository": "file:///srv/app.git", "branch": "main"}', {})
    assert names("/srv/app.git", generic) and generic.branch == "main"


@pytest.mark.parametrize(("body", "why"), [
    (b"not json", "not JSON"), (b"[1]", "not a JSON object"), (b"{}", "names no repository"),
    (b'{"repository": {"id": 1}}', "names no repository"), (b"\xff", "not JSON"),
])
def test_what_is_no_push_event(body: bytes, why: str) -> None:
    with pytest.raises(BadRequest, match=why):
        parse_push(body, {})


def test_a_tag_push_has_no_branch() -> None:
    assert parse_push(github(ref="refs/tags/v1"), {}).branch is None


@dataclass
class Runner:
    """What accept() uses of a ServiceRunner."""

    config: ServiceConfig
    pokes: list[str] = field(default_factory=list)
    log: logging.LoggerAdapter = field(  # type: ignore[type-arg]
        default_factory=lambda: logging.LoggerAdapter(logging.getLogger("test"), {}))

    def poke(self, trigger: str) -> None:
        self.pokes.append(trigger)


def runners(*configs: ServiceConfig) -> dict[str, ServiceRunner]:
    return {c.name: Runner(c) for c in configs}  # type: ignore[misc]


APP = ServiceConfig("app", "app", URL, webhook_secret=SECRET)
DEV = ServiceConfig("dev", "app", URL, branch="dev", webhook_secret=SECRET)
OTHER = ServiceConfig("other", "o", "https://github.com/org/other", webhook_secret="x" * 16)
NONE = ServiceConfig("none", "n", URL)


def answer(body: bytes, headers: dict[str, str],
           found: dict[str, ServiceRunner]) -> tuple[int, str]:
    response = accept(body, headers, found)
    assert response.text is not None
    return response.status, response.text


def test_a_signed_push_starts_the_pass_of_the_services_on_its_branch() -> None:
    found = runners(APP, DEV, OTHER, NONE)
    body = github()
    status, text = answer(body, {"X-Hub-Signature-256": "sha256=" + sign(body)}, found)
    assert (status, text) == (200, "pass started: app\n")
    assert [r.pokes for r in found.values()] == [["webhook"], [], [], []]  # type: ignore[attr-defined]


def test_refusals_in_order_401_400_404_202() -> None:
    found = runners(APP, DEV, OTHER, NONE)
    assert answer(github(), {"X-Hub-Signature-256": "sha256=" + sign(github(), "y" * 16)},
                  found)[0] == 401
    assert answer(b"{}", {"X-Pgo-Signature": sign(b"{}")}, found)[0] == 400
    elsewhere = github(url="https://github.com/org/other")
    assert answer(elsewhere, {"X-Pgo-Signature": sign(elsewhere)}, found)[0] == 404
    tag = github(ref="refs/tags/v1")
    status, text = answer(tag, {"X-Pgo-Signature": sign(tag)}, found)
    assert status == 202 and "followed by no service (app: main, dev: dev)" in text
    ping = {"X-GitHub-Event": "ping", "X-Hub-Signature-256": "sha256=" + sign(github())}
    assert answer(github(), ping, found) == (202, "ignored: a 'ping' event, not a push\n")
    assert all(not r.pokes for r in found.values())  # type: ignore[attr-defined]


def test_the_secret_never_shows_in_the_config_s_repr() -> None:
    assert SECRET not in repr(APP)
