"""Variable interpolation and `.env` files, checked against podman-compose 1.6.0 itself."""

from __future__ import annotations

import io
import os
from unittest import mock

import podman_compose
import pytest
from dotenv import dotenv_values
from hypothesis import given
from hypothesis import strategies as st

from pgo.errors import ComposeError
from pgo.interpolate import interpolate, parse_dotenv

ENV = {"A": "a", "EMPTY": "", "B": "b", "UNSET": None}


@pytest.mark.parametrize(("text", "expected"), [
    ("plain", "plain"),
    ("$A", "a"),
    ("${A}", "a"),
    ("x$A.y", "xa.y"),
    ("$A_B", ""),                       # the name is A_B
    ("${A}_B", "a_B"),
    ("$MISSING", ""),
    ("${MISSING}", ""),
    ("${UNSET}", ""),
    ("$$", "$"),
    ("$$A", "$A"),
    ("$$$A", "$a"),
    ("$${A}", "${A}"),
    ("cost $5", "cost $5"),             # $ before a non-name character stays
    ("a$-b", "a$-b"),
    ("end$", "end$"),
    ("end${", "end"),                   # podman-compose drops a trailing "${"
    ("${MISSING:-dflt}", "dflt"),
    ("${EMPTY:-dflt}", "dflt"),
    ("${UNSET:-dflt}", "dflt"),
    ("${A:-dflt}", "a"),
    ("${MISSING-dflt}", "dflt"),
    ("${EMPTY-dflt}", ""),
    ("${A-dflt}", "a"),
    ("${A:+alt}", "alt"),
    ("${EMPTY:+alt}", ""),
    ("${MISSING:+alt}", ""),
    ("${A+alt}", "alt"),
    ("${EMPTY+alt}", "alt"),
    ("${MISSING+alt}", ""),
    ("${A:?why}", "a"),
    ("${EMPTY?why}", ""),
    ("${MISSING:-${A}}", "a"),
    ("${MISSING:-${B:-x}-$A}", "b-a"),
    ("${MISSING:-}", ""),
    ("${MISSING:-a:b}", "a:b"),
    ("${MISSING:-{x}}", "{x}"),
    ("${A-${1}}", "a"),                 # operands are only read when used
    ("${A}${B}", "ab"),
])
def test_substitution(text: str, expected: str) -> None:
    assert interpolate(text, ENV) == expected


@pytest.mark.parametrize(("text", "fragment"), [
    ("${MISSING:?set MISSING}", "required variable MISSING is missing a value: set MISSING"),
    ("${EMPTY:?no}", "required variable EMPTY is missing a value: no"),
    ("${UNSET?no}", "required variable UNSET is missing a value: no"),
    ("${MISSING?}", "required variable MISSING is missing a value: "),
    ("${MISSING:?need $A}", "missing a value: need a"),
    ("${}", "invalid interpolation format: ${}"),
    ("${1A}", "invalid interpolation format: ${1A}"),
    ("${-x}", "invalid interpolation format"),
    ("${A%x}", "invalid variable interpolation syntax: ${A%x}"),
    ("${A B}", "invalid variable interpolation syntax"),
    ("${A.b}", "invalid variable interpolation syntax"),
    ("${A", "no closing brace"),
    ("${A:-{}", "no closing brace"),
    ("${MISSING:-${}}", "invalid interpolation format"),
])
def test_substitution_errors(text: str, fragment: str) -> None:
    with pytest.raises(ComposeError) as caught:
        interpolate(text, ENV)
    assert fragment in str(caught.value)


def test_tree_keys_values_and_lists_are_substituted_other_scalars_kept() -> None:
    tree = {"${A}": ["$B", 1, None, True, 2.5, {"k": "${A}-$$"}], 3: "x"}
    assert interpolate(tree, ENV) == {"a": ["b", 1, None, True, 2.5, {"k": "a-$"}], 3: "x"}


def test_service_environment_becomes_variables_for_its_mapping_only() -> None:
    model = {"services": {
        "web": {"environment": {"PORT": "5006", "A": "ignored", "X": "$A"},
                "ports": ["${PORT}:80"], "labels": {"x": "$X", "a": "$A"}},
        "db": {"ports": ["${PORT:-5007}:80"]},
    }}
    assert interpolate(model, ENV) == {"services": {
        "web": {"environment": {"PORT": "5006", "A": "ignored", "X": "a"},
                "ports": ["5006:80"], "labels": {"x": "a", "a": "a"}},
        "db": {"ports": ["5007:80"]},
    }}


