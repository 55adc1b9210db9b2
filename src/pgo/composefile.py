"""Which compose file a repository uses, its model, and the host paths it reads. Pure:
texts and names in, values out; nothing here opens a file."""

from __future__ import annotations

import posixpath
import urllib.parse
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import podman_compose
import yaml

from pgo.errors import ComposeError
from pgo.interpolate import interpolate

COMPOSE_NAMES = ("compose.yaml", "compose.yml", "docker-compose.yml", "docker-compose.yaml")
# podman-compose also picks these up when run without -f (COMPOSE_DEFAULT_LS).
PODMAN_COMPOSE_NAMES = ("podman-compose.yaml", "podman-compose.yml",
                        "container-compose.yml", "container-compose.yaml")
OVERRIDE_NAMES = ("compose.override.yaml", "compose.override.yml",
                  "docker-compose.override.yml", "docker-compose.override.yaml",
                  "container-compose.override.yml", "container-compose.override.yaml")
DOCKERFILES = ("Containerfile", "ContainerFile", "containerfile", "Dockerfile", "DockerFile",
               "dockerfile")  # what podman-compose looks for in a context without one named
MAX_NODES = 200_000  # YAML aliases can make a small file a huge tree


def find_compose_file(top_level_names: Iterable[str], configured: str | None = None) -> str:
    """The compose file to use: the configured path, or the one candidate at the top."""
    if configured is not None:
        path = repo_path("", configured)
        if path is None or path == "." or ".." in configured.split("/"):
            raise ComposeError(f"compose file {configured!r} is not a path inside the "
                               "repository")
        return path
    names = set(top_level_names)
    overrides = [n for n in OVERRIDE_NAMES if n in names]
    if overrides:
        raise ComposeError(f"{', '.join(overrides)} found: pgod deploys exactly one compose "
                           "file and never merges overrides; fold it into the compose file")
    found = [n for n in COMPOSE_NAMES + PODMAN_COMPOSE_NAMES if n in names]
    if not found:
        raise ComposeError("no compose file at the top of the repository (looked for "
                           f"{', '.join(COMPOSE_NAMES + PODMAN_COMPOSE_NAMES)})")
    if len(found) > 1:
        raise ComposeError(f"more than one compose file: {', '.join(found)}; keep one, or "
                           "name it with the service's 'compose' config key")
    return found[0]


