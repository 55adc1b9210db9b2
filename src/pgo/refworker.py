"""The ref worker: one long-lived process per service user that says where a branch's
head is on a git:// server without starting git (`python -I -m pgo.refworker`).

pgod starts it as the user (refpool), with the environment it gives git, and writes one
JSON request a line to its stdin: {"id", "url", "ref", "cwd", "timeout"}. Each answer is
a line on stdout, in any order: {"id", "oid": the ref's object id or null (no such ref)},
{"id", "error": why, "timeout": bool} (git would fail too: the server cannot be reached,
it refused), or {"id", "defer": why}: git's to answer (not a URL it takes, the user's git
config or environment could change how git reaches it, the server said something it does
not understand). The config is `git config --list -z` in the request's cwd (the checkout:
its own .git/config counts), run again only when one of the files git reads for it changed.
The processes it starts are told on stderr as "run as USER in DIR: ARGV" (pgod logs them).
It exits at the end of its stdin.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import pwd
import sys
from collections.abc import Awaitable
from typing import Any

from pgo import refwire

CONFIG_RUNS = 4  # `git config` at once
Stamp = tuple[tuple[int, int, int, int], ...]


def config_files(cwd: str, env: dict[str, str]) -> list[str]:
    """The files git reads its config from, run with `env` in `cwd` (a checkout)."""
    home = env.get("HOME", "")
    xdg = env.get("XDG_CONFIG_HOME") or os.path.join(home, ".config")
    system = env.get("GIT_CONFIG_SYSTEM") or \
        ("" if env.get("GIT_CONFIG_NOSYSTEM") else "/etc/gitconfig")
    files = [os.path.join(home, ".gitconfig"), os.path.join(xdg, "git", "config"),
             os.path.join(cwd, ".git", "config")]
    return [system, *files] if system else files


def stamp(paths: list[str]) -> Stamp:
    stamps = []
    for path in paths:
        try:
            st = os.stat(path)
            stamps.append((st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns))
        except OSError:
            stamps.append((0, 0, 0, 0))
    return tuple(stamps)


class Configs:
    """Whether git's config in a checkout leaves git:// alone: `git config --list` once,
    then again only when a file it reads changed."""

    def __init__(self) -> None:
        self.env = dict(os.environ)
        self.user = pwd.getpwuid(os.getuid()).pw_name
        self.known: dict[str, tuple[Stamp, list[str] | None]] = {}
        self.runs = asyncio.Semaphore(CONFIG_RUNS)
        self.locks: dict[str, asyncio.Lock] = {}

    async def defers(self, cwd: str, url: str) -> str | None:
        async with self.locks.setdefault(cwd, asyncio.Lock()):  # (one run per checkout)
            now = stamp(config_files(cwd, self.env))
            known = self.known.get(cwd)
            if known is None or known[0] != now:
                known = self.known[cwd] = (now, await self._keys(cwd))
        if known[1] is None:
            return "git config failed"
        return refwire.config_defers(known[1], url)

    async def _keys(self, cwd: str) -> list[str] | None:
        argv = ["git", "config", "--list", "-z"]
        async with self.runs:
            print(f"run as {self.user} in {cwd}: {' '.join(argv)}", file=sys.stderr,
                  flush=True)
            try:
                run = await asyncio.create_subprocess_exec(
                    *argv, cwd=cwd, stdin=asyncio.subprocess.DEVNULL,
                    stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)
                out, _ = await asyncio.wait_for(run.communicate(), 60)
            except (OSError, TimeoutError):
                return None
        return refwire.config_keys(out) if run.returncode == 0 else None


async def _packets(reader: asyncio.StreamReader) -> list[refwire.Packet]:
    """Packets up to and with the next flush (RemoteError at an ERR packet: the server
    hangs up after it, no flush)."""
    packets: list[refwire.Packet] = []
    while True:
        size = refwire.length(await reader.readexactly(4))
        kind = refwire.special(size)
        packet = kind if kind is not None else await reader.readexactly(size - 4)
        refwire.refused(packet)
        packets.append(packet)
        if kind is refwire.Special.FLUSH:
            return packets


async def ask(target: refwire.Target, ref: str, version: int = 2) -> dict[str, str]:
    """The server's refs starting with `ref`: protocol v2's ls-refs, or v0's whole
    advertisement when the server answers in v0 (`version` 0: asks for v0)."""
    reader, writer = await asyncio.open_connection(target.host, target.port)
    try:
        writer.write(target.request(version))
        first = await _packets(reader)
        if refwire.is_v2(first[0]):  # (then closed: v2's upload-pack ends at EOF quietly)
            caps = refwire.capabilities(first[1:])
            writer.write(refwire.ls_refs(ref, caps))
            return refwire.listed_refs(await _packets(reader))
        refs = refwire.advertised_refs(first)
        writer.write(refwire.Special.FLUSH.value)  # (v0's upload-pack: "I want nothing")
        with contextlib.suppress(OSError):
            await writer.drain()
        return refs
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


class Web:
    """Smart HTTP, on one aiohttp session for the worker's life: its connections are kept
    and reused, one for many repositories on the same server (aiohttp is imported only
    when a user has an HTTP URL)."""

    def __init__(self) -> None:
        self.session: Any = None

    async def ask(self, base: str, ref: str) -> dict[str, str]:
        import aiohttp  # noqa: PLC0415  (only for a user with an HTTP URL)
        if self.session is None:
            self.session = aiohttp.ClientSession(trust_env=False, auto_decompress=True)
        v2 = {"Git-Protocol": "version=2", "Pragma": "no-cache"}
        async with self.session.get(f"{base}info/refs?service=git-upload-pack",
                                    headers=v2, allow_redirects=False) as reply:
            first = _http_packets(reply.status, reply.content_type, await reply.read(),
                                  refwire.HTTP_ADVERTISEMENT)
        if not refwire.is_v2(first[0]):
            return refwire.advertised_refs(refwire.service_header(first))
        caps = refwire.capabilities(first[1:])
        async with self.session.post(
                f"{base}git-upload-pack", data=refwire.ls_refs(ref, caps), allow_redirects=False,
                headers={**v2, "Content-Type": refwire.HTTP_REQUEST,
                         "Accept": refwire.HTTP_RESULT}) as reply:
            return refwire.listed_refs(_http_packets(reply.status, reply.content_type,
                                                     await reply.read(), refwire.HTTP_RESULT))


def _http_packets(status: int, kind: str, body: bytes, expect: str) -> list[refwire.Packet]:
    if status in (404, 410):
        raise refwire.RemoteError(f"repository not found (HTTP {status})")
    if status != 200 or kind != expect:  # (a redirect, a login, a dumb server: git's)
        raise refwire.WireError(f"HTTP {status} {kind}")
    packets, rest = refwire.decode(body)
    if rest or not packets:
        raise refwire.WireError("a cut answer")
    return packets


async def answer(request: dict[str, Any], configs: Configs, web: Web) -> dict[str, Any]:
    url, ref, cwd = str(request["url"]), str(request["ref"]), str(request["cwd"])
    target, base = refwire.git_target(url), refwire.http_base(url)
    netrc = base is not None and os.path.exists(os.path.join(configs.env.get("HOME", "/"),
                                                             ".netrc"))  # (curl reads it)
    why = "not a plain git:// or http(s):// URL" if target is None and base is None else \
        "~/.netrc" if netrc else \
        refwire.env_defers(configs.env, url) or await configs.defers(cwd, url)
    if why:
        return {"defer": why}
    where = target.authority if target is not None else url
    asking = ask(target, ref) if target is not None else web.ask(str(base), ref)
    return await head(asking, where, ref, float(request.get("timeout", 300)))


async def head(asking: Awaitable[dict[str, str]], where: str, ref: str,
               timeout: float) -> dict[str, Any]:
    """The answer for `ref` from `asking` (the server `where`): its oid (or null), an
    error git would have too, or git's to answer (what refwire does not understand)."""
    try:
        async with asyncio.timeout(timeout):
            refs = await asking
    except TimeoutError:
        return {"error": f"no answer from {where} in {timeout:.0f}s", "timeout": True}
    except refwire.RemoteError as err:
        return {"error": f"fatal: remote error: {err}", "timeout": False}
    except asyncio.IncompleteReadError:
        return {"error": f"fatal: {where}: the remote end hung up unexpectedly "
                "(no such repository, or not exported?)", "timeout": False}
    except OSError as err:  # (aiohttp's connection errors are OSErrors too)
        return {"error": f"fatal: unable to connect to {where}: "
                f"{os.strerror(err.errno) if err.errno else err}", "timeout": False}
    except refwire.WireError as err:
        return {"defer": f"the server's answer: {err}"}
    return {"oid": refs.get(ref)}


async def serve() -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=1 << 20)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    configs, web, tasks = Configs(), Web(), set()

    async def one(request: dict[str, Any]) -> None:
        try:
            reply = await answer(request, configs, web)
        except Exception as err:  # a bug: git answers this one
            reply = {"defer": f"internal error: {err!r}"}
        sys.stdout.write(json.dumps({"id": request.get("id"), **reply}) + "\n")
        sys.stdout.flush()
    while line := await reader.readline():
        task = asyncio.create_task(one(json.loads(line)))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    if tasks:  # (stdin closed: pgod stops; what is nearly done still answers)
        _, late = await asyncio.wait(tasks, timeout=1)
        for task in late:
            task.cancel()
    if web.session is not None:
        await web.session.close()


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt, BrokenPipeError):
        asyncio.run(serve())
