"""The TOML config: parsed into frozen dataclasses, strictly validated.

Every error names the file, the service and the key, and says what would be accepted.
"""

from __future__ import annotations

import grp
import os
import pwd
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import PurePosixPath
from typing import Any

from pgo import hostenv
from pgo.duration import parse_duration
from pgo.errors import ConfigError, PgoError
from pgo.names import NAME_RE
from pgo.notify import urls as notify_urls
from pgo.ports import PortRange, parse_port_range
from pgo.privatefile import Unsafe, read_private
from pgo.proxy.urls import HOST_RE as _HOST_RE
from pgo.proxy.urls import parse_site, parse_target
from pgo.registries import Registry, parse_registry, token_file_problem

_SERVICE_KEYS = frozenset(
    {"name", "user", "group", "repository", "branch", "urls", "ports", "compose",
     "health_timeout", "health_settle", "build_urls", "signers",
     "signers_gpg", "webhook_secret", "machines", "notify", "registries", "image_updates",
     "env", "env_file"}
)
HEALTH_TIMEOUT = 120.0  # seconds a deploy may take to become ready (Go duration "2m")
HEALTH_SETTLE = 10.0    # seconds a ready project must stay so (no restart, no exit)
_REQUIRED = ("name", "repository", "user")


@dataclass(frozen=True)
class ServiceConfig:
    """One `[[services]]` table."""

    name: str
    user: str
    repository: str
    branch: str = "main"
    group: str | None = None
    urls: tuple[tuple[str, str], ...] = ()
    ports: tuple[PortRange, ...] = ()
    compose: str | None = None
    health_timeout: float = HEALTH_TIMEOUT
    health_settle: float = HEALTH_SETTLE
    build_urls: tuple[str, ...] = ()  # URL build contexts allowed (shell patterns)
    signers: str | None = None  # allowed-signers file: only commits signed by one deploy
    signers_gpg: str | None = None  # a GPG keyring: commits signed by its keys deploy too
    # what signs (or is) a push event's webhook request; never shown (repr=False)
    webhook_secret: str | None = field(default=None, repr=False)
    machines: tuple[str, ...] = ()  # the host names that run it; () is every machine
    notify: tuple[str, ...] = ()  # Apprise URLs told of deploys and failures (pgo.notify)
    registries: tuple[Registry, ...] = ()  # logins before a pull (tokens never shown)
    image_updates: float = 0.0  # seconds between image update checks; 0: none

    # Host-side variables for compose's interpolation (`env`, given in the config, and the
    # root-only `env_file`, read at each deploy): values never shown, hence no repr.
    env: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    env_file: str | None = None

    def runs_on(self, hosts: frozenset[str] | None) -> bool:
        """Whether a pgod on a machine called any of `hosts` runs it (None: any machine)."""
        return hosts is None or not self.machines or any(m in hosts for m in self.machines)


@dataclass(frozen=True)
class Config:
    """The whole config file."""

    path: str
    services: tuple[ServiceConfig, ...] = field(default=())
    signers: str | None = None  # the top-level default (it also judges config commits)

    def service(self, name: str) -> ServiceConfig | None:
        return next((s for s in self.services if s.name == name), None)


