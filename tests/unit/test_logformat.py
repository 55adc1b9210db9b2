"""Untrusted text in a log message cannot forge a record of its own."""

from __future__ import annotations

import io
import logging

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pgo.logformat import SafeFormatter, defang, without_credentials


def logger_into(stream: io.StringIO) -> logging.Logger:
    """A logger writing to `stream` through SafeFormatter, as pgod's does to stderr."""
    handler = logging.StreamHandler(stream)
    handler.setFormatter(SafeFormatter("%(levelname)s %(message)s"))
    logger = logging.getLogger("test.logformat")
    logger.propagate = False
    logger.handlers = [handler]
    return logger


def formatted(message: str, *args: object) -> str:
    stream = io.StringIO()
    logger_into(stream).warning(message, *args)
    return stream.getvalue()


def test_a_forged_record_is_indented() -> None:
    forged = "x}\n2026-11-25 09:00:00 INFO pgo.service: bank: up at 0123\n"
    out = formatted("bad variable %s", forged)
    assert out.splitlines() == ["WARNING bad variable x}",
                                "    | 2026-11-25 09:00:00 INFO pgo.service: bank: up at 0123",
                                "    | "]


def test_carriage_return_and_escape_sequences_are_shown_escaped() -> None:
    assert defang("a\rb\x1b[2Jc\x00\u2028") == "a\\rb\\x1b[2Jc\\x00\\u2028"


@given(st.text())
def test_every_line_after_the_first_is_a_continuation(text: str) -> None:
    lines = formatted("%s", text).split("\n")
    assert lines[-1] == ""  # the handler's own terminator
    assert all(line.startswith("    | ") for line in lines[1:-1])
    assert not any(c in "".join(lines) for c in "\r\x1b\x85\u2028\u2029")


@given(st.text())
def test_a_traceback_quoting_untrusted_text_is_one_record(text: str) -> None:
    """logger.exception: the exception's message (a file name, a request) is untrusted."""
    stream = io.StringIO()
    logger = logger_into(stream)
    try:
        raise ValueError(text)
    except ValueError:
        logger.exception("internal error")
    logger.error("stack", stack_info=True)
    lines = stream.getvalue().split("\n")
    assert [i for i, line in enumerate(lines) if not line.startswith("    | ")] == \
        [0, lines.index("ERROR stack"), len(lines) - 1]
    assert lines[1] == "    | Traceback (most recent call last):"
    assert not any(c in "".join(lines) for c in "\r\x1b\x85\u2028\u2029")


@pytest.mark.parametrize(("text", "shown"), [
    ("https://user:token@example.org/x.git", "https://example.org/x.git"),
    ("ssh://git@example.org:22/x", "ssh://example.org:22/x"),
    ("file:///srv/x.git", "file:///srv/x.git"),
    ("https://example.org/a@b", "https://example.org/a@b"),  # an @ in the path stays
    ("git@example.org:x.git", "git@example.org:x.git"),  # scp syntax: a user, no secret
])
def test_credentials_never_reach_the_log(text: str, shown: str) -> None:
    assert without_credentials(text) == shown


def test_a_record_never_shows_a_url_password() -> None:
    record = logging.LogRecord("pgo", logging.ERROR, __file__, 1, "fetch %s failed",
                               ("https://bot:s3cret@example.org/x.git",), None)
    line = SafeFormatter("%(message)s").format(record)
    assert "s3cret" not in line and "https://example.org/x.git" in line


@pytest.mark.parametrize(("url", "safe"), [
    ("https://user:token@example.org/x.git", "https://example.org/x.git"),
    ("https://token@example.org:8443/x.git", "https://example.org:8443/x.git"),
    ("https://user:p@ss@example.org/x", "https://example.org/x"),  # the last @ ends it
    ("https://u:t@example.org?x=1", "https://example.org?x=1"),
    ("https://u:t@[2001:db8::1]/x", "https://[2001:db8::1]/x"),
    ("ssh://git@example.org/x.git", "ssh://example.org/x.git"),
    ("https://example.org/a@b/x.git", "https://example.org/a@b/x.git"),  # @ in the path
    ("https://example.org/x.git", "https://example.org/x.git"),
    ("git@github.com:miekg/pgo.git", "git@github.com:miekg/pgo.git"),  # scp-like: no password
    ("file:///srv/git/x.git", "file:///srv/git/x.git"),
    ("/srv/git/x.git", "/srv/git/x.git"),
    ("", ""),
])
def test_urls_lose_user_and_password(url: str, safe: str) -> None:
    assert without_credentials(url) == safe
    assert without_credentials(f"fetch {url} and {url}") == f"fetch {safe} and {safe}"
