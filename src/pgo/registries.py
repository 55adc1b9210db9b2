"""Private registries: a service's `registries` logins, and the auth file of its own that
podman-compose and podman pull with (REGISTRY_AUTH_FILE).

The auth file is DIR/.registry-auth/NAME/auth.json: DIR/.registry-auth is root's, mode 0711
(a user can pass through it, not list it), NAME in it is the service user's, mode 0700, and
auth.json 0600. Not in the checkout (a compose file could mount it), not in DIR/.pgod (the
user cannot read that), not the user's default auth.json (shared with whatever else the user
runs). A token is given to `podman login` on its stdin, never in argv, and never logged: what
podman says when a login fails is shown with every token taken out.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field

from pgo import proc
from pgo.errors import CommandFailed, PgoError
from pgo.privatefile import Unsafe, read_private
from pgo.proc import Account

AUTH_DIR = ".registry-auth"
LOGIN_TIMEOUT = 120.0
_HOST_RE = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?(:\d{1,5})?$")
_USER_RE = re.compile(r"^[^\s:@/]+$")


@dataclass(frozen=True)
class Registry:
    """`user:token@host` (token given), or `user:@file:/PATH` (read from PATH at login)."""

    user: str
    host: str
    token: str = field(default="", repr=False)
    token_file: str | None = None

    def shown(self) -> str:
        """For a person: never the token."""
        source = f" (token from {self.token_file})" if self.token_file else ""
        return f"{self.user}@{self.host}{source}"


def parse_registry(text: str) -> Registry:
    """`user:token@host` or `user:@file:/PATH@host`; ValueError (never quoting the token)."""
    userinfo, at, host = text.rpartition("@")
    user, colon, secret = userinfo.partition(":")
    if not at or not colon or not _USER_RE.fullmatch(user) or not _HOST_RE.fullmatch(host):
        raise ValueError('an entry is not "USER:TOKEN@REGISTRY" (such as '
                         '"deploy:TOKEN@registry.example.org") nor '
                         '"USER:@file:/PATH@REGISTRY"')
    if secret.startswith("@file:"):
        path = secret.removeprefix("@file:")
        if not path.startswith("/") or "\n" in path:
            raise ValueError(f"{user}@{host}: the token file must be an absolute path")
        return Registry(user, host, token_file=path)
    if not secret or "\n" in secret:
        raise ValueError(f"{user}@{host}: the token is empty or holds a line break")
    return Registry(user, host, token=secret)


def token_file_problem(path: str) -> str | None:
    """Why the token file at `path` may not be used (root's alone, see pgo.privatefile);
    None if it may."""
    try:
        read_private(path)
    except Unsafe as err:
        return f"token file: {err}"
    return None


def auth_file(directory: str, name: str) -> str:
    return os.path.join(directory, AUTH_DIR, name, "auth.json")


def environment(directory: str, name: str, registries: Sequence[Registry]) -> dict[str, str]:
    """What podman and podman-compose run with for a service with `registries`."""
    return {"REGISTRY_AUTH_FILE": auth_file(directory, name)} if registries else {}


def _prepare(path: str, account: Account) -> None:
    """DIR/.registry-auth (root's, 0711) and DIR/.registry-auth/NAME (the user's, 0700)."""
    own, top = os.path.dirname(path), os.path.dirname(os.path.dirname(path))
    os.makedirs(top, mode=0o711, exist_ok=True)
    os.chmod(top, 0o711)  # noqa: S103 (traversable, not listable: each user finds its own)
    os.makedirs(own, mode=0o700, exist_ok=True)
    fd = os.open(own, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        os.fchown(fd, account.uid, account.gid)
        os.fchmod(fd, 0o700)
    finally:
        os.close(fd)


def _token(registry: Registry) -> str:
    """The token, read anew from its file at each login (a changed file needs no restart)."""
    if registry.token_file is None:
        return registry.token
    try:
        token = read_private(registry.token_file).strip()
    except Unsafe as err:
        raise PgoError(f"registry {registry.shown()}: token file: {err}") from None
    if not token or "\n" in token:
        raise PgoError(f"registry {registry.shown()}: the token file is empty or holds "
                       "more than one line")
    return token


async def login(directory: str, name: str, account: Account,
                registries: Sequence[Registry]) -> None:
    """Log `account` in to each registry, into the service's auth file; PgoError naming the
    registry and the user (what podman said, tokens taken out) if one fails. The file is
    made anew each time: it holds the logins the config has now, no stale or removed one."""
    if not registries:
        remove(directory, name)  # (registries removed from the config: their logins too)
        return
    path = auth_file(directory, name)
    _prepare(path, account)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)  # (podman writes it anew, mode 0600; root changes nothing in the
        # user's directory but this unlink, which follows no symlink)
    env = environment(directory, name, registries)
    for registry in registries:
        token = _token(registry)
        argv = ["podman", "login", "--authfile", path, "--username", registry.user,
                "--password-stdin", registry.host]
        try:
            await proc.run(argv, account, os.path.dirname(path), timeout=LOGIN_TIMEOUT,
                           env=env, input=token.encode() + b"\n")
        except CommandFailed as err:
            lines = err.output.strip().splitlines()
            said = scrub(lines[-1] if lines else "no output", [token])
            how = "timed out" if err.returncode is None else f"exit {err.returncode}"
            raise PgoError(f"podman login to {registry.host} as {registry.user} failed "
                           f"({how}): {said[-300:]}") from None


def scrub(text: str, secrets: Sequence[str]) -> str:
    """`text` with every secret in it replaced by ***."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def remove(directory: str, name: str) -> None:
    """The service's auth file and its directory (the service was removed)."""
    shutil.rmtree(os.path.dirname(auth_file(directory, name)), ignore_errors=True)
