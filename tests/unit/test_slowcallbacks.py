import asyncio
import gc
import logging
import re
import time

import pytest

from pgo.slowcallbacks import (
    WORST,
    Kind,
    Slow,
    Tally,
    Watch,
    meanwhile,
    source,
    spot,
    spot_text,
)


def burn(seconds: float) -> None:
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass


def test_the_tally_keeps_the_worst_call_of_each_source_most_cpu_first() -> None:
    tally = Tally()
    for slow in (Slow("a", 0.1, 0.03), Slow("b", 0.2, 0.09), Slow("a", 0.06, 0.05),
                 Slow("a", 0.3, 0.01)):
        tally = tally.with_slow(slow)
    assert tally.slow == 4
    assert tally.worst == (Slow("b", 0.2, 0.09), Slow("a", 0.06, 0.05))
    for n in range(WORST + 3):
        tally = tally.with_slow(Slow(f"s{n}", 0.1, 0.021 + n / 1000))
    assert len(tally.worst) == WORST and tally.worst[0].source == "b"
    assert "s0" not in {s.source for s in tally.worst}


def test_the_summary_names_the_counts_and_the_worst() -> None:
    tally = Tally().with_slow(Slow("task 'x': from f (m.py:3) to g (m.py:9)", 0.08, 0.061))
    text = tally.counted(1200, 3.25, 0.061, 0.08).summary()
    assert text.startswith("callbacks: 1200 run, 3.2 s of CPU; 1 over 20 ms of CPU or 50 ms; "
                           "the longest 61 ms of CPU, 80 ms")
    assert "\n  61 ms of CPU in 80 ms: task 'x': from f (m.py:3) to g (m.py:9)" in text


def test_a_suspended_coroutine_is_told_by_its_innermost_frame() -> None:
    async def inner() -> None:
        await asyncio.sleep(1)

    async def outer() -> None:
        await inner()

    async def look() -> str:
        task = asyncio.create_task(outer(), name="t")
        await asyncio.sleep(0)
        text = spot_text(spot(task.get_coro()))
        task.cancel()
        return text

    text = asyncio.run(look())
    assert "inner" in text and "sleep (tasks.py:" in text


def test_a_plain_callback_is_told_by_its_name() -> None:
    assert source(burn, ()) == "burn"


def test_the_watch_names_a_callback_that_burns_cpu_not_one_that_sleeps(
        caplog: pytest.LogCaptureFixture) -> None:
    async def busy() -> None:
        await asyncio.sleep(0)
        burn(0.06)  # (the CPU the watch must see)
        await asyncio.sleep(0)
        time.sleep(0.06)  # (wall time without CPU)
        await asyncio.sleep(0)

    async def watched() -> Tally:
        watch = Watch().install()
        try:
            await asyncio.create_task(busy(), name="busy one")
        finally:
            watch.uninstall()
        return watch.tally

    gc.disable()  # (a pass of a big heap would be one more slow callback)
    try:
        with caplog.at_level(logging.DEBUG, logger="pgo.lagprobe"):
            tally = asyncio.run(watched())
    finally:
        gc.enable()
    assert tally.calls >= 4 and tally.slow == 2
    assert tally.longest_cpu >= 0.06 and tally.longest_wall >= 0.06
    by_cpu = [s for s in tally.worst if s.cpu >= 0.05]
    assert len(by_cpu) == 1 and by_cpu[0].source.startswith("task 'busy one': from ")
    assert "busy (test_slowcallbacks.py:" in by_cpu[0].source
    sleeper = [s for s in tally.worst if s.cpu < 0.02]
    assert len(sleeper) == 1 and sleeper[0].wall >= 0.06
    assert any("callback used" in r.getMessage() and "busy one" in r.getMessage()
               for r in caplog.records)
    assert asyncio.events.Handle._run.__name__ == "_run"  # (uninstalled)


def test_the_line_meanwhile_names_the_longest_the_gc_and_the_costliest_kinds() -> None:
    kinds = [Kind(f"k{n}", n, n / 100, n / 50) for n in range(1, 8)]
    text = meanwhile(10.02, 900, 0.25, Slow("task 't': from a to b", 0.0158, 0.0151, 0.004),
                     kinds, (3, 0.012, 0.0061, 2))
    head, *rest = text.split("\n")
    assert head == "callbacks in 10 s: 900 run, 250 ms of CPU; 3 gc passes, 12 ms, the " \
                   "longest 6.1 ms (generation 2); the longest callback 15.1 ms of CPU in " \
                   "15.8 ms (4.0 ms of it collecting garbage): task 't': from a to b"
    assert rest == [f"  {n * 10} ms of CPU, {n * 20} ms in {n} call(s): k{n}"
                    for n in (7, 6, 5, 4, 3)]
    assert meanwhile(5, 0, 0.0, None, []) == "callbacks in 5 s: 0 run, 0 ms of CPU; 0 gc " \
                                             "passes, 0 ms, the longest 0.0 ms " \
                                             "(generation 0)"


def test_the_watch_tells_the_costliest_callback_and_the_collector_meanwhile() -> None:
    class Cycle:
        def __init__(self) -> None:
            self.me = self

    async def busy() -> None:
        await asyncio.sleep(0)
        burn(0.03)
        await asyncio.sleep(0)
        for _ in range(1000):
            Cycle()
        gc.collect()

    async def watched() -> tuple[str, str]:
        watch = Watch().install()
        try:
            await asyncio.create_task(busy(), name="busy one")
            return watch.meanwhile(), watch.meanwhile()
        finally:
            watch.uninstall()

    first, second = asyncio.run(watched())
    longest = re.search(r"the longest callback ([\d.]+) ms of CPU", first)
    assert longest and float(longest[1]) >= 30 and "task 'busy one': from " in first
    assert "gc passes" in first and not first.split("; ")[1].startswith("0 gc passes")
    assert "(generation 2)" in first  # (gc.collect(): a full pass, the longest here)
    assert "\n  " in first and "task test_the_watch_tells" in first
    assert "the longest callback" not in second  # (all told the first time)
    assert not any(getattr(cb, "__self__", None).__class__ is Watch for cb in gc.callbacks)
