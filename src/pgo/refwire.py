"""git's wire protocol, the little of it that says where a branch's head is (pure).

What `git ls-remote git://HOST[:PORT]/PATH refs/heads/BRANCH` does, for the ref worker
(`refworker`): pkt-lines (gitprotocol-common(5)), the git:// request (gitprotocol-pack(5)),
protocol v2's capability advertisement and `ls-refs` with a `ref-prefix`
(gitprotocol-v2(5)), and v0's (and v1's) ref advertisement, for a server that does not
speak v2. And the decision whether the worker may answer at all: only a plain git:// URL
(no credentials, no escapes), and only when nothing in the user's git configuration or
environment could change how git would reach it; anything else is git's own.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from pgo.gittree import is_oid

MAX_PKT = 65520  # the longest pkt-line, its 4-byte length included
DEFAULT_PORT = 9418
# What pgod itself puts in the environment of git (git.py): nothing that changes git://.
OUR_GIT_ENV = frozenset({"GIT_TERMINAL_PROMPT", "GIT_SSH_COMMAND", "GIT_CONFIG_SYSTEM",
                         "GIT_CONFIG_NOSYSTEM"})


class WireError(Exception):
    """The server said something this module does not understand (git may: ask git)."""


class RemoteError(Exception):
    """The server refused (an `ERR` packet): git would fail the same way."""


class Special(enum.Enum):
    FLUSH = b"0000"
    DELIM = b"0001"
    END = b"0002"  # response-end (stateless v2)


Packet = bytes | Special


# -- pkt-lines --------------------------------------------------------------------------

def pkt(data: bytes | str) -> bytes:
    """One pkt-line holding `data`."""
    raw = data.encode() if isinstance(data, str) else data
    if not raw or len(raw) + 4 > MAX_PKT:
        raise ValueError(f"a pkt-line holds 1 to {MAX_PKT - 4} bytes, not {len(raw)}")
    return b"%04x" % (len(raw) + 4) + raw


def length(header: bytes) -> int:
    """The length a pkt-line's 4-byte header gives (0, 1, 2: a special packet)."""
    if len(header) != 4 or not re.fullmatch(rb"[0-9a-fA-F]{4}", header):
        raise WireError(f"not a pkt-line length: {header!r}")
    size = int(header, 16)
    if size == 3 or size > MAX_PKT:
        raise WireError(f"bad pkt-line length {size}")
    return size


def special(size: int) -> Special | None:
    return {0: Special.FLUSH, 1: Special.DELIM, 2: Special.END}.get(size)


def decode(data: bytes) -> tuple[list[Packet], bytes]:
    """The whole packets at the start of `data`, and what is left (a packet's start)."""
    packets: list[Packet] = []
    pos = 0
    while len(data) - pos >= 4:
        size = length(data[pos:pos + 4])
        if (kind := special(size)) is not None:
            packets.append(kind)
            pos += 4
            continue
        if len(data) - pos < size:
            break
        packets.append(data[pos + 4:pos + size])
        pos += size
    return packets, data[pos:]


def refused(packet: Packet) -> None:
    """RemoteError if `packet` is the server's ERR packet."""
    if isinstance(packet, bytes) and packet.startswith(b"ERR "):
        raise RemoteError(packet[4:].decode("utf-8", "replace").strip())


def _text(packet: Packet) -> str:
    if isinstance(packet, Special):
        raise WireError(f"unexpected {packet.name.lower()} packet")
    refused(packet)
    return packet.decode("utf-8", "replace").removesuffix("\n")


# -- the git:// URL ---------------------------------------------------------------------

@dataclass(frozen=True)
class Target:
    host: str  # as to connect (an IPv6 address without its brackets)
    port: int
    authority: str  # host[:port] as in the URL: the request's host= (git daemon's vhost)
    path: str  # as git sends it

    def request(self, version: int) -> bytes:
        """The git:// request for upload-pack; `version` 2 asks for protocol v2."""
        line = f"git-upload-pack {self.path}\0host={self.authority}\0"
        return pkt(line + (f"\0version={version}\0" if version > 0 else ""))


_GIT_URL = re.compile(r"git://(?P<authority>(?P<host>[A-Za-z0-9][A-Za-z0-9.-]*|"
                      r"\[[0-9A-Fa-f:.]+\])(?::(?P<port>[0-9]{1,5}))?)"
                      r"(?P<path>/[\x21-\x7e]*)")


def git_target(url: str) -> Target | None:
    """Where a git:// URL leads, or None when it is not one this module takes: credentials
    (user@), %-escapes (git decodes them), a query or fragment, spaces or control
    characters, an empty path."""
    found = _GIT_URL.fullmatch(url)
    if found is None or any(c in found["path"] for c in "%?#\\"):
        return None
    port = int(found["port"] or DEFAULT_PORT)
    path = found["path"]
    if not 0 < port < 65536 or path == "/":
        return None
    if path.startswith("/~"):  # git://host/~user/x is sent as ~user/x (connect.c)
        path = path[1:]
    host = found["host"].strip("[]")
    return Target(host, port, found["authority"], path)


