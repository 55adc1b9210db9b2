"""pgod runs only the podman-compose its checks are written against."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

from pgo.compose import PODMAN_COMPOSE_VERSION, check_podman_compose
from pgo.errors import PgoError


def fake(tmp_path: Path, output: str) -> str:
    """A stand-in executable printing `output` (a unit test of the version check only)."""
    path = tmp_path / "podman-compose"
    path.write_text(f"#!/bin/sh\nprintf '{output}'\n")
    path.chmod(0o755)
    return str(path)


def test_the_pinned_version_is_accepted(tmp_path: Path) -> None:
    exe = fake(tmp_path, f"podman-compose version {PODMAN_COMPOSE_VERSION}\\n"
                         "podman version 4.3.1\\n")
    asyncio.run(check_podman_compose(exe))


@pytest.mark.parametrize(("output", "found"), [
    ("podman-compose version: 1.0.3\\n['podman', '--version', '']\\n", "1.0.3"),
    ("podman-compose version 1.0.6\\npodman version 4.3.1\\n", "1.0.6"),
    ("", "(unknown version)"),
])
def test_another_version_is_refused_naming_both(tmp_path: Path, output: str,
                                                found: str) -> None:
    exe = fake(tmp_path, output)
    with pytest.raises(PgoError, match=rf"is podman-compose {re.escape(found)}.*"
                                       rf"podman-compose=={PODMAN_COMPOSE_VERSION}") as err:
        asyncio.run(check_podman_compose(exe))
    assert exe in str(err.value)


def test_a_missing_executable_is_refused(tmp_path: Path) -> None:
    with pytest.raises(PgoError, match="could not be started"):
        asyncio.run(check_podman_compose(str(tmp_path / "nowhere")))
