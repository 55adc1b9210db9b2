"""Encrypted files in git: every `*.age` file of a commit, encrypted with age to the host's
public key, is decrypted by pgod (as root, with the host's identity, which the service
user cannot read) into the service's directory on tmpfs, RUN_DIR/NAME (owned by the
service user, mode 0700; each file 0600, named as in git without `.age`). Compose files
name them as `${PGO_SECRETS}/FILE`. Re-created before each deploy's first podman step;
removed with the service. No decrypted byte reaches a log line or an error message."""

from __future__ import annotations

import contextlib
import os
import posixpath
import shutil
import stat
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass

from pgo import hostenv, proc
from pgo.errors import PgoError
from pgo.git import Checkout, TreeEntry
from pgo.proc import Account

RUN_DIR = "/run/pgo"          # tmpfs on a real host: nothing decrypted survives a reboot
IDENTITY = "/etc/pgo/age.key"  # pgod's default --age-identity
SUFFIX = ".age"
MAX_FILES = 64
MAX_SIZE = 1024 * 1024         # of one encrypted file
AGE_TIMEOUT = 60.0


@dataclass(frozen=True)
class Sealed:
    """One `.age` file of a commit: its repository path and the name it is decrypted to."""

    path: str
    oid: str
    size: int | None = None

    @property
    def name(self) -> str:
        return posixpath.basename(self.path)[:-len(SUFFIX)]


def directory(root: str, service: str) -> str:
    """Where `service`'s decrypted files live: ROOT/NAME."""
    return os.path.join(root, service)


def sealed_files(entries: list[TreeEntry]) -> tuple[list[Sealed], list[str]]:
    """The `.age` files of a tree listing, and why some cannot be used (a name they
    share, a name that is empty or hidden, too many, too large). Pure."""
    found = [Sealed(e.name, e.oid, e.size) for e in entries if e.name.endswith(SUFFIX)]
    problems: list[str] = []
    if len(found) > MAX_FILES:
        problems.append(f"{len(found)} {SUFFIX} files: at most {MAX_FILES} are decrypted")
    by_name: dict[str, list[str]] = {}
    for item in found:
        by_name.setdefault(item.name, []).append(item.path)
        if not item.name or item.name.startswith(".") or item.name != item.name.strip():
            problems.append(f"{item.path}: decrypts to the name {item.name!r}; name it "
                            f"FILE{SUFFIX} with FILE not starting with '.'")
        elif item.size is not None and item.size > MAX_SIZE:
            problems.append(f"{item.path}: larger than {MAX_SIZE // 1024} KiB")
    problems += [f"{', '.join(paths)}: each decrypts to ${{PGO_SECRETS}}/{name}; give them "
                 "different file names" for name, paths in by_name.items() if len(paths) > 1]
    return found, problems