_HTTP_URL = re.compile(r"https?://[A-Za-z0-9][A-Za-z0-9.-]*(?::[0-9]{1,5})?/[\x21-\x7e]*")
HTTP_ADVERTISEMENT = "application/x-git-upload-pack-advertisement"
HTTP_RESULT = "application/x-git-upload-pack-result"
HTTP_REQUEST = "application/x-git-upload-pack-request"
# curl (git's HTTP) reads these; pgod gives git none, but a worker started otherwise might
PROXY_ENV = frozenset({"http_proxy", "https_proxy", "all_proxy", "no_proxy"})


def http_base(url: str) -> str | None:
    """A smart-HTTP URL's base, ending in one slash, for `info/refs` and `git-upload-pack`
    (as git builds them), or None when it is not one this module takes: credentials, an
    IPv6 literal, %-escapes, a query or fragment, spaces or control characters."""
    if _HTTP_URL.fullmatch(url) is None or any(c in url for c in "%?#\\@"):
        return None
    return url.rstrip("/") + "/"


def service_header(packets: Sequence[Packet]) -> Sequence[Packet]:
    """Smart HTTP's v0 answer without its `# service=git-upload-pack` line and flush."""
    if len(packets) >= 2 and packets[0] == b"# service=git-upload-pack\n" and \
            packets[1] is Special.FLUSH:
        return packets[2:]
    raise WireError("not a smart HTTP advertisement")


# -- protocol v2 ------------------------------------------------------------------------

def is_v2(first: Packet) -> bool:
    return first == b"version 2\n"


def capabilities(packets: Iterable[Packet]) -> dict[str, str]:
    """v2's capability advertisement after its `version 2` line, up to the flush."""
    caps: dict[str, str] = {}
    for packet in packets:
        if packet is Special.FLUSH:
            return caps
        name, _, value = _text(packet).partition("=")
        caps[name] = value
    raise WireError("capability advertisement without its flush")


def ls_refs(ref: str, caps: Mapping[str, str]) -> bytes:
    """The v2 request for the refs starting with `ref` (the server's object format named
    back: a sha256 server refuses a client that does not), ended by a flush."""
    if "ls-refs" not in caps:
        raise WireError("the server does not offer ls-refs")
    lines = [pkt("command=ls-refs\n")]
    if caps.get("object-format"):
        lines.append(pkt(f"object-format={caps['object-format']}\n"))
    return b"".join([*lines, Special.DELIM.value, pkt(f"ref-prefix {ref}\n"),
                     Special.FLUSH.value])


def listed_refs(packets: Iterable[Packet]) -> dict[str, str]:
    """ls-refs' answer up to its flush: {ref name: object id}."""
    refs: dict[str, str] = {}
    for packet in packets:
        if packet is Special.FLUSH:
            return refs
        oid, _, rest = _text(packet).partition(" ")
        name = rest.split(" ", 1)[0]
        if not is_oid(oid) or not name:
            raise WireError(f"not a ref line: {_text(packet)[:100]!r}")
        refs[name] = oid
    raise WireError("ls-refs answer without its flush")


# -- protocol v0 ------------------------------------------------------------------------

def advertised_refs(packets: Sequence[Packet]) -> dict[str, str]:
    """v0's ref advertisement (after v1's `version 1` line, if any) up to its flush:
    {ref name: object id}; capabilities after the first line's NUL, peeled tags (^{}) and
    an empty repository's `capabilities^{}` line left out."""
    if packets and packets[0] == b"version 1\n":
        packets = packets[1:]
    refs: dict[str, str] = {}
    for i, packet in enumerate(packets):
        if packet is Special.FLUSH:
            return refs
        line = _text(packet)
        if i == 0:
            line = line.split("\0", 1)[0]
        oid, _, name = line.partition(" ")
        if not is_oid(oid) or not name:
            raise WireError(f"not a ref line: {line[:100]!r}")
        if not name.endswith("^{}"):
            refs[name] = oid
    raise WireError("ref advertisement without its flush")


# -- may the worker answer --------------------------------------------------------------

def env_defers(env: Mapping[str, str], url: str = "") -> str | None:
    """The first GIT_ variable not pgod's own (it could change what git does), or for an
    HTTP URL a proxy variable, or None."""
    http = url.startswith(("http://", "https://"))
    return next((name for name in sorted(env) if (name.startswith("GIT_") and
                 name not in OUR_GIT_ENV) or (http and name.lower() in PROXY_ENV)), None)


def config_defers(keys: Iterable[str], url: str) -> str | None:
    """The first config key (as `git config --list` names them: section and key lower
    case) that could change how git reaches `url`, or None. URL rewriting (insteadOf,
    pushInsteadOf), a proxy (core.gitProxy, http.proxy), what protocols git allows or
    speaks (protocol.*), an include (its file is not watched), a remote named as the URL
    (ls-remote would take that remote's URL); for an HTTP URL any http.* (TLS, headers,
    cookies, redirects) and credential.* key."""
    for key in keys:
        low = key.lower()
        if (low.startswith("url.") and low.endswith(("insteadof", "pushinsteadof"))) or \
                low in ("core.gitproxy", "http.proxy") or \
                low.startswith(("protocol.", "include.", "includeif.")) or \
                key.startswith(f"remote.{url}.") or \
                (url.startswith("http") and low.startswith(("http.", "credential."))):
            return key
    return None


def config_keys(listing: bytes) -> list[str]:
    """The keys of `git config --list -z` (each entry: key, newline, value, NUL)."""
    return [entry.split(b"\n", 1)[0].decode("utf-8", "replace")
            for entry in listing.split(b"\0") if entry]
