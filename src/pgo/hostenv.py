"""Host-side variables for a service's compose interpolation: the config's `env`
(KEY=VALUE) and its root-only `env_file`, read by pgod, never by the service user. They
reach podman-compose in its environment (never on a command line) and pgod's own
interpolation for the policy check alike; like any variable in podman-compose's
environment they win over the repository's `.env`. Values are never logged."""

from __future__ import annotations

import dataclasses
import logging
import os
import re
import stat
from collections.abc import Iterable, Mapping
from typing import TypeVar

from pgo.errors import PgoError
from pgo.interpolate import parse_dotenv

SECRETS_VAR = "PGO_SECRETS"  # the directory of the service's decrypted `.age` files
MAX_ENV_FILE = 256 * 1024
SHORTEST = 6  # a value (or decrypted line) shorter than this is not searched for in text
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
# What podman-compose, podman or Python read from their own environment as settings, and
# what pgod sets itself: a host value may not change how they run.
_RESERVED = frozenset({"HOME", "PATH", "USER", "LOGNAME", "LANG", "TZ", "SHELL", "TMPDIR",
                       SECRETS_VAR})
_RESERVED_PREFIXES = ("PODMAN_", "CONTAINERS_", "COMPOSE_", "PYTHON", "LD_", "XDG_",
                      "LC_", "DOCKER_", "BUILDAH_", "REGISTRY_AUTH", "SSL_", "GIT_")


def bad_name(key: str) -> str | None:
    """Why `key` may not be a host variable; None if it may."""
    if not _NAME.match(key):
        return f"{key[:40]!r} is not a variable name (letters, digits, _)"
    if key in _RESERVED or key.startswith(_RESERVED_PREFIXES):
        return f"{key} is reserved: pgod, podman-compose or podman read it as a setting " \
               f"(not allowed: {', '.join(sorted(_RESERVED))} and " \
               f"{', '.join(p + '*' for p in _RESERVED_PREFIXES)})"
    return None


def read_env_file(path: str) -> dict[str, str]:
    """The KEY=VALUE lines of an env file (dotenv syntax) that belongs to pgod's user and
    nobody else may read; PgoError naming the file (and key, never a value) otherwise."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as err:
        raise PgoError(f"cannot read env file {path}: {err.strerror}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise PgoError(f"env file {path} is not a regular file")
        if info.st_uid != os.getuid() or info.st_mode & 0o077:
            raise PgoError(f"env file {path} belongs to uid {info.st_uid} with mode "
                           f"{info.st_mode & 0o7777:04o}: it holds secrets, so it must belong "
                           f"to the user running pgod (uid {os.getuid()}) and be readable by "
                           "nobody else (chmod 600)")
        data = os.read(fd, MAX_ENV_FILE + 1)
    finally:
        os.close(fd)
    if len(data) > MAX_ENV_FILE:
        raise PgoError(f"env file {path} is larger than {MAX_ENV_FILE // 1024} KiB")
    try:
        found = parse_dotenv(data.decode("utf-8"), environ={})
    except UnicodeDecodeError:
        raise PgoError(f"env file {path} is not valid UTF-8") from None
    values: dict[str, str] = {}
    for key, value in found.items():
        if (why := bad_name(key)) is not None:
            raise PgoError(f"env file {path}: {why}")
        if value is not None:
            values[key] = value
    return values


def merge(env_file: Mapping[str, str], env: Iterable[tuple[str, str]]) -> dict[str, str]:
    """The host variables: the env file's, then the config's `env`, which wins."""
    return {**env_file, **dict(env)}


def redact(text: str, values: Iterable[str], *, shortest: int = SHORTEST) -> str:
    """`text` with every host value of at least `shortest` characters replaced by `***`
    (longest first): for messages made from what a value was interpolated into."""
    for value in sorted({v for v in values if len(v) >= shortest}, key=len, reverse=True):
        text = text.replace(value, "***")
    return text


def decrypted_values(plain: bytes) -> list[str]:
    """What of a decrypted file could show up in a message: the whole text, each line, and
    the value of each KEY=VALUE line (quotes taken off)."""
    text = plain.decode("utf-8", "replace")
    found = [text.strip()]
    for line in text.splitlines():
        found.append(line.strip())
        key, eq, value = line.partition("=")
        if eq and _NAME.match(key.strip().removeprefix("export ").strip()):
            found.append(value.strip().strip("'\""))
    return [v for v in found if len(v) >= SHORTEST]


class Redactor:
    """The host values and decrypted texts pgod has seen: no log line, record reason or
    status shows them (each becomes ***). One per process, as logging is."""

    def __init__(self) -> None:
        self._values: set[str] = set()

    def add(self, values: Iterable[str]) -> None:
        self._values.update(v for v in values if len(v) >= SHORTEST)

    def __call__(self, text: str) -> str:
        return redact(text, self._values) if self._values else text


REDACTOR = Redactor()
Event = TypeVar("Event")


def redact_event(event: Event) -> Event:
    """A state event (a frozen dataclass) with its text fields redacted."""
    if not dataclasses.is_dataclass(event) or isinstance(event, type):
        return event
    changes = {f.name: REDACTOR(value) for f in dataclasses.fields(event)
               if isinstance(value := getattr(event, f.name), str) and REDACTOR(value) != value}
    return dataclasses.replace(event, **changes) if changes else event


class RedactingFilter(logging.Filter):
    """A handler's filter: a record whose message holds a value `REDACTOR` knows is
    rewritten without it (the message formatted, its arguments dropped)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = REDACTOR(message)
        if clean != message:
            record.msg, record.args = clean, ()
        return True
