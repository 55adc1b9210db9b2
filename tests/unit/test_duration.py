import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pgo.duration import format_duration, jittered, parse_duration


@pytest.mark.parametrize(("text", "seconds"), [
    ("5m0s", 300.0), ("90s", 90.0), ("1h30m", 5400.0), ("250ms", 0.25), ("0", 0.0),
    ("1.5h", 5400.0), ("2h45m30.5s", 9930.5), ("100us", 1e-4), ("100µs", 1e-4),
    ("10ns", 1e-8), ("+3s", 3.0), ("-1m", -60.0), (".5s", 0.5),
])
def test_parse_go_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "5", "5 m", "m", "1d", "5m0", "1h-30m", "s", "--1s", "1.s.5"])
def test_parse_rejects_what_go_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="Go syntax"):
        parse_duration(text)


@pytest.mark.parametrize(("seconds", "text"), [
    (300.0, "5m0s"), (90.0, "1m30s"), (5400.0, "1h30m0s"), (0.25, "250ms"), (0.0, "0s"),
    (1.5, "1.5s"), (3600.0, "1h0m0s"), (7.0, "7s"),
])
def test_format_like_go(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


@given(st.integers(min_value=1, max_value=10**6))
def test_format_parses_back(seconds: int) -> None:
    assert parse_duration(format_duration(seconds)) == pytest.approx(seconds)


@given(st.floats(min_value=0.001, max_value=1e6), st.integers())
def test_jitter_stays_within_half_the_duration(seconds: float, seed: int) -> None:
    wait = jittered(seconds, random.Random(seed))
    assert seconds <= wait <= seconds * 1.5


def test_jitter_varies() -> None:
    rng = random.Random(1)
    assert len({jittered(60.0, rng) for _ in range(20)}) > 1
