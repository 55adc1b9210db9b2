import asyncio
import logging
import time

import pytest

from pgo.lagprobe import Probe, Stalls, lateness, run_queue_wait


def test_a_wake_on_time_or_early_is_no_lateness() -> None:
    assert lateness(10.0, 10.01, 0.01) == 0.0
    assert lateness(10.0, 10.005, 0.01) == 0.0  # (the clock's granularity)
    assert lateness(10.0, 10.07, 0.01) == pytest.approx(0.06)


def test_only_wakes_later_than_the_threshold_are_stalls() -> None:
    stalls = Stalls(threshold=0.05)
    for late in (0.0, 0.01, 0.05, 0.049):
        stalls = stalls.seen(late)
    assert (stalls.looks, stalls.count, stalls.longest) == (4, 0, 0.0)
    assert "no stall over 50 ms in 4 looks" in stalls.summary()
    stalls = stalls.seen(0.12).seen(0.0).seen(0.08)
    assert (stalls.looks, stalls.count, stalls.own) == (7, 2, 2)
    assert stalls.longest == pytest.approx(0.12)
    assert stalls.summary() == "event loop: 2 stall(s) over 50 ms in 7 looks, the longest " \
                               "120 ms; 2 without the waits for a CPU, the longest 120 ms; " \
                               "0 with over 50 ms of the loop's CPU, the most 0 ms"


def test_a_stall_spent_waiting_for_a_cpu_is_not_pgods_own() -> None:
    stalls = Stalls(threshold=0.05).seen(0.3, waited=0.28).seen(0.09, waited=0.01)
    assert (stalls.count, stalls.own) == (2, 1)
    assert stalls.longest == pytest.approx(0.3)
    assert stalls.longest_own == pytest.approx(0.08)


def test_the_run_queue_wait_is_the_second_schedstat_field() -> None:
    assert run_queue_wait("958857 37772387 2\n") == pytest.approx(0.037772387)


def test_the_probe_logs_a_blocking_call(caplog: pytest.LogCaptureFixture) -> None:
    async def block_once() -> Stalls:
        probe = Probe(tick=0.01, threshold=0.05)
        task = asyncio.create_task(probe.run())
        await asyncio.sleep(0.05)
        time.sleep(0.2)  # (the blocking call the probe must see)
        await asyncio.sleep(0.05)
        task.cancel()
        return probe.stalls

    with caplog.at_level(logging.DEBUG, logger="pgo.lagprobe"):
        stalls = asyncio.run(block_once())
    assert stalls.count >= 1 and stalls.longest >= 0.15
    assert any("event loop stalled" in r.getMessage() and "waiting for a CPU" in r.getMessage()
               for r in caplog.records)


def test_a_stall_with_the_loops_own_cpu_is_busy() -> None:
    stalls = Stalls(threshold=0.05).seen(0.09, waited=0.0, cpu=0.08).seen(0.2, cpu=0.01)
    assert (stalls.count, stalls.own, stalls.busy) == (2, 2, 1)
    assert stalls.longest_busy == pytest.approx(0.08)
    assert stalls.summary().endswith("2 without the waits for a CPU, the longest 200 ms; "
                                     "1 with over 50 ms of the loop's CPU, the most 80 ms")
