"""The event loop's callbacks, timed one by one (pgod -d, with the lag probe): each
callback's wall time and the CPU time the loop's thread spent in it (`time.thread_time`).
A callback whose own CPU is over the threshold is a real blocking call (work that belongs
in a thread, split, or cached); one whose wall time is over it with little CPU blocked on
something else (a disk, the GIL held by a thread) or waited for a CPU. Each is logged with
its source: the task and where its coroutine resumed and suspended, or the callback (a
transport's read: its protocol). The count, the longest and the worst sources are kept.

It wraps `asyncio.events.Handle._run`, the one call through which every loop runs its
callbacks, while installed (only with -d); it times the garbage collector's passes as well
(`gc.callbacks`): a pass runs inside whichever callback allocated last, and is told apart.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import CodeType
from typing import Any

Spot = tuple[tuple[CodeType, int], ...]  # where a coroutine is: (code, line), innermost first

CPU = 0.02   # seconds of a callback's own CPU that make it slow
WALL = 0.05  # seconds of its wall time that make it slow as well
WORST = 8    # sources kept in the summary
EVERY = 10.0  # seconds between the lines saying what the callbacks did meanwhile
ASYNCIO = os.path.dirname(asyncio.__file__) + os.sep  # its frames: not where a task is

log = logging.getLogger("pgo.lagprobe")


@dataclass(frozen=True)
class Slow:
    """One callback over a threshold: its source, wall and CPU seconds."""

    source: str
    wall: float
    cpu: float
    collecting: float = 0.0  # seconds of the wall in the garbage collector

    def line(self) -> str:
        collected = f" ({self.collecting * 1000:.0f} ms of it collecting garbage)" \
            if self.collecting >= 0.001 else ""
        return f"callback used {self.cpu * 1000:.0f} ms of CPU in {self.wall * 1000:.0f} ms" \
               f"{collected}: {self.source}"


@dataclass(frozen=True)
class Tally:
    """What the callbacks did so far: how many ran, their CPU in all, the longest CPU and
    wall, and the worst sources (the most CPU of one call each, at most WORST)."""

    calls: int = 0
    cpu: float = 0.0
    slow: int = 0
    longest_cpu: float = 0.0
    longest_wall: float = 0.0
    worst: tuple[Slow, ...] = field(default_factory=tuple)

    def with_slow(self, slow: Slow) -> Tally:
        """This tally with one more slow callback (its call is counted by `counted`)."""
        same = [s for s in self.worst if s.source == slow.source]
        kept = [s for s in self.worst if s.source != slow.source]
        best = max([slow, *same], key=lambda s: s.cpu)
        worst = tuple(sorted([*kept, best], key=lambda s: -s.cpu)[:WORST])
        return Tally(self.calls, self.cpu, self.slow + 1, self.longest_cpu, self.longest_wall,
                     worst)

    def counted(self, calls: int, cpu: float, longest_cpu: float,
                longest_wall: float) -> Tally:
        return Tally(calls, cpu, self.slow, longest_cpu, longest_wall, self.worst)

    def summary(self, cpu: float = CPU, wall: float = WALL) -> str:
        head = f"callbacks: {self.calls} run, {self.cpu:.1f} s of CPU; {self.slow} over " \
               f"{cpu * 1000:.0f} ms of CPU or {wall * 1000:.0f} ms; the longest " \
               f"{self.longest_cpu * 1000:.0f} ms of CPU, {self.longest_wall * 1000:.0f} ms"
        return head + "".join(f"\n  {s.cpu * 1000:.0f} ms of CPU in {s.wall * 1000:.0f} ms: "
                              f"{s.source}" for s in self.worst)


def spot(coro: Any) -> Spot:
    """Where a coroutine is suspended: its innermost frame, and the innermost outside
    asyncio when that is another (kept as code and line: cheap, formatted only when slow)."""
    inner = outside = None
    while coro is not None:
        frame = getattr(coro, "cr_frame", None) or getattr(coro, "gi_frame", None)
        if frame is None:
            break
        inner = frame
        if not frame.f_code.co_filename.startswith(ASYNCIO):
            outside = frame
        coro = getattr(coro, "cr_await", None) or getattr(coro, "gi_yieldfrom", None)
    if inner is None:
        return ()
    if outside is None or outside is inner:
        return ((inner.f_code, inner.f_lineno),)
    return ((inner.f_code, inner.f_lineno), (outside.f_code, outside.f_lineno))


def spot_text(spot: Spot) -> str:
    return " in ".join(f"{code.co_qualname} ({code.co_filename.rsplit('/', 1)[-1]}:{line})"
                       for code, line in spot) or "(not started)"


def task_of(callback: Callable[..., object]) -> asyncio.Task[Any] | None:
    owner = getattr(callback, "__self__", None)
    return owner if isinstance(owner, asyncio.Task) else None


def source(callback: Callable[..., object], resumed: Spot) -> str:
    """A callback described: a task's step by its name and where its coroutine resumed
    from and is suspended now; a transport's callback with its protocol's class."""
    task = task_of(callback)
    if task is not None:
        now = "its end" if task.done() else spot_text(spot(task.get_coro()))
        return f"task {task.get_name()!r}: from {spot_text(resumed)} to {now}"
    name = getattr(callback, "__qualname__", None) or type(callback).__name__
    owner = getattr(callback, "__self__", None)
    protocol = getattr(owner, "_protocol", None)
    if protocol is not None:
        return f"{name} of {type(protocol).__qualname__}"
    return str(name)


def kind(callback: Callable[..., object]) -> str:
    """What a callback is, for the sums: a task's step by its coroutine's name, a
    transport's callback with its protocol's class."""
    task = task_of(callback)
    if task is not None:
        return f"task {getattr(task.get_coro(), '__qualname__', '?')}"
    return source(callback, ())


@dataclass(frozen=True)
class Kind:
    """The callbacks of one kind over a while: how many, their CPU and wall seconds."""

    name: str
    calls: int
    cpu: float
    wall: float


def meanwhile(seconds: float, calls: int, cpu: float, longest: Slow | None,
              kinds: list[Kind], passes: tuple[int, float, float, int] = (0, 0.0, 0.0, 0)
              ) -> str:
    """The line that says what the callbacks did in the last `seconds`: the longest (its
    CPU, wall and source), the garbage collector's passes (count, seconds in all, the
    longest and its generation) and the kinds that took the most CPU."""
    head = f"callbacks in {seconds:.0f} s: {calls} run, {cpu * 1000:.0f} ms of CPU; " \
           f"{passes[0]} gc passes, {passes[1] * 1000:.0f} ms, the longest " \
           f"{passes[2] * 1000:.1f} ms (generation {passes[3]})"
    if longest is not None:
        head += f"; the longest callback {longest.cpu * 1000:.1f} ms of CPU in " \
                f"{longest.wall * 1000:.1f} ms ({longest.collecting * 1000:.1f} ms of it " \
                f"collecting garbage): {longest.source}"
    top = sorted(kinds, key=lambda k: -k.cpu)[:5]
    return head + "".join(f"\n  {k.cpu * 1000:.0f} ms of CPU, {k.wall * 1000:.0f} ms in "
                          f"{k.calls} call(s): {k.name}" for k in top)


class Watch:
    """Times every callback while installed; `tally` is what it saw (`current()` while it
    runs), `meanwhile()` what it saw since the last call to it."""

    def __init__(self, cpu: float = CPU, wall: float = WALL) -> None:
        self.cpu, self.wall, self.tally = cpu, wall, Tally()
        self._original: Callable[[asyncio.Handle], None] | None = None
        self._calls, self._total, self._longest_cpu, self._longest_wall = 0, 0.0, 0.0, 0.0
        self._since, self._calls_then, self._total_then = time.monotonic(), 0, 0.0
        self._kinds: dict[str, list[float]] = {}  # name: calls, CPU, wall (meanwhile)
        self._top: Slow | None = None  # the most CPU of one callback meanwhile
        self._gc_at, self._collecting = 0.0, 0.0  # a pass's start; seconds of them in all
        self._cpu_at = time.thread_time()  # the loop thread's CPU when a callback ended
        self._passes = [0, 0.0, 0.0, 0]  # meanwhile: count, seconds, the longest, its gen.

    def install(self) -> Watch:
        original = self._original = asyncio.events.Handle._run
        clock, cpu_clock = time.perf_counter, time.thread_time
        self._cpu_at, mine, ident = cpu_clock(), threading.get_ident(), threading.get_ident

        def run(handle: asyncio.Handle) -> None:
            if ident() != mine:  # (a loop in another thread: not the one watched)
                original(handle)
                return
            task = task_of(handle._callback)  # type: ignore[attr-defined]
            resumed = spot(task.get_coro()) if task is not None else ()
            wall0, gc0 = clock(), self._collecting
            original(handle)
            # (the CPU since the last callback ended: the loop's own bits between them too,
            # a few µs; one clock read per callback, not two: each is a system call)
            cpu0, self._cpu_at = self._cpu_at, cpu_clock()
            self._timed(handle, resumed, clock() - wall0, self._cpu_at - cpu0,
                        self._collecting - gc0)

        setattr(asyncio.events.Handle, "_run", run)  # noqa: B010 (a method, replaced)
        gc.callbacks.append(self._gc)
        return self

    def _gc(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._gc_at = time.perf_counter()
            return
        took = time.perf_counter() - self._gc_at
        self._collecting += took
        longest = took > self._passes[2]
        self._passes = [self._passes[0] + 1, self._passes[1] + took,
                        took if longest else self._passes[2],
                        info.get("generation", -1) if longest else self._passes[3]]

    def uninstall(self) -> None:
        with contextlib.suppress(ValueError):
            gc.callbacks.remove(self._gc)
        if self._original is not None:
            setattr(asyncio.events.Handle, "_run", self._original)  # noqa: B010
            self._original = None
        self.tally = self.current()

    def current(self) -> Tally:
        return self.tally.counted(self._calls, self._total, self._longest_cpu,
                                  self._longest_wall)

    def meanwhile(self) -> str:
        now = time.monotonic()
        text = meanwhile(now - self._since, self._calls - self._calls_then,
                         self._total - self._total_then, self._top,
                         [Kind(n, int(k[0]), k[1], k[2]) for n, k in self._kinds.items()],
                         (int(self._passes[0]), self._passes[1], self._passes[2],
                          int(self._passes[3])))
        self._since, self._calls_then, self._total_then = now, self._calls, self._total
        self._kinds, self._top, self._passes = {}, None, [0, 0.0, 0.0, 0]
        return text

    def _timed(self, handle: asyncio.Handle, resumed: Spot, wall: float, cpu: float,
               collecting: float) -> None:
        self._calls, self._total = self._calls + 1, self._total + cpu
        self._longest_cpu = max(self._longest_cpu, cpu)
        self._longest_wall = max(self._longest_wall, wall)
        callback = handle._callback  # type: ignore[attr-defined]
        sums = self._kinds.setdefault(kind(callback), [0, 0.0, 0.0])
        sums[0], sums[1], sums[2] = sums[0] + 1, sums[1] + cpu, sums[2] + wall
        if self._top is None or cpu > self._top.cpu:
            self._top = Slow(source(callback, resumed), wall, cpu, collecting)
        if cpu > self.cpu or wall > self.wall:
            slow = Slow(source(callback, resumed), wall, cpu, collecting)
            self.tally = self.tally.with_slow(slow)
            log.debug("%s", slow.line())

