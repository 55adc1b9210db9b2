"""The config's `notify` URLs: each one Apprise can send to. Nothing is sent here."""

from __future__ import annotations

import functools
import logging
import re
import warnings

import apprise

# Apprise logs each URL it sends to at debug level, tokens and all: only its warnings.
logging.getLogger("apprise").setLevel(logging.WARNING)


@functools.cache
def load_plugins() -> None:
    """Load Apprise's plugins once, quietly: one imports the deprecated imghdr (Python
    3.11, 3.12), which warns. Called before any other use, from one thread."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        apprise.Apprise.instantiate("json://localhost/")


def problem(url: str) -> str | None:
    """Why `url` is no notification URL (naming its scheme only: the rest may be a
    secret), or None if Apprise can parse it."""
    load_plugins()
    if apprise.Apprise.instantiate(url) is not None:
        return None
    scheme = re.match(r"[A-Za-z][A-Za-z0-9+.-]*://", url)
    found = f"scheme {scheme.group(0)!r}" if scheme else "no SCHEME://"
    return (f"not a URL Apprise can send to ({found}): use one such as "
            '"ntfy://ntfy.sh/TOPIC", "json://HOST:PORT/PATH" or "mailtos://USER:PASS@HOST"; '
            "see https://github.com/caronc/apprise/wiki")


def shown(url: str) -> str:
    """`url` as a log line may name it: Apprise's own private form (tokens and passwords
    masked) without its query (Apprise's defaults), or its scheme only."""
    load_plugins()
    server = apprise.Apprise.instantiate(url)
    if server is not None:
        return str(server.url(privacy=True)).split("?", 1)[0]  # type: ignore[no-untyped-call]
    return url.split("://", 1)[0] + "://..."
