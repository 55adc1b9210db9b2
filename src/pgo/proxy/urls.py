"""A `urls` entry: `"[SCHEME://]HOST[/PATH]" = "[UPSTREAM]:PORT"`. Pure.

The key is where Caddy serves the service: a host name (`*.` allowed first), optionally
`http://` (the default) or `https://` (Caddy serves it with its automatic certificates), and
a path prefix (`example.org/api`: `/api` and everything under it). The value is where the
containers listen: `:5006` (127.0.0.1), `127.0.0.1:5006`, `[::1]:5006`, `backend:5006`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_KEY_RE = re.compile(r"(?:(?P<scheme>https?)://)?(?P<host>[^/]*)(?P<path>/.*)?", re.DOTALL)
HOST_RE = re.compile(r"(?=.{1,253}\Z)(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*"
                      r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\Z")
_SEGMENT_RE = re.compile(r"[A-Za-z0-9._~%!$&'()+,;=:@-]+\Z")
_TARGET_RE = re.compile(r"(?P<host>(?:[a-z0-9][a-z0-9.-]*)?|\[[0-9a-f:.]+\]):(?P<port>\d{1,5})\Z")
DEFAULT_UPSTREAM = "127.0.0.1"


@dataclass(frozen=True, order=True)
class Site:
    """Where a service is served: `scheme://host` and everything under `path` ("" for
    the whole host)."""

    host: str
    path: str = ""
    scheme: str = "http"

    @property
    def key(self) -> str:
        """The normalized `urls` key: "example.org/api", "https://example.org"."""
        prefix = "" if self.scheme == "http" else f"{self.scheme}://"
        return f"{prefix}{self.host}{self.path}"

    def claims(self) -> tuple[str, str]:
        """What two services may not share: the host and the path (either scheme)."""
        return self.host, self.path


@dataclass(frozen=True, order=True)
class Target:
    """Where the containers listen: `host:port`."""

    host: str
    port: int

    @property
    def dial(self) -> str:
        return f"{self.host}:{self.port}"


def parse_site(key: str) -> Site:
    """A `urls` key; ValueError saying what would be accepted."""
    match = _KEY_RE.fullmatch(key)
    host = match.group("host").lower() if match else ""
    if match is None or not HOST_RE.fullmatch(host):
        raise ValueError(f"{key!r} is not a host name with an optional http:// or https:// "
                         "and path prefix, such as \"example.org\" or \"example.org/api\"")
    path = (match.group("path") or "").rstrip("/")
    if path and not all(_SEGMENT_RE.fullmatch(s) for s in path[1:].split("/")):
        raise ValueError(f"{key!r}: the path {path!r} must be segments of letters, digits "
                         "and . _ ~ % ! $ & ' ( ) + , ; = : @ - separated by single slashes, "
                         "such as \"/api\"")
    return Site(host=host, path=path, scheme=match.group("scheme") or "http")


def parse_target(value: object) -> Target:
    """A `urls` value; ValueError saying what would be accepted."""
    match = _TARGET_RE.fullmatch(value.lower()) if isinstance(value, str) else None
    port = int(match.group("port")) if match else 0
    if match is None or not 1 <= port <= 65535:
        raise ValueError(f"target {value!r} is not [HOST]:PORT such as \":5006\" or "
                         "\"127.0.0.1:5006\"")
    return Target(host=match.group("host") or DEFAULT_UPSTREAM, port=port)
