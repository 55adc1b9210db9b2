"""refpool with stand-in workers (small Python programs run as the current user): what a
reply turns into, a worker that dies, one that cannot start, and the stop."""

from __future__ import annotations

import asyncio
import sys

import pytest

from pgo import refpool
from pgo.errors import CommandFailed
from pgo.proc import Account

URL = "git://example.invalid/r.git"
REF = "refs/heads/main"
ENV = {"GIT_TERMINAL_PROMPT": "0"}


def replying(reply: str) -> tuple[str, ...]:
    """A worker that answers every request with `reply` (its id put in)."""
    code = ("import json, sys\n"
            "for line in sys.stdin:\n"
            f"    r = json.loads({reply!r}); r['id'] = json.loads(line)['id']\n"
            "    print(json.dumps(r), flush=True)\n")
    return (sys.executable, "-c", code)


def ask(pool: refpool.RefPool, url: str = URL,
        env: dict[str, str] | None = None) -> str | refpool.Defer | None:
    async def go() -> str | refpool.Defer | None:
        try:
            return await pool.head(Account.current(), env or ENV, url, REF, "/", 10)
        finally:
            await pool.close()
    return asyncio.run(go())


def test_an_object_id_or_none() -> None:
    assert ask(refpool.RefPool(replying('{"oid": "' + "a" * 40 + '"}'))) == "a" * 40
    assert ask(refpool.RefPool(replying('{"oid": null}'))) is None


@pytest.mark.parametrize("reply", ['{"oid": "HEAD; rm -rf /"}', '{"oid": 1}', '{}',
                                   '{"defer": "a config key"}', '{"oid": "' + "A" * 40 + '"}'])
def test_anything_else_is_gits_to_answer(reply: str) -> None:
    assert ask(refpool.RefPool(replying(reply))) is refpool.DEFER


def test_an_error_is_a_failed_ls_remote_without_credentials() -> None:
    pool = refpool.RefPool(replying('{"error": "fatal: at https://u:secret@h/r: no", '
                                    '"timeout": false}'))
    with pytest.raises(CommandFailed) as failed:
        ask(pool)
    assert "git ls-remote failed" in str(failed.value)
    assert "secret" not in str(failed.value) and "https://h/r" in str(failed.value)
    with pytest.raises(CommandFailed, match="git ls-remote timed out"):
        ask(refpool.RefPool(replying('{"error": "no answer", "timeout": true}')))


def test_urls_and_environments_it_does_not_take_start_no_worker() -> None:
    pool = refpool.RefPool(("/nonexistent/python",))
    for url in ("ssh://h/r.git", "file:///r.git", "/r.git", "https://u:p@h/r.git"):
        assert ask(pool, url) is refpool.DEFER
    assert ask(pool, env={**ENV, "GIT_PROXY_COMMAND": "x"}) is refpool.DEFER
    assert not pool.workers


def test_a_worker_that_dies_young_leaves_it_to_git_for_a_while() -> None:
    pool = refpool.RefPool((sys.executable, "-c", "import sys; sys.stdin.readline()"))

    async def go() -> list[object]:
        account = Account.current()
        try:
            first = await pool.head(account, ENV, URL, REF, "/", 10)  # (dies unanswered)
            second = await pool.head(account, ENV, URL, REF, "/", 10)  # (no new one yet)
            return [first, second, len(pool.workers)]
        finally:
            await pool.close()
    assert asyncio.run(go()) == [refpool.DEFER, refpool.DEFER, 0]


def test_a_worker_that_cannot_start_leaves_it_to_git() -> None:
    assert ask(refpool.RefPool(("/nonexistent/python",))) is refpool.DEFER


def test_a_closed_pool_stops_its_workers() -> None:
    pool = refpool.RefPool(replying('{"oid": null}'))

    async def go() -> int | None:
        assert await pool.head(Account.current(), ENV, URL, REF, "/", 10) is None
        [worker] = pool.workers.values()
        await pool.close()
        assert await pool.head(Account.current(), ENV, URL, REF, "/", 10) is refpool.DEFER
        return worker.process.returncode
    assert asyncio.run(go()) == 0
