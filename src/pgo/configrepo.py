"""pgod's own config from git: `-c git+URL#PATH` (branch from --config-branch).

pgod (root) clones the repository into DIR/.pgod/config once; its checked-out HEAD is the
config commit in force, read from git objects (never the working tree). `follow` fetches
every interval; a new commit whose file parses and validates (and, when the config in force
has top-level `signers`, is signed by one of them) becomes HEAD and pgod exits 2, so
systemd restarts it on that config (as `-r` does for a file). A commit that does not:
logged once, kept as `problem` for `status`; the config in force stays.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from pgo.config import Config
from pgo.errors import ConfigError, PgoError
from pgo.git import Checkout
from pgo.logformat import without_credentials
from pgo.proc import Account

log = logging.getLogger("pgo.config")
PREFIX = "git+"


@dataclass(frozen=True)
class Source:
    url: str
    path: str
    branch: str = "main"

    def describe(self, commit: str = "") -> str:
        """What errors name as the config file: URL#PATH@COMMIT (no credentials)."""
        at = f"@{commit[:12]}" if commit else ""
        return f"{without_credentials(self.url)}#{self.path}{at}"


def parse_source(text: str, branch: str = "main") -> Source | None:
    """`git+URL#PATH` -> Source; any other -c value (a file) -> None; ValueError if
    malformed."""
    if not text.startswith(PREFIX):
        return None
    url, sep, path = text.removeprefix(PREFIX).rpartition("#")
    if not sep or not url or not path or path.startswith("/") or ".." in path.split("/"):
        raise ValueError(f"-c {without_credentials(text)!r}: use git+URL#PATH, PATH inside "
                         "the repository, such as git+https://git.example.org/ops.git#"
                         "pgod.toml")
    return Source(url, path.strip("/"), branch)


class ConfigRepo:
    """The clone of the config repository, and what follows it."""

    def __init__(self, source: Source, state_dir: str) -> None:
        self.source = source
        self.checkout = Checkout(os.path.join(state_dir, "config"), source.url, source.branch,
                                 Account.current())
        self.problem: str | None = None  # why the newest config commit is not in force
        self._judged: str | None = None  # the newest commit judged (logged once)

    async def current(self, load: Callable[[str, str], Config]) -> tuple[Config, str]:
        """The config in force and its commit: HEAD of the clone, made if missing (the
        first clone's head is trusted as the bootstrap, judged by its own signers)."""
        if not self.checkout.exists():
            os.makedirs(self.checkout.path, mode=0o700, exist_ok=True)
            log.info("cloning the config repository %s", self.source.describe())
            await self.checkout.clone()
            head = await self.checkout.head()
            config = await self._judge(head, load, None)
            return config, head
        head = await self.checkout.head()
        return load(await self._text(head), self.source.describe(head)), head

    async def follow(self, interval: float, running: Callable[[], Config],
                     load: Callable[[str, str], Config],
                     apply: Callable[[Config], Awaitable[None]]) -> None:
        """Fetch every `interval`; a new valid commit (judged by `running()`'s signers):
        HEAD moves there, then `apply(its config)`."""
        while True:
            await asyncio.sleep(interval)
            try:
                head = await self.checkout.fetch()
            except PgoError as err:
                log.warning("config repository: fetch failed, will retry: %s",
                            without_credentials(str(err)))
                continue
            if head == await self.checkout.head():
                self.problem = self._judged = None  # (the branch is back where it was)
                continue
            if head == self._judged:
                continue
            self._judged = head
            try:
                config = await self._judge(head, load, running().signers)
            except (ConfigError, PgoError) as err:
                self.problem = f"config commit {head[:12]} refused: {err}"
                log.error("%s; the config of %s stays in force", self.problem,
                          (await self.checkout.head())[:12])
                continue
            await self.checkout.reset(head)
            self.problem = None
            log.info("config commit %s is valid: applying it", head[:12])
            await apply(config)

    async def _judge(self, commit: str, load: Callable[[str, str], Config],
                     signers: str | None) -> Config:
        """The config at `commit`, validated; its signature checked against `signers` (the
        config in force's; None at the bootstrap: the commit's own)."""
        config = load(await self._text(commit), self.source.describe(commit))
        judge_by = signers if signers is not None else config.signers
        if judge_by is not None:
            signature = await self.checkout.verify_commit(commit, judge_by)
            if not signature.ok:
                raise PgoError(signature.refusal(commit))
        return config

    async def _text(self, commit: str) -> str:
        text = await self.checkout.read(commit, self.source.path)
        if text is None:
            raise ConfigError(self.source.describe(commit), "no such file in the repository")
        return text
