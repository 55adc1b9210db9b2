import asyncio
import logging
import os
from dataclasses import replace
from pathlib import Path

import pytest

from pgo.proxy.caddy import CaddySettings, Router, write_atomic
from pgo.state import Mark, Record, State

from .test_routes import CONFIG, GOOD


def test_write_atomic_replaces_the_file_whole(tmp_path: Path) -> None:
    path = tmp_path / "pgo.caddy"
    path.write_text("old")
    write_atomic(str(path), "new\n")
    assert path.read_text() == "new\n"
    assert os.stat(path).st_mode & 0o777 == 0o644
    assert sorted(os.listdir(tmp_path)) == ["pgo.caddy"]


def router(tmp_path: Path, records: dict[str, Record], reload: tuple[str, ...]) -> Router:
    return Router(CaddySettings(str(tmp_path / "pgo.caddy"), reload), CONFIG.services,
                  lambda: records)


def test_bursts_of_changes_coalesce_into_one_more_reload(tmp_path: Path) -> None:
    log, go, snippet = tmp_path / "reloads", tmp_path / "go", tmp_path / "pgo.caddy"
    records = {"web": replace(GOOD, state=State.STOPPED)}
    # each reload waits for `go`: the changes below come while one runs
    routes = router(tmp_path, records, ("sh", "-c", f"until [ -e {go} ]; do sleep 0.05; done; "
                                        f"echo x >> {log}"))

    def change(record: Record) -> None:
        before, records["web"] = records["web"], record
        routes.watch(before, None, record)  # type: ignore[arg-type]

    async def main() -> None:
        routes.update()  # pgod's start: written even with no route
        while not snippet.exists():
            await asyncio.sleep(0.01)
        assert "reverse_proxy" not in snippet.read_text()
        change(GOOD)  # waits for the reload under way, then writes and reloads
        stopped = replace(GOOD, state=State.STOPPED, stopped=Mark("op", 1.0))
        for record in (stopped, GOOD, stopped, GOOD):
            change(record)
        go.touch()
        await routes.idle()

    asyncio.run(main())
    # the start's; the five changes during it: one write and reload, of how they ended
    assert log.read_text() == "x\nx\n"
    assert routes.reloads == 2 and routes.failures == 0
    assert "reverse_proxy 127.0.0.1:5006" in snippet.read_text()


def test_a_change_during_a_reload_makes_one_more(tmp_path: Path) -> None:
    go, snippet = tmp_path / "go", tmp_path / "pgo.caddy"
    records = {"web": GOOD}
    routes = router(tmp_path, records, ("sh", "-c", f"until [ -e {go} ]; do sleep 0.05; done"))

    async def main() -> None:
        routes.update()
        while not snippet.exists():
            await asyncio.sleep(0.01)
        assert "reverse_proxy 127.0.0.1:5006" in snippet.read_text()
        before, records["web"] = GOOD, replace(GOOD, state=State.FAILING, failing=True)
        routes.watch(before, None, records["web"])  # type: ignore[arg-type]
        go.touch()
        await routes.idle()

    asyncio.run(main())
    assert routes.reloads == 2
    assert "reverse_proxy" not in snippet.read_text()


def test_a_change_that_keeps_the_table_writes_nothing(tmp_path: Path) -> None:
    records = {"web": GOOD}
    routes = router(tmp_path, records, ("true",))

    async def main() -> None:
        routes.update()
        await routes.idle()
        records["web"] = replace(GOOD, state=State.REFUSED, refused="b" * 40)
        routes.watch(GOOD, None, records["web"])  # type: ignore[arg-type]
        routes.update()
        await routes.idle()

    asyncio.run(main())
    assert routes.reloads == 1


def test_a_failed_reload_is_logged_with_the_file_and_the_error(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    routes = router(tmp_path, {"web": GOOD}, ("sh", "-c", "echo 'Error: bad thing' >&2; exit 1"))

    async def main() -> None:
        routes.update()
        await routes.idle()

    with caplog.at_level(logging.INFO, "pgo.proxy"):
        asyncio.run(main())
    assert routes.failures == 1 and routes.reloads == 0
    assert "reverse_proxy" in (tmp_path / "pgo.caddy").read_text()  # the snippet stays
    (line,) = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert str(tmp_path / "pgo.caddy") in line and "Error: bad thing" in line
    assert "keeps its previous routes" in line


def test_write_atomic_never_writes_through_a_planted_temporary_file(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("precious")
    os.link(victim, tmp_path / "pgo.caddy.tmp")
    write_atomic(str(tmp_path / "pgo.caddy"), "routes\n")
    assert victim.read_text() == "precious"
    assert (tmp_path / "pgo.caddy").read_text() == "routes\n"
