"""Port ranges (the config's "5005/5") and compose `ports:` entries. Pure.

A compose entry is read the way podman-compose 1.6.0 hands it to podman: long syntax is
turned into the same `-p` string (`port_dict_to_str`), and that string is split the way
podman's `CreatePortBindings`/`parseSplitPort` split it. Where podman is lenient (`+80`,
`tcp,`), we refuse: a refused entry becomes a policy violation, never a silent pass.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass

MAX_PORT = 65535
PROTOCOLS = ("tcp", "udp", "sctp")
LONG_KEYS = frozenset({"target", "published", "host_ip", "protocol", "mode", "name",
                       "app_protocol"})
_NUMBER = re.compile(r"[0-9]+")
_RANGE_TEXT = re.compile(r"(?P<first>[^/]*)(?:/(?P<count>.*))?", re.DOTALL)


@dataclass(frozen=True, order=True)
class PortRange:
    """Ports first..last, inclusive, within 1-65535."""

    first: int
    last: int

    def __post_init__(self) -> None:
        if not 1 <= self.first <= self.last <= MAX_PORT:
            raise ValueError(f"port range {self.first}-{self.last} is not within 1-{MAX_PORT}")

    def __contains__(self, port: object) -> bool:
        return isinstance(port, int) and not isinstance(port, bool) \
            and self.first <= port <= self.last

    def __str__(self) -> str:
        return str(self.first) if self.first == self.last else f"{self.first}-{self.last}"


def parse_port_range(text: str) -> PortRange:
    """'5005/5' is 5005-5010 (a first port and a count of extra ports); '5005' is one port."""
    usage = 'expected PORT or PORT/COUNT, such as "5005/5" for 5005-5010'
    shown = _brief(text)
    if not text:
        raise ValueError(f"port range is empty; {usage}")
    if any(c.isspace() for c in text):
        raise ValueError(f"port range {shown} contains white space; {usage}")
    match = _RANGE_TEXT.fullmatch(text)
    assert match is not None  # the pattern matches every string
    first_text, count_text = match["first"], match["count"]
    for part, what in ((first_text, "port"), (count_text, "count")):
        if part == "":
            raise ValueError(f"port range {shown}: the {what} is missing; {usage}")
        if part is not None and part.startswith("-") and _NUMBER.fullmatch(part[1:]):
            raise ValueError(f"port range {shown}: the {what} {part[:20]} is negative; {usage}")
        if part is not None and not _NUMBER.fullmatch(part):
            raise ValueError(f"port range {shown}: the {what} {_brief(part)} is not a number; "
                             f"{usage}")
    first, extra = _number(first_text), _number(count_text or "0")
    if not 1 <= first <= MAX_PORT:
        raise ValueError(f"port range {shown}: port {first_text[:20]} is not within 1-{MAX_PORT}")
    if first + extra > MAX_PORT:
        raise ValueError(f"port range {shown} runs past port {MAX_PORT} "
                         f"({first} plus {count_text[:20]} more)")
    return PortRange(first, first + extra)


def _brief(value: object) -> str:
    """repr() cut short: messages quote what they refuse, not all of it."""
    text = repr(value)
    return text if len(text) <= 48 else text[:44] + "..."


def _number(digits: str) -> int:
    """A decimal string as an int; absurdly long ones are simply 'too big'."""
    return int(digits) if len(digits) <= 12 else MAX_PORT + 1


@dataclass(frozen=True)
class PublishedPort:
    """One container port published on the host; host_port None: a random host port."""

    host_ip: str | None
    host_port: int | None
    container_port: str
    protocol: str

    def __str__(self) -> str:
        host = "a random host port" if self.host_port is None else f"host port {self.host_port}"
        ip = f" of {self.host_ip}" if self.host_ip else ""
        return f"container port {self.container_port}/{self.protocol} on {host}{ip}"


def parse_compose_port(entry: object) -> list[PublishedPort]:
    """Every port one `ports:` entry publishes (short or long syntax); ValueError if malformed.

    Container-only entries ("80", "80-82") publish on random host ports (host_port None).
    """
    if isinstance(entry, bool):
        raise ValueError(f"ports entry {entry!r} is a boolean, not a port")
    if isinstance(entry, int):
        return _parse_short(str(entry), repr(entry))
    if isinstance(entry, str):
        return _parse_short(entry, _brief(entry))
    if isinstance(entry, Mapping):
        return _parse_short(_long_to_short(entry), _show(entry))
    raise ValueError(f"ports entry {_brief(entry)} is neither a string, a number nor a mapping")


def _show(entry: Mapping[object, object]) -> str:
    text = "{" + ", ".join(f"{k}: {v!r}" for k, v in entry.items()) + "}"
    return text if len(text) <= 80 else text[:80] + "...}"


def _long_to_short(entry: Mapping[object, object]) -> str:
    """The `-p` string podman-compose's `port_dict_to_str` makes of a long-syntax entry."""
    shown = _show(entry)
    unknown = sorted(str(k) for k in entry if k not in LONG_KEYS
                     and not (isinstance(k, str) and k.startswith("x-")))
    if unknown:
        raise ValueError(f"ports entry {shown}: unknown key {', '.join(map(repr, unknown))} "
                         f"(known: {', '.join(sorted(LONG_KEYS))})")
    for key in ("target", "published", "host_ip", "protocol"):
        value = entry.get(key)
        if isinstance(value, bool) or not isinstance(value, str | int | None):
            raise ValueError(f"ports entry {shown}: {key} {value!r} is not a string or number")
    target, published = entry.get("target"), entry.get("published", "")
    host_ip, protocol = entry.get("host_ip"), entry.get("protocol", "tcp")
    if not target:
        raise ValueError(f"ports entry {shown}: 'target' (the container port) is required")
    if host_ip:
        text = f"{host_ip}:{published}:{target}"
    else:
        text = f"{published}:{target}" if published else f"{target}"
    return text if protocol == "tcp" else f"{text}/{protocol}"


