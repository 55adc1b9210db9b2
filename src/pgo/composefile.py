"""Which compose file a repository uses, its model, and the paths the project uses. Pure:
texts and names in, values out; nothing here opens a file."""

from __future__ import annotations

import posixpath
from collections.abc import Iterable, Mapping
from typing import Any

import yaml

from pgo.errors import ComposeError
from pgo.interpolate import interpolate

COMPOSE_NAMES = ("compose.yaml", "compose.yml", "docker-compose.yml", "docker-compose.yaml")
OVERRIDE_NAMES = ("compose.override.yaml", "compose.override.yml",
                  "docker-compose.override.yml", "docker-compose.override.yaml")


def find_compose_file(top_level_names: Iterable[str], configured: str | None) -> str:
    """The compose file to use: the configured one, or the single candidate at the top."""
    names = set(top_level_names)
    if configured is not None:
        return configured
    overrides = sorted(names.intersection(OVERRIDE_NAMES))
    if overrides:
        raise ComposeError(f"override file {', '.join(overrides)} found: pgod deploys exactly "
                           "one compose file; merge it into the compose file")
    found = [n for n in COMPOSE_NAMES if n in names]
    if not found:
        raise ComposeError(f"no compose file at the top of the repository "
                           f"(looked for {', '.join(COMPOSE_NAMES)})")
    if len(found) > 1:
        raise ComposeError(f"more than one compose file: {', '.join(found)}; keep one, or "
                           "name it with the 'compose' config key")
    return found[0]


def load_model(text: str, env: Mapping[str, str | None], source: str) -> dict[str, Any]:
    """Parse and interpolate a compose file; ComposeError naming `source` if unusable."""
    try:
        model = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ComposeError(f"{source}: invalid YAML: {err}") from None
    if not isinstance(model, dict) or not isinstance(model.get("services"), dict):
        raise ComposeError(f"{source}: expected a mapping with a 'services' mapping")
    bad = [str(n) for n, s in model["services"].items() if not isinstance(s, dict)]
    if bad:
        raise ComposeError(f"{source}: service {bad[0]!r} is not a mapping")
    try:
        result: dict[str, Any] = interpolate(model, env)
    except ComposeError as err:
        raise ComposeError(f"{source}: {err}") from None
    return result


def normalize(base: str, path: str) -> str | None:
    """`path` relative to directory `base` of the repository; None if it leaves the repo."""
    if path.startswith("/"):
        return None
    joined = posixpath.normpath(posixpath.join(base or ".", path))
    if joined == ".." or joined.startswith("../"):
        return None
    return joined


def build_context(service: Mapping[str, Any]) -> str | None:
    build = service.get("build")
    if build is None:
        return None
    context = build if isinstance(build, str) else (build or {}).get("context", ".")
    return str(context)


def is_remote_context(context: str) -> bool:
    return "://" in context or context.startswith("git@")


def env_files(service: Mapping[str, Any]) -> list[str]:
    value = service.get("env_file") or []
    items = value if isinstance(value, list) else [value]
    return [str(i.get("path", "")) if isinstance(i, dict) else str(i) for i in items]


def bind_sources(service: Mapping[str, Any]) -> list[str]:
    """Host paths of bind mounts: short `SRC:DST[:MODE]` whose SRC is a path, long type bind."""
    sources = []
    for volume in service.get("volumes") or []:
        if isinstance(volume, str) and ":" in volume:
            source = volume.split(":", 1)[0]
            if source.startswith(("/", ".", "~")):
                sources.append(source)
        elif isinstance(volume, dict) and volume.get("type") == "bind":
            sources.append(str(volume.get("source", "")))
    return sources


def used_paths(model: Mapping[str, Any], compose_path: str) -> frozenset[str]:
    """Repository paths the project is made from: a change to one means a redeploy."""
    base = posixpath.dirname(compose_path)
    used = {compose_path, normalize(base, ".env")}
    for service in model.get("services", {}).values():
        context = build_context(service)
        if context is not None and not is_remote_context(context):
            ctx = normalize(base, context)
            used.add(ctx)
            dockerfile = (service["build"] or {}).get("dockerfile") \
                if isinstance(service["build"], dict) else None
            if dockerfile and ctx is not None:
                used.add(normalize(ctx, str(dockerfile)))
        used.update(normalize(base, f) for f in env_files(service))
        used.update(normalize(base, s) for s in bind_sources(service))
    return frozenset(p for p in used if p is not None)


def touches(changed: Iterable[str], used: Iterable[str]) -> bool:
    """Whether any changed path is a used path or lies under a used directory."""
    roots = list(used)
    if "." in roots:
        return any(True for _ in changed)
    return any(path == root or path.startswith(root + "/") for path in changed for root in roots)
