"""The real SSH clients the tests drive: OpenSSH `ssh` and pgoctl (from the test venv)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

PGOCTL = os.path.join(os.path.dirname(sys.executable), "pgoctl")
SSH_OPTIONS = ["-T", "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none",
               "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
               "-o", "LogLevel=ERROR", "-o", "ConnectTimeout=20"]


def keygen(directory: Path, name: str) -> Path:
    """A fresh ed25519 key pair without passphrase; returns the private key's path."""
    path = directory / name
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(path)],
                   check=True)
    return path


def fingerprint(key: Path) -> str:
    """The SHA256 fingerprint of a private key's public half, as OpenSSH (and pgod) write it."""
    out = subprocess.run(["ssh-keygen", "-l", "-E", "sha256", "-f", str(key.with_suffix(".pub"))],
                         capture_output=True, text=True, check=True).stdout
    return out.split()[1]


def ssh(port: int, keys: list[Path], command: str, *options: str,
        timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
    """OpenSSH's ssh with exactly `keys` offered, in order (a .pub alone offers a key that
    ssh cannot sign with). `options` come first, so they win over the defaults."""
    identities = [arg for key in keys for arg in ("-i", str(key))]
    return subprocess.run(["ssh", *options, *SSH_OPTIONS, *identities, "-p", str(port),
                           "127.0.0.1",
                           command], capture_output=True, text=True, timeout=timeout,
                          check=False, stdin=subprocess.DEVNULL)


def pgoctl_argv(port: int, key: str | None, target: str, *args: str) -> list[str]:
    ident = ["-i", key] if key is not None else []
    return [PGOCTL, *ident, "-p", str(port), f"127.0.0.1:{target}", *args]


def pgoctl(home: Path, port: int, key: str | None, target: str, *args: str,
           env: dict[str, str] | None = None,
           timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
    """pgoctl with its own HOME (so its known_hosts file is the test's)."""
    full_env = {"PATH": os.environ["PATH"], "HOME": str(home), "USER": "root", **(env or {})}
    return subprocess.run(pgoctl_argv(port, key, target, *args), capture_output=True,
                          text=True, timeout=timeout, env=full_env, check=False,
                          stdin=subprocess.DEVNULL)