def check_identity(identity: str) -> str | None:
    """Why pgod may not decrypt with `identity` (missing, not pgod's own, readable by
    others); None if it may."""
    try:
        info = os.stat(identity)
    except OSError as err:
        return f"the age identity {identity} cannot be read: {err.strerror}"
    if not stat.S_ISREG(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o077:
        return f"the age identity {identity} belongs to uid {info.st_uid} with mode " \
               f"{info.st_mode & 0o7777:04o}: it must be a file of the user running pgod " \
               f"(uid {os.getuid()}) that nobody else may read (chmod 600)"
    return None


async def decrypt(checkout: Checkout, item: Sealed, identity: str) -> bytes:
    """The plaintext of one `.age` file, from git's objects; PgoError naming the file (and
    what age said, which never holds plaintext) if it does not decrypt."""
    if (why := check_identity(identity)) is not None:
        raise PgoError(f"{item.path}: cannot be decrypted: {why}")
    data = await checkout.blob_bytes(item.oid)
    with tempfile.TemporaryDirectory(prefix="pgo-age-") as tmp:  # 0700, pgod's own
        sealed = os.path.join(tmp, "in.age")
        with open(sealed, "wb") as handle:
            handle.write(data)
        result = await proc.run(["age", "--decrypt", "--identity", identity, "--", sealed],
                                Account.current(), tmp, timeout=AGE_TIMEOUT, check=False,
                                merge_stderr=False)
    if result.returncode != 0:
        said = [line for line in result.errors.splitlines() if line.strip()]
        raise PgoError(f"{item.path} does not decrypt with the host's age identity "
                       f"{identity}: {(said or [f'age exited {result.returncode}'])[0][:200]}")
    hostenv.REDACTOR.add(hostenv.decrypted_values(result.data))
    return result.data


async def problems(checkout: Checkout, commit: str, identity: str) -> list[str]:
    """Why the `.age` files of `commit` cannot all be decrypted; [] if they can (or if it
    has none). The plaintext is dropped."""
    found, why = sealed_files(await checkout.blobs_ending(commit, SUFFIX))
    if why or not found:
        return why
    for item in found:
        try:
            await decrypt(checkout, item, identity)
        except PgoError as err:
            why.append(str(err))
    return why


async def place(checkout: Checkout, commit: str, identity: str, target: str,
                account: Account) -> list[str]:
    """Decrypt every `.age` file of `commit` into `target` (made anew: a file no longer in
    git is removed; without any, `target` is removed); the names written. PgoError if one
    does not decrypt (nothing written then)."""
    found, why = sealed_files(await checkout.blobs_ending(commit, SUFFIX))
    if why:
        raise PgoError("; ".join(why))
    if not found:
        remove(target)
        return []
    plain = {item.name: await decrypt(checkout, item, identity) for item in found}
    write_directory(target, plain, account)
    return sorted(plain)


def write_directory(target: str, files: Mapping[str, bytes], account: Account) -> None:
    """`target` (a directory of the account's, 0700, in a root-owned parent) holding
    exactly `files` (each 0600 of the account's, written to a temporary name, fsynced and
    renamed into place: a reader sees the old file or the new one)."""
    parent = os.path.dirname(target)
    os.makedirs(parent, mode=0o711, exist_ok=True)
    info = os.lstat(parent)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o022:
        raise PgoError(f"{parent} belongs to uid {info.st_uid} with mode "
                       f"{info.st_mode & 0o7777:04o}: it must be a directory of the user "
                       "running pgod that nobody else may write")
    if os.path.islink(target) or (os.path.lexists(target) and not os.path.isdir(target)):
        os.unlink(target)
    with contextlib.suppress(FileExistsError):
        os.mkdir(target, 0o700)
    dfd = os.open(target, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        _own(dfd, account, 0o700)
        for name, data in files.items():
            _write_file(dfd, name, data, account)
        for entry in os.listdir(dfd):
            if entry not in files:
                _remove_entry(dfd, entry)
    finally:
        os.close(dfd)


def _write_file(dfd: int, name: str, data: bytes, account: Account) -> None:
    tmp = f".{name}.tmp"
    with contextlib.suppress(FileNotFoundError):
        _remove_entry(dfd, tmp)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                 0o600, dir_fd=dfd)
    try:
        _own(fd, account, 0o600)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, name, src_dir_fd=dfd, dst_dir_fd=dfd)


def _own(fd: int, account: Account, mode: int) -> None:
    if account.uid != os.getuid():
        os.fchown(fd, account.uid, account.gid)
    os.fchmod(fd, mode)


def _remove_entry(dfd: int, name: str) -> None:
    """Remove a file or (the service user may have made one) a directory tree."""
    info = os.stat(name, dir_fd=dfd, follow_symlinks=False)
    if stat.S_ISDIR(info.st_mode):
        shutil.rmtree(name, dir_fd=dfd)
    else:
        os.unlink(name, dir_fd=dfd)


def remove(target: str) -> bool:
    """Remove a service's directory of decrypted files; whether there was one."""
    if os.path.islink(target):
        os.unlink(target)
        return True
    if not os.path.isdir(target):
        return False
    shutil.rmtree(target)
    return True
