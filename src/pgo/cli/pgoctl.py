"""pgoctl(1): run SERVICE//COMMAND on a pgod over SSH.

The transport is OpenSSH's own `ssh` client, so pgoctl starts in milliseconds (no crypto
imports) and behaves like ssh towards keys and hosts. pgoctl adds: the key from a file or
an environment variable, its own trust-on-first-use known-hosts file, and pgod's refusal
statuses (400..500, which ssh truncates to 8 bits) mapped to small documented exit codes.
"""

from __future__ import annotations

import argparse
import contextlib
import getpass
import os
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator, Sequence
from typing import NoReturn

from pgo import __version__
from pgo.command import parse_target

# pgod's refusal status -> pgoctl's exit code (sysexits.h), see pgoctl(1).
EXIT_CODES = {400: 64, 401: 77, 404: 68, 406: 65, 500: 70}
EXIT_USAGE, EXIT_SSH = 2, 255
_REFUSAL = re.compile(rb"^pgod: (\d{3}) ")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"pgoctl: {message} (see pgoctl --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="pgoctl", usage="pgoctl [OPTION]... HOST:SERVICE//COMMAND [ARGS...]",
        description="Operate a service that pgod runs: up, down, ps, pull, build, restart, "
                    "start, stop, logs [-f] [--tail N] [--since T] [-t] [SERVICE], ping, status.",
        epilog="The key: -i FILE, -i '$VAR' (the key's text in environment variable VAR), or "
               "the key's text in PGOCTL_ID. Exit status: the remote command's; pgod's "
               "refusals map to 64 (400 bad request), 77 (401 key not allowed), 68 (404 no "
               "such service), 65 (406 unknown command or argument), 70 (500 internal error); "
               "255 when SSH itself fails.")
    parser.add_argument("-i", "--identity", metavar="FILE",
                        help="private key file, or '$VAR' to read the key from variable VAR")
    parser.add_argument("-p", "--port", type=int, default=2222, help="SSH port (default 2222)")
    parser.add_argument("--insecure", action="store_true",
                        help="do not check or record the host key (for CI only)")
    parser.add_argument("--version", action="version", version=f"pgoctl {__version__}")
    parser.add_argument("target", metavar="HOST:SERVICE//COMMAND")
    parser.add_argument("args", nargs=argparse.REMAINDER, metavar="ARGS")
    return parser


def known_hosts_file() -> str:
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return os.path.join(base, "pgo", "known_hosts")


def ssh_argv(host: str, port: int, key_path: str, remote: str, insecure: bool) -> list[str]:
    """The OpenSSH command line: our key only, publickey only, no forwarding, TOFU hosts."""
    if insecure:
        hosts = ["-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null"]
    else:
        hosts = ["-o", "StrictHostKeyChecking=accept-new", "-o",
                 f"UserKnownHostsFile={known_hosts_file()}", "-o", "HashKnownHosts=no"]
    return ["ssh", "-T", "-p", str(port), "-l", getpass.getuser(), "-i", key_path,
            "-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none", "-o", "BatchMode=yes",
            "-o", "PreferredAuthentications=publickey", "-o", "GlobalKnownHostsFile=/dev/null",
            "-o", "ClearAllForwardings=yes", "-o", "ForwardAgent=no", "-o", "ForwardX11=no",
            "-o", "ConnectTimeout=15", "-o", "LogLevel=ERROR", *hosts, "--", host, remote]


@contextlib.contextmanager
def identity(option: str | None) -> Iterator[str]:
    """A path to the private key: the file itself, or a private temporary copy of key text."""
    if option is not None and not option.startswith("$"):
        yield option
        return
    variable = option[1:] if option else "PGOCTL_ID"
    text = os.environ.get(variable, "")
    if not text.strip():
        hint = (f"environment variable {variable} is empty or unset" if option else
                "no key: give -i FILE, -i '$VAR', or the key's text in PGOCTL_ID")
        raise SystemExit(f"pgoctl: {hint}")
    import tempfile  # noqa: PLC0415 (only here: start-up time is part of every command)

    directory = tempfile.mkdtemp(prefix="pgoctl-")
    try:
        path = os.path.join(directory, "id")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(text.strip() + "\n")
        yield path
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def relay(argv: Sequence[str]) -> tuple[int, int | None, bool]:
    """Run ssh: stdout straight through, stderr relayed line by line as it arrives.

    Returns ssh's exit status, pgod's refusal status if one was announced, and whether
    ssh reported a changed host key.
    """
    child = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert child.stderr is not None
    for signum in (signal.SIGTERM, signal.SIGHUP):  # pass them on: ssh ends the session
        signal.signal(signum, lambda sig, _frame: child.send_signal(sig))
    refusal, changed = None, False
    for line in iter(child.stderr.readline, b""):
        sys.stderr.buffer.write(line)
        sys.stderr.buffer.flush()
        if match := _REFUSAL.match(line):
            refusal = int(match.group(1))
        changed = changed or b"REMOTE HOST IDENTIFICATION HAS CHANGED" in line
    return child.wait(), refusal, changed


def exit_code(ssh_status: int, refusal: int | None) -> int:
    """pgod's refusal (ssh saw only its low 8 bits) mapped to our small code."""
    if refusal is not None and ssh_status == refusal & 0xFF:
        return EXIT_CODES.get(refusal, 1)
    return ssh_status


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    rest = args.args[1:] if args.args[:1] == ["--"] else args.args
    try:
        target = parse_target(args.target, rest)
    except ValueError as err:
        build_parser().error(str(err))
    if target.host.startswith("-"):
        build_parser().error(f"{target.host!r} is not a host name")
    if shutil.which("ssh") is None:
        raise SystemExit("pgoctl: OpenSSH's ssh client is needed (apt-get install openssh-client)")
    if not args.insecure:
        os.makedirs(os.path.dirname(known_hosts_file()), mode=0o700, exist_ok=True)
    with identity(args.identity) as key_path:
        argv_ = ssh_argv(target.host, args.port, key_path, target.remote_command(), args.insecure)
        try:
            status, refusal, changed = relay(argv_)
        except KeyboardInterrupt:
            return 130
    if changed:
        print(f"pgoctl: the host key of [{target.host}]:{args.port} changed; if that is "
              f"expected, delete its line from {known_hosts_file()}", file=sys.stderr)
    return exit_code(status, refusal)


if __name__ == "__main__":
    sys.exit(main())
