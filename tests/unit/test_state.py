"""The service record's transitions: each event, in the states it can meet."""

from __future__ import annotations

from dataclasses import replace

import pytest

from pgo import state
from pgo.state import Outcome, Record, State, transition

A, B, C = "a" * 40, "b" * 40, "c" * 40
OK = Record(service="svc", user="u", state=State.OK, deployed=A, last_good=A, upstream=A)


def after(record: Record, *events: state.Event, now: float = 100.0) -> Record:
    for event in events:
        record = transition(record, event, now)
    return record


def test_a_new_record_is_cloning_then_ok_once_deployed() -> None:
    blank = Record(service="svc")
    assert after(blank, state.Cloning()).state is State.CLONING
    fetched = after(blank, state.Cloning(), state.Fetched(A))
    assert fetched.state is State.CLONING and fetched.upstream == A
    done = after(fetched, state.Deploying(A), state.Deployed(A, "one", "start", "first"))
    assert (done.state, done.deployed, done.last_good) == (State.OK, A, A)
    assert done.history[0].outcome is Outcome.DEPLOYED and done.history[0].trigger == "start"


def test_since_changes_only_with_the_state() -> None:
    first = after(OK, state.Froze("k", "why"), now=5.0)
    assert (first.state, first.since) == (State.FROZEN, 5.0)
    again = after(first, state.Fetched(B), now=9.0)
    assert again.since == 5.0


def test_a_refusal_keeps_what_runs_and_is_recorded_once() -> None:
    refused = after(OK, state.Fetched(B), state.Refused(B, "bad", "poll", "port 80"))
    assert refused.state is State.REFUSED and refused.deployed == A
    assert len(refused.history) == 1 and refused.history[0].outcome is Outcome.REFUSED
    assert after(refused, state.Refused(B, "", "poll", "port 80")) == refused
    assert len(after(refused, state.Refused(B, "", "poll", "port 81")).history) == 2


def test_refused_ends_when_upstream_moves_on() -> None:
    refused = after(OK, state.Fetched(B), state.Refused(B, "bad", "poll", "port 80"))
    moved = after(refused, state.Fetched(C), state.Deploying(C),
                  state.Deployed(C, "good", "poll", "changed"))
    assert moved.state is State.OK and moved.refused == B  # a fact about B, not about now
    assert after(refused, state.Fetched(A)).state is State.OK  # reverted upstream
    # a new head nobody judged yet: the state stays until the pass says what it is
    assert after(refused, state.Fetched(C)).state is State.REFUSED
    assert after(OK, state.Fetched(C)).state is State.OK


def test_a_broken_commit_restored_is_broken_and_held() -> None:
    broke = after(OK, state.Fetched(B), state.Deploying(B),
                  state.Broke(B, "crash", "poll", "exit 3", config="cfg"),
                  state.Restored(A, "one", "deploy of B failed"))
    assert broke.state is State.BROKEN and broke.deployed == A and broke.last_good == A
    assert [a.outcome for a in broke.history] == [Outcome.ROLLED_BACK, Outcome.BROKEN]
    assert broke.history[0].trigger == "rollback"
    assert state.held_back(broke, B, "cfg", 1e12)
    assert not state.held_back(broke, B, "other config", 100.0)  # the config changed
    assert not state.held_back(broke, C, "cfg", 100.0)  # the branch moved
    assert after(broke, state.Unbroken()).state is State.OK  # an operator's sync or up


def test_a_failure_before_down_backs_off_and_is_tried_again() -> None:
    broke = after(OK, state.Fetched(B), state.Broke(B, "", "poll", "pull failed",
                                                    held=False, backoff=60.0, config="c"),
                  now=100.0)
    assert broke.state is State.BROKEN and broke.failures == 1
    assert state.held_back(broke, B, "c", 159.0)
    assert not state.held_back(broke, B, "c", 160.0)


def test_nothing_restored_is_failing_until_something_runs() -> None:
    failing = after(OK, state.Fetched(B), state.Deploying(B),
                    state.Broke(B, "", "poll", "exit 3; restoring failed", restored=False,
                                held=False, backoff=30.0))
    assert failing.state is State.FAILING and failing.failing
    again = after(failing, state.BringBackFailed(A, "", "poll", "up failed", 60.0), now=200.0)
    assert again.state is State.FAILING and again.failures == 2 and again.retry_at == 260.0
    assert state.waiting(again, 259.0) and not state.waiting(again, 260.0)
    back = after(again, state.Restored(A, "one", "what should run did not"))
    assert back.state is State.BROKEN and not back.failing and back.failures == 0


def test_failing_wins_over_frozen_and_stopped_over_all() -> None:
    failing = replace(OK, failing=True, frozen=state.Mark("k", 1.0))
    assert state.settle(failing) is State.FAILING
    assert state.settle(replace(failing, stopped=state.Mark("k", 1.0))) is State.STOPPED