def decode_text(path: str, data: bytes) -> str:
    """A file's text as podman-compose reads it (`open(..., encoding="utf-8")`: strict
    UTF-8, universal newlines); ComposeError naming `path` for bytes that are not UTF-8,
    which pgod would otherwise have to guess at while podman-compose reads something else."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        raise ComposeError(f"{path}: line {line}: bytes that are not valid UTF-8 "
                           f"({data[err.start:err.end]!r} at byte {err.start}); pgod checks "
                           "only what podman-compose reads the same way: save the file as "
                           "UTF-8") from None
    return text.replace("\r\n", "\n").replace("\r", "\n")


def load_model(text: str, env: Mapping[str, str | None], source: str) -> dict[str, Any]:
    """Parse, check the shape of, and interpolate a compose file; ComposeError naming
    `source` (and the line, for YAML errors) if it cannot be used."""
    try:
        model = yaml.safe_load(text)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise ComposeError(f"{source}: {where}invalid YAML: {err.problem or err.context}") \
            from None
    except (yaml.YAMLError, ValueError, RecursionError) as err:
        raise ComposeError(f"{source}: invalid YAML: {err}") from None
    _check_shape(model, source)
    if _count_nodes(model) > MAX_NODES:
        raise ComposeError(f"{source}: more than {MAX_NODES} values once YAML aliases are "
                           "expanded")
    _normalize(model, source)
    try:
        result = interpolate(model, env)
    except ComposeError as err:
        raise ComposeError(f"{source}: {err}") from None
    assert isinstance(result, dict)
    return result


def _check_shape(model: object, source: str) -> None:
    if not isinstance(model, dict):
        raise ComposeError(f"{source}: expected a mapping at the top, with a 'services' "
                           "mapping")
    services = model.get("services")
    if not isinstance(services, dict):
        raise ComposeError(f"{source}: 'services' must be a mapping of service names to "
                           f"services, not {type(services).__name__}")
    for name, service in services.items():
        if not isinstance(name, str) or not isinstance(service, dict):
            raise ComposeError(f"{source}: service {name!r} must be a mapping under a name")


def _count_nodes(value: object, limit: int = MAX_NODES) -> int:
    """How many values the tree holds, counting aliased subtrees each time (stops past limit)."""
    count, stack = 0, [value]
    while stack and count <= limit:
        item = stack.pop()
        count += 1
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list | tuple | set):
            stack.extend(item)
    return count


def _normalize(model: dict[str, Any], source: str) -> None:
    """podman-compose's own `normalize_service`, run on each service before interpolation,
    as podman-compose runs it: `build` as a mapping, `command` and `entrypoint` split like a
    shell, `env_file`, `security_opt` and `volumes` as lists, `environment` and `labels` as
    mappings (which makes environment entries variables for the service), `extends` and
    `depends_on` as mappings. A shape it cannot normalize is refused here: podman-compose
    would stop on it."""
    for name, service in model["services"].items():
        try:
            podman_compose.normalize_service(service)
        except (AttributeError, TypeError, ValueError, KeyError) as err:
            raise ComposeError(f"{source}: compose service {name!r}: podman-compose cannot "
                               f"normalize it ({type(err).__name__}: {err}); write each key "
                               "in a shape the compose spec gives") from None


def repo_path(base: str, path: str) -> str | None:
    """`path` (relative to directory `base`) relative to the repository top, normalized;
    None when it is absolute, starts with `~` or climbs out with `..`."""
    if path.startswith(("/", "~")):
        return None
    joined = posixpath.normpath(posixpath.join(base or ".", path))
    if joined == ".." or joined.startswith("../"):
        return None
    return joined


def is_remote_context(context: str) -> bool:
    """podman-compose's `is_context_git_url`: a build context it does not read locally.
    One that makes it fail (urllib refuses `[1]`) counts as remote: never a host path."""
    try:
        parsed = urllib.parse.urlparse(context)
        if parsed.scheme in ("git", "http", "https", "ssh", "file", "rsync"):
            return True
        if parsed.scheme and not parsed.netloc and parsed.path:
            return True
        return not parsed.scheme and bool(urllib.parse.urlparse("ssh://" + context).username)
    except ValueError:
        return True


@dataclass(frozen=True)
class HostPath:
    """A host path the project reads, as written: relative to the compose file's directory,
    or to the repository's top when `from_top`; `writable` for bind mounts a container may
    write through."""

    service: str  # "" for top-level keys
    key: str      # where it is written, e.g. "build.context", "volumes", "secrets.db.file"
    path: str
    writable: bool = False
    from_top: bool = False  # resolved by podman in podman-compose's working directory

    @property
    def built(self) -> bool:
        """Whether it is read by `build` only (it reaches containers through an image)."""
        return self.key.startswith("build.")

    def base(self, compose_dir: str) -> str:
        """The repository directory `path` is relative to. podman-compose joins most paths
        to the compose file's directory, but passes additional build contexts
        (`--build-context=NAME=PATH`) and volume devices (`--opt device=PATH`) on as
        written, and podman resolves those in its working directory: the checkout's top,
        where pgod runs podman-compose."""
        return "" if self.from_top else compose_dir


def host_paths(model: Mapping[str, Any]) -> list[HostPath]:
    """Every host path podman-compose would read or mount for this project."""
    found: list[HostPath] = []
    for name, service in (model.get("services") or {}).items():
        if isinstance(service, Mapping):
            found += _service_paths(str(name), service)
    for name, secret in _mapping(model.get("secrets")).items():
        file = _mapping(secret).get("file")
        if isinstance(file, str):
            found.append(HostPath("", f"secrets.{name}.file", file))
    for name, volume in _mapping(model.get("volumes")).items():
        opts = _mapping(_mapping(volume).get("driver_opts"))
        device, options = opts.get("device"), str(opts.get("o", "")).split(",")
        if isinstance(device, str) and (opts.get("type") in (None, "none") or
                                        any("bind" in o for o in options)):
            found.append(HostPath("", f"volumes.{name}.driver_opts.device", device,
                                  writable="ro" not in options, from_top=True))
    return found


def _mapping(value: object) -> Mapping[Any, Any]:
    return value if isinstance(value, Mapping) else {}


def _service_paths(name: str, service: Mapping[str, Any]) -> Iterator[HostPath]:
    """Every host path of one service."""
    yield from _build_paths(name, service.get("build"))
    env_files = service.get("env_file") or []
    for item in env_files if isinstance(env_files, list) else [env_files]:
        path = _mapping(item).get("path") if isinstance(item, Mapping) else item
        if isinstance(path, str):
            yield HostPath(name, "env_file", path)
    volumes = service.get("volumes") or []
    for volume in volumes if isinstance(volumes, list) else [volumes]:
        source = bind_source(volume)
        if source is not None:
            yield HostPath(name, "volumes", source, is_writable(volume))
    rootfs = service.get("x-podman.rootfs")
    if isinstance(rootfs, str):
        yield HostPath(name, "x-podman.rootfs", rootfs, True)


def _build_paths(name: str, build: object) -> Iterator[HostPath]:
    """The local build context, the Dockerfile in it, and local additional contexts."""
    if build is None:
        return
    spec = {"context": build} if isinstance(build, str) else _mapping(build)
    context = spec.get("context", ".")
    if isinstance(context, str) and not is_remote_context(context):
        yield HostPath(name, "build.context", context)
        dockerfile = spec.get("dockerfile")
        if isinstance(dockerfile, str) and dockerfile:
            yield HostPath(name, "build.dockerfile",
                           posixpath.normpath(posixpath.join(context, dockerfile)))
    extra = spec.get("additional_contexts")
    if isinstance(extra, Mapping):
        paths = list(extra.values())
    else:
        paths = [str(i).partition("=")[2] for i in extra] if isinstance(extra, list) else []
    for path in paths:
        if isinstance(path, str) and "://" not in path and not is_remote_context(path):
            yield HostPath(name, "build.additional_contexts", path, from_top=True)


def default_dockerfiles(model: Mapping[str, Any], compose_dir: str) -> Iterator[tuple[str, str]]:
    """The Dockerfiles podman-compose looks for in local contexts that name none."""
    for name, service in (model.get("services") or {}).items():
        build = service.get("build") if isinstance(service, Mapping) else None
        spec = {"context": build} if isinstance(build, str) else build
        if not isinstance(spec, Mapping) or spec.get("dockerfile"):
            continue
        context = spec.get("context", ".")
        where = repo_path(compose_dir, context) if isinstance(context, str) else None
        if where is not None and not is_remote_context(context):
            yield from ((str(name), posixpath.normpath(posixpath.join(where, f)))
                        for f in DOCKERFILES)


def bind_source(volume: object) -> str | None:
    """The host path of a bind mount (short `SRC:DST[:MODE]` with SRC starting with `/`, `.`
    or `~`, as podman-compose's `parse_short_mount`; long `type: bind|glob`), else None."""
    if isinstance(volume, str):
        parts = volume.split(":")
        source = parts[0] if len(parts) == 3 or (
            len(parts) == 2 and parts[1].startswith("/")) else None
        return source if source and source.startswith(("/", ".", "~")) else None
    if isinstance(volume, Mapping) and volume.get("type") in ("bind", "glob"):
        source = volume.get("source")
        return source if isinstance(source, str) else None
    return None


def is_writable(volume: object) -> bool:
    """Whether a mount lets the container write: the last of `ro`/`rw` in a short entry's
    options decides (as podman-compose reads them), `read_only` in a long one."""
    if isinstance(volume, Mapping):
        return not volume.get("read_only")
    parts = str(volume).split(":")
    options = parts[2].split(",") if len(parts) == 3 else []
    modes = [o for o in options if o in ("ro", "rw")]
    return not modes or modes[-1] == "rw"


def used_paths(model: Mapping[str, Any], compose_path: str) -> frozenset[str]:
    """Repository paths the project is made from: a change to one means a redeploy.

    The compose file, `.env` beside it and at the top (podman-compose reads both when run
    from the top), and every in-repository host path; `.` means the whole repository.
    """
    return runtime_paths(model, compose_path) | build_paths(model, compose_path)


def runtime_paths(model: Mapping[str, Any], compose_path: str) -> frozenset[str]:
    """The used paths that containers are made of directly, not through an image: the
    compose file, the `.env` files, env files and every mounted host path."""
    base = posixpath.dirname(compose_path)
    used = {repo_path("", compose_path), repo_path(base, ".env"), ".env"}
    used.update(repo_path(p.base(base), p.path) for p in host_paths(model) if not p.built)
    return frozenset(p for p in used if p is not None)


def build_paths(model: Mapping[str, Any], compose_path: str) -> frozenset[str]:
    """The used paths that reach containers only through a built image: build contexts,
    Dockerfiles and additional contexts. A change to these alone rebuilds; whether the
    containers restart depends on whether an image changed."""
    base = posixpath.dirname(compose_path)
    found = (repo_path(p.base(base), p.path) for p in host_paths(model) if p.built)
    return frozenset(p for p in found if p is not None)


def touches(changed: Iterable[str], used: Iterable[str]) -> bool:
    """Whether a changed path is a used path or lies under a used directory."""
    roots = set(used)
    if "." in roots:
        return any(True for _ in changed)
    for path in changed:
        parts = path.split("/")
        if any("/".join(parts[:n]) in roots for n in range(1, len(parts) + 1)):
            return True
    return False
