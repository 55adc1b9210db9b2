"""The man pages and README stay in step with the code."""

import importlib.util
import re
from pathlib import Path

import pytest

from pgo.cli import pgoctl, pgod

ROOT = Path(__file__).resolve().parents[2]


def _man_module():  # scripts/man.py is a script, not part of the package
    spec = importlib.util.spec_from_file_location("man", ROOT / "scripts" / "man.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(("source", "page"), [("pgod.8.md", "pgod.8"), ("pgoctl.1.md", "pgoctl.1")])
def test_committed_man_pages_are_generated_from_the_markdown(source: str, page: str) -> None:
    markdown = (ROOT / "docs" / source).read_text()
    assert (ROOT / page).read_text() == _man_module().convert(markdown), \
        f"run: python scripts/man.py docs/{source} > {page}"


def _pgod_options() -> list[str]:
    return [option for action in pgod.build_parser()._actions
            for option in action.option_strings if not option.startswith("--no-")]


@pytest.mark.parametrize(("options", "source"), [
    (_pgod_options(), "pgod.8.md"),
    ([o for option in pgoctl.OPTIONS for o in option[:2] if o], "pgoctl.1.md")])
def test_every_option_is_documented(options: list[str], source: str) -> None:
    text = (ROOT / "docs" / source).read_text()
    assert len(options) >= 5
    for option in options:
        assert re.search(rf"\*\*{re.escape(option)}\*\*", text), f"{option} not in {source}"


def test_readme_names_the_two_commands_and_ci_runs_the_test_command() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "    scripts/demo\n" in readme and "    scripts/test\n" in readme
    assert "exec scripts/test" in (ROOT / ".ci" / "run").read_text()
