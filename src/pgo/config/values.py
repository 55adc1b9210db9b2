"""One checker per config key: the value as TOML gave it in, the canonical value out, or a
ConfigError naming the file, the service and the key (and never quoting a secret).

Pure: nothing here reads a file or asks the host (see `pgo.config.host`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import PurePosixPath
from typing import Any

from pgo import hostenv
from pgo.duration import parse_duration
from pgo.errors import ConfigError
from pgo.notify import urls as notify_urls
from pgo.ports import PortRange, parse_port_range
from pgo.proxy.urls import HOST_RE as _HOST_RE
from pgo.proxy.urls import parse_site, parse_target
from pgo.registries import Registry, parse_registry


def check_notify(value: Any, path: str, name: str | None) -> tuple[str, ...]:
    """Apprise URLs (ntfy://, slack://, json://, mailto://, ...), each one Apprise parses."""
    if not isinstance(value, list):
        raise ConfigError(path, 'must be a list of Apprise URLs such as ["ntfy://ntfy.sh/'
                          'TOPIC"]', name, "notify")
    for index, url in enumerate(value):
        if not isinstance(url, str):
            raise ConfigError(path, f"item {index + 1} is not a string", name, "notify")
        if (problem := notify_urls.problem(url)) is not None:
            raise ConfigError(path, f"item {index + 1}: {problem}", name, "notify")
    return tuple(value)


def image_updates(table: Mapping[str, Any], default: float, path: str,
                   name: str | None) -> float:
    """A Go duration between image update checks: "0s" (off, the default) or 1s to 720h
    (a registry is asked at each)."""
    value = table.get("image_updates")
    if value is None:
        return default
    try:
        if not isinstance(value, str):
            raise ValueError(f"{value!r} is not a string such as \"6h\"")
        seconds = parse_duration(value)
    except ValueError as err:
        raise ConfigError(path, str(err), name, "image_updates") from None
    if seconds != 0 and not 1 <= seconds <= 30 * 86400:
        raise ConfigError(path, f"{value!r} must be 0s (off) or between 1s and 720h", name,
                          "image_updates")
    return seconds


def parse_registries(value: Any, path: str, name: str) -> tuple[Registry, ...]:
    """`["USER:TOKEN@REGISTRY", "USER:@file:/PATH@REGISTRY"]`: one login per registry."""
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(path, 'must be a list such as ["deploy:TOKEN@registry.example.org"]',
                          name, "registries")
    found: list[Registry] = []
    for item in value:
        try:
            registry = parse_registry(item)
        except ValueError as err:
            raise ConfigError(path, str(err), name, "registries") from None
        if any(r.host == registry.host for r in found):
            raise ConfigError(path, f"{registry.host} is given twice", name, "registries")
        found.append(registry)
    return tuple(found)


def parse_env(value: Any, path: str, name: str) -> tuple[tuple[str, str], ...]:
    """The Go original's `env = ["KEY=VALUE", ...]`: (key, value) pairs, in order, the
    last of a repeated key winning. Errors name the key, never the value."""
    if not isinstance(value, list):
        raise ConfigError(path, 'must be a list such as ["KEY=VALUE"]', name, "env")
    pairs: dict[str, str] = {}
    for index, item in enumerate(value):
        if not isinstance(item, str) or "=" not in item:
            raise ConfigError(path, f"entry {index + 1} is not a string KEY=VALUE", name,
                              "env")
        key, _, text = item.partition("=")
        if (why := hostenv.bad_name(key)) is not None:
            raise ConfigError(path, f"entry {index + 1}: {why}", name, "env")
        pairs[key] = text
    return tuple(pairs.items())


def check_env_file(value: Any, path: str, name: str) -> str | None:
    """A root-owned file of KEY=VALUE lines, absolute path; checked when pgod starts."""
    if value is None:
        return None
    if not isinstance(value, str) or not value.startswith("/") or "\n" in value:
        raise ConfigError(path, f"{value!r} must be the absolute path of a root-owned file "
                          'of KEY=VALUE lines, such as "/etc/pgo/env/NAME.env"', name,
                          "env_file")
    return value


def check_signers(value: Any, path: str, name: str | None,
                   key: str = "signers") -> str | None:
    """An allowed-signers file (ssh-keygen -Y / git's gpg.ssh.allowedSignersFile) or, for
    signers_gpg, a GPG keyring: an absolute path. Whether it exists is checked at start."""
    if value is None:
        return None
    if not isinstance(value, str) or not value.startswith("/") or "\n" in value:
        what = ('an allowed-signers file, such as "/etc/pgo/signers"' if key == "signers"
                else 'a GPG keyring (gpg --export), such as "/etc/pgo/signers.gpg"')
        raise ConfigError(path, f"{value!r} must be the absolute path of {what}", name, key)
    return value


def parse_machines(value: Any, path: str, name: str) -> tuple[str, ...]:
    """Host names (as `hostname -s` or `hostname -f` print them), lowercased."""
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(path, 'must be a list of host names, such as ["web1", "db1"]',
                          name, "machines")
    for machine in value:
        if not _HOST_RE.fullmatch(machine.lower()) or machine.startswith("*"):
            raise ConfigError(path, f"{machine!r} is not a host name", name, "machines")
    return tuple(v.lower() for v in value)


def check_webhook_secret(value: Any, path: str, name: str) -> str | None:
    """A secret of 16 characters or more, or "file:/PATH" of a root-only file holding it.
    Errors never quote the value."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise ConfigError(path, "must be a string: the secret, or \"file:/PATH\"", name,
                          "webhook_secret")
    if value.startswith("file:"):
        if not value.startswith("file:/"):
            raise ConfigError(path, "a secret file must be an absolute path, such as "
                              '"file:/etc/pgo/hook.secret"', name, "webhook_secret")
        return value
    if len(value) < 16 or value != value.strip():
        raise ConfigError(path, "must be at least 16 characters, without surrounding "
                          "spaces (or \"file:/PATH\" of a root-only file)", name,
                          "webhook_secret")
    return value


def duration(table: Mapping[str, Any], key: str, default: float, path: str,
              name: str) -> float:
    """A Go duration such as "2m" or "90s"; at least 0s, at most a day."""
    if key not in table:
        return default
    value = table[key]
    try:
        if not isinstance(value, str):
            raise ValueError(f"{value!r} is not a string such as \"2m\"")
        seconds = parse_duration(value)
    except ValueError as err:
        raise ConfigError(path, str(err), name, key) from None
    if not 0 <= seconds <= 86400:
        raise ConfigError(path, f"{value!r} must be between 0s and 24h", name, key)
    return seconds


def parse_build_urls(value: Any, path: str, name: str) -> tuple[str, ...]:
    """Shell patterns of the URLs a build may fetch its context from, with a scheme and a
    host: `https://github.com/org/*`."""
    if not isinstance(value, list):
        raise ConfigError(path, 'must be a list of URL patterns such as '
                          '["https://github.com/org/*"]', name, "build_urls")
    for item in value:
        if not isinstance(item, str) or not re.match(r"(https?|git|ssh)://[^/\s*?]+/\S*\Z",
                                                     item):
            raise ConfigError(path, f"{item!r} is not a URL pattern with an https, http, git "
                              "or ssh scheme and a host without wildcards, such as "
                              '"https://github.com/org/*"', name, "build_urls")
    return tuple(value)


def parse_ports(value: Any, path: str, name: str) -> tuple[PortRange, ...]:
    if not isinstance(value, list):
        raise ConfigError(path, 'must be a list of port ranges such as ["5005/5"]', name, "ports")
    ranges = []
    for item in value:
        text = str(item) if isinstance(item, int) and not isinstance(item, bool) else item
        if not isinstance(text, str):
            raise ConfigError(path, f"{item!r} is not a string such as \"5005/5\"", name, "ports")
        try:
            ranges.append(parse_port_range(text))
        except ValueError as err:
            raise ConfigError(path, str(err), name, "ports") from err
    return tuple(ranges)


def parse_urls(value: Any, ports: tuple[PortRange, ...], path: str,
                name: str) -> tuple[tuple[str, str], ...]:
    """`urls`: (the normalized key, the target) pairs; see `pgo.proxy.urls`."""
    if not isinstance(value, dict):
        raise ConfigError(path, 'must be a table such as { "example.org" = ":5006" }',
                          name, "urls")
    urls: dict[str, str] = {}
    for key, target in value.items():
        try:
            site, port = parse_site(key), parse_target(target).port
        except ValueError as err:
            raise ConfigError(path, str(err), name, "urls") from None
        if not any(port in r for r in ports):
            allowed = ", ".join(map(str, ports)) or "none"
            raise ConfigError(path, f"{key!r}: port {port} is outside the service's ports "
                              f"(allowed: {allowed})", name, "urls")
        same = next((k for k in urls if parse_site(k).claims() == site.claims()), None)
        if same is not None:
            raise ConfigError(path, f"{key!r} and {same!r} are the same host and path",
                              name, "urls")
        urls[site.key] = target
    return tuple(urls.items())


def check_repository(url: str, path: str, name: str) -> str:
    if url.startswith("-") or any(c.isspace() or ord(c) < 32 for c in url):
        raise ConfigError(path, f"{url!r} is not a git URL", name, "repository")
    if url.startswith("ext::") or "::" in url.split("/", 1)[0]:
        raise ConfigError(path, "git remote helpers (TRANSPORT::ADDRESS) are not allowed",
                          name, "repository")
    return url


def check_branch(branch: str, path: str, name: str) -> str:
    bad = (branch.startswith(("-", "/")) or branch.endswith(("/", ".lock", "."))
           or ".." in branch or "//" in branch or "@{" in branch
           or any(c.isspace() or c in "~^:?*[\\" or ord(c) < 32 for c in branch))
    if bad:
        raise ConfigError(path, f"{branch!r} is not a valid branch name", name, "branch")
    return branch


def check_compose(value: str | None, path: str, name: str) -> str | None:
    if value is None:
        return None
    parts = PurePosixPath(value).parts
    if value.startswith("/") or ".." in parts or not parts:
        raise ConfigError(path, f"{value!r} must be a path inside the repository", name, "compose")
    return str(PurePosixPath(*parts))
