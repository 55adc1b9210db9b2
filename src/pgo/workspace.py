"""What the parts of one service share: its config, unix account, checkout, podman-compose
and log. A value handed to each collaborator (deploy steps, gate, self-heal), so none of
them reaches into another's attributes."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace

from pgo import compose, hostenv, registries, secretfiles
from pgo.compose import Project
from pgo.config import ServiceConfig
from pgo.errors import PgoError
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
    age_identity: str = secretfiles.IDENTITY
    secrets_root: str = secretfiles.RUN_DIR
    jobs: compose.Jobs | None = field(default=None, compare=False, kw_only=True)  # (-j)

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def secrets_dir(self) -> str:
        """Where the commit's `.age` files are decrypted to: ${PGO_SECRETS}."""
        return secretfiles.directory(self.secrets_root, self.config.name)

    def host_values(self) -> dict[str, str]:
        """The host's variables (the config's `env` over its `env_file`); PgoError if the
        env file cannot be used. Read anew each time: a change to the file takes effect
        at the next deploy."""
        from_file = hostenv.read_env_file(self.config.env_file) if self.config.env_file \
            else {}
        values = hostenv.merge(from_file, self.config.env)
        hostenv.REDACTOR.add(values.values())
        return values

    def host_env(self) -> dict[str, str]:
        """What podman-compose gets on top of its clean environment: the host's variables
        and PGO_SECRETS."""
        return {**self.host_values(), hostenv.SECRETS_VAR: self.secrets_dir}

    def environment(self) -> dict[str, str]:
        """The environment podman-compose runs with: the variables it interpolates from
        (REGISTRY_AUTH_FILE too, so the checks see what it will)."""
        return self.account.environment({**self.host_env(), **compose.ENV,
                                         **self.registry_env()})

    def registry_env(self) -> dict[str, str]:
        """REGISTRY_AUTH_FILE, the service's own, if it has `registries`."""
        return registries.environment(os.path.dirname(self.path), self.config.name,
                                      self.config.registries)

    async def login(self) -> None:
        """Log the user in to the service's registries (before a pull, a build, an up)."""
        await registries.login(os.path.dirname(self.path), self.config.name, self.account,
                               self.config.registries)

    def compose(self, file: str) -> Project:
        try:
            env = self.host_env()
        except PgoError as err:  # (changed since the commit was read: the argument layer
            self.log.warning("%s", err)  # judges the project without its values)
            env = {hostenv.SECRETS_VAR: self.secrets_dir}
        return Project(self.config.name, self.path, file, self.account, self.compose_exe,
                       env={**env, **self.registry_env()}, jobs=self.jobs)

    async def read(self, commit: str) -> ProjectAt:
        """The compose project at `commit`, checked (git objects only); with `signers`,
        refused unless the commit is signed by one of them; refused if one of its `.age`
        files does not decrypt. Messages never hold a host value."""
        try:
            env = self.environment()
        except PgoError as err:
            return ProjectAt(commit, None, None, frozenset(), (f"env_file: {err}",))
        project = await read_project(self.checkout, self.config, commit, env,
                                     secrets_dir=self.secrets_dir)
        sealed = await self.checkout.blobs_ending(commit, secretfiles.SUFFIX)
        if sealed:  # a changed .age file redeploys, as a changed env file does
            paths = frozenset(e.name for e in sealed)
            project = replace(project, used=project.used | paths,
                              runtime=(project.runtime or frozenset()) | paths)
        problems = [*await secretfiles.problems(self.checkout, commit, self.age_identity)] \
            if sealed else []
        if (problem := await self.unsigned(commit)) is not None:
            problems.insert(0, problem)
        return replace(project, problems=tuple(  # (a value interpolated into a message)
            hostenv.REDACTOR(p) for p in (*problems, *project.problems)))

    async def place_secrets(self, commit: str) -> None:
        """Decrypt `commit`'s `.age` files into ${PGO_SECRETS} (made anew), before its
        podman steps; PgoError naming a file that does not decrypt."""
        names = await secretfiles.place(self.checkout, commit, self.age_identity,
                                        self.secrets_dir, self.account)
        if names:
            self.log.info("%d decrypted file(s) in %s: %s", len(names), self.secrets_dir,
                          ", ".join(names))

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