def load_config(path: str, *, check_accounts: bool = True,
                hosts: frozenset[str] | None = None) -> Config:
    """Read and validate the config file at `path`; users and groups are checked for the
    services that run on `hosts` (None: every service)."""
    try:
        with open(path, "rb") as handle:
            text = handle.read().decode("utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(path, f"cannot read config: {err}") from err
    return config_from_text(text, path, check_accounts=check_accounts, hosts=hosts)


def config_from_text(text: str, path: str, *, check_accounts: bool = True,
                     hosts: frozenset[str] | None = None) -> Config:
    """A config file's text (from a file or a git commit, `path` naming it), validated as
    load_config does, secret files read."""
    config = parse_config(text, path, check_accounts=check_accounts, hosts=hosts)
    return replace(config, services=tuple(
        _read_secret_files(s, path) if s.runs_on(hosts) else s for s in config.services))


def _read_secret_files(service: ServiceConfig, path: str) -> ServiceConfig:
    """`webhook_secret = "file:/etc/pgo/NAME.hook"`: the secret, from a root-only file."""
    secret = service.webhook_secret
    if secret is None or not secret.startswith("file:"):
        return service
    try:
        text = read_private(secret.removeprefix("file:")).strip()
    except Unsafe as err:
        raise ConfigError(path, str(err), service.name,
                          "webhook_secret") from None
    if not text:
        raise ConfigError(path, f"{secret.removeprefix('file:')} is empty",
                          service.name, "webhook_secret")
    return replace(service, webhook_secret=text)


def parse_config(text: str, path: str, *, check_accounts: bool = False,
                 hosts: frozenset[str] | None = None) -> Config:
    """Parse config text; `check_accounts` also requires users and groups to exist (for
    the services that run on `hosts`: another machine's users need not exist here)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(path, f"invalid TOML: {err}") from err
    unknown = sorted(set(data) - {"services", "signers", "signers_gpg", "notify",
                                  "image_updates"})
    if unknown:
        raise ConfigError(path, "unknown top-level key; accepted: signers, signers_gpg, "
                          "notify, image_updates and [[services]] tables", key=unknown[0])
    default_signers = (_check_signers(data.get("signers"), path, None),
                       _check_signers(data.get("signers_gpg"), path, None, "signers_gpg"))
    default_notify = _check_notify(data.get("notify", []), path, None)
    default_updates = _image_updates(data, 0.0, path, None)
    tables = data.get("services", [])
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        raise ConfigError(path, "must be an array of tables: [[services]]", key="services")
    services: list[ServiceConfig] = []
    for index, table in enumerate(tables):
        service = _parse_service(table, path, index, default_signers, default_notify,
                                 default_updates)
        if any(s.name == service.name for s in services):
            raise ConfigError(path, "duplicate service name", service.name, "name")
        _check_claims(services, service, path)
        if check_accounts and service.runs_on(hosts):
            _check_accounts(service, path)
        services.append(service)
    return Config(path=path, services=tuple(services), signers=default_signers[0])


def _parse_service(table: Mapping[str, Any], path: str, index: int,
                   default_signers: tuple[str | None, str | None] = (None, None),
                   default_notify: tuple[str, ...] = (),
                   default_updates: float = 0.0) -> ServiceConfig:
    label = str(table.get("name", f"#{index + 1}"))
    unknown = sorted(set(table) - _SERVICE_KEYS)
    if unknown:
        accepted = ", ".join(sorted(_SERVICE_KEYS))
        raise ConfigError(path, f"unknown key; accepted keys are {accepted}", label, unknown[0])
    for key in _REQUIRED:
        if key not in table:
            raise ConfigError(path, "missing required key", label, key)
    for key in ("name", "user", "group", "repository", "branch", "compose"):
        if key in table and (not isinstance(table[key], str) or not table[key]):
            raise ConfigError(path, "must be a non-empty string", label, key)
    name = table["name"]
    if not NAME_RE.fullmatch(name):
        raise ConfigError(path, "must be 1-63 characters of a-z, 0-9, '_' and '-', starting "
                          "with a letter or digit (it names a directory and a compose project)",
                          label, "name")
    ports = _parse_ports(table.get("ports", []), path, name)
    return ServiceConfig(
        name=name,
        user=table["user"],
        group=table.get("group"),
        repository=_check_repository(table["repository"], path, name),
        branch=_check_branch(table.get("branch", "main"), path, name),
        urls=_parse_urls(table.get("urls", {}), ports, path, name),
        ports=ports,
        compose=_check_compose(table.get("compose"), path, name),
        health_timeout=_duration(table, "health_timeout", HEALTH_TIMEOUT, path, name),
        health_settle=_duration(table, "health_settle", HEALTH_SETTLE, path, name),
        build_urls=_parse_build_urls(table.get("build_urls", []), path, name),
        signers=_check_signers(table.get("signers", default_signers[0]), path, name),
        signers_gpg=_check_signers(table.get("signers_gpg", default_signers[1]), path, name,
                                   "signers_gpg"),
        webhook_secret=_check_webhook_secret(table.get("webhook_secret"), path, name),
        machines=_parse_machines(table.get("machines", []), path, name),
        notify=tuple(dict.fromkeys(  # the service's own add to the global ones
            (*default_notify, *_check_notify(table.get("notify", []), path, name)))),
        registries=_parse_registries(table.get("registries", []), path, name),
        image_updates=_image_updates(table, default_updates, path, name),
        env=_parse_env(table.get("env", []), path, name),
        env_file=_check_env_file(table.get("env_file"), path, name),
    )


def _check_notify(value: Any, path: str, name: str | None) -> tuple[str, ...]:
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


def _image_updates(table: Mapping[str, Any], default: float, path: str,
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


def _parse_registries(value: Any, path: str, name: str) -> tuple[Registry, ...]:
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


def _parse_env(value: Any, path: str, name: str) -> tuple[tuple[str, str], ...]:
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


def _check_env_file(value: Any, path: str, name: str) -> str | None:
    """A root-owned file of KEY=VALUE lines, absolute path; checked when pgod starts."""
    if value is None:
        return None
    if not isinstance(value, str) or not value.startswith("/") or "\n" in value:
        raise ConfigError(path, f"{value!r} must be the absolute path of a root-owned file "
                          'of KEY=VALUE lines, such as "/etc/pgo/env/NAME.env"', name,
                          "env_file")
    return value


def _check_signers(value: Any, path: str, name: str | None,
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


def _parse_machines(value: Any, path: str, name: str) -> tuple[str, ...]:
    """Host names (as `hostname -s` or `hostname -f` print them), lowercased."""
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(path, 'must be a list of host names, such as ["web1", "db1"]',
                          name, "machines")
    for machine in value:
        if not _HOST_RE.fullmatch(machine.lower()) or machine.startswith("*"):
            raise ConfigError(path, f"{machine!r} is not a host name", name, "machines")
    return tuple(v.lower() for v in value)


def _check_webhook_secret(value: Any, path: str, name: str) -> str | None:
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


def _duration(table: Mapping[str, Any], key: str, default: float, path: str,
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


def _parse_build_urls(value: Any, path: str, name: str) -> tuple[str, ...]:
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


def _parse_ports(value: Any, path: str, name: str) -> tuple[PortRange, ...]:
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


def _parse_urls(value: Any, ports: tuple[PortRange, ...], path: str,
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


def _check_claims(services: list[ServiceConfig], service: ServiceConfig, path: str) -> None:
    """Two services that may run on one machine may not claim one host name and path:
    its Caddy could route it to one of them only."""
    for key, _ in service.urls:
        claim = parse_site(key).claims()
        other = next((s for s in services if _may_share(s, service) for k, _ in s.urls
                      if parse_site(k).claims() == claim), None)
        if other is not None:
            raise ConfigError(path, f"{key!r} is claimed by service {other.name!r} too; a "
                              "host name and path may route to one service", service.name,
                              "urls")


def _may_share(one: ServiceConfig, two: ServiceConfig) -> bool:
    """Whether `one` and `two` may run on one machine: either runs on every machine, or
    their `machines` share a name (compared by the first label: web1 is web1.example.org)."""
    if not one.machines or not two.machines:
        return True
    return bool({m.split(".")[0] for m in one.machines} & {m.split(".")[0] for m in two.machines})


def _check_repository(url: str, path: str, name: str) -> str:
    if url.startswith("-") or any(c.isspace() or ord(c) < 32 for c in url):
        raise ConfigError(path, f"{url!r} is not a git URL", name, "repository")
    if url.startswith("ext::") or "::" in url.split("/", 1)[0]:
        raise ConfigError(path, "git remote helpers (TRANSPORT::ADDRESS) are not allowed",
                          name, "repository")
    return url


def _check_branch(branch: str, path: str, name: str) -> str:
    bad = (branch.startswith(("-", "/")) or branch.endswith(("/", ".lock", "."))
           or ".." in branch or "//" in branch or "@{" in branch
           or any(c.isspace() or c in "~^:?*[\\" or ord(c) < 32 for c in branch))
    if bad:
        raise ConfigError(path, f"{branch!r} is not a valid branch name", name, "branch")
    return branch


def _check_compose(value: str | None, path: str, name: str) -> str | None:
    if value is None:
        return None
    parts = PurePosixPath(value).parts
    if value.startswith("/") or ".." in parts or not parts:
        raise ConfigError(path, f"{value!r} must be a path inside the repository", name, "compose")
    return str(PurePosixPath(*parts))


def _check_accounts(service: ServiceConfig, path: str) -> None:
    if service.env_file is not None:
        try:
            hostenv.read_env_file(service.env_file)
        except PgoError as err:
            raise ConfigError(path, str(err), service.name, "env_file") from None
    if service.signers is not None and not os.path.isfile(service.signers):
        raise ConfigError(path, f"allowed-signers file {service.signers!r} does not exist",
                          service.name, "signers")
    if service.signers_gpg is not None and not os.path.isfile(service.signers_gpg):
        raise ConfigError(path, f"GPG keyring {service.signers_gpg!r} does not exist",
                          service.name, "signers_gpg")
    for registry in service.registries:
        if registry.token_file and (problem := token_file_problem(registry.token_file)):
            raise ConfigError(path, problem, service.name, "registries")
    try:
        pwd.getpwnam(service.user)
    except KeyError:
        raise ConfigError(path, f"no such user {service.user!r} on this machine",
                          service.name, "user") from None
    if service.group is None:
        return
    try:
        group = grp.getgrnam(service.group)
    except KeyError:
        raise ConfigError(path, f"no such group {service.group!r} on this machine",
                          service.name, "group") from None
    primary = pwd.getpwnam(service.user).pw_gid
    if group.gr_gid != primary and service.user not in group.gr_mem:
        raise ConfigError(path, f"user {service.user!r} is not a member of group "
                          f"{service.group!r}", service.name, "group")
