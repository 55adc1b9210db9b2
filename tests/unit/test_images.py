"""Image updates' pure parts: which image names changed behind their tags, when a check
may run, pgod's own tag for the previous image."""

from __future__ import annotations

from dataclasses import replace

from pgo import state
from pgo.images import Change, Running, changes, due, kept_tag
from pgo.state import Mark, Record, State

A = "a" * 40
OK = Record(service="svc", user="u", state=State.OK, deployed=A, last_good=A, upstream=A)


def test_only_names_that_now_point_elsewhere_are_changes() -> None:
    running = [Running("p_web_1", "r/app:1", "old"), Running("p_web_2", "r/app:1", "old"),
               Running("p_db_1", "r/db:2", "db"), Running("p_x_1", "localhost/p_x", "x")]
    now = {"r/app:1": "new", "r/db:2": "db"}  # (p_x's name cannot be inspected)
    assert changes(running, now) == [Change("r/app:1", ("p_web_1", "p_web_2"), "old", "new")]
    assert changes(running, {"r/app:1": "old", "r/db:2": "db"}) == []
    assert changes([], now) == []


def test_a_check_runs_only_while_what_is_deployed_runs_in_pgods_hands() -> None:
    assert due(OK)
    assert due(replace(OK, state=State.BROKEN)) and due(replace(OK, state=State.REFUSED))
    mark = Mark("op", 1.0)
    for record in (Record(service="svc"), replace(OK, frozen=mark), replace(OK, stopped=mark),
                   replace(OK, host_stop=mark), replace(OK, failing=True),
                   state.transition(OK, state.Deploying(A), 1.0)):
        assert not due(record)


def test_the_previous_image_tag_is_the_projects_own_and_one_per_name() -> None:
    one, two = kept_tag("svc", "r/app:1"), kept_tag("svc", "r/app:2")
    assert one.startswith("localhost/pgo-previous/svc:") and one != two
    assert kept_tag("svc", "r/app:1") == one and kept_tag("other", "r/app:1") != one
    assert Change("r/app:1", (), "o" * 64, "n" * 64, "sha256:1", "sha256:2").shown() == \
        "r/app:1 sha256:1 -> sha256:2"