def test_freeze_and_unfreeze_say_who_when_and_why() -> None:
    frozen = after(OK, state.Froze("SHA256:x", "release week"), now=42.0)
    assert frozen.state is State.FROZEN
    assert frozen.frozen == state.Mark("SHA256:x", 42.0, "release week")
    assert after(frozen, state.Unfroze()).state is State.OK


def test_stopped_until_started() -> None:
    stopped = after(OK, state.Stopped("operator k", "down"))
    assert stopped.state is State.STOPPED
    assert after(stopped, state.Fetched(B)).state is State.STOPPED
    assert after(stopped, state.Started()).state is State.OK


def test_self_heal_is_recorded_and_ends_failing() -> None:
    healed = after(OK, state.Deploying(A), state.Healed(A, "one", "brought back: web"))
    assert healed.state is State.OK and healed.history[0].trigger == "self-heal"
    failed = after(OK, state.Deploying(A),
                   state.BringBackFailed(A, "", "self-heal", "exit 1", 10.0))
    assert failed.state is State.FAILING and failed.history[0].outcome is Outcome.FAILED
    assert after(failed, state.Healed(A, "", "ok")).state is State.OK


def test_a_fetch_failure_is_kept_and_counted_without_changing_the_state() -> None:
    failed = after(OK, state.FetchFailed("no route"), state.FetchFailed("no route"))
    assert failed.state is State.OK and failed.last_fetch == state.Fetch(100.0, "no route", 2)
    assert after(failed, state.Fetched(A)).last_fetch == state.Fetch(100.0)


def test_trouble_is_the_reason_and_nothing_else() -> None:
    troubled = after(OK, state.Trouble("git reset failed"))
    assert troubled.reason == "git reset failed" and troubled.state is State.OK
    first = after(Record(service="svc"), state.Trouble("clone failed"))
    assert first.state is State.FAILING
    assert after(troubled, state.Trouble(None)).reason is None


def test_history_keeps_the_newest_hundred() -> None:
    record = OK
    for n in range(120):
        record = after(record, state.Deployed(A, f"n{n}", "poll", ""))
    assert len(record.history) == state.HISTORY and record.history[0].subject == "n119"


@pytest.mark.parametrize(("failures", "wait"), [(0, 30.0), (1, 30.0), (2, 60.0), (3, 120.0),
                                                (4, 120.0), (10, 120.0)])
def test_backoff_doubles_up_to_four_times_the_interval(failures: int, wait: float) -> None:
    assert state.backoff(failures, 30.0) == wait


D1, D2 = "sha256:" + "1" * 64, "sha256:" + "2" * 64


def test_an_image_update_is_history_with_trigger_image_and_clears_broken_digests() -> None:
    broke = after(OK, state.Deploying(A), state.ImagesBroke(A, "one", (D1,), "gate: exit 1"))
    assert (broke.state, broke.deployed, broke.broken_images) == (State.OK, A, (D1,))
    assert broke.image_reason == "gate: exit 1" and not broke.failing
    assert broke.reason is None  # (a pass clears the reason; the image's own stays)
    assert (broke.history[0].trigger, broke.history[0].outcome) == ("image", Outcome.BROKEN)
    updated = after(broke, state.Deploying(A),
                    state.ImagesUpdated(A, "one", f"web: {D1} -> {D2}"))
    assert (updated.state, updated.broken_images, updated.image_reason) == (State.OK, (), None)
    assert (updated.history[0].trigger, updated.history[0].outcome) == ("image",
                                                                         Outcome.DEPLOYED)
    assert D1 in updated.history[0].reason and D2 in updated.history[0].reason
    assert updated.deployed == A and updated.last_good == A  # (no commit changed)


def test_an_image_update_whose_way_back_failed_is_failing() -> None:
    down = after(OK, state.Deploying(A),
                 state.ImagesBroke(A, "", (D2, D1, D2), "gate", restored=False, backoff=30.0))
    assert (down.state, down.failures, down.retry_at) == (State.FAILING, 1, 130.0)
    assert down.broken_images == (D1, D2) and down.reason == "gate"
    healed = after(down, state.Deploying(A), state.Healed(A, "", "brought back"))
    assert healed.state is State.OK and healed.broken_images == (D1, D2)


def test_image_facts_stay_through_other_events() -> None:
    broke = after(OK, state.ImagesBroke(A, "", (D1,), "gate"))
    moved = after(broke, state.Fetched(B), state.Deploying(B),
                  state.Deployed(B, "two", "poll", "changed"), state.Froze("k", "why"))
    assert moved.broken_images == (D1,) and moved.state is State.FROZEN
