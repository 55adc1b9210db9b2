"""The command grammar: `name//command [args...]`, as pgod receives it over SSH.

Pure. Every argument is checked against the command's own allowlist and becomes one argv
element, never shell text. pgoctl's side, `host:name//command`, is `pgo.target`.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable, Mapping, Sequence
from typing import NamedTuple

from pgo.errors import Refusal
from pgo.names import NAME_RE

MAX_COMMAND = 1024
_COMPOSE_SERVICE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
_COMMAND_NAME = re.compile(r"^[a-z][a-z0-9-]{0,31}$")


def _tail(value: str) -> bool:
    return value == "all" or (value.isdigit() and len(value) <= 7)


def _since(value: str) -> bool:
    return re.fullmatch(r"[0-9A-Za-z][0-9A-Za-z:.+-]{0,39}", value) is not None


class CommandSpec(NamedTuple):
    """What a command accepts. `compose` is the podman-compose argv prefix (None: local)."""

    compose: tuple[str, ...] | None
    summary: str
    flags: Mapping[str, str] = {}        # spelling -> canonical (never mutated)
    options: Mapping[str, tuple[str, Callable[[str], bool]]] = {}
    services: bool = False   # compose service names accepted as positional arguments
    mutates: bool = False    # takes the service lock (never races a redeploy)


_LOGS_FLAGS = {"-f": "-f", "--follow": "-f", "-t": "-t", "--timestamps": "-t"}
_LOGS_OPTIONS = {"--tail": ("--tail", _tail), "-n": ("--tail", _tail),
                 "--since": ("--since", _since)}

COMMANDS: dict[str, CommandSpec] = {
    "ping": CommandSpec(None, "reply pong! and this machine's host name"),
    "status": CommandSpec(None, "deployed commit, state, since when, last error"),
    "sync": CommandSpec(None, "fetch now and deploy the branch's head if the project "
                              "changed (a pass of the deploy loop); then status"),
    "up": CommandSpec(("up", "-d"), "create and start the containers", services=True,
                      mutates=True),
    "down": CommandSpec(("down", "--remove-orphans"), "stop and remove the containers "
                        "(orphans too, as pgod's own down)", mutates=True),
    "ps": CommandSpec(("ps",), "list the containers"),
    "pull": CommandSpec(("pull",), "pull the images", services=True, mutates=True),
    "build": CommandSpec(("build",), "build the images", services=True, mutates=True),
    "restart": CommandSpec(("restart",), "restart containers", services=True, mutates=True),
    "start": CommandSpec(("start",), "start stopped containers", services=True, mutates=True),
    "stop": CommandSpec(("stop",), "stop containers", services=True, mutates=True),
    "logs": CommandSpec(("logs",), "show container output; -f follows", _LOGS_FLAGS,
                        _LOGS_OPTIONS, services=True),
}


class Request(NamedTuple):
    """A parsed, validated request: run `command` on service `service` with `args`."""

    service: str
    command: str
    args: tuple[str, ...] = ()

    @property
    def spec(self) -> CommandSpec:
        return COMMANDS[self.command]

    @property
    def follow(self) -> bool:
        return "-f" in self.args

    def compose_argv(self) -> list[str]:
        assert self.spec.compose is not None
        return [*self.spec.compose, *self.args]


def parse_request(line: str) -> Request:
    """Parse the SSH command `name//command args...`; raise Refusal 400 or 406."""
    if len(line) > MAX_COMMAND:
        raise Refusal(400, f"command longer than {MAX_COMMAND} characters")
    try:
        words = shlex.split(line)
    except ValueError as err:
        raise Refusal(400, f"cannot parse command: {err}") from None
    if not words or "//" not in words[0]:
        raise Refusal(400, "expected SERVICE//COMMAND [ARGS...], e.g. pgo//ps")
    service, command = words[0].split("//", 1)
    if not NAME_RE.fullmatch(service):
        raise Refusal(400, f"{service!r} is not a service name")
    if not _COMMAND_NAME.fullmatch(command):
        raise Refusal(400, f"{command!r} is not a command name")
    if command not in COMMANDS:
        raise Refusal(406, f"unknown command {command!r}; known: {', '.join(sorted(COMMANDS))}")
    return Request(service, command, check_args(command, words[1:]))


def check_args(command: str, words: Sequence[str]) -> tuple[str, ...]:
    """Validate arguments against the command's allowlist; canonical argv or Refusal 406."""
    spec, out, rest = COMMANDS[command], [], list(words)
    while rest:
        word = rest.pop(0)
        name, eq, value = word.partition("=")
        if word in spec.flags:
            out.append(spec.flags[word])
        elif name in spec.options:
            if not eq:
                if not rest:
                    raise Refusal(406, f"{command}: {name} needs a value")
                value = rest.pop(0)
            canonical, valid = spec.options[name]
            if not valid(value):
                raise Refusal(406, f"{command}: {name} {value!r} is not accepted")
            out.extend((canonical, value))
        elif spec.services and _COMPOSE_SERVICE.fullmatch(word):
            out.append(word)
        else:
            raise Refusal(406, f"{command}: argument {word!r} is not accepted"
                          + (f" (accepted: {', '.join(sorted({*spec.flags, *spec.options}))})"
                             if spec.flags or spec.options else " (takes none)"
                             if not spec.services else " (accepted: compose service names)"))
    return tuple(out)

