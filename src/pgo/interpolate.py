"""Compose variable interpolation and `.env` files, as podman-compose 1.6.0 does them. Pure.

The policy must judge what podman-compose will run, so this follows its `rec_subs` and
`var_interpolate` (not the compose spec where they differ): dict keys are interpolated too;
a mapping with an `environment` mapping adds those entries as variables for everything in
that mapping, unless the variable is already set; a `${` that does not close, `${}`,
`${1X}` and `${X%y}` are errors. tests/unit/test_interpolate.py compares the two.
"""

from __future__ import annotations

import io
import string
from collections.abc import Mapping
from typing import Any

from dotenv.parser import parse_stream
from dotenv.variables import parse_variables

from pgo.errors import ComposeError

_NAME_START = frozenset(string.ascii_letters + "_")
_NAME = frozenset(string.ascii_letters + string.digits + "_")
_OPERATORS = (":-", ":?", ":+", "-", "?", "+")

Variables = Mapping[Any, object]


def interpolate(value: object, env: Mapping[str, str | None]) -> object:
    """Substitute variables in every string (keys too) of a YAML-loaded tree.

    A variable that is missing (or None) is empty; `${X:?why}` and `${X?why}` on a missing
    variable, and malformed `${...}`, raise ComposeError naming the variable or text.
    """
    return _substitute_tree(value, env)


def _substitute_tree(value: object, env: Variables) -> object:
    """podman-compose's `rec_subs`: dicts, strings, then any other iterable becomes a list."""
    if isinstance(value, dict):
        environment = value.get("environment")
        if isinstance(environment, dict):
            own = {k: v for k, v in environment.items() if k not in env}
            resolved = _substitute_tree(own, env)
            assert isinstance(resolved, dict)
            env = {**env, **resolved}
        return {_substitute_tree(k, env): _substitute_tree(v, env) for k, v in value.items()}
    if isinstance(value, str):
        return substitute(value, env)
    if hasattr(value, "__iter__"):
        return [_substitute_tree(item, env) for item in value]
    return value


def substitute(text: str, env: Variables) -> str:
    """Interpolate one string: `$NAME`, `${NAME}`, `${NAME<op>operand}`, `$$`."""
    parts: list[str] = []
    i = 0
    while i < len(text):
        following = text[i + 1] if i + 1 < len(text) else ""
        if text[i] != "$" or following not in ("$", "{", *_NAME_START):
            parts.append(text[i])
            i += 1
        elif following == "$":
            parts.append("$")
            i += 2
        elif following == "{" and i + 2 == len(text):
            i += 2  # podman-compose drops a trailing "${" without complaint
        elif following == "{":
            end = _closing_brace(text, i + 2)
            parts.append(_braced(text[i + 2:end], env))
            i = end + 1
        else:
            end = _name_end(text, i + 1)
            parts.append(_text(text[i + 1:end], env.get(text[i + 1:end])))
            i = end
    return "".join(parts)


def _closing_brace(text: str, start: int) -> int:
    depth = 1
    for i in range(start, len(text)):
        depth += {"{": 1, "}": -1}.get(text[i], 0)
        if depth == 0:
            return i
    raise ComposeError(f"no closing brace for the variable in {text!r}")


def _name_end(text: str, start: int) -> int:
    end = start
    while end < len(text) and text[end] in _NAME:
        end += 1
    return end


def _braced(content: str, env: Variables) -> str:
    """The value of `${content}`: a name, then nothing or an operator and its operand."""
    if not content or content[0] not in _NAME_START:
        raise ComposeError(f"invalid interpolation format: ${{{content}}}; "
                           "write $$ for a literal $")
    end = _name_end(content, 0)
    name, rest = content[:end], content[end:]
    value = env.get(name)
    if not rest:
        return _text(name, value)
    operator = next((op for op in _OPERATORS if rest.startswith(op)), None)
    if operator is None:
        raise ComposeError(f"invalid variable interpolation syntax: ${{{content}}}")
    operand = rest[len(operator):]
    unset, empty = value is None, value is None or value == ""
    if operator in (":?", "?"):
        if empty if operator == ":?" else unset:
            why = substitute(operand, env) if operand else ""
            raise ComposeError(f"required variable {name} is missing a value: {why}")
        return _text(name, value)
    if operator in (":-", "-"):
        return substitute(operand, env) if (empty if operator == ":-" else unset) \
            else _text(name, value)
    return substitute(operand, env) if not (empty if operator == ":+" else unset) else ""


def _text(name: str, value: object) -> str:
    """A variable's value as text: missing is empty; a non-string (an unquoted number in a
    service's `environment`) makes podman-compose 1.6.0 fail, so it fails here too."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ComposeError(f"variable {name} has the non-string value {value!r} (from a "
                           "service's environment); podman-compose cannot substitute it: "
                           "quote it")
    return value


def parse_dotenv(text: str, environ: Mapping[str, str] | None = None) -> dict[str, str | None]:
    """A `.env` file's variables as podman-compose reads them (python-dotenv's
    `dotenv_values`): `${VAR}`/`${VAR:-default}` in values expand from earlier lines,
    then from `environ` (podman-compose's own environment). A bare `NAME` line maps to None:
    unset, but it hides a service `environment` entry of that name. Bad lines are skipped."""
    values: dict[str, str | None] = {}
    for binding in parse_stream(io.StringIO(text)):
        if binding.key is None:
            continue
        if binding.value is None:
            values[binding.key] = None
            continue
        scope: dict[str, str | None] = {**(environ or {}), **values}
        values[binding.key] = "".join(a.resolve(scope) for a in parse_variables(binding.value))
    return values
