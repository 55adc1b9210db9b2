"""The config's values: one frozen `ServiceConfig` per `[[services]]` table, and the
whole file as a `Config`."""

from __future__ import annotations

from dataclasses import dataclass, field

from pgo.ports import PortRange
from pgo.registries import Registry

HEALTH_TIMEOUT = 120.0  # seconds a deploy may take to become ready (Go duration "2m")
HEALTH_SETTLE = 10.0    # seconds a ready project must stay so (no restart, no exit)


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
