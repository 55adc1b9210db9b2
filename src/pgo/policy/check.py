"""The policy's entry point: every check, each message tied to its compose service."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pgo.policy.extends import check_extends
from pgo.policy.paths import check_host_paths
from pgo.policy.service import check_service
from pgo.policy.shapes import canonical_model
from pgo.policy.toplevel import check_project
from pgo.ports import PortRange


@dataclass(frozen=True)
class Violation:
    """One reason a project is refused, tied to the compose service it comes from
    ("" for the project as a whole)."""

    service: str
    message: str

    def __str__(self) -> str:
        where = f"compose service {self.service!r}" if self.service else "compose file"
        return f"{where}: {self.message}"


def check_policy(model: Mapping[str, Any], allowed: Sequence[PortRange],
                 compose_dir: str = "", symlinks: Collection[str] = (),
                 compose_file: str = "", build_urls: Sequence[str] = (),
                 secrets_dir: str | None = None) -> list[Violation]:
    """Every violation of the project; an empty list means it may run.

    `compose_dir` is the compose file's directory in the repository ("" for the top), so
    that `../x` from a subdirectory is still inside the repository. `symlinks` are the
    repository paths of every symlink in the commit, `compose_file` the compose file's
    repository path (without it, every name podman-compose looks for in `compose_dir`),
    `build_urls` the patterns of URL build contexts the service may use (`buildurls`),
    `secrets_dir` the absolute directory of the service's decrypted files, whose files
    (and nothing around them) an `env_file` or a top-level secret's `file` may name.
    The checks read the model in its canonical shapes (`shapes.canonical_model`); a value
    in any other shape is refused first.
    """
    model, shapes = canonical_model(model)
    if shapes:  # the checks below read canonical shapes only
        return [Violation(service, message) for service, message in shapes]
    found = [Violation("", message) for message in check_project(model)]
    for name, service in (model.get("services") or {}).items():
        if isinstance(service, Mapping):
            found += [Violation(str(name), m) for m in check_service(service, allowed,
                                                                         build_urls)]
    found += [Violation(service, message) for service, message in
              check_extends(model.get("services") or {})]
    found += [Violation(service, message) for service, message in
              check_host_paths(model, compose_dir, frozenset(symlinks), compose_file,
                               secrets_dir)]
    return found
