"""The ref worker (refworker, refpool) against a real `git daemon` on loopback, as a real
unix user, and under a real pgod: it says what `git ls-remote` says, in protocol v2 and v0;
it leaves to git what the user's git config could change; it comes back after it died; a
pushed commit is still deployed; an idle pass starts no git; it runs as the service user."""

from __future__ import annotations

import asyncio
import os
import pwd
import re
import signal
import time
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from pgo import refpool, refwire, refworker
from pgo.errors import CommandFailed
from pgo.proc import Account

from .conftest import GitDaemon
from .helpers import as_user, run, wait_for_http
from .test_faults import served
from .test_trust import files

GIT_ENV = {"GIT_TERMINAL_PROMPT": "0", "GIT_SSH_COMMAND": "ssh -o BatchMode=yes",
           "GIT_CONFIG_NOSYSTEM": "1"}


def ls_remote(user: str, url: str, ref: str) -> str | None:
    """What git itself says, as `user`."""
    out = run(["git", "ls-remote", "--", url, ref], **as_user(user))
    return next((line.split("\t")[0] for line in out.splitlines()
                 if line.split("\t")[1] == ref), None)


def uids(pid: int) -> list[int]:
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        line = next(line for line in status if line.startswith("Uid:"))
    return [int(x) for x in line.split()[1:]]


def test_the_worker_says_what_ls_remote_says_as_the_user(
        workdir: Path, make_user: Any, make_repo: Any, git_daemon: GitDaemon) -> None:
    user = make_user()
    account = Account.lookup(user)
    repo = make_repo({"a": "1"})
    url, home = git_daemon.url(repo), Path(account.home)
    repo.commit({"b": "2"}, "second")
    run(["git", "-C", str(repo.bare), "branch", "main-2", "main~1"])  # (a prefix match)

    async def scenario() -> None:
        pool = refpool.RefPool()
        pool.young = 0.0  # (a worker killed right after its start is started again)
        try:
            head = await pool.head(account, GIT_ENV, url, "refs/heads/main", "/", 30)
            assert head == ls_remote(user, url, "refs/heads/main") is not None
            assert await pool.head(account, GIT_ENV, url, "refs/heads/nope", "/", 30) is None
            [worker] = pool.workers.values()
            assert uids(worker.process.pid) == [account.uid] * 4
            assert "pgo.refworker" in Path(f"/proc/{worker.process.pid}/cmdline").read_text()
            # not git://: git's, and no worker asked
            assert await pool.head(account, GIT_ENV, repo.url, "refs/heads/main", "/",
                                   30) is refpool.DEFER
            # the user's config could send git elsewhere: git's, until it is gone again
            (home / ".gitconfig").write_text("[url \"git://elsewhere/\"]\n"
                                             "\tinsteadOf = git://mirror/\n")
            assert await pool.head(account, GIT_ENV, url, "refs/heads/main", "/",
                                   30) is refpool.DEFER
            (home / ".gitconfig").unlink()
            assert await pool.head(account, GIT_ENV, url, "refs/heads/main", "/", 30) == head
            # a GIT_ variable not pgod's own: git's
            assert await pool.head(account, {**GIT_ENV, "GIT_PROXY_COMMAND": "x"}, url,
                                   "refs/heads/main", "/", 30) is refpool.DEFER
            # errors are git's kind of errors, with the URL's words
            with pytest.raises(CommandFailed, match=r"failed\n.*remote error: access denied or "
                               r"repository not exported"):
                await pool.head(account, GIT_ENV, url.replace(".git", "-gone.git"),
                                "refs/heads/main", "/", 30)
            closed = re.sub(r":\d+/", ":1/", url)
            with pytest.raises(CommandFailed, match=r"unable to connect to 127\.0\.0\.1:1"):
                await pool.head(account, GIT_ENV, closed, "refs/heads/main", "/", 30)
            # killed: the next question starts another worker, as the user again
            old = worker.process.pid
            os.kill(old, signal.SIGKILL)
            await worker.process.wait()
            assert await pool.head(account, GIT_ENV, url, "refs/heads/main", "/", 30) == head
            [again] = pool.workers.values()
            assert again.process.pid != old and uids(again.process.pid) == [account.uid] * 4
        finally:
            await pool.close()
        assert not pool.workers and again.process.returncode is not None

    asyncio.run(scenario())


def test_protocol_v0_and_v2_give_the_same_refs(make_repo: Any, git_daemon: GitDaemon) -> None:
    repo = make_repo({"a": "1"})
    run(["git", "-C", str(repo.work), "tag", "-a", "v1", "-m", "v1"])
    run(["git", "-C", str(repo.work), "push", "-q", "origin", "v1"])
    target = refwire.git_target(git_daemon.url(repo))
    assert target is not None
    head = run(["git", "-C", str(repo.bare), "rev-parse", "main"]).strip()
    v2 = asyncio.run(refworker.ask(target, "refs/heads/main"))
    v0 = asyncio.run(refworker.ask(target, "refs/heads/main", version=0))
    assert v2 == {"refs/heads/main": head}
    assert v0["refs/heads/main"] == head and "refs/tags/v1" in v0


