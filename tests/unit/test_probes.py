import asyncio
import time
from typing import Any

import pytest

from pgo.compose import Jobs
from pgo.errors import PgoError
from pgo.probes import shared
from pgo.status import ContainerRow


class FakeProject:
    def __init__(self, name: str) -> None:
        self.name = name


def looking(calls: list[str], fail: bool = False) -> Any:
    async def look(project: FakeProject) -> list[ContainerRow]:
        calls.append(project.name)
        await asyncio.sleep(0.05)
        if fail:
            raise PgoError("podman ps failed")
        return [ContainerRow(f"{project.name}_web_1", "web", "running", "", None)]
    return look


def test_callers_during_a_look_share_it_and_later_ones_look_anew() -> None:
    calls: list[str] = []
    look = shared(looking(calls))
    a, b = FakeProject("a"), FakeProject("b")

    async def main() -> None:
        answers = await asyncio.gather(*(look(a) for _ in range(50)), look(b))  # type: ignore[arg-type]
        assert calls == ["a", "b"]
        assert all(rows[0].name == "a_web_1" for rows in answers[:50])
        assert answers[50][0].name == "b_web_1"
        await look(a)  # type: ignore[arg-type]
        assert calls == ["a", "b", "a"]
    asyncio.run(main())


def test_a_look_begun_before_a_compose_run_ended_is_not_shared() -> None:
    calls: list[str] = []
    jobs = Jobs(2)
    look = shared(looking(calls), jobs)
    a = FakeProject("a")

    async def main() -> None:
        first = asyncio.ensure_future(look(a))  # type: ignore[arg-type]
        await asyncio.sleep(0.01)
        jobs.ended["a"] = time.monotonic()  # (an up ended while the first look ran)
        await asyncio.gather(first, look(a))  # type: ignore[arg-type]
        assert calls == ["a", "a"]
    asyncio.run(main())


def test_a_failed_look_fails_every_caller_and_a_cancelled_one_does_not_stop_it() -> None:
    calls: list[str] = []
    look = shared(looking(calls, fail=True))
    a = FakeProject("a")

    async def main() -> None:
        gone = asyncio.ensure_future(look(a))  # type: ignore[arg-type]
        await asyncio.sleep(0.01)
        gone.cancel()
        with pytest.raises(PgoError):
            await look(a)  # type: ignore[arg-type]
        assert calls == ["a"]
    asyncio.run(main())