def test_an_unquoted_number_in_environment_fails_when_substituted() -> None:
    model = {"environment": {"PORT": 5006}, "ports": ["${PORT}:80"]}
    with pytest.raises(ComposeError, match="variable PORT has the non-string value 5006"):
        interpolate(model, {})
    with pytest.raises(TypeError):  # what podman-compose 1.6.0 does with it
        podman_compose.rec_subs(model, {})
    assert interpolate({"environment": {"PORT": 5006}, "x": "${PORT:+set}"}, {}) == \
        {"environment": {"PORT": 5006}, "x": "set"}


# -- the same as podman-compose ---------------------------------------------------------------

names = st.sampled_from(["A", "EMPTY", "UNSET", "MISSING", "B"])
pieces = st.sampled_from(["$", "{", "}", ":", "-", "?", "+", "$$", "x", " ", "1", "_"]) | \
    names | names.map(lambda n: "${" + n) | names.map(lambda n: "$" + n)
texts = st.lists(pieces, max_size=12).map("".join)
envs = st.dictionaries(names, st.none() | st.sampled_from(["", "v", "$A", "${B}"]))


def podman_compose_result(value: object, env: dict[str, str | None]) -> object:
    try:
        return podman_compose.rec_subs(value, dict(env))
    except (ValueError, TypeError):
        return "error"


def our_result(value: object, env: dict[str, str | None]) -> object:
    try:
        return interpolate(value, env)
    except ComposeError:
        return "error"


@given(texts, envs)
def test_strings_interpolate_as_podman_compose_does(text: str,
                                                    env: dict[str, str | None]) -> None:
    assert our_result(text, env) == podman_compose_result(text, env)


trees = st.recursive(
    texts | st.integers() | st.none(),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(
        texts | st.just("environment"), children, max_size=3)
    | st.dictionaries(names, texts | st.integers() | st.none(), max_size=3).map(
        lambda environment: {"environment": environment, "v": "$A ${B:-$EMPTY}"}),
    max_leaves=12)


@given(trees, envs)
def test_trees_interpolate_as_podman_compose_does(tree: object,
                                                  env: dict[str, str | None]) -> None:
    assert our_result(tree, env) == podman_compose_result(tree, env)


# -- .env files -------------------------------------------------------------------------------

DOTENV = """\
# a comment

PLAIN=value
export EXPORTED=yes
SPACED = around   # trailing comment
HASH=a#b
EMPTY=
BARE
SINGLE='single $PLAIN # not a comment'
DOUBLE="double\\nline ${PLAIN}"
MULTI="one
two"
REF=${PLAIN}-${HOME}-${NOPE:-dflt}
PLAIN=again
not a valid line
AFTER=ok
"""


def test_parse_dotenv() -> None:
    assert parse_dotenv(DOTENV, {"HOME": "/home/svc"}) == {
        "PLAIN": "again", "EXPORTED": "yes", "SPACED": "around", "HASH": "a#b", "EMPTY": "",
        "BARE": None, "SINGLE": "single $PLAIN # not a comment", "DOUBLE": "double\nline value",
        "MULTI": "one\ntwo", "REF": "value-/home/svc-dflt", "AFTER": "ok"}


def test_parse_dotenv_without_environ_and_with_windows_lines() -> None:
    assert parse_dotenv("\ufeffA=1\r\nB=${A}${HOME}\r\n") == {"A": "1", "B": "1"}
    assert parse_dotenv("") == {}


dotenv_texts = st.lists(st.sampled_from([
    "A=1", "B=${A}", "C='q ${A}'", 'D="x\\ty"', "export E=2", "F", "G=", "# c", "",
    "H = spaced # c", "I=${NOPE:-d}", "A=${A}${A}", "bad line", "J=${HOME}", "K=\"open",
    "'L'=single-key"]), max_size=8).map("\n".join)


@given(dotenv_texts)
def test_dotenv_reads_as_python_dotenv_does(text: str) -> None:
    environ = {"HOME": "/home/svc", "A": "from-environ"}
    with mock.patch.dict(os.environ, environ, clear=True):
        expected = dotenv_values(stream=io.StringIO(text))
    assert parse_dotenv(text, environ) == expected
