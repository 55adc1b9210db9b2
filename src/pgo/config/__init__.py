"""The TOML config: parsed into frozen dataclasses, strictly validated.

Every error names the file, the service and the key, and says what would be accepted.
`model` holds the values, `values` one checker per key, `parse` the file's structure,
`host` what is checked on this machine (users, groups, files) and read from it.
"""

from __future__ import annotations

from dataclasses import replace

from pgo.config.host import read_secret_files
from pgo.config.model import HEALTH_SETTLE, HEALTH_TIMEOUT, Config, ServiceConfig
from pgo.config.parse import parse_config
from pgo.errors import ConfigError

__all__ = ["HEALTH_SETTLE", "HEALTH_TIMEOUT", "Config", "ServiceConfig", "config_from_text",
           "load_config", "parse_config"]


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
        read_secret_files(s, path) if s.runs_on(hosts) else s for s in config.services))