def test_pgod_deploys_a_push_and_its_idle_passes_start_no_git(
        workdir: Path, make_user: Any, make_repo: Any, git_daemon: GitDaemon) -> None:
    svc = served(workdir, make_user, make_repo, git_daemon.url)
    try:
        found = re.search(r"refworker for (\S+) started \(pid (\d+)\)", svc.pgod.wait_log(
            "refworker for"))
        assert found is not None and found[1] == svc.user
        pid = int(found[2])
        assert uids(pid) == [pwd.getpwnam(svc.user).pw_uid] * 4
        # idle passes (-t 1s): no git ls-remote, no git process at all (the worker's one
        # `git config` is behind it, at its first answer)
        svc.pgod.wait_log("in step at", count=3)
        start = len(svc.pgod.log)
        deadline = time.monotonic() + 120
        while svc.pgod.log[start:].count("in step at") < 5 and time.monotonic() < deadline:
            time.sleep(0.5)
        idle = svc.pgod.log[start:]
        assert idle.count("in step at") >= 5, idle[-3000:]
        assert not re.findall(r" run as [^\n]*: git ", idle), idle[-3000:]
        assert f"refworker for {svc.user}: run as" in svc.pgod.log  # (it was asked)
        # a push is still seen and deployed
        commit = svc.repo.commit(files(svc.port, "second", svc.key), "second")
        wait_for_http(svc.port, "second")
        svc.wait_deployed(commit)
        assert "ls-remote" not in svc.pgod.log, svc.pgod.log[-3000:]
    finally:
        svc.pgod.stop()
    assert not Path(f"/proc/{pid}").exists() or "pgo.refworker" not in Path(
        f"/proc/{pid}/cmdline").read_text()


class GitHttp:
    """Smart HTTP for real: `git http-backend` (CGI) behind an aiohttp server on loopback,
    in the test's event loop; it counts the connections it was asked on."""

    def __init__(self, base: Path) -> None:
        self.base, self.peers = base, set()  # type: ignore[var-annotated]
        self.runner: web.AppRunner | None = None
        self.port = 0

    async def start(self) -> str:
        app = web.Application()
        app.router.add_route("*", "/{path:.*}", self.cgi)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return f"http://127.0.0.1:{self.port}"

    async def cgi(self, request: web.Request) -> web.Response:
        self.peers.add(request.transport.get_extra_info("peername"))  # type: ignore[union-attr]
        body = await request.read()
        env = {"GIT_PROJECT_ROOT": str(self.base), "GIT_HTTP_EXPORT_ALL": "1",
               "PATH": "/usr/bin:/bin", "REQUEST_METHOD": request.method,
               "PATH_INFO": request.path, "QUERY_STRING": request.query_string,
               "CONTENT_TYPE": request.content_type, "CONTENT_LENGTH": str(len(body)),
               "GIT_PROTOCOL": request.headers.get("Git-Protocol", ""),
               "REMOTE_ADDR": "127.0.0.1"}
        backend = await asyncio.create_subprocess_exec(
            "git", "http-backend", env=env, stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)
        out, _ = await backend.communicate(body)
        head, _, payload = out.partition(b"\r\n\r\n")
        headers = dict(line.split(": ", 1) for line in head.decode().split("\r\n") if line)
        status = int(headers.pop("Status", "200").split()[0])
        return web.Response(status=status, body=payload,
                            content_type=headers.pop("Content-Type", "text/plain"),
                            headers={k: v for k, v in headers.items()
                                     if k.lower() not in ("content-length",)})

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()


def test_smart_http_like_ls_remote_one_connection_for_many_repositories(
        workdir: Path, make_user: Any, make_repo: Any) -> None:
    user = make_user()
    account = Account.lookup(user)
    repos = [make_repo({"a": str(i)}) for i in range(3)]
    server = GitHttp(workdir)

    async def scenario() -> None:
        base = await server.start()
        urls = [f"{base}/{repo.bare.relative_to(workdir)}" for repo in repos]
        pool = refpool.RefPool()
        try:
            heads = [await pool.head(account, GIT_ENV, url, "refs/heads/main", "/", 30)
                     for _ in range(2) for url in urls]
            assert len(server.peers) == 1  # six answers, one connection
            assert heads == 2 * [await asyncio.to_thread(ls_remote, user, url,
                                                         "refs/heads/main") for url in urls]
            assert None not in heads and len(set(heads)) == 3
            assert await pool.head(account, GIT_ENV, urls[0], "refs/heads/nope", "/",
                                   30) is None
            with pytest.raises(CommandFailed, match="not found"):
                await pool.head(account, GIT_ENV, f"{base}/gone.git", "refs/heads/main",
                                "/", 30)
            (Path(account.home) / ".gitconfig").write_text(
                "[http]\n\textraHeader = X-A: b\n")
            assert await pool.head(account, GIT_ENV, urls[0], "refs/heads/main", "/",
                                   30) is refpool.DEFER
        finally:
            await pool.close()
            await server.stop()

    asyncio.run(scenario())
