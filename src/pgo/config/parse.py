"""The TOML config parsed: each `[[services]]` table checked key by key
(`pgo.config.values`), defaults from the top level, names and URL claims unique."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from typing import Any

from pgo.config import host, values
from pgo.config.model import HEALTH_SETTLE, HEALTH_TIMEOUT, Config, ServiceConfig
from pgo.errors import ConfigError
from pgo.names import NAME_RE
from pgo.proxy.urls import parse_site

_SERVICE_KEYS = frozenset(
    {"name", "user", "group", "repository", "branch", "urls", "ports", "compose",
     "health_timeout", "health_settle", "build_urls", "signers",
     "signers_gpg", "webhook_secret", "machines", "notify", "registries", "image_updates",
     "env", "env_file"}
)
_REQUIRED = ("name", "repository", "user")


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
    default_signers = (values.check_signers(data.get("signers"), path, None),
                       values.check_signers(data.get("signers_gpg"), path, None, "signers_gpg"))
    default_notify = values.check_notify(data.get("notify", []), path, None)
    default_updates = values.image_updates(data, 0.0, path, None)
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
            host.check_accounts(service, path)
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
    ports = values.parse_ports(table.get("ports", []), path, name)
    return ServiceConfig(
        name=name,
        user=table["user"],
        group=table.get("group"),
        repository=values.check_repository(table["repository"], path, name),
        branch=values.check_branch(table.get("branch", "main"), path, name),
        urls=values.parse_urls(table.get("urls", {}), ports, path, name),
        ports=ports,
        compose=values.check_compose(table.get("compose"), path, name),
        health_timeout=values.duration(table, "health_timeout", HEALTH_TIMEOUT, path, name),
        health_settle=values.duration(table, "health_settle", HEALTH_SETTLE, path, name),
        build_urls=values.parse_build_urls(table.get("build_urls", []), path, name),
        signers=values.check_signers(table.get("signers", default_signers[0]), path, name),
        signers_gpg=values.check_signers(table.get("signers_gpg", default_signers[1]), path, name,
                                   "signers_gpg"),
        webhook_secret=values.check_webhook_secret(table.get("webhook_secret"), path, name),
        machines=values.parse_machines(table.get("machines", []), path, name),
        notify=tuple(dict.fromkeys(  # the service's own add to the global ones
            (*default_notify, *values.check_notify(table.get("notify", []), path, name)))),
        registries=values.parse_registries(table.get("registries", []), path, name),
        image_updates=values.image_updates(table, default_updates, path, name),
        env=values.parse_env(table.get("env", []), path, name),
        env_file=values.check_env_file(table.get("env_file"), path, name),
    )


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
