"""Log records that untrusted text cannot forge.

Nor can they carry a secret: the user:password@ part of every URL in a record (a
repository URL with a token, say) is taken out.

Repository contents (compose text, file names in ssh/) and SSH requests end up in log
messages. A newline in them must not start what looks like a record of its own: every
continuation line is indented, so a real record is the only thing at column 0, and other
control characters (carriage return, escape sequences) are shown as escapes.
"""

from __future__ import annotations

import logging
import re
from typing import Any

CONTINUATION = "\n    | "
_ESCAPES = {c: f"\\x{c:02x}" for c in [*range(0x20), 0x7F, *range(0x80, 0xA0)]
            if chr(c) not in "\t\n"}
_ESCAPES.update({ord("\n"): CONTINUATION, ord("\r"): "\\r",
                 0x2028: "\\u2028", 0x2029: "\\u2029"})


# Up to the last @ before the path: a password may hold an @ too (better cut too much).
_USERINFO = re.compile(r"(?<=://)[^/\s]*@")


def without_credentials(text: str) -> str:
    """`text` with the user:password@ part of any URL in it taken out."""
    return _USERINFO.sub("", text)


def defang(text: str) -> str:
    """`text` without credentials in URLs, control characters escaped and continuation
    lines indented."""
    return without_credentials(text).translate(_ESCAPES)


class SafeFormatter(logging.Formatter):
    """A Formatter whose messages, tracebacks and stacks go through `defang` (an exception's
    message may quote untrusted text too, and its traceback is several lines)."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = defang(record.message)
        return super().formatMessage(record)

    def formatException(self, ei: Any) -> str:  # format() puts it on a line of its own
        return CONTINUATION.lstrip("\n") + defang(super().formatException(ei))

    def formatStack(self, stack_info: str) -> str:
        return CONTINUATION.lstrip("\n") + defang(super().formatStack(stack_info))
