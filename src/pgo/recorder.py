"""podman-compose's own podman command lines, without running them. Standalone.

pgod runs this file's text with the Python of podman-compose's environment, as the service
user, in the checkout (`python -I -c SOURCE -f FILE -p NAME COMMAND...`): podman-compose
1.6.0 itself reads the compose file, `.env` and env files as that user, and works out
every podman command it would run, but its `Podman` runs none of them. It records each
argv and answers as a podman with nothing of the project yet would (no containers,
networks, volumes or images), so that every container, network, volume and build is
created in the record. Only `podman --version` runs for real (it decides what
podman-compose does). `--dry-run` is not enough: it still creates networks and volumes,
makes missing bind-mount directories, and prints argv unquoted.

Output on stdout, one JSON object: {"calls": [[arg, ...], ...]} or {"error": "..."}.
Imports nothing from pgo: the service user may not be able to read pgo's files.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
from typing import Any

import podman_compose


def main(argv: list[str]) -> int:
    calls: list[list[str]] = []
    _patch(calls)
    out = sys.stdout
    error = None
    try:
        with contextlib.redirect_stdout(sys.stderr):
            asyncio.run(podman_compose.podman_compose.run(argv))
    except SystemExit as stop:
        if stop.code not in (None, 0):
            error = f"podman-compose exited {stop.code}"
    except Exception as err:  # what podman-compose would stop on in the real run
        error = f"{type(err).__name__}: {err}"
    out.write(json.dumps({"error": error} if error else {"calls": calls}) + "\n")
    return 0


def _patch(calls: list[list[str]]) -> None:
    made: set[str] = set()
    real_output = podman_compose.Podman.output

    def argv(self: Any, podman_args: list[str], cmd: str, cmd_args: Any) -> list[str]:
        extra = self.compose.get_podman_args(cmd) if cmd else []
        return [*map(str, podman_args), *([cmd] if cmd else []), *extra,
                *map(str, cmd_args or [])]

    async def run(self: Any, podman_args: list[str], cmd: str = "",
                  cmd_args: Any = None, log_formatter: Any = None, **_: Any) -> int:
        line = argv(self, podman_args, cmd, cmd_args)
        calls.append(line)
        return 1 if line[:2] == ["pod", "exists"] else 0  # so that its create is recorded

    async def output(self: Any, podman_args: list[str], cmd: str = "",
                     cmd_args: Any = None) -> bytes:
        if not cmd and podman_args == ["--version"]:
            result: bytes = await real_output(self, podman_args, cmd, cmd_args)
            return result
        line = argv(self, podman_args, cmd, cmd_args)
        calls.append(line)
        if line[:1] in (["network"], ["volume"]) and line[1:2] == ["create"]:
            made.add(line[-1])
            return b""
        if line[:1] == ["ps"]:
            return b"[]"
        if line[:2] in (["network", "exists"], ["volume", "inspect"]) and line[-1] in made:
            return b"[]"
        if line[:1] == ["wait"]:
            return b""
        raise subprocess.CalledProcessError(1, line, b"", b"recorded, not run")

    podman_compose.Podman.run = run
    podman_compose.Podman.output = output
    os.makedirs = _no_makedirs  # assert_volume makes missing bind sources


def _no_makedirs(*_: Any, **__: Any) -> None:
    return None


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
