"""A podman-compose run started ahead of its turn (pgo.warmstart, compose.Ahead): the real
podman-compose of pgod's venv, run as the current user; nothing of podman is needed (its
`config` only reads the compose file)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

from pgo import proc
from pgo.compose import Ahead, Project, find_podman_compose, warm_python
from pgo.errors import CommandFailed

COMPOSE = "services:\n  web:\n    image: localhost/web\n    ports: ['8080:80']\n"


def project(tmp_path: Path, executable: str | None = None) -> Project:
    return Project("warm", str(tmp_path), "compose.yaml", proc.Account.current(),
                   executable or find_podman_compose())


def test_pips_script_is_recognised_and_nothing_else(tmp_path: Path) -> None:
    assert warm_python(find_podman_compose()) == str(Path(sys.executable).parent / "python3")
    script = tmp_path / "pc"
    for text in ("#!/bin/sh\nexec podman-compose \"$@\"\n",
                 "#!/usr/bin/env python3\nfrom podman_compose import main\nmain()\n",
                 "#!python3\nfrom podman_compose import main\n",
                 f"#!{sys.executable}\nimport podman_compose\n"):
        script.write_text(text)
        warm_python.cache_clear()
        assert warm_python(str(script)) is None, text
    script.write_text(f"#!{sys.executable}\nimport sys\nfrom podman_compose import main\n")
    warm_python.cache_clear()
    assert warm_python(str(script)) == sys.executable
    assert warm_python(str(tmp_path / "nowhere")) is None


def test_a_run_started_ahead_reads_the_project_only_when_let_go(tmp_path: Path) -> None:
    """Started before compose.yaml exists, let go once it does: it reads it then, and says
    what a plain run says."""
    async def main() -> tuple[proc.Result, proc.Result]:
        ahead = Ahead(project(tmp_path), ("config",))
        assert ahead.task is not None  # (started: pip's script)
        await asyncio.sleep(0.5)
        assert not ahead.task.done()  # waiting for its word
        (tmp_path / "compose.yaml").write_text(COMPOSE)
        return await ahead.run(), await project(tmp_path).run("config")
    warm, plain = asyncio.run(main())
    assert "localhost/web" in warm.output
    assert warm.output == plain.output


def test_a_dropped_run_does_nothing_and_ends(tmp_path: Path) -> None:
    """A run whose turn never comes exits 0 unrun: with no compose file, running it would
    have failed."""
    async def main() -> proc.Result:
        ahead = Ahead(project(tmp_path), ("config",))
        await ahead.drop()
        assert ahead.task is not None and ahead.task.done()
        with pytest.raises(CommandFailed):
            await project(tmp_path).run("config")  # (what running it would have said)
        return ahead.task.result()
    result = asyncio.run(main())
    assert result.returncode == 0 and "compose" not in result.output.lower()


def test_a_failure_is_the_runs_own(tmp_path: Path) -> None:
    async def main() -> None:
        await Ahead(project(tmp_path), ("config",)).run()
    with pytest.raises(CommandFailed) as err:
        asyncio.run(main())
    assert err.value.returncode not in (0, None)
    assert str(err.value).startswith("podman-compose config exited")


def test_another_executable_is_run_as_it_is_when_its_turn_comes(tmp_path: Path) -> None:
    script = tmp_path / "podman-compose"
    script.write_text(f"#!/bin/sh\necho \"$@\" >> {tmp_path}/ran\n")
    script.chmod(0o755)

    async def main() -> proc.Result:
        ahead = Ahead(project(tmp_path, str(script)), ("up", "-d"))
        assert ahead.task is None
        assert not (tmp_path / "ran").exists()
        return await ahead.run()
    assert asyncio.run(main()).returncode == 0
    assert (tmp_path / "ran").read_text().split()[-2:] == ["up", "-d"]


def test_the_timeout_counts_from_the_word(tmp_path: Path) -> None:
    """A process started ahead waits longer than its timeout for its word, then runs."""
    async def main() -> proc.Result:
        go = asyncio.get_running_loop().create_future()
        run = asyncio.ensure_future(proc.run(["cat"], proc.Account.current(), timeout=1.0,
                                             go=go))
        await asyncio.sleep(2.0)
        go.set_result(b"said\n")
        return await run
    assert asyncio.run(main()).output == "said\n"
