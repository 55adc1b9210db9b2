"""Build contexts that are URLs: fetched by the host, with the host's network.

`podman build URL` has git or curl fetch the context on the host, where the service's
containers cannot reach: a URL pointing at a service on the host's loopback (or a private
network only the host sees) would bake into the image what only the host can read, the
same reach `allow_host_loopback` would give. So a URL context (`build.context`, or an
https/git/ssh `build.additional_contexts` entry) needs a per-service allowance in pgod's
config, `build_urls = ["https://github.com/org/*"]` (shell patterns, matched against the
whole URL), and a loopback, link-local or private address is refused unless an allowance
names that host itself (not through a wildcard). Paths inside the repository need none.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import urllib.parse
from collections.abc import Iterator, Mapping, Sequence

from pgo.composefile import is_remote_context

_REMOTE = ("https://", "http://", "git://", "ssh://")


def check_build_urls(build: object, allowed: Sequence[str]) -> Iterator[str]:
    """A message for each URL context of a (canonical) build that `allowed` does not admit."""
    spec = build if isinstance(build, Mapping) else {}
    context = spec.get("context", ".")
    contexts = [("build.context", context)] if isinstance(context, str) else []
    for item in spec.get("additional_contexts") or []:
        if isinstance(item, str):
            contexts.append(("build.additional_contexts", item.partition("=")[2]))
    for key, url in contexts:
        if is_remote_url(url) and not url.startswith("-"):  # (others: refused by name)
            yield from check_build_url(key, url, allowed)


def is_remote_url(text: str) -> bool:
    """An https/http/git/ssh URL with a host, or git's user@host:path."""
    if text.startswith(_REMOTE):
        return bool(text.split("://", 1)[1].split("/", 1)[0])
    return is_remote_context(text) and "@" in text.split(":", 1)[0]


def check_build_url(key: str, url: str, allowed: Sequence[str]) -> Iterator[str]:
    host = url_host(url)
    if host is None or _unclear(url):
        yield f"{key} {url!r} is not a URL pgod can judge (no host, or userinfo, '..', " \
              "'\\', '%', whitespace or control characters in it); use a path in the " \
              "repository or a plain https URL"
        return
    matching = [p for p in allowed if matches(url, p)]
    if not matching:
        shown = ", ".join(allowed) if allowed else "none"
        yield f"{key} {url!r} is a URL, which the host fetches with its own network (what " \
              "only the host can reach would be built into the image); allow it in this " \
              "service's pgod config, e.g. build_urls = [\"https://github.com/org/*\"] " \
              f"(allowed now: {shown}), or use a path in the repository"
    elif is_internal(host) and not any(url_host(p) == host for p in matching):
        yield f"{key} {url!r} reaches {host}, a loopback, link-local or private address " \
              "that only the host can reach; a build_urls pattern must name that host " \
              "itself to allow it"


def matches(url: str, pattern: str) -> bool:
    """`*` any characters, `?` one; nothing else is special (`[::1]` is a host)."""
    regex = re.escape(pattern).replace(r"\*", ".*").replace(r"\?", ".")
    return re.fullmatch(regex, url) is not None


def url_host(url: str) -> str | None:
    """The host a URL (or git's `user@host:path`) names, lowercased, without brackets."""
    text = url if "://" in url else "ssh://" + url.replace(":", "/", 1)
    try:
        host = urllib.parse.urlsplit(text).hostname
    except ValueError:
        return None
    return host.lower() if host else None


def _unclear(url: str) -> bool:
    """What different URL readers (git, curl, fnmatch) could read as different hosts or
    paths: userinfo (but git's own `git@`), dot segments, backslashes, escapes, spaces."""
    head = url.split("://", 1)[-1].split("/", 1)[0]
    userinfo = head.rpartition("@")[0] if "@" in head else ""
    return (bool(userinfo) and userinfo != "git") or any(
        c in url for c in "\\% \t") or any(ord(c) < 0x20 or c == "\x7f" for c in url) or \
        "/../" in url + "/" or "/./" in url + "/"


def is_internal(host: str) -> bool:
    """Loopback, link-local, private or unspecified, in any spelling git's resolver takes
    (`127.1`, `0x7f000001`, `2130706433`, `[::ffff:127.0.0.1]`), or a localhost name."""
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        address: ipaddress.IPv4Address | ipaddress.IPv6Address = ipaddress.ip_address(
            host.split("%", 1)[0])
    except ValueError:
        try:
            address = ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return False  # a DNS name: the allowance is the administrator's to judge
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return address.is_loopback or address.is_link_local or address.is_private or \
        address.is_unspecified or address.is_reserved
