"""git, run as the service user on one checkout. Change detection by commit hashes only."""

from __future__ import annotations

import asyncio
import contextlib
import os
import stat
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace

from pgo import gittree, proc, refpool
from pgo.errors import CommandFailed, PgoError
from pgo.gitbatch import Batch
from pgo.gittree import Header, TreeEntry
from pgo.proc import Account
from pgo.signatures import Signature, judge, judge_gpg

GIT_TIMEOUT = 300.0
LOCAL_TIMEOUT = 60.0
_GIT_ENV = {"GIT_TERMINAL_PROMPT": "0", "GIT_SSH_COMMAND": "ssh -o BatchMode=yes"}
TREES_KEPT = 2  # commits' listings kept (the target's and the deployed one's)

__all__ = ["Checkout", "TreeEntry", "local_path", "system_config_text"]


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
class Checkout:
    """A clone of one branch of a repository in `path`, owned by `account`."""

    path: str
    url: str
    branch: str
    account: Account
    system_config: str | None = None  # pgod's gitconfig, in place of /etc/gitconfig
    # asks the user's ref worker first: no git process for a git:// remote's head
    heads: refpool.RefPool | None = field(default=None, compare=False, repr=False)
    # the last commits' whole tree listings, by their hashes (see `tree`)
    _trees: dict[str, tuple[TreeEntry, ...]] = field(default_factory=dict, compare=False,
                                                     repr=False)
    # the open `batch()` session's cat-file process (see `_object`)
    _batch: list[Batch] = field(default_factory=list, compare=False, repr=False)

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

    async def _git_result(self, *args: str, timeout: float = LOCAL_TIMEOUT,
                          input: bytes | None = None) -> proc.Result:
        return await proc.run(self._argv(*args), self.account, self.path, timeout=timeout,
                              env=self._env(), merge_stderr=False, input=input)

    @contextlib.asynccontextmanager
    async def batch(self) -> AsyncIterator[None]:
        """A session (a pass): every object read in it (a commit's hash and subject, file
        contents) is asked of one `git cat-file --batch` process, ended with the session.
        Outside one, each read runs a `git cat-file --batch` of its own."""
        reader = Batch(self._argv("cat-file", "--batch"), self.account, self.path,
                       self._env(), LOCAL_TIMEOUT)
        self._batch.append(reader)
        try:
            yield
        finally:
            self._batch.remove(reader)
            await reader.close()

    async def _restart_batch(self) -> None:
        """After git wrote objects or refs (a fetch, a clone): a reader started before
        may have looked at what is gone now; the next read starts another."""
        for reader in self._batch:
            await reader.close()

    async def _object(self, name: str) -> tuple[Header, bytes]:
        """The object `name` names (a header that is not `found` if none)."""
        if self._batch:
            return await self._batch[-1].get(name)
        if not name or "\n" in name:
            raise CommandFailed(self._argv("cat-file"), None, f"not an object name: {name!r}")
        result = await self._git_result("cat-file", "--batch", input=name.encode() + b"\n")
        try:
            return gittree.parse_answer(result.data)
        except ValueError as err:
            raise CommandFailed(self._argv("cat-file", "--batch"), None, str(err)) from None

    async def _blob(self, oid: str) -> bytes:
        header, data = await self._object(oid)
        if header.kind != "blob":
            raise CommandFailed(self._argv("cat-file", "blob", oid), 128,
                                f"{oid} is {'no' if not header.found else 'not a'} blob")
        return data

    def exists(self) -> bool:
        return os.path.isdir(os.path.join(self.path, ".git"))

    async def clone(self) -> None:
        """Clone the branch into the (existing, empty, user-owned) directory."""
        await self._restart_batch()
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
        await self._restart_batch()
        if (hint := self.fetched_hint()) is None:
            return await self.rev_parse(self.upstream)
        # the new commit's tree is listed while the ref is read (the ref has the last word)
        listing = asyncio.ensure_future(self._list_quietly(hint))
        try:
            head = await self.rev_parse(self.upstream)
        except BaseException:
            listing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listing
            raise
        await listing
        return head

    def fetched_hint(self) -> str | None:
        """The commit the fetch just brought, as git wrote it to .git/FETCH_HEAD (read as
        pgod, no symlink followed, 4 KiB at most): only a hint, the ref says which commit
        the pass takes."""
        flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC
        try:
            git_dir = os.open(os.path.join(self.path, ".git"), flags | os.O_DIRECTORY)
            try:
                fd = os.open("FETCH_HEAD", flags | os.O_NONBLOCK, dir_fd=git_dir)
            finally:
                os.close(git_dir)
            with os.fdopen(fd, "rb") as handle:
                if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
                    return None
                data = handle.read(4096)
        except OSError:
            return None
        return gittree.fetched_head(data)

    async def _list_quietly(self, commit: str) -> None:
        with contextlib.suppress(PgoError):
            await self.tree(commit)

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
        """The hash of the commit `ref` names (asked of cat-file: no process of its own in a
        session); CommandFailed if it names none."""
        header, _ = await self._object(f"{ref}^{{commit}}")
        if header.kind != "commit":
            raise CommandFailed(self._argv("rev-parse", "--verify", ref), 1,
                                f"{ref[:100]}: no such commit")
        return header.name

    async def head(self) -> str:
        return await self.rev_parse("HEAD")

    async def subject(self, commit: str) -> str:
        """The first line of `commit`'s message ("" if it cannot be read)."""
        try:
            header, data = await self._object(f"{commit}^{{commit}}")
        except PgoError:
            return ""
        return gittree.subject(data) if header.kind == "commit" else ""

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
        """What `git diff --name-only OLD NEW` names, from the two commits' listings."""
        return gittree.changed(await self.tree(old), await self.tree(new))

    async def reset(self, commit: str) -> None:
        """Move the working tree to `commit` (follows force-pushes; never merges)."""
        await self._git("reset", "--hard", "--quiet", commit)

    async def read(self, commit: str, path: str) -> str | None:
        """The text of a regular file at `commit` (symlinks are not followed), or None."""
        found = await self.read_blob(commit, path)
        return found[0] if found else None

    async def read_blob(self, commit: str, path: str) -> tuple[str, str] | None:
        """The text and object id of a regular file at `commit`, or None."""
        found = await self.read_bytes(commit, path)
        return (found[0].decode("utf-8", "replace"), found[1]) if found else None

    async def read_bytes(self, commit: str, path: str) -> tuple[bytes, str] | None:
        """The bytes and object id of a regular file at `commit`, or None: undecoded, so
        that a caller can refuse what is not valid UTF-8 instead of reading a repaired text."""
        entries = await self.ls_tree(commit, path)
        if len(entries) != 1 or entries[0].kind != "blob" or entries[0].mode == "120000":
            return None
        return await self._blob(entries[0].oid), entries[0].oid

    async def cat_blob(self, oid: str) -> str:
        """The text of blob `oid` (at most proc.DATA_LIMIT bytes, else CommandFailed)."""
        return (await self._blob(oid)).decode("utf-8", "replace")

    async def blob_bytes(self, oid: str) -> bytes:
        """Blob `oid` as it is, undecoded (at most proc.DATA_LIMIT bytes)."""
        return await self._blob(oid)

    async def blobs_ending(self, commit: str, suffix: str) -> list[TreeEntry]:
        """Every regular file of the tree of `commit` whose path ends in `suffix` (with
        its size), at any depth."""
        return [e for e in gittree.blobs(await self.tree(commit)) if e.name.endswith(suffix)]

    async def tree(self, commit: str) -> tuple[TreeEntry, ...]:
        """Every entry of the tree of `commit`, trees too, with blobs' sizes (`git ls-tree
        -r -t -z -l --full-tree`): kept for the last TREES_KEPT commits named by their hash
        (a commit's tree never changes). Every tree question of a pass is answered from it."""
        if (found := self._trees.get(commit)) is not None:
            self._trees[commit] = self._trees.pop(commit)  # (the most recent last)
            return found
        listing = gittree.parse_listing(
            await self._git("ls-tree", "-r", "-t", "-z", "-l", "--full-tree", commit))
        if gittree.is_oid(commit):
            self._trees[commit] = listing
            while len(self._trees) > TREES_KEPT:
                del self._trees[next(iter(self._trees))]
        return listing

    async def symlinks(self, commit: str) -> frozenset[str]:
        """The path of every symlink in the tree of `commit`."""
        return gittree.symlinks(await self.tree(commit))

    async def ls_tree(self, commit: str, path: str = "", *,
                      sizes: bool = False) -> list[TreeEntry]:
        """Entries at the top of the tree, or of directory `path/`, or the file `path`
        (as `git ls-tree` lists them); with `sizes`, each blob's size too."""
        entries = gittree.entries_at(await self.tree(commit), path)
        return entries if sizes else [replace(e, size=None) for e in entries]
