"""What the parts of one service share: its config, unix account, checkout, podman-compose
and log. A value handed to each collaborator (deploy steps, gate, self-heal), so none of
them reaches into another's attributes."""

from __future__ import annotations

import os
from dataclasses import dataclass, replace

from pgo import compose, registries
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

    @property
    def name(self) -> str:
        return self.config.name

    def environment(self) -> dict[str, str]:
        """The environment podman-compose runs with: the variables it interpolates from
        (REGISTRY_AUTH_FILE too, so the checks see what it will)."""
        return self.account.environment({**compose.ENV, **self.registry_env()})

    def registry_env(self) -> dict[str, str]:
        """REGISTRY_AUTH_FILE, the service's own, if it has `registries`."""
        return registries.environment(os.path.dirname(self.path), self.config.name,
                                      self.config.registries)

    async def login(self) -> None:
        """Log the user in to the service's registries (before a pull, a build, an up)."""
        await registries.login(os.path.dirname(self.path), self.config.name, self.account,
                               self.config.registries)

    def compose(self, file: str) -> Project:
        return Project(self.config.name, self.path, file, self.account, self.compose_exe,
                       tuple(sorted(self.registry_env().items())))

    async def read(self, commit: str) -> ProjectAt:
        """The compose project at `commit`, checked (git objects only); with `signers`,
        refused unless the commit is signed by one of them."""
        project = await read_project(self.checkout, self.config, commit, self.environment())
        if (problem := await self.unsigned(commit)) is not None:
            return replace(project, problems=(problem, *project.problems))
        return project

    async def unsigned(self, commit: str) -> str | None:
        """Why `commit` may not run (no signature of an allowed signer); None if it may,
        or if the service has neither `signers` nor `signers_gpg`. With both, a signature
        either accepts is enough."""
        verdicts = []
        if self.config.signers is not None:
            verdicts.append(await self.checkout.verify_commit(commit, self.config.signers))
        if self.config.signers_gpg is not None and not any(v.ok for v in verdicts):
            verdicts.append(await self.checkout.verify_commit_gpg(commit,
                                                                  self.config.signers_gpg))
        if not verdicts or any(v.ok for v in verdicts):
            return None
        return verdicts[-1].refusal(commit) if len(verdicts) == 1 else \
            f"commit {commit[:12]} is not signed by an allowed signer; signed by: " + \
            "; ".join(v.signed_by for v in verdicts)

    def stop_file(self) -> str:
        """DIR/NAME.stop: while it exists the service is kept down (the host's word)."""
        return os.path.join(os.path.dirname(self.path), self.config.name + ".stop")
