"""Terminal escape sequences taken out of a stream of text. Pure.

podman-compose colours `logs` (each line's `[service] |` prefix) whether or not it writes
to a terminal, and a container may colour its own output. pgod serves no pty, so an SSH
client never has a terminal on pgod's side: what it gets is plain text, as `ps` gives.
"""

from __future__ import annotations

import re

# CSI (ESC [ ... final), OSC (ESC ] ... BEL or ESC \\), and the others (ESC, intermediate
# bytes, a final byte: ESC ( B, ESC 7, ...).
_CSI = r"\[[0-?]*[ -/]*[@-~]"
_OSC = r"\][^\x07\x1b]*(?:\x07|\x1b\\)"
_OTHER = r"[ -/]*[0-~]"
_SEQUENCE = re.compile(rf"\x1b(?:{_CSI}|{_OSC}|{_OTHER})")
_COMPLETE = {"[": re.compile(rf"\x1b{_CSI}"), "]": re.compile(rf"\x1b{_OSC}")}
_OTHER_COMPLETE = re.compile(rf"\x1b{_OTHER}")
_LONGEST = 256  # characters an unfinished sequence is held for before its ESC is dropped


class Stripper:
    """Feed text in chunks; get it back without escape sequences, one split across two
    chunks included (its start is held until the next chunk or `end`)."""

    def __init__(self) -> None:
        self._held = ""

    def feed(self, text: str) -> str:
        text = self._held + text
        self._held = ""
        start = text.rfind("\x1b")
        if start != -1 and len(text) - start < _LONGEST and not _finished(text[start:]):
            text, self._held = text[:start], text[start:]
        return strip(text)

    def end(self) -> str:
        held, self._held = self._held, ""
        return strip(held)


def strip(text: str) -> str:
    """`text` without escape sequences, nor any ESC left over."""
    return _SEQUENCE.sub("", text).replace("\x1b", "")


def _finished(tail: str) -> bool:
    """Whether the sequence `tail` (from an ESC to the end of what came) is complete."""
    if len(tail) < 2:
        return False
    pattern = _COMPLETE.get(tail[1], _OTHER_COMPLETE)
    return pattern.match(tail) is not None

