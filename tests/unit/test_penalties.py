import pytest

from pgo.penalties import Failure, Penalties, Penalty, PenaltyPolicy

A, B = "192.0.2.1", "2001:db8:1:2::/64"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make(**policy: object) -> tuple[Penalties, Clock]:
    clock = Clock()
    return Penalties(PenaltyPolicy(**policy), clock), clock  # type: ignore[arg-type]


def fail(penalties: Penalties, source: str, times: int,
         failure: Failure = Failure.AUTH) -> list[Penalty]:
    return [p for _ in range(times) if (p := penalties.failed(source, failure)) is not None]


def test_a_fresh_source_is_let_in() -> None:
    penalties, _ = make()
    assert penalties.refusing(A) == 0
    assert penalties.refused_total == 0 and len(penalties) == 0


def test_eight_refused_key_connections_earn_thirty_seconds() -> None:
    penalties, clock = make()
    assert fail(penalties, A, 7) == []
    assert penalties.refusing(A) == 0
    assert fail(penalties, A, 1) == [Penalty(A, 30.0, 1, trusted=False)]
    assert penalties.refusing(A) == 30.0
    clock.now += 29.5
    assert penalties.refusing(A) == 0.5
    clock.now += 0.5
    assert penalties.refusing(A) == 0
    assert (penalties.penalties_total, penalties.refused_total) == (1, 2)
    assert penalties.failures_total == {Failure.AUTH: 8, Failure.NOAUTH: 0}


def test_connections_that_never_authenticate_weigh_half() -> None:
    penalties, _ = make()
    assert fail(penalties, A, 15, Failure.NOAUTH) == []
    assert fail(penalties, A, 1, Failure.NOAUTH) == [Penalty(A, 30.0, 1, trusted=False)]


def test_the_score_drains_one_point_per_fifteen_seconds() -> None:
    penalties, clock = make()
    fail(penalties, A, 7)
    clock.now += 15.0  # 6 points left: two more failures are needed
    assert fail(penalties, A, 1) == []
    assert len(fail(penalties, A, 1)) == 1
    penalties, clock = make()
    for _ in range(100):  # one attempt every 15 s never piles up
        assert fail(penalties, A, 1) == []
        clock.now += 15.0


def test_each_penalty_doubles_the_next_up_to_ten_minutes() -> None:
    penalties, clock = make()
    lengths = []
    for _ in range(7):
        (penalty,) = fail(penalties, A, 8)
        lengths.append((penalty.nth, penalty.seconds))
        clock.now += penalty.seconds
    assert lengths == [(1, 30.0), (2, 60.0), (3, 120.0), (4, 240.0), (5, 480.0), (6, 600.0),
                       (7, 600.0)]


def test_failures_during_a_penalty_add_nothing_and_log_nothing() -> None:
    """Connections already open when the penalty began end later: no second penalty."""
    penalties, clock = make()
    assert len(fail(penalties, A, 8)) == 1
    assert fail(penalties, A, 50) == []
    clock.now += 30.0
    assert penalties.refusing(A) == 0
    assert fail(penalties, A, 7) == []  # the score started over at the penalty
    assert fail(penalties, A, 1)[0].seconds == 60.0
    assert penalties.failures_total[Failure.AUTH] == 66


def test_a_source_that_authenticated_is_penalised_at_a_quarter_of_the_rate() -> None:
    penalties, clock = make()
    penalties.succeeded(A)
    assert fail(penalties, A, 31) == []
    assert fail(penalties, A, 1) == [Penalty(A, 30.0, 1, trusted=True)]
    assert penalties.successes_total == 1
    clock.now += 3600.0  # trust lasts an hour after the last success
    clock.now += 30.0
    assert fail(penalties, A, 8)[0].trusted is False


def test_a_success_clears_the_score() -> None:
    penalties, _ = make()
    fail(penalties, A, 7)
    penalties.succeeded(A)
    assert fail(penalties, A, 31) == []  # trusted now, from zero


def test_sources_are_judged_apart() -> None:
    penalties, _ = make()
    fail(penalties, A, 8)
    assert penalties.refusing(A) > 0
    assert penalties.refusing(B) == 0
    assert fail(penalties, B, 7) == []
    assert penalties.penalised() == 1


def test_a_clean_hour_after_a_penalty_starts_the_source_over() -> None:
    penalties, clock = make()
    fail(penalties, A, 8)
    clock.now += 30.0
    fail(penalties, A, 8)  # the second: 60 s
    clock.now += 60.0 + 3599.0
    assert fail(penalties, A, 8)[0].seconds == 120.0  # not forgotten yet
    clock.now += 120.0 + 3600.0
    assert fail(penalties, A, 8)[0] == Penalty(A, 30.0, 1, trusted=False)


def test_forgetting_keeps_the_trust() -> None:
    penalties, clock = make(forget=10.0)
    penalties.succeeded(A)
    clock.now += 20.0
    assert fail(penalties, A, 31) == []


def test_at_most_max_sources_are_remembered_the_least_recently_seen_go_first() -> None:
    penalties, _ = make(max_sources=3)
    for source in ("s1", "s2", "s3"):
        fail(penalties, source, 8)
    penalties.failed("s1", Failure.AUTH)  # seen again: now the most recent
    penalties.failed("s4", Failure.AUTH)
    assert len(penalties) == 3
    assert penalties.refusing("s2") == 0  # forgotten, its penalty with it
    assert penalties.refusing("s1") > 0 and penalties.refusing("s3") > 0


@pytest.mark.parametrize(("served", "seconds"), [
    (0, 30.0), (1, 60.0), (4, 480.0), (5, 600.0), (10_000, 600.0)])
def test_penalty_length(served: int, seconds: float) -> None:
    assert PenaltyPolicy().length(served) == seconds


def test_penalised_counts_only_running_penalties() -> None:
    penalties, clock = make()
    fail(penalties, A, 8)
    clock.now += 10.0
    fail(penalties, B, 8)
    assert penalties.penalised() == 2
    clock.now += 20.0
    assert penalties.penalised() == 1
