"""Host paths: inside the repository, not through a committed symlink, not in .git, and
no writable mount over what podman-compose reads on the host."""

from __future__ import annotations

import posixpath
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from pgo.composefile import (
    COMPOSE_NAMES,
    PODMAN_COMPOSE_NAMES,
    HostPath,
    default_dockerfiles,
    host_paths,
    repo_path,
)

_FROM_TOP = " (podman resolves it from the repository's top, where pgod runs podman-compose, " \
            "not from the compose file's directory)"


def check_host_paths(model: Mapping[str, Any], compose_dir: str, symlinks: frozenset[str],
                      compose_file: str, secrets_dir: str | None = None,
                      ) -> list[tuple[str, str]]:
    """(compose service, message) for every host path that breaks the rules. A file
    directly in `secrets_dir` (pgod's decrypted files) is fine as an env file or a
    secret's file, and nowhere else."""
    found: list[tuple[str, str]] = []
    inside: list[tuple[HostPath, str]] = []
    for path in host_paths(model):
        if is_decrypted_file(path, secrets_dir):
            continue
        where = repo_path(path.base(compose_dir), path.path)
        if any(ord(c) < 0x20 or c == "\x7f" for c in path.path):
            found.append((path.service, f"{path.key} {path.path!r} holds a control character "
                          "(a NUL ends the path for podman); rename the file"))
            continue
        if where is None:
            found.append((path.service, f"{path.key} {path.path!r} is outside the "
                          "repository (absolute, ~ or ..); use paths inside it" + (
                              _FROM_TOP if path.from_top and compose_dir else "")))
            continue
        inside.append((path, where))
        message = _check_repo_path(path, compose_dir, symlinks)
        if message:
            found.append((path.service, message))
    for service, file in default_dockerfiles(model, compose_dir):
        if file in symlinks:
            found.append((service, f"{file} is a symlink in the repository, which "
                          "podman-compose would follow on the host; commit the file"))
    read = [*inside, *_read_by_pgod(compose_dir, compose_file)]
    for path, where in inside:
        if path.writable:
            found += [(path.service, m) for m in _check_writable(path, where, read)]
    return found


def is_decrypted_file(path: HostPath, secrets_dir: str | None) -> bool:
    """Whether `path` is an env file or a top-level secret's file that names a file
    directly in `secrets_dir`, as written (no `.`, `..`, `//` or trailing `/`)."""
    key_ok = path.key == "env_file" or (path.key.startswith("secrets.") and
                                        path.key.endswith(".file"))
    head, _, name = path.path.rpartition("/")
    return bool(secrets_dir) and key_ok and head == secrets_dir and \
        name not in ("", ".", "..")


def _check_repo_path(path: HostPath, compose_dir: str, symlinks: frozenset[str]) -> str | None:
    """`.git`, or a committed symlink on the way (checked as written: podman-compose
    resolves some paths with realpath, so `link/..` goes through `link`)."""
    parts = path.path.split("/")
    walked = [repo_path(path.base(compose_dir), "/".join(parts[:n]))
              for n in range(1, len(parts) + 1)]
    for where in walked:
        if where == ".git" or (where or "").startswith(".git/"):
            return f"{path.key} {path.path!r} is in .git, which pgod's git commands read " \
                   "(its config can run commands on the host); use another directory"
        if where in symlinks:
            return f"{path.key} {path.path!r} goes through {where!r}, a symlink in the " \
                   "repository that could point anywhere on the host; commit the files " \
                   "themselves"
    return None


def _read_by_pgod(compose_dir: str, compose_file: str) -> Iterator[tuple[HostPath, str]]:
    """The compose file and both `.env` files, which podman-compose reads from the checkout."""
    files = [compose_file] if compose_file else [
        posixpath.join(compose_dir, n) for n in COMPOSE_NAMES + PODMAN_COMPOSE_NAMES]
    for file in [*files, posixpath.join(compose_dir, ".env"), ".env"]:
        where = repo_path("", file)
        if where is not None:
            yield HostPath("", "the compose file" if file in files else ".env", where,
                           from_top=True), where


def _check_writable(mount: HostPath, where: str,
                    read: Iterable[tuple[HostPath, str]]) -> Iterator[str]:
    """A writable bind mount may not be the repository, nor hold another host path (an
    equal bind source is fine: a container cannot swap its own mount point)."""
    if where == ".":
        yield f"{mount.key} {mount.path!r} mounts the whole repository writable: the " \
              "container could rewrite .git/config (commands on the host), the compose file " \
              "or .env; mount a subdirectory, or add :ro"
        return
    binds = ("volumes", "x-podman.rootfs")
    held = [other for other, path in dict.fromkeys(read) if other is not mount and (
        path.startswith(where + "/") or (path == where and not (
            other.key.startswith(binds) or other.key.endswith(".driver_opts.device"))))]
    if held:
        owner = f" of service {held[0].service!r}" if held[0].service else ""
        more = f" (and {len(held) - 1} more)" if len(held) > 1 else ""
        yield f"{mount.key} {mount.path!r} is mounted writable and holds {held[0].key} " \
              f"{held[0].path!r}{owner}{more}, which podman-compose reads on the host: the " \
              "container could change it or swap it for a symlink; mount it read-only (:ro, " \
              "read_only: true) or keep them in separate directories"
