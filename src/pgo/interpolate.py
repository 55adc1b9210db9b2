"""Compose variable interpolation, exactly as the pinned podman-compose performs it.

The policy must judge what podman-compose will run, so we use its own substitution
(`rec_subs`: `${VAR:-default}`, `$$`, service `environment` values as variables, ...) and
its own `.env` reader (python-dotenv), not a look-alike.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Any

from dotenv import dotenv_values
from podman_compose import rec_subs

from pgo.errors import ComposeError


def interpolate(value: Any, env: Mapping[str, str | None]) -> Any:
    """Substitute variables throughout a YAML-loaded tree; ComposeError on `${X:?why}`."""
    try:
        return rec_subs(value, dict(env))
    except ValueError as err:
        raise ComposeError(f"variable interpolation failed: {err}") from err


def parse_dotenv(text: str) -> dict[str, str | None]:
    """A `.env` file's variables, read the way podman-compose reads them."""
    return dict(dotenv_values(stream=io.StringIO(text)))
