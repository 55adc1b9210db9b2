"""What the parts of one service share: its config, unix account, checkout, podman-compose
and log. A value handed to each collaborator (deploy steps, gate, self-heal), so none of
them reaches into another's attributes."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace

from pgo import compose
from pgo.compose import Project
from pgo.config import ServiceConfig
from pgo.git import Checkout
from pgo.proc import Account
from pgo.project import ProjectAt, read_project
from pgo.status import ServiceLog


@dataclass(frozen=True)
class Workspace:
    config: ServiceConfig
    account: Account
    path: str            # DIR/NAME, the checkout
    checkout: Checkout
    compose_exe: str
    log: ServiceLog
    jobs: compose.Jobs | None = field(default=None, compare=False, kw_only=True)  # (-j)

    @property
    def name(self) -> str:
        return self.config.name

    def environment(self) -> dict[str, str]:
        """The environment podman-compose runs with: the variables it interpolates from."""
        return self.account.environment(compose.ENV)

    def compose(self, file: str) -> Project:
        return Project(self.config.name, self.path, file, self.account, self.compose_exe,
                       jobs=self.jobs)

    async def read(self, commit: str) -> ProjectAt:
        """The compose project at `commit`, checked (git objects only); with `signers`,
        refused unless the commit is signed by one of them."""
        project = await read_project(self.checkout, self.config, commit, self.environment())
        if (problem := await self.unsigned(commit)) is not None:
            return replace(project, problems=(problem, *project.problems))
        return project

    async def unsigned(self, commit: str) -> str | None:
        """Why `commit` may not run (no signature of an allowed signer); None if it may,
        or if the service has no `signers`."""
        if self.config.signers is None:
            return None
        signature = await self.checkout.verify_commit(commit, self.config.signers)
        return None if signature.ok else signature.refusal(commit)

    def stop_file(self) -> str:
        """DIR/NAME.stop: while it exists the service is kept down (the host's word)."""
        return os.path.join(os.path.dirname(self.path), self.config.name + ".stop")
