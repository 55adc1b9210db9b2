"""The argument layer's I/O: podman-compose's own podman command lines for one
subcommand, worked out as the service user (see `recorder`), then checked (`policy.argv`).

pgod never parses the compose file for this itself: podman-compose reads it, its `.env`
and env files in the checkout as the service user, exactly as the real run will.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from pgo import hostenv, proc, recorder
from pgo.compose import Project
from pgo.config import ServiceConfig
from pgo.errors import CommandFailed
from pgo.policy.argv import check_calls
from pgo.policy.podmanargs import Scope

TIMEOUT = 120.0
# pgo.recorder's text, read once (as pgo.compose reads pgo.warmstart's): run with -c as the
# service user, who may not read pgo's files
RECORDER = Path(recorder.__file__).read_text(encoding="utf-8")
MODEL_BUG = "the argument layer refused what the model layer passed (a bug in pgod's " \
            "policy: please report it with this message)"


async def argument_problems(project: Project, service: ServiceConfig,
                            args: Sequence[str]) -> list[str]:
    """Why the podman commands of `podman-compose ... ARGS` may not run; [] if they may."""
    calls = await recorded_calls(project, args)
    if isinstance(calls, str):
        return [f"podman-compose {' '.join(args)}: its podman commands could not be worked "
                f"out, so none is run: {calls}"]
    scope = Scope(os.path.realpath(project.workdir), service.ports, service.build_urls,
                  secrets=project.env.get(hostenv.SECRETS_VAR))
    found = check_calls(calls, scope)
    return [f"{MODEL_BUG}: {found[0]}", *found[1:]] if found else []


async def recorded_calls(project: Project, args: Sequence[str]) -> list[list[str]] | str:
    """Every podman argv of `podman-compose -f FILE -p NAME ARGS`, or why not (a text)."""
    argv = [python_of(project.executable), "-I", "-c", RECORDER,
            *project.argv(*args)[1:]]
    try:
        async with project.slot():  # a podman-compose too (Python, CPU-heavy): under -j
            result = await proc.run(argv, project.account, project.workdir, timeout=TIMEOUT,
                                    env=project.environment, merge_stderr=False)
    except CommandFailed as err:
        return str(err)
    lines = result.output.strip().splitlines()
    try:
        answer = json.loads(lines[-1]) if lines else None
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        return "no record on its output" + _tail(result.errors)
    calls = answer.get("calls")
    if not isinstance(calls, list) or not all(
            isinstance(c, list) and all(isinstance(a, str) for a in c) for c in calls):
        return str(answer.get("error") or "a malformed record") + _tail(result.errors)
    return calls


def python_of(executable: str) -> str:
    """The Python of podman-compose's environment (its script's sibling), else pgod's."""
    for name in ("python3", "python"):
        sibling = os.path.join(os.path.dirname(executable), name)
        if os.access(sibling, os.X_OK):
            return sibling
    return sys.executable


def _tail(errors: str) -> str:
    lines = [line for line in errors.strip().splitlines() if line]
    return f" ({lines[-1][-300:]})" if lines else ""
