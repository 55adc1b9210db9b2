"""Which record changes are notified, and what a message says (pgo.notify.messages); the
config's notify URLs (pgo.notify.urls, pgo.config)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from pgo import state
from pgo.config import parse_config
from pgo.errors import ConfigError
from pgo.notify import messages, urls
from pgo.notify.messages import Message, message_for
from pgo.state import Outcome, Record, State, transition

A, B, C = "a" * 40, "b" * 40, "c" * 40
OK = Record(service="svc", user="u", state=State.OK, deployed=A, last_good=A, upstream=A)


def step(record: Record, event: state.Event) -> tuple[Record, Message | None]:
    after = transition(record, event, 100.0)
    return after, message_for(record, event, after)


def test_a_deploy_of_a_new_commit_is_sent_one_with_no_change_is_not() -> None:
    deploying, none = step(OK, state.Deploying(B))
    assert none is None
    done, message = step(deploying, state.Deployed(B, "two", "poll", "compose.yaml changed"))
    assert message == Message("svc", B[:12], "deployed", "compose.yaml changed")
    _, quiet = step(done, state.Deployed(C, "three", "poll", "README", Outcome.NO_CHANGE))
    assert quiet is None
    _, again = step(done, state.Deployed(B, "two", "sync", "config changed"))  # same commit
    assert again is None


def test_a_refusal_is_sent_once_and_again_when_its_reason_changes() -> None:
    refused, message = step(OK, state.Refused(B, "two", "poll", "port 80 is outside 5005"))
    assert message is not None and (message.outcome, message.commit) == ("refused", B[:12])
    assert message.failure and message.reason == "port 80 is outside 5005"
    _, repeat = step(refused, state.Refused(B, "", "poll", "port 80 is outside 5005"))
    assert repeat is None
    _, changed = step(refused, state.Refused(B, "", "poll", "port 81 is outside 5005"))
    assert changed is not None and changed.reason == "port 81 is outside 5005"


def test_the_same_broken_commit_twice_is_sent_once_with_its_fallback() -> None:
    deploying, _ = step(OK, state.Deploying(B))
    broke = state.Broke(B, "two", "poll", "exited with code 3", held=False, backoff=5.0)
    broken, message = step(deploying, broke)
    assert message is not None and message.outcome == "broken" and message.failure
    assert message.reason == "exited with code 3"
    assert message.detail == f"the last good commit {A[:12]} runs"
    back, restored = step(broken, state.Restored(A, "one", "deploy failed; a is back"))
    assert restored is None  # the broken message said so
    again, _ = step(back, state.Deploying(B))  # its backoff ran out: tried again
    _, repeat = step(again, broke)
    assert repeat is None


def test_a_broken_commit_with_nothing_to_fall_back_to_says_failing() -> None:
    blank = Record(service="svc", upstream=B)
    _, message = step(blank, state.Broke(B, "one", "start", "no such image", restored=False))
    assert message is not None and message.outcome == "broken"
    assert message.detail == "nothing known to be good runs: the service is failing"


def test_failing_is_sent_once_and_its_recovery_too() -> None:
    failing, message = step(OK, state.BringBackFailed(A, "", "self-heal", "conmon died", 5.0))
    assert message is not None and (message.outcome, message.reason) == ("failing",
                                                                         "conmon died")
    still, repeat = step(failing, state.BringBackFailed(A, "", "poll", "again", 10.0))
    assert repeat is None and still.failing
    healed, recovered = step(still, state.Healed(A, "one", "brought back: web"))
    assert recovered is not None and not recovered.failure
    assert (recovered.outcome, recovered.commit) == ("recovered", A[:12])
    _, quiet = step(healed, state.Healed(A, "one", "brought back: web"))  # not failing
    assert quiet is None


@pytest.mark.parametrize("event", [
    state.Restored(A, "one", "what should run did not; a is back"),
    state.Deployed(B, "two", "poll", "compose.yaml changed"),
])
def test_a_failing_service_that_runs_again_is_a_recovery(event: state.Event) -> None:
    failing = replace(OK, failing=True, state=State.FAILING, reason="conmon died")
    _, message = step(failing, event)
    assert message is not None and message.outcome == "recovered"


@pytest.mark.parametrize("event", [
    state.Fetched(B), state.FetchFailed("network"), state.Trouble("git"), state.Froze("op", ""),
    state.Unfroze(), state.Stopped("op"), state.Started(), state.Interrupted(), state.Unbroken(),
    state.RollbackFailed(B, "", "operator", "failed"), state.Cloning(), state.Deploying(B)])
def test_other_events_are_not_sent(event: state.Event) -> None:
    assert step(OK, event)[1] is None


def test_a_reason_keeps_no_credentials_nor_values_of_variables() -> None:
    reason = ("podman create -e DB_PASSWORD=hunter2 --env=TOKEN='x y' "
              "https://bob:s3cret@git.example.org/r.git failed: API_KEY=abc123, exit 1")
    text = messages.scrub(reason)
    for secret in ("hunter2", "x y", "s3cret", "bob", "abc123"):
        assert secret not in text
    assert "DB_PASSWORD=(value not shown)" in text and "git.example.org/r.git" in text
    assert len(messages.scrub("x" * 5000)) == messages.REASON


def test_title_and_body_name_service_host_commit_outcome_reason() -> None:
    message = Message("svc", B[:12], "broken", "exited with code 3", "the last good runs", True)
    assert messages.title(message, "box") == f"svc on box: {B[:12]} broken"
    assert messages.body(message, "box").splitlines() == [
        "service: svc", "host: box", f"commit: {B[:12]}", "outcome: broken",
        "reason: exited with code 3", "now: the last good runs"]


@pytest.mark.parametrize("url", ["ntfy://ntfy.sh/pgo-alerts", "json://127.0.0.1:8080/hook",
                                 "mailtos://user:pass@example.org", "slack://T1/B2/C3"])
def test_apprise_urls_are_accepted(url: str) -> None:
    assert urls.problem(url) is None


def test_an_unknown_scheme_is_refused_naming_the_scheme_only() -> None:
    problem = urls.problem("nosuch://user:secret@example.org")
    assert problem is not None and "'nosuch://'" in problem and "secret" not in problem
    assert "no SCHEME://" in str(urls.problem("just words"))


def test_shown_masks_what_apprise_calls_private() -> None:
    assert "secret" not in urls.shown("json://bob:secret@example.org/hook")
    assert urls.shown("nosuch://bob:secret@x") == "nosuch://..."


SERVICE = '[[services]]\nname = "{}"\nuser = "root"\nrepository = "file:///r.git"\n'


def test_notify_is_global_and_a_service_adds_its_own() -> None:
    text = ('notify = ["ntfy://ntfy.sh/all"]\n' + SERVICE.format("one")
            + 'notify = ["json://127.0.0.1:9/one", "ntfy://ntfy.sh/all"]\n'
            + SERVICE.format("two"))
    one, two = parse_config(text, "pgod.toml").services
    assert one.notify == ("ntfy://ntfy.sh/all", "json://127.0.0.1:9/one")
    assert two.notify == ("ntfy://ntfy.sh/all",)


@pytest.mark.parametrize(("text", "where"), [
    ('notify = "ntfy://ntfy.sh/all"\n' + SERVICE.format("one"), "pgod.toml: key 'notify'"),
    ('notify = [1]\n' + SERVICE.format("one"), "pgod.toml: key 'notify': item 1"),
    (SERVICE.format("one") + 'notify = ["ntfy://ntfy.sh/a", "bogus://tok@x"]\n',
     "pgod.toml: service 'one': key 'notify': item 2: not a URL Apprise can send to "
     "(scheme 'bogus://')"),
])
def test_a_bad_notify_value_names_file_service_and_key(text: str, where: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "pgod.toml")
    assert str(caught.value).startswith(where) and "tok@" not in str(caught.value)
