"""The event loop's lag, measured (pgod -d): a task sleeps a fixed tick and looks how late
it wakes. A wake later than the threshold is a stall: something ran on the loop without
yielding (a blocking call), or the machine gave pgod's thread no CPU for that long. The
kernel says which (the thread's run-queue wait, /proc/thread-self/schedstat): each stall is
logged with its length and how much of it was a wait for a CPU; the count, the longest and
the longest of pgod's own making (the stall less that wait) are kept, and logged when pgod
stops. The loop's own CPU over the gap (`time.thread_time`) is kept too: a stall with more
than the threshold of it was pgod's work on the loop; one without it, and without the wait
for a CPU, blocked (a disk, the GIL). While the probe runs, every callback is timed as well
(`slowcallbacks.Watch`): those over 20 ms of their own CPU are named.

With asyncio's debug mode on as well (PYTHONASYNCIODEBUG=1), the loop itself names the
callback that ran longer than the threshold (its `slow_callback_duration`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

from pgo.slowcallbacks import EVERY, Watch

TICK = 0.01       # seconds between looks: a stall is measured to within this
THRESHOLD = 0.05  # seconds late that make a stall
SCHEDSTAT = "/proc/thread-self/schedstat"  # CPU time, run-queue wait (ns), time slices

log = logging.getLogger("pgo.lagprobe")


@dataclass(frozen=True)
class Stalls:
    """What the probe saw: how many wakes came later than the threshold, by how much the
    latest came, and the most of that not spent waiting for a CPU (seconds); `looks`:
    wakes in all, `own`: stalls that stay over the threshold without that wait, `busy`:
    those in which the loop's thread used more CPU than the threshold."""

    threshold: float = THRESHOLD
    looks: int = 0
    count: int = 0
    longest: float = 0.0
    own: int = 0
    longest_own: float = 0.0
    busy: int = 0
    longest_busy: float = 0.0

    def seen(self, late: float, waited: float = 0.0, cpu: float = 0.0) -> Stalls:
        """These stalls after one more wake, `late` seconds after its time, `waited` of
        them in the run queue (another process had the CPU), `cpu` seconds of the loop's
        CPU over the whole gap (the sleep and the lateness)."""
        if not self.stalled(late):
            return Stalls(self.threshold, self.looks + 1, self.count, self.longest,
                          self.own, self.longest_own, self.busy, self.longest_busy)
        mine = max(0.0, late - waited)
        return Stalls(self.threshold, self.looks + 1, self.count + 1,
                      max(self.longest, late), self.own + self.stalled(mine),
                      max(self.longest_own, mine), self.busy + self.stalled(cpu),
                      max(self.longest_busy, cpu))

    def stalled(self, late: float) -> bool:
        return late > self.threshold

    def summary(self) -> str:
        if not self.count:
            return f"event loop: no stall over {self.threshold * 1000:.0f} ms in " \
                   f"{self.looks} looks"
        return f"event loop: {self.count} stall(s) over {self.threshold * 1000:.0f} ms " \
               f"in {self.looks} looks, the longest {self.longest * 1000:.0f} ms; " \
               f"{self.own} without the waits for a CPU, the longest " \
               f"{self.longest_own * 1000:.0f} ms; {self.busy} with over " \
               f"{self.threshold * 1000:.0f} ms of the loop's CPU, the most " \
               f"{self.longest_busy * 1000:.0f} ms"


def lateness(asleep_at: float, woke_at: float, tick: float) -> float:
    """Seconds later than a sleep of `tick` from `asleep_at` should have ended (>= 0)."""
    return max(0.0, woke_at - asleep_at - tick)


def run_queue_wait(text: str) -> float:
    """Seconds a thread waited for a CPU in all, from its schedstat line."""
    return int(text.split()[1]) / 1e9


def _waited() -> float:
    try:
        with open(SCHEDSTAT, encoding="ascii") as handle:
            return run_queue_wait(handle.read())
    except (OSError, ValueError, IndexError):  # (no schedstats in this kernel)
        return 0.0


class Probe:
    """The task that looks; `stalls` is what it saw so far, `watch` the callbacks timed
    while it runs (their summary logged when it ends)."""

    def __init__(self, tick: float = TICK, threshold: float = THRESHOLD) -> None:
        self.tick, self.stalls, self.watch = tick, Stalls(threshold), Watch()

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        if loop.get_debug():  # the loop names the slow callbacks itself
            loop.slow_callback_duration = self.stalls.threshold
        self.watch.install()
        try:
            await self._look(loop)
        finally:
            self.watch.uninstall()
            log.debug("%s", self.watch.tally.summary())

    async def _look(self, loop: asyncio.AbstractEventLoop) -> None:
        said = loop.time()
        while True:
            if loop.time() - said >= EVERY:
                log.debug("%s", self.watch.meanwhile())
                said = loop.time()
            asleep_at, waited_at, cpu_at = loop.time(), _waited(), time.thread_time()
            await asyncio.sleep(self.tick)
            late = lateness(asleep_at, loop.time(), self.tick)
            if self.stalls.stalled(late):
                waited = min(late, _waited() - waited_at)
                cpu = time.thread_time() - cpu_at
                self.stalls = self.stalls.seen(late, waited, cpu)
                log.debug("event loop stalled %.0f ms (%.0f ms of it waiting for a CPU; "
                          "%.0f ms of the loop's CPU)", late * 1000, waited * 1000,
                          cpu * 1000)
            else:
                self.stalls = self.stalls.seen(late)
