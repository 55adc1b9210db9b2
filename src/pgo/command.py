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


def _count(value: str) -> bool:
    return value.isdigit() and 0 < int(value) <= 100 and len(value) <= 3


def _reason_word(value: str) -> bool:
    """A word of a freeze's reason: printable, no control characters."""
    return 0 < len(value) <= 200 and value.isprintable()


def _commit(value: str) -> bool:
    return re.fullmatch(r"[0-9a-f]{4,40}", value) is not None


class CommandSpec(NamedTuple):
    """What a command accepts. `compose` is the podman-compose argv prefix (None: local)."""

    compose: tuple[str, ...] | None
    summary: str
    flags: Mapping[str, str] = {}        # spelling -> canonical (never mutated)
    options: Mapping[str, tuple[str, Callable[[str], bool]]] = {}
    services: bool = False   # compose service names accepted as positional arguments
    mutates: bool = False    # takes the service lock (never races a redeploy)
    words: Callable[[str], bool] | None = None  # other positional arguments it accepts
    max_words: int = 0
    words_name: str = ""     # what they are, for a refusal


_LOGS_FLAGS = {"-f": "-f", "--follow": "-f", "-t": "-t", "--timestamps": "-t"}
_LOGS_OPTIONS = {"--tail": ("--tail", _tail), "-n": ("--tail", _tail),
                 "--since": ("--since", _since)}

COMMANDS: dict[str, CommandSpec] = {
    "ping": CommandSpec(None, "reply pong! and this machine's host name"),
    "status": CommandSpec(None, "state, commits (deployed, last good, upstream), freeze, "
                          "last attempt and fetch, containers; --json: one JSON object",
                          {"--json": "--json"}),
    "history": CommandSpec(None, "the last deploy attempts, newest first: time, commit, "
                           "trigger, outcome, reason; -n N, --json", {"--json": "--json"},
                           {"-n": ("-n", _count)}),
    "sync": CommandSpec(None, "fetch now and deploy the branch's head if the project "
                              "changed (a pass of the deploy loop, a broken commit "
                              "included); then status"),
    "diff": CommandSpec(None, "what the next pass would do, without doing it: upstream "
                        "vs deployed, the changed paths the project uses, the plan"),
    "freeze": CommandSpec(None, "stop following the branch (persisted); REASON... is shown "
                          "in status", mutates=True, words=_reason_word, max_words=50,
                          words_name="words of a reason"),
    "unfreeze": CommandSpec(None, "follow the branch again", mutates=True),
    "rollback": CommandSpec(None, "deploy an earlier commit (default: the last good before "
                            "the deployed one) through the gate, then freeze there",
                            mutates=True, words=_commit, max_words=1,
                            words_name="a commit hash (4-40 hex digits)"),
    "up": CommandSpec(("up", "-d"), "create and start the containers", services=True,
                      mutates=True),
    "down": CommandSpec(("down", "--remove-orphans"), "stop and remove the containers "
                        "(orphans too, as pgod's own down)", mutates=True),
    "ps": CommandSpec(("ps",), "list the containers; --json: one JSON array (name, service, "
                      "id, image, state, status, health, exit_code, started, ports)",
                      {"--json": "--json"}),
    "pull": CommandSpec(("pull",), "pull the images", services=True, mutates=True),
    "build": CommandSpec(("build",), "build the images", services=True, mutates=True),
    "restart": CommandSpec(("restart",), "restart containers", services=True, mutates=True),
    "start": CommandSpec(("start",), "start stopped containers", services=True, mutates=True),
    "stop": CommandSpec(("stop",), "stop containers", services=True, mutates=True),
    # --no-color: podman's own colours off (pgod strips podman-compose's, see pgo.ansi)
    "logs": CommandSpec(("logs", "--no-color"), "show container output; -f follows", _LOGS_FLAGS,
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


def _word(spec: CommandSpec, word: str, out: list[str]) -> bool:
    """A positional word the command accepts, while it takes more."""
    return spec.words is not None and spec.words(word) and \
        sum(1 for w in out if not w.startswith("-")) < spec.max_words


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
        elif (spec.services and _COMPOSE_SERVICE.fullmatch(word)) or _word(spec, word, out):
            out.append(word)
        else:
            raise Refusal(406, f"{command}: argument {word!r} is not accepted"
                          + (f" (accepted: {', '.join(sorted({*spec.flags, *spec.options}))})"
                             if spec.flags or spec.options else " (takes none)"
                             if not spec.services and spec.words is None else
                             f" (accepted: {spec.words_name or 'compose service names'})"))
    return tuple(out)

