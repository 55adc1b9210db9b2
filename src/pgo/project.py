"""Read a service's compose project at a commit, straight from git, and check its policy.

Nothing is read from the working tree: containers may write into it, git objects they cannot.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from typing import Any

from pgo.composefile import (
    build_paths,
    decode_text,
    default_dockerfiles,
    find_compose_file,
    host_paths,
    load_model,
    repo_path,
    runtime_paths,
)
from pgo.config import ServiceConfig
from pgo.errors import ComposeError
from pgo.git import Checkout
from pgo.interpolate import parse_dotenv
from pgo.policy import check_policy
from pgo.policy.shapes import canonical_model
from pgo.worktree import check_worktree

MAX_FILE = 1024 * 1024  # a compose or .env file larger than this is refused, not cut


@dataclass(frozen=True)
class ProjectAt:
    """The compose project of one commit, as far as it could be read."""

    commit: str
    file: str | None                  # repo-relative compose file
    model: dict[str, Any] | None
    used: frozenset[str]
    problems: tuple[str, ...]         # unreadable project or policy violations
    blobs: tuple[tuple[str, str], ...] = ()  # (path, object id or "" if absent) pgod read
    runtime: frozenset[str] | None = None  # of `used`, what is not only a build input

    def worktree_problems(self, root: str) -> list[str]:
        """How the working tree at `root` differs from what was checked (see `worktree`)."""
        if self.file is None or self.model is None:
            return []
        base = posixpath.dirname(self.file)
        paths = [posixpath.join(p.base(base), p.path) for p in host_paths(self.model)
                 if repo_path(p.base(base), p.path) is not None]
        paths += [file for _, file in default_dockerfiles(self.model, base)]
        return check_worktree(root, dict(self.blobs), paths)

    def exposed_to(self, running: ProjectAt) -> list[str]:
        """This project's host paths that lie in a writable bind mount of `running` (whose
        containers could swap them for symlinks while this one is pulled and built)."""
        if self.model is None or self.file is None or running.model is None or \
                running.file is None:
            return []
        writable = _repo_paths(running.model, running.file, writable_only=True)
        mine = [*_repo_paths(self.model, self.file), *(path for path, _ in self.blobs)]
        return sorted({path for path in mine for mount in writable
                       if mount in (".", path) or path.startswith(mount + "/")})


def _repo_paths(model: dict[str, Any], file: str, writable_only: bool = False) -> list[str]:
    """Repository paths of a model's host paths (and default Dockerfiles), normalized."""
    base = posixpath.dirname(file)
    found = [repo_path(p.base(base), p.path) for p in host_paths(model)
             if p.writable or not writable_only]
    if not writable_only:
        found += [dockerfile for _, dockerfile in default_dockerfiles(model, base)]
    return [path for path in found if path is not None]


async def read_project(checkout: Checkout, service: ServiceConfig, commit: str,
                       env: dict[str, str], *, secrets_dir: str | None = None) -> ProjectAt:
    """Locate, load, interpolate and policy-check the compose project at `commit`
    (`secrets_dir`: the directory of its decrypted files, which env files and secrets may
    name)."""
    try:
        names = [e.name for e in await checkout.ls_tree(commit)]
        file = find_compose_file(names, service.compose)
        blob = await checkout.read_bytes(commit, file)
        if blob is None:
            raise ComposeError(f"{file}: not a regular file at commit {commit[:12]}")
        text, blobs = _bounded(file, blob[0]), {file: blob[1]}
        variables = await _dotenv(checkout, commit, file, env, blobs)
        model = load_model(text, {**variables, **env, **_compose_variables(
            checkout.path, file, service.name)}, file)
    except ComposeError as err:
        return ProjectAt(commit, None, None, frozenset(), (str(err),))
    canonical, shapes = canonical_model(model)
    model = model if shapes else canonical  # what the checks read; refused: as written
    violations = check_policy(model, service.ports, posixpath.dirname(file),
                              await checkout.symlinks(commit), file, service.build_urls,
                              secrets_dir)
    runtime = runtime_paths(model, file)
    return ProjectAt(commit, file, model, runtime | build_paths(model, file),
                     tuple(str(v) for v in violations), tuple(blobs.items()), runtime)


async def _dotenv(checkout: Checkout, commit: str, file: str, env: dict[str, str],
                  blobs: dict[str, str]) -> dict[str, str | None]:
    """The `.env` variables podman-compose will read: the compose file's directory's, then
    the checkout's top (podman-compose runs there), which wins. Only regular files: a
    symlink could make podman-compose read something we never saw."""
    variables: dict[str, str | None] = {}
    for path in dict.fromkeys([posixpath.join(posixpath.dirname(file), ".env"), ".env"]):
        if not await checkout.ls_tree(commit, path):
            blobs[path] = ""  # not in the commit: must not be in the working tree either
            continue
        blob = await checkout.read_bytes(commit, path)
        if blob is None:
            raise ComposeError(f"{path}: must be a regular file (not a symlink or directory)")
        blobs[path] = blob[1]
        found = parse_dotenv(_bounded(path, blob[0]), environ=env)
        if knobs := sorted(k for k in found if k.startswith("PODMAN_")):
            raise ComposeError(f"{path}: {', '.join(knobs)}: podman-compose copies PODMAN_* "
                               "variables from .env into its own and podman's environment "
                               "(settings pgod does not check); remove them")
        variables.update(found)
    return variables


def _bounded(path: str, data: bytes) -> str:
    """The text podman-compose reads: whole, valid UTF-8, with its newlines."""
    if len(data) > MAX_FILE:
        raise ComposeError(f"{path}: larger than {MAX_FILE // 1024} KiB; pgod checks whole "
                           "files only")
    return decode_text(path, data)


def _compose_variables(workdir: str, file: str, name: str) -> dict[str, str]:
    """What podman-compose adds to the variables it interpolates with."""
    return {"COMPOSE_PROJECT_DIR": posixpath.dirname(posixpath.join(workdir, file)),
            "COMPOSE_FILE": posixpath.join(workdir, file), "COMPOSE_PATH_SEPARATOR": ":",
            "COMPOSE_PROJECT_NAME": name}
