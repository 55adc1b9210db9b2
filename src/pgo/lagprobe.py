"""The event loop's lag, measured (pgod -d): a task sleeps a fixed tick and looks how late
it wakes. A wake later than the threshold is a stall: something ran on the loop without
yielding (a blocking call), or the machine gave pgod no CPU for that long (the line says how
much of the stall pgod's thread spent on the CPU). Each stall is logged with its length;
the count and the longest are kept, and logged when pgod stops.

With asyncio's debug mode on as well (PYTHONASYNCIODEBUG=1), the loop itself names the
callback that ran longer than the threshold (its `slow_callback_duration`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

TICK = 0.01       # seconds between looks: a stall is measured to within this
THRESHOLD = 0.05  # seconds late that make a stall

log = logging.getLogger("pgo.lagprobe")


@dataclass(frozen=True)
class Stalls:
    """What the probe saw: how many wakes came later than the threshold, and by how much
    the latest came (seconds); `looks`: wakes in all."""

    threshold: float = THRESHOLD
    looks: int = 0
    count: int = 0
    longest: float = 0.0

    def seen(self, late: float) -> Stalls:
        """These stalls after one more wake, `late` seconds after its time."""
        stalled = self.stalled(late)
        return Stalls(self.threshold, self.looks + 1, self.count + stalled,
                      max(self.longest, late) if stalled else self.longest)

    def stalled(self, late: float) -> bool:
        return late > self.threshold

    def summary(self) -> str:
        if not self.count:
            return f"event loop: no stall over {self.threshold * 1000:.0f} ms in " \
                   f"{self.looks} looks"
        return f"event loop: {self.count} stall(s) over {self.threshold * 1000:.0f} ms " \
               f"in {self.looks} looks, the longest {self.longest * 1000:.0f} ms"


def lateness(asleep_at: float, woke_at: float, tick: float) -> float:
    """Seconds later than a sleep of `tick` from `asleep_at` should have ended (>= 0)."""
    return max(0.0, woke_at - asleep_at - tick)


class Probe:
    """The task that looks; `stalls` is what it saw so far."""

    def __init__(self, tick: float = TICK, threshold: float = THRESHOLD) -> None:
        self.tick, self.stalls = tick, Stalls(threshold)

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        if loop.get_debug():  # the loop names the slow callbacks itself
            loop.slow_callback_duration = self.stalls.threshold
        while True:
            asleep_at, cpu_at = loop.time(), time.thread_time()
            await asyncio.sleep(self.tick)
            late = lateness(asleep_at, loop.time(), self.tick)
            self.stalls = self.stalls.seen(late)
            if self.stalls.stalled(late):  # (CPU time: pgod's own work, not a wait for
                # the CPU behind other processes)
                log.debug("event loop stalled %.0f ms (%.0f ms of it on the CPU)",
                          late * 1000, (time.thread_time() - cpu_at) * 1000)
