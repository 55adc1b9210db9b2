"""Push events from forges, judged: who signed a request, which repository and branch it
is about. Pure: the body and headers in, a verdict out (the handler is `webhook`).

GitHub signs the body with HMAC-SHA256 (`X-Hub-Signature-256: sha256=HEX`), Gitea and
Forgejo too (`X-Gitea-Signature` / `X-Forgejo-Signature`: HEX), GitLab sends the secret
itself (`X-Gitlab-Token`), and pgo's generic form signs like GitHub (`X-Pgo-Signature`).
Every comparison is constant-time (hmac.compare_digest).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

SIGNED = ("X-Hub-Signature-256", "X-Gitea-Signature", "X-Forgejo-Signature",
          "X-Pgo-Signature")
EVENT_HEADERS = ("X-GitHub-Event", "X-Gitea-Event", "X-Forgejo-Event", "X-Gitlab-Event")
PUSH_EVENTS = frozenset({"push", "Push Hook"})
# where each forge names the repository in its push event
_URL_KEYS = ("clone_url", "ssh_url", "git_url", "html_url", "url", "git_http_url",
             "git_ssh_url", "web_url", "http_url")
_NAME_KEYS = ("full_name", "path_with_namespace")


class BadRequest(ValueError):
    """A body that is no push event pgod can read (400)."""


@dataclass(frozen=True)
class Push:
    event: str              # the forge's event name ("push" for the generic form)
    repositories: frozenset[str]  # URLs as normalized by `normalize`, and "org/repo" names
    branch: str | None      # None: not a branch (a tag, a ping)


def signed_with(secret: str, body: bytes, headers: Mapping[str, str]) -> bool:
    """Whether the request carries `secret`'s signature of `body` (or, for GitLab, the
    secret itself)."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    for name in SIGNED:
        given = headers.get(name)
        if given is not None and hmac.compare_digest(
                given.strip().lower().removeprefix("sha256=").encode(), digest.encode()):
            return True
    token = headers.get("X-Gitlab-Token")
    return token is not None and hmac.compare_digest(token.encode(), secret.encode())


def parse_push(body: bytes, headers: Mapping[str, str]) -> Push:
    """The push event in `body`; BadRequest if it is not JSON naming a repository."""
    event = next((headers[h] for h in EVENT_HEADERS if h in headers), "push")
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise BadRequest("the body is not JSON") from None
    if not isinstance(data, dict):
        raise BadRequest("the body is not a JSON object")
    repositories = _repositories(data)
    if not repositories:
        raise BadRequest("the body names no repository")
    ref = data.get("ref")
    branch = data.get("branch") if isinstance(data.get("branch"), str) else None
    if isinstance(ref, str) and ref.startswith("refs/heads/"):
        branch = ref.removeprefix("refs/heads/")
    return Push(event, repositories, branch)


def _repositories(data: dict[str, Any]) -> frozenset[str]:
    found: set[str] = set()
    for key in ("repository", "project"):
        value = data.get(key)
        if isinstance(value, str):  # the generic form: "repository": "URL"
            found.add(normalize(value))
        elif isinstance(value, dict):
            found.update(normalize(v) for k in _URL_KEYS
                         if isinstance(v := value.get(k), str) and v)
            found.update(v.strip("/").lower() for k in _NAME_KEYS
                         if isinstance(v := value.get(k), str) and v)
    return frozenset(found)


def normalize(url: str) -> str:
    """A repository URL without scheme, credentials, port, `.git` or a trailing slash,
    host lowercased: https://u:p@GitHub.com/org/repo.git, ssh://git@
    github.com/org/repo and git@github.com:org/repo all become github.com/org/repo."""
    text = url.strip()
    scp = re.fullmatch(r"(?:[^@/\s]+@)?(?P<host>[^:/\s]+):(?P<path>(?!/).*)", text)
    if scp and "://" not in text:
        host, path = scp["host"], scp["path"]
    else:
        rest = text.split("://", 1)[-1]
        authority, _, path = rest.partition("/")
        host = re.sub(r":\d*$", "", authority.rpartition("@")[2])  # the port says nothing
        if text.startswith("file://") or "://" not in text:
            host, path = "", rest.lstrip("/") if "://" in text else text.lstrip("/")
    path = path.strip("/").removesuffix(".git").strip("/")
    return f"{host.lower()}/{path}" if host else f"/{path}"


def names(url: str, push: Push) -> bool:
    """Whether `push` is about the repository at `url` (its URL, or its "org/repo" name
    at the end of it)."""
    mine = normalize(url)
    return mine in push.repositories or any(
        "/" in r and not r.startswith("/") and "." not in r.split("/", 1)[0]
        and mine.lower().endswith("/" + r) for r in push.repositories)
