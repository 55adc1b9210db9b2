"""git, run as the service user on one checkout. Change detection by commit hashes only."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

from pgo import proc, refpool
from pgo.errors import PgoError
from pgo.proc import Account
from pgo.signatures import Signature, judge, judge_gpg

GIT_TIMEOUT = 300.0
LOCAL_TIMEOUT = 60.0
_GIT_ENV = {"GIT_TERMINAL_PROMPT": "0", "GIT_SSH_COMMAND": "ssh -o BatchMode=yes"}


def local_path(url: str) -> str | None:
    """The directory of a local repository URL (file:///x or /x), else None."""
    path = url.removeprefix("file://")
    return path if path.startswith("/") else None


def system_config_text(urls: list[str]) -> str:
    """pgod's gitconfig for the service users: a local source repository may belong to
    another user (root, say); git refuses such a repository unless it is a safe.directory,
    which it only reads from protected config (system or global, not `-c`: local transports
    drop GIT_CONFIG_PARAMETERS). One entry per local repository, nothing wider."""
    paths = sorted({p.rstrip("/") for p in map(local_path, urls) if p})
    lines = [f"\tdirectory = {p}\n\tdirectory = {p}/.git\n" for p in paths]
    return "# written by pgod; read by git run as the service users\n[safe]\n" + "".join(lines)


@dataclass(frozen=True)
class TreeEntry:
    mode: str
    kind: str
    name: str
    oid: str = ""
    size: int | None = None  # of a blob, when listed with sizes


@dataclass(frozen=True)
class Checkout:
    """A clone of one branch of a repository in `path`, owned by `account`."""

    path: str
    url: str
    branch: str
    account: Account
    system_config: str | None = None  # pgod's gitconfig, in place of /etc/gitconfig
    # asks the user's ref worker first: no git process for a git:// remote's head
    heads: refpool.RefPool | None = field(default=None, compare=False, repr=False)
    # the last commit's whole tree listing, by its hash (see `full_tree`)
    _trees: dict[str, str] = field(default_factory=dict, compare=False, repr=False)

    @property
    def upstream(self) -> str:
        return f"refs/remotes/origin/{self.branch}"

    @staticmethod
    def _argv(*args: str) -> list[str]:
        # No hooks, no fsmonitor (both run programs named by the checkout's .git/config).
        return ["git", "-c", "core.hooksPath=/dev/null", "-c", "core.fsmonitor=false",
                "-c", "protocol.ext.allow=never", *args]

    def _env(self) -> dict[str, str]:
        return {**_GIT_ENV, "GIT_CONFIG_SYSTEM": self.system_config} if self.system_config \
            else {**_GIT_ENV, "GIT_CONFIG_NOSYSTEM": "1"}

    async def _git(self, *args: str, timeout: float = LOCAL_TIMEOUT) -> str:
        return (await self._git_result(*args, timeout=timeout)).output

    async def _git_result(self, *args: str, timeout: float = LOCAL_TIMEOUT) -> proc.Result:
        return await proc.run(self._argv(*args), self.account, self.path, timeout=timeout,
                              env=self._env(), merge_stderr=False)

    def exists(self) -> bool:
        return os.path.isdir(os.path.join(self.path, ".git"))

    async def clone(self) -> None:
        """Clone the branch into the (existing, empty, user-owned) directory."""
        await self._git("clone", "--quiet", "--single-branch", "--no-tags",
                        "--branch", self.branch, "--", self.url, ".", timeout=GIT_TIMEOUT)

    async def fetch(self, known: str | None = None) -> str:
        """Fetch the branch; return the upstream commit hash. With `known` (the head the
        last fetch of this pgod brought), ask the remote first: when its head is `known`,
        that one `git ls-remote` is all (nothing to fetch, nothing written)."""
        if known is not None and await self.remote_head() == known:
            return known
        # From the configured URL, not the clone's "origin": a changed `repository` in the
        # config takes effect without a new clone.
        await self._git("fetch", "--quiet", "--prune", "--no-tags", "--", self.url,
                        f"+refs/heads/{self.branch}:{self.upstream}", timeout=GIT_TIMEOUT)
        return await self.rev_parse(self.upstream)

    async def remote_head(self) -> str | None:
        """The branch's head on the remote (`git ls-remote`); None if it has no such branch."""
        ref = f"refs/heads/{self.branch}"
        if self.heads is not None:
            found = await self.heads.head(self.account, self._env(), self.url, ref,
                                          self.path, GIT_TIMEOUT)
            if found is not refpool.DEFER:
                return found
        out = await self._git("ls-remote", "--", self.url, ref, timeout=GIT_TIMEOUT)
        for line in out.splitlines():  # (a pattern also matches refs/heads/x/<branch>)
            oid, _, name = line.partition("\t")
            if name == ref:
                return oid
        return None

    def head_stamp(self) -> tuple[tuple[int, int, int], ...]:
        """What git changes whenever HEAD moves in this checkout (without running git):
        the inode, size and ctime of .git/HEAD, the branch's loose ref, packed-refs, the
        index, and of the directories holding them. git writes each through a lock file
        renamed into place (a new inode, the directory's ctime changed), and nobody can
        set a ctime: an equal stamp means HEAD is where it was. lstat only, nothing read."""
        git_dir = os.path.join(self.path, ".git")
        ref = os.path.join(git_dir, "refs", "heads", *self.branch.split("/"))
        stamps = []
        for path in (git_dir, os.path.join(git_dir, "HEAD"), os.path.dirname(ref), ref,
                     os.path.join(git_dir, "packed-refs"), os.path.join(git_dir, "index")):
            try:
                st = os.lstat(path)
                stamps.append((st.st_ino, st.st_size, st.st_ctime_ns))
            except OSError:
                stamps.append((0, 0, 0))
        return tuple(stamps)

    async def rev_parse(self, ref: str) -> str:
        out = await self._git("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
        return out.strip()

    async def head(self) -> str:
        return await self.rev_parse("HEAD")

    async def subject(self, commit: str) -> str:
        """The first line of `commit`'s message ("" if it cannot be read)."""
        try:
            out = await self._git("log", "-1", "--format=%s", commit, "--")
        except PgoError:
            return ""
        return out.strip()[:200]

    async def verify_commit(self, commit: str, signers: str) -> Signature:
        """Whether `commit` carries an SSH signature by one of the allowed `signers` (a
        file in ssh-keygen's allowed-signers format, read by git as the service user)."""
        result = await proc.run(
            self._argv("-c", "gpg.format=ssh", "-c", f"gpg.ssh.allowedSignersFile={signers}",
                       "verify-commit", commit), self.account, self.path,
            timeout=LOCAL_TIMEOUT, env=self._env(), check=False)
        return judge(result.returncode, result.output)

    async def verify_commit_gpg(self, commit: str, keyring: str) -> Signature:
        """Whether `commit` carries an OpenPGP signature by a key of `keyring` (public keys,
        as `gpg --export` writes them). The keyring is imported into a GNUPGHOME made for
        this one check, as the service user, and removed after: a key taken out of the
        keyring stops verifying at once, and no gpg state is kept between checks."""
        made = await proc.run(["mktemp", "-d", "-t", "pgo-gnupg.XXXXXXXX"], self.account,
                              self.path, timeout=LOCAL_TIMEOUT, merge_stderr=False)
        home = made.output.strip()
        try:
            await proc.run(["gpg", "--batch", "--no-tty", "--no-autostart", "--quiet",
                            "--homedir", home, "--import", keyring], self.account, self.path,
                           timeout=LOCAL_TIMEOUT)
            result = await proc.run(
                self._argv("-c", "gpg.format=openpgp", "-c", "gpg.program=gpg",
                           "verify-commit", "--raw", commit), self.account, self.path,
                timeout=LOCAL_TIMEOUT, env={**self._env(), "GNUPGHOME": home}, check=False)
        finally:
            await proc.run(["rm", "-rf", "--", home], self.account, self.path,
                           timeout=LOCAL_TIMEOUT, check=False)
        return judge_gpg(result.returncode, result.output)

    async def is_ancestor(self, commit: str, ref: str) -> bool:
        """Whether `commit` is in the history of `ref`."""
        result = await proc.run(self._argv("merge-base", "--is-ancestor", commit, ref),
                                self.account, self.path, timeout=LOCAL_TIMEOUT,
                                env=self._env(), check=False)
        return result.returncode == 0

    async def changed_paths(self, old: str, new: str) -> frozenset[str]:
        out = await self._git("diff", "--name-only", "--no-renames", "-z", old, new, "--")
        return frozenset(p for p in out.split("\0") if p)

    async def reset(self, commit: str) -> None:
        """Move the working tree to `commit` (follows force-pushes; never merges)."""
        await self._git("reset", "--hard", "--quiet", commit)

    async def read(self, commit: str, path: str) -> str | None:
        """The text of a regular file at `commit` (symlinks are not followed), or None."""
        found = await self.read_blob(commit, path)
        return found[0] if found else None

    async def read_blob(self, commit: str, path: str) -> tuple[str, str] | None:
        """The text and object id of a regular file at `commit`, or None."""
        entries = await self.ls_tree(commit, path)
        if len(entries) != 1 or entries[0].kind != "blob" or entries[0].mode == "120000":
            return None
        return await self.cat_blob(entries[0].oid), entries[0].oid

    async def read_bytes(self, commit: str, path: str) -> tuple[bytes, str] | None:
        """The bytes and object id of a regular file at `commit`, or None: undecoded, so
        that a caller can refuse what is not valid UTF-8 instead of reading a repaired text."""
        entries = await self.ls_tree(commit, path)
        if len(entries) != 1 or entries[0].kind != "blob" or entries[0].mode == "120000":
            return None
        result = await self._git_result("cat-file", "blob", entries[0].oid)
        return result.data, entries[0].oid

    async def cat_blob(self, oid: str) -> str:
        """The text of blob `oid` (at most proc.DATA_LIMIT bytes, else CommandFailed)."""
        return await self._git("cat-file", "blob", oid)

    async def blobs_ending(self, commit: str, suffix: str) -> list[TreeEntry]:
        """Every regular file of the tree of `commit` whose path ends in `suffix` (with
        its size), at any depth."""
        out = await self.full_tree(commit)
        entries = []
        for record in out.split("\0"):
            meta, _, name = record.partition("\t")
            mode, kind, oid, *size = meta.split() or ("", "", "")
            if kind == "blob" and mode != "120000" and name.endswith(suffix):
                entries.append(TreeEntry(mode, kind, name, oid,
                                         int(size[0]) if size and size[0].isdigit() else None))
        return entries

    async def full_tree(self, commit: str) -> str:
        """`git ls-tree -r -z -l --full-tree COMMIT`: kept for the last commit named by
        its hash (a commit's tree never changes; reading a new commit and deploying it list
        its tree three times)."""
        if (out := self._trees.get(commit)) is not None:
            return out
        out = await self._git("ls-tree", "-r", "-z", "-l", "--full-tree", commit)
        if re.fullmatch(r"[0-9a-f]{40}|[0-9a-f]{64}", commit):
            self._trees.clear()
            self._trees[commit] = out
        return out

    async def blob_bytes(self, oid: str) -> bytes:
        """Blob `oid` as it is, undecoded (at most proc.DATA_LIMIT bytes)."""
        return (await self._git_result("cat-file", "blob", oid)).data

    async def symlinks(self, commit: str) -> frozenset[str]:
        """The path of every symlink in the tree of `commit`."""
        out = await self.full_tree(commit)
        return frozenset(record.split("\t", 1)[1] for record in out.split("\0")
                         if record.startswith("120000 "))

    async def ls_tree(self, commit: str, path: str = "", *,
                      sizes: bool = False) -> list[TreeEntry]:
        """Entries at the top of the tree, or of directory `path/`, or the file `path`;
        with `sizes`, each blob's size too."""
        out = await self._git("ls-tree", "-z", *(["-l"] if sizes else []), commit,
                              *(["--", path] if path else []))
        entries = []
        for record in out.split("\0"):
            if record:
                meta, name = record.split("\t", 1)
                mode, kind, oid, *size = meta.split()
                entries.append(TreeEntry(mode, kind, name, oid,
                                         int(size[0]) if size and size[0].isdigit() else None))
        return entries
