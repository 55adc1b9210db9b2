"""pgoctl's side of the grammar, checked against the regex and shlex it replaces."""

import re
import shlex

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pgo.command import parse_request
from pgo.errors import Refusal
from pgo.target import parse_target, quote


@pytest.mark.parametrize(("text", "host", "service", "command"), [
    ("example.org:pgo//ps", "example.org", "pgo", "ps"),
    ("127.0.0.1:web//logs", "127.0.0.1", "web", "logs"),
    ("[::1]:pgo//ping", "::1", "pgo", "ping"),
])
def test_parse_target(text: str, host: str, service: str, command: str) -> None:
    target = parse_target(text, ["--tail", "20"])
    assert (target.host, target.service, target.command) == (host, service, command)
    assert target.remote_command() == f"{service}//{command} --tail 20"


@pytest.mark.parametrize("text", ["pgo//ps", "host:pgo/ps", "host:pgo", ":pgo//ps",
                                  "host:pgo//", "a b:pgo//ps"])
def test_bad_target(text: str) -> None:
    with pytest.raises(ValueError, match="HOST:SERVICE//COMMAND"):
        parse_target(text)


def test_remote_command_quotes_words() -> None:
    target = parse_target("h:pgo//logs", ["a b"])
    assert target.remote_command() == "pgo//logs 'a b'"


# The grammar as a regular expression (what pgoctl used before it dropped `re` to start faster).
_TARGET = re.compile(r"(?P<host>\[[0-9A-Fa-f:.]+\]|[^\s:/\[\]]+):(?P<name>[^\s:/]+)"
                     r"//(?P<command>\S+)")
_PIECES = st.sampled_from(["h", "example.org", "[", "]", "[::1]", ":", "/", "//", " ", "\t",
                           "pgo", "ps", "1", "a.b", "\u3000", "-", "f:f"])


@given(st.lists(_PIECES, max_size=8).map("".join) | st.text(max_size=20))
def test_parse_target_agrees_with_the_regex(text: str) -> None:
    match = _TARGET.fullmatch(text)
    try:
        target = parse_target(text)
    except ValueError:
        assert match is None
    else:
        assert match is not None
        assert (target.host, target.service, target.command) == (
            match.group("host").strip("[]"), match.group("name"), match.group("command"))


@given(st.text())
def test_quote_is_shlex_quote(word: str) -> None:
    assert quote(word) == shlex.quote(word)


@given(st.lists(st.sampled_from(["--tail", "20", "-f", "web", "--since=1h", "a b", "it's", ""])))
def test_pgod_reads_back_what_pgoctl_sends(args: list[str]) -> None:
    sent = parse_target("h:pgo//logs", args).remote_command()
    assert shlex.split(sent) == ["pgo//logs", *args]
    try:
        request = parse_request(sent)
    except Refusal as refusal:  # an argument logs does not accept: 406, never 400 (syntax)
        assert refusal.status == 406
    else:
        assert (request.service, request.command) == ("pgo", "logs")
