"""Errors that carry data: every message for a person names what went wrong and where."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar


class PgoError(Exception):
    """Base of every error pgo raises on purpose."""


class ConfigError(PgoError):
    """A config file that cannot be used: names the file, the service and the key."""

    def __init__(self, path: str, message: str, service: str | None = None,
                 key: str | None = None) -> None:
        self.path, self.service, self.key = path, service, key
        where = path
        if service is not None:
            where += f": service {service!r}"
        if key is not None:
            where += f": key {key!r}"
        super().__init__(f"{where}: {message}")


class CommandFailed(PgoError):
    """A subprocess exited non-zero, timed out, or could not be started (`status` says)."""

    def __init__(self, argv: Sequence[str], returncode: int | None, output: str,
                 status: str | None = None) -> None:
        self.argv, self.returncode, self.output = list(argv), returncode, output
        self.given_status = status
        status = status or ("timed out" if returncode is None else f"exited {returncode}")
        tail = output.strip().splitlines()[-5:]
        detail = ("\n    " + "\n    ".join(tail)) if tail else ""
        super().__init__(f"{command_name(argv)} {status}{detail}")


def command_name(argv: Sequence[str]) -> str:
    """`git fetch`, `podman-compose up`: the program and its subcommand, for messages."""
    words, skip = [], False
    for word in argv[1:]:
        if skip or word in ("-c", "-f", "-p"):
            skip = not skip
            continue
        if not word.startswith("-"):
            words.append(word)
            break
    name = argv[0].rsplit("/", 1)[-1] if argv else "?"
    return " ".join([name, *words])


class ComposeError(PgoError):
    """A compose project that cannot be read or located."""


class PolicyViolation(PgoError):
    """A compose project that breaks the service's policy."""

    def __init__(self, violations: Sequence[object]) -> None:
        self.violations = list(violations)
        super().__init__("; ".join(str(v) for v in self.violations))


class Refusal(PgoError):
    """A request over SSH that pgod refuses, with an HTTP-like status (400, 401, 404, 406,
    409, 429, 500)."""

    REASONS: ClassVar[dict[int, str]] = {
        400: "Bad Request", 401: "Unauthorized", 404: "Not Found", 406: "Not Acceptable",
        409: "Conflict", 429: "Too Many Requests", 500: "Internal Server Error"}

    def __init__(self, status: int, message: str) -> None:
        self.status = status
        super().__init__(message)

    def line(self) -> str:
        """The line sent to the client's stderr: `pgod: 401 Unauthorized: ...`."""
        return f"pgod: {self.status} {self.REASONS.get(self.status, 'Error')}: {self}"