def _parse_short(text: str, shown: str) -> list[PublishedPort]:
    """[[IP:][HOST]:]CONTAINER[/PROTOCOL] as podman splits it; IPv6 as [ADDR]:HOST:CONTAINER."""
    if not text:
        raise ValueError(f"ports entry {shown} is empty")
    if any(c.isspace() for c in text):
        raise ValueError(f"ports entry {shown} contains white space")
    address, _, protocol_text = text.partition("/")
    protocols = _protocols(protocol_text, "/" in text, shown)
    ip, host, container = _split_address(address, shown)
    targets = _port_span(container, "container port", shown)
    if host is None or host == "":
        hosts: list[int | None] = [None] * len(targets)
    else:
        hosts = list(_port_span(host, "host port", shown))
        if len(hosts) != len(targets):
            raise ValueError(f"ports entry {shown}: host ports {host[:20]} and container "
                             f"ports {container[:20]} differ in number; podman needs them equal")
    return [PublishedPort(ip, h, str(t), p) for p in protocols
            for h, t in zip(hosts, targets, strict=True)]


def _protocols(text: str, given: bool, shown: str) -> list[str]:
    """podman's checkProtocol: a comma-separated list of tcp, udp, sctp (any case)."""
    if not given:
        return ["tcp"]
    found: list[str] = []
    for word in text.split(","):
        if word.lower() not in PROTOCOLS:
            raise ValueError(f"ports entry {shown}: protocol {_brief(word)} is not one of "
                             f"{', '.join(PROTOCOLS)}")
        if word.lower() not in found:
            found.append(word.lower())
    return found


def _split_address(text: str, shown: str) -> tuple[str | None, str | None, str]:
    """(host IP, host port(s), container port(s)) the way podman's CreatePortBindings splits."""
    ip: str | None = None
    bracketed = text.split("]")
    if len(bracketed) > 2:
        raise ValueError(f"ports entry {shown}: more than one IPv6 address")
    if len(bracketed) == 2:
        if not bracketed[0].startswith("[") or not bracketed[1].startswith(":"):
            raise ValueError(f"ports entry {shown}: write an IPv6 address as [ADDRESS]:HOST:"
                             "CONTAINER")
        ip, text = bracketed[0][1:], bracketed[1][1:]
    parts = text.split(":")
    if ip is not None and len(parts) != 2:
        raise ValueError(f"ports entry {shown}: with an IPv6 address, write [ADDRESS]:HOST:"
                         "CONTAINER (HOST may be empty for a random port)")
    if len(parts) > 3:
        raise ValueError(f"ports entry {shown} is not [[IP:][HOST]:]CONTAINER[/PROTOCOL]; "
                         "put an IPv6 address in brackets: [::1]:5006:80")
    if len(parts) == 3:
        ip, parts = parts[0], parts[1:]
    host = parts[0] if len(parts) == 2 else None
    return (None if ip is None else _host_ip(ip, shown)), host, parts[-1]


def _host_ip(text: str, shown: str) -> str:
    if not text or "%" in text:
        raise ValueError(f"ports entry {shown}: host IP {_brief(text)} is not an IP address")
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        raise ValueError(f"ports entry {shown}: host IP {_brief(text)} is not an IP address") \
            from None


def _port_span(text: str, what: str, shown: str) -> range:
    """PORT or FIRST-LAST (FIRST < LAST), each within 1-65535, as podman's
    parseAndValidateRange; only plain decimal digits."""
    if not text:
        raise ValueError(f"ports entry {shown}: the {what} is missing")
    ends = text.split("-")
    if len(ends) > 2 or not all(_NUMBER.fullmatch(e) for e in ends):
        raise ValueError(f"ports entry {shown}: {what} {_brief(text)} is not PORT or FIRST-LAST")
    first, last = _number(ends[0]), _number(ends[-1])
    if not (1 <= first <= MAX_PORT and 1 <= last <= MAX_PORT):
        raise ValueError(f"ports entry {shown}: {what} {_brief(text)} is not within 1-{MAX_PORT}")
    if len(ends) == 2 and last <= first:
        raise ValueError(f"ports entry {shown}: {what} range {_brief(text)} does not go upwards")
    return range(first, last + 1)
