"""What the config is checked against on this machine: users, groups and the files it
names (env_file, signers, registry tokens), and `file:` secrets read from root-only files.
"""

from __future__ import annotations

import grp
import os
import pwd
from dataclasses import replace

from pgo import hostenv
from pgo.config.model import ServiceConfig
from pgo.errors import ConfigError, PgoError
from pgo.privatefile import Unsafe, read_private
from pgo.registries import token_file_problem


def read_secret_files(service: ServiceConfig, path: str) -> ServiceConfig:
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


def check_accounts(service: ServiceConfig, path: str) -> None:
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
