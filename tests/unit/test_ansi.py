"""Terminal escapes taken out of streamed text (pgo.ansi), however the stream is cut."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pgo import ansi

# What podman-compose 1.6.0 writes for `logs` (its prefix, coloured or --no-color's reset)
PREFIXED = "\x1b[1;32m[web]  |\x1b[0m GET /probe 404\n\x1b[0m[db]   |\x1b[0m ready\n"


@pytest.mark.parametrize(("text", "plain"), [
    (PREFIXED, "[web]  | GET /probe 404\n[db]   | ready\n"),
    ("\x1b]0;a title\x07after", "after"),
    ("\x1b(Bcharset \x1b7saved\x1b8", "charset saved"),
    ("clear\x1b[2K\x1b[1Gline", "clearline"),
    ("a lone \x1b", "a lone "),
    ("no escapes [1;32m here", "no escapes [1;32m here"),
])
def test_escapes_go_text_stays(text: str, plain: str) -> None:
    assert ansi.strip(text) == plain


@given(st.lists(st.integers(min_value=0, max_value=len(PREFIXED)), max_size=6))
def test_a_sequence_cut_across_chunks_goes_too(cuts: list[int]) -> None:
    edges = [0, *sorted(cuts), len(PREFIXED)]
    stripper = ansi.Stripper()
    out = "".join(stripper.feed(PREFIXED[a:b]) for a, b in itertools.pairwise(edges))
    assert out + stripper.end() == ansi.strip(PREFIXED)


def test_an_unfinished_sequence_is_not_held_forever() -> None:
    stripper = ansi.Stripper()
    assert stripper.feed("x\x1b[1;") == "x"  # held: the rest may come in the next chunk
    assert stripper.feed("1;" * 200) == "1;" * 201  # too long for a sequence: ESC [ dropped
    assert stripper.feed("more") + stripper.end() == "more"
