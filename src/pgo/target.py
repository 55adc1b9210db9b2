"""The client side of the command grammar: pgoctl's `host:name//command [args...]`.

Pure, and deliberately free of imports (no re, shlex or typing): pgoctl imports it, and
pgoctl's start-up time is part of every command an operator runs. pgod parses what this
sends with `pgo.command.parse_request` (shlex); tests check the two agree.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

_HINT = "expected HOST:SERVICE//COMMAND, e.g. example.org:pgo//ps"
_SAFE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_@%+=:,./-")
_V6 = frozenset("0123456789abcdefABCDEF:.")


def quote(word: str) -> str:
    """One shell word, exactly as `shlex.quote` writes it."""
    if not word:
        return "''"
    if all(c in _SAFE for c in word):
        return word
    return "'" + word.replace("'", "'\"'\"'") + "'"


class Target:
    """`host:name//command` plus the command's arguments."""

    __slots__ = ("args", "command", "host", "service")

    def __init__(self, host: str, service: str, command: str, args: Sequence[str] = ()) -> None:
        self.host, self.service, self.command, self.args = host, service, command, tuple(args)

    def remote_command(self) -> str:
        """The SSH command line sent to pgod, each word quoted."""
        return " ".join(quote(w) for w in [f"{self.service}//{self.command}", *self.args])


def _word(text: str, forbidden: str) -> bool:
    return bool(text) and not any(c.isspace() or c in forbidden for c in text)


def parse_target(text: str, args: Sequence[str] = ()) -> Target:
    """Parse `host:name//command` (host may be [v6]); ValueError with a hint on bad input."""
    if text.startswith("["):
        host, bracket, rest = text[1:].partition("]")
        ok = bool(bracket) and bool(host) and all(c in _V6 for c in host) and rest[:1] == ":"
        rest = rest[1:]
    else:
        host, _, rest = text.partition(":")
        ok = _word(host, ":/[]")
    name, slashes, command = rest.partition("//")
    if not (ok and slashes and _word(name, ":/") and _word(command, "")):
        raise ValueError(f"{text!r}: {_HINT}")
    return Target(host, name, command, args)


def parse_targets(text: str, args: Sequence[str] = ()) -> list[Target]:
    """`h1,h2:s1,s2//command`: one Target per host and service, hosts first; each part
    checked as `parse_target` checks one. ValueError with a hint on bad input."""
    where, slashes, command = text.partition("//")
    hosts, colon, services = where.rpartition(":")
    if not (slashes and colon):
        raise ValueError(f"{text!r}: {_HINT}")
    return [parse_target(f"{host}:{service}//{command}", args)
            for host in _hosts(hosts, text) for service in services.split(",")]


def _hosts(text: str, whole: str) -> list[str]:
    """`a,[::1],b` split at the commas outside brackets."""
    hosts, depth, start = [], 0, 0
    for index, char in enumerate(text + ","):
        depth += (char == "[") - (char == "]")
        if char == "," and not depth:
            hosts.append(text[start:index])
            start = index + 1
    if depth or not hosts or any(not host for host in hosts):
        raise ValueError(f"{whole!r}: {_HINT}")
    return hosts


def looks_like_target(word: str) -> bool:
    """Whether a word after a target starts another one (`host:service//command`)."""
    try:
        parse_targets(word)
    except ValueError:
        return False
    return True
