"""contrib/pgoctl.bash and contrib/_pgoctl: they parse, and complete what pgoctl knows."""

import re
import subprocess
from pathlib import Path

import pytest

from pgo.cli.pgoctl import OPTIONS
from pgo.command import COMMANDS

CONTRIB = Path(__file__).resolve().parents[2] / "contrib"


def complete(line: str, config: Path) -> list[str]:
    """What the bash function offers for `line` (the cursor at its end)."""
    script = (f"source {CONTRIB / 'pgoctl.bash'}\ncomplete -p pgoctl\n"
              'COMP_LINE="$1"; COMP_POINT=${#COMP_LINE}; _pgoctl\n'
              'printf "%s\\n" "${COMPREPLY[@]}"\n')
    result = subprocess.run(["bash", "-c", script, "bash", line], capture_output=True,
                            text=True, check=True, env={"XDG_CONFIG_HOME": str(config),
                                                        "PATH": "/usr/bin:/bin"})
    first, *offered = result.stdout.splitlines()
    assert first == "complete -F _pgoctl pgoctl"
    return [word for word in offered if word]


def test_the_bash_script_parses() -> None:
    subprocess.run(["bash", "-n", str(CONTRIB / "pgoctl.bash")], check=True)


@pytest.mark.parametrize("name", ["pgoctl.bash", "_pgoctl"])
def test_the_scripts_know_every_command_and_option(name: str) -> None:
    text = (CONTRIB / name).read_text()
    words = set(re.findall(r"[-a-z]+", text))
    assert set(COMMANDS) <= words
    assert {name for option in OPTIONS for name in option[:2] if name} <= words


def test_bash_completes_commands_targets_and_options(tmp_path: Path) -> None:
    (tmp_path / "pgo").mkdir()
    (tmp_path / "pgo" / "targets").write_text("web1:pgo\nweb2:pgo\ndb:pg\n")
    assert sorted(complete("pgoctl web1:pgo//st", tmp_path)) == [
        "pgo//start", "pgo//status", "pgo//stop"]  # bash replaces what follows the ':'
    assert len(complete("pgoctl -p 22 h:s//", tmp_path)) == len(COMMANDS)
    assert complete("pgoctl -i k we", tmp_path) == ["web1:pgo//", "web2:pgo//"]
    assert complete("pgoctl web1:", tmp_path) == ["pgo//"]
    assert complete("pgoctl --no", tmp_path) == ["--no-reuse"]
    assert complete("pgoctl web1:pgo//ps db:pg//p", tmp_path) == [
        "pg//ps", "pg//pull", "pg//ping"]
    assert complete("pgoctl -p ", tmp_path) == []
