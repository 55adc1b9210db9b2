import pytest
from hypothesis import given
from hypothesis import strategies as st

from pgo.command import COMMANDS, MAX_COMMAND, Request, parse_request
from pgo.errors import Refusal


@pytest.mark.parametrize(("line", "request_"), [
    ("pgo//ps", Request("pgo", "ps")),
    ("pgo//ping", Request("pgo", "ping")),
    ("pgo//sync", Request("pgo", "sync")),
    ("pgo//logs --tail 20", Request("pgo", "logs", ("--tail", "20"))),
    ("pgo//logs --tail=20 -t web", Request("pgo", "logs", ("--tail", "20", "-t", "web"))),
    ("pgo//logs -n all --since 10m -f", Request("pgo", "logs",
                                                 ("--tail", "all", "--since", "10m", "-f"))),
    ("pgo//logs --follow --timestamps", Request("pgo", "logs", ("-f", "-t"))),
    ("my-svc_2//up web db", Request("my-svc_2", "up", ("web", "db"))),
    ("pgo//restart 'web'", Request("pgo", "restart", ("web",))),
])
def test_parse_request(line: str, request_: Request) -> None:
    assert parse_request(line) == request_


def test_compose_argv_is_a_list_of_words() -> None:
    assert parse_request("pgo//up web").compose_argv() == ["up", "-d", "web"]
    assert parse_request("pgo//logs -f --tail 5").compose_argv() == [
        "logs", "--no-color", "-f", "--tail", "5"]
    assert parse_request("pgo//logs -f").follow
    # as pgod's own down: a container of a compose service the commit dropped goes too
    assert parse_request("pgo//down").compose_argv() == ["down", "--remove-orphans"]


@pytest.mark.parametrize(("line", "status"), [
    ("", 400), ("ps", 400), ("//ps", 400), ("pgo/ps", 400), ("PGO//ps", 400),
    ("../x//ps", 400), ("pgo//PS", 400), ("pgo//ps 'unbalanced", 400),
    ("pgo//" + "x" * MAX_COMMAND, 400),
    ("pgo//shell", 406), ("pgo//exec", 406), ("pgo//rm", 406),
    ("pgo//ps -a", 406), ("pgo//ps web", 406), ("pgo//down -v", 406),
    ("pgo//down --rmi all", 406), ("pgo//up --build", 406), ("pgo//up -d", 406),
    ("pgo//logs --tail abc", 406), ("pgo//logs --tail", 406), ("pgo//logs --since '1; rm'", 406),
    ("pgo//logs -f;id", 406), ("pgo//logs $(id)", 406), ("pgo//up web;id", 406),
    ("pgo//logs --names", 406), ("pgo//up ../x", 406), ("pgo//ping now", 406),
    ("pgo//sync --force", 406), ("pgo//sync web", 406),
    # `$` also matches before a final newline: every pattern must match the whole word
    ("pgo\n//ps", 400), ("pgo//logs 'web\n'", 406),
    ("pgo//logs --since -5m", 406), ("pgo//logs --since '5m\n'", 406),
])
def test_refusals(line: str, status: int) -> None:
    with pytest.raises(Refusal) as caught:
        parse_request(line)
    assert caught.value.status == status
    assert caught.value.line().startswith(f"pgod: {status} ")


@given(st.text(max_size=200))
def test_any_input_parses_or_is_refused(line: str) -> None:
    try:
        request = parse_request(line)
    except Refusal as refusal:
        assert refusal.status in (400, 406)
        return
    assert request.command in COMMANDS
    for word in request.args:  # every word is one the command's allowlist produced
        assert not any(c in word for c in ";|&$`\n\\\"'<> ")


@pytest.mark.parametrize(("line", "request_"), [
    ("pgo//status --json", Request("pgo", "status", ("--json",))),
    ("pgo//history -n 5 --json", Request("pgo", "history", ("-n", "5", "--json"))),
    ("pgo//freeze release week", Request("pgo", "freeze", ("release", "week"))),
    ("pgo//rollback 0123abcd", Request("pgo", "rollback", ("0123abcd",))),
    ("pgo//rollback", Request("pgo", "rollback")),
    ("pgo//diff", Request("pgo", "diff")),
])
def test_the_state_commands_parse(line: str, request_: Request) -> None:
    assert parse_request(line) == request_


@pytest.mark.parametrize(("line", "says"), [
    ("pgo//status --yaml", "argument '--yaml' is not accepted (accepted: --json)"),
    ("pgo//history -n 0", "-n '0' is not accepted"),
    ("pgo//history -n 101", "-n '101' is not accepted"),
    ("pgo//history -n many", "-n 'many' is not accepted"),
    ("pgo//rollback HEAD~1", "argument 'HEAD~1' is not accepted (accepted: a commit hash"),
    ("pgo//rollback abc", "argument 'abc' is not accepted"),
    ("pgo//rollback 0123abcd 4567abcd", "argument '4567abcd' is not accepted"),
    ("pgo//freeze 'a\tb'", "argument 'a\\tb' is not accepted (accepted: words of a reason)"),
    ("pgo//unfreeze now", "argument 'now' is not accepted (takes none)"),
    ("pgo//diff --all", "argument '--all' is not accepted (takes none)"),
])
def test_the_state_commands_refuse_what_they_do_not_take(line: str, says: str) -> None:
    with pytest.raises(Refusal) as refused:
        parse_request(line)
    assert refused.value.status == 406 and says in str(refused.value)
