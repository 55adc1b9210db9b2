"""pgoctl(1): run SERVICE//COMMAND on a pgod over SSH.

The transport is OpenSSH's own `ssh` client, so pgoctl starts in milliseconds (no crypto
imports) and behaves like ssh towards keys and hosts. pgoctl adds: the key from a file or
an environment variable, its own trust-on-first-use known-hosts file, and pgod's refusal
statuses (400..500, which ssh truncates to 8 bits) mapped to small documented exit codes.
"""

from __future__ import annotations

import os
import signal  # (imports enum, ~4 ms: the price of forwarding SIGTERM/SIGHUP to ssh)
import sys

from pgo import __version__
from pgo.target import parse_target

TYPE_CHECKING = False
if TYPE_CHECKING:  # nothing below imports re, argparse, subprocess or typing: see pgo.target
    from collections.abc import Sequence

    from pgo.target import Target

# pgod's refusal status -> pgoctl's exit code (sysexits.h), see pgoctl(1).
EXIT_CODES = {400: 64, 401: 77, 404: 68, 406: 65, 409: 69, 429: 75, 500: 70}
EXIT_USAGE, EXIT_SSH = 2, 255
USAGE = "usage: pgoctl [OPTION]... HOST:SERVICE//COMMAND [ARGS...]"
# (short, long, value name or "", help): the whole command line, and --help, come from here.
OPTIONS = (
    ("-i", "--identity", "FILE", "private key file, or '$VAR' to read the key from variable VAR"),
    ("-p", "--port", "PORT", "pgod's SSH port (default 2222)"),
    ("", "--insecure", "", "do not check or record the host key (for CI only)"),
    ("-h", "--help", "", "show this help and exit"),
    ("", "--version", "", "show pgoctl's version and exit"),
)
HELP = "\n".join([
    USAGE, "",
    "Operate a service that pgod runs: up, down, ps, pull, build, restart, start, stop,",
    "logs [-f] [--tail N] [--since T] [-t] [SERVICE], ping, status [--json], history",
    "[-n N] [--json], sync, diff, freeze [REASON...], unfreeze, rollback [COMMIT]. Every word",
    "after the target belongs to the command, except one \"--\" right after it, which",
    "is dropped: HOST:SVC//logs -- --tail 5 sends logs --tail 5.", "", "options:",
    *(f"  {', '.join(filter(None, (short, long)))} {value}".ljust(24) + text
      for short, long, value, text in OPTIONS), "",
    "The key: -i FILE, -i '$VAR' (the key's text in environment variable VAR), or the",
    "key's text in PGOCTL_ID. ssh's configuration files are not read.", "",
    "Exit status: the remote command's; pgod's refusals map to 64 (400 bad request),",
    "77 (401 key not allowed), 68 (404 no such service), 65 (406 unknown command or",
    "argument), 69 (409 kept down by the host's stop file), 75 (429 too many commands",
    "running), 70 (500 internal error); 255 when",
    "SSH itself fails; 2 for a bad command line; 1 for pgoctl's other errors (no key,",
    "a key file it cannot open) and a refusal it does not know.", ""])
_REFUSAL = b"pgod: "
_CHANGED = b"REMOTE HOST IDENTIFICATION HAS CHANGED"


class UsageError(Exception):
    """A bad command line; the message says what is wrong."""


class Args:
    """pgoctl's parsed command line."""

    __slots__ = ("args", "identity", "insecure", "port", "show", "target")

    def __init__(self) -> None:
        self.identity: str | None = None
        self.port, self.insecure, self.show = 2222, False, ""
        self.target = ""
        self.args: list[str] = []


def _option(word: str) -> tuple[tuple[str, str, str, str], str | None]:
    """The option `word` names, and its value if glued on (`--port=22`, `-p22`)."""
    name, eq, value = word.partition("=") if word.startswith("--") else (word[:2], "", word[2:])
    for option in OPTIONS:
        if name in option[:2] and name:
            return option, (value if eq or value else None)
    raise UsageError(f"unrecognized option {word!r}")


def parse_args(argv: Sequence[str]) -> Args:
    """Options, then HOST:SERVICE//COMMAND; every later word belongs to the command."""
    args, words = Args(), list(argv)
    while words and words[0].startswith("-") and words[0] != "-":
        word = words.pop(0)
        if word == "--":
            break
        (_, long, value_name, _), value = _option(word)
        if not value_name and value is not None:
            raise UsageError(f"{long} takes no value")
        if value_name and value is None and words:
            value = words.pop(0)
        if value_name and not value:
            raise UsageError(f"{long} needs a value ({value_name})")
        if long in ("--help", "--version"):
            args.show = long
            return args
        if long == "--insecure":
            args.insecure = True
        elif long == "--identity":
            args.identity = value
        elif not (value and value.isascii() and value.isdigit() and 0 < int(value) < 65536):
            raise UsageError(f"--port {value!r} is not a port number")
        else:
            args.port = int(value)
    if not words:
        raise UsageError("HOST:SERVICE//COMMAND is missing")
    args.target, rest = words[0], words[1:]
    args.args = rest[1:] if rest[:1] == ["--"] else rest
    return args


def known_hosts_file() -> str:
    """$XDG_CONFIG_HOME/pgo/known_hosts; a relative XDG_CONFIG_HOME is ignored (XDG says so)."""
    base = os.environ.get("XDG_CONFIG_HOME", "")
    if not base.startswith("/"):
        base = os.path.join(os.path.expanduser("~"), ".config")
    return os.path.join(base, "pgo", "known_hosts")


def ssh_path(path: str) -> str:
    """`path` as the value of an ssh -o option, which ssh reads back exactly: absolute (no
    ~ expansion), % doubled (no %-tokens), in double quotes with \\ and " escaped (no
    splitting on blanks). ssh cannot be told a path with ${ (it expands environment
    variables, with no escape) or a newline (it ends the option) in it: pgoctl stops."""
    if "${" in path or "\n" in path:
        raise SystemExit(f"pgoctl: ssh cannot be given the path {path!r} (it has '${{' or a "
                         "newline in it)")
    path = os.path.abspath(path).replace("%", "%%").replace("\\", "\\\\")
    return '"' + path.replace('"', '\\"') + '"'


def login_name() -> str:
    """What getpass.getuser() returns, without its imports."""
    for variable in ("LOGNAME", "USER", "LNAME", "USERNAME"):
        if name := os.environ.get(variable):
            return name
    import pwd  # noqa: PLC0415 (rarely needed)

    return pwd.getpwuid(os.getuid()).pw_name


def ssh_argv(host: str, port: int, key_path: str, remote: str, insecure: bool) -> list[str]:
    """The OpenSSH command line: no ssh_config (-F /dev/null: no other keys, no master
    connection), our key only, publickey only, no forwarding, TOFU hosts, keep-alives (a
    dead network ends `logs -f` within about a minute)."""
    if insecure:
        hosts = ["-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null"]
    else:
        hosts = ["-o", "StrictHostKeyChecking=accept-new", "-o",
                 f"UserKnownHostsFile={ssh_path(known_hosts_file())}", "-o", "HashKnownHosts=no"]
    return ["ssh", "-F", "/dev/null", "-T", "-p", str(port), "-l", login_name(),
            "-o", f"IdentityFile={ssh_path(key_path)}", "-o", "IdentitiesOnly=yes",
            "-o", "IdentityAgent=none", "-o", "BatchMode=yes",
            "-o", "PreferredAuthentications=publickey", "-o", "GlobalKnownHostsFile=/dev/null",
            "-o", "ClearAllForwardings=yes", "-o", "ForwardAgent=no", "-o", "ForwardX11=no",
            "-o", "ConnectTimeout=15", "-o", "ServerAliveInterval=15",
            "-o", "ServerAliveCountMax=4", "-o", "LogLevel=ERROR", *hosts, "--", host, remote]


def ssh_environment(variable: str | None) -> dict[str, str]:
    """Our environment for ssh, without the key's text: no PGOCTL_ID, no `variable`."""
    return {name: value for name, value in os.environ.items()
            if name not in ("PGOCTL_ID", variable)}


class KeyFile:
    """`with KeyFile(option) as path`: the private key file named by -i, or a private
    temporary copy of key text from an environment variable, removed on the way out."""

    def __init__(self, option: str | None) -> None:
        self.option, self.directory = option, ""
        #: the environment variable holding the key's text, None for a key file
        self.variable = (None if option and not option.startswith("$") else
                         option[1:] if option else "PGOCTL_ID")

    def __enter__(self) -> str:
        option, variable = self.option, self.variable
        if option is not None and variable is None:
            try:  # ssh would only say "Permission denied"; O_NONBLOCK: a FIFO must not hang
                os.close(os.open(option, os.O_RDONLY | os.O_NONBLOCK))
            except OSError as err:
                raise SystemExit(f"pgoctl: key file {option!r}: {err.strerror}") from None
            return option
        text = os.environ.get(variable or "", "")
        if not text.strip():
            hint = (f"environment variable {variable} is empty or unset" if option else
                    "no key: give -i FILE, -i '$VAR', or the key's text in PGOCTL_ID")
            raise SystemExit(f"pgoctl: {hint}")
        import tempfile  # noqa: PLC0415 (only here: start-up time is part of every command)

        self.directory = tempfile.mkdtemp(prefix="pgoctl-")
        path = os.path.join(self.directory, "id")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(text.strip() + "\n")
        return path

    def __exit__(self, *_exc: object) -> None:
        if not self.directory:
            return
        path = os.path.join(self.directory, "id")
        for remove, name in ((os.unlink, path), (os.rmdir, self.directory)):
            try:  # noqa: SIM105 (contextlib costs 3 ms of start-up)
                remove(name)
            except OSError:
                pass


def spawn(argv: list[str], env: dict[str, str]) -> tuple[int, int]:
    """Start ssh with stdin from /dev/null and stderr into a pipe; its pid and the pipe."""
    reader, writer = os.pipe()
    try:
        pid = os.posix_spawnp(argv[0], argv, env, file_actions=[
            (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
            (os.POSIX_SPAWN_DUP2, writer, 2)])
    except BaseException:
        os.close(reader)
        raise
    finally:
        os.close(writer)
    return pid, reader


def relay(argv: list[str], env: dict[str, str]) -> tuple[int, int | None, bool]:
    """Run ssh: stdout straight through, stderr relayed as it arrives and watched per line.

    Returns ssh's exit status, pgod's refusal status if one was announced, and whether
    ssh reported a changed host key.
    """
    pid, reader = spawn(argv, env)
    for signum in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):  # ssh ends the session
        signal.signal(signum, lambda sig, _frame: os.kill(pid, sig))
    refusal, changed, line = None, False, b""
    while data := os.read(reader, 65536):
        _write_all(2, data)
        *complete, line = (line + data).split(b"\n")
        for text in complete:
            refusal = _refusal(text) or refusal
            changed = changed or _CHANGED in text
    refusal = _refusal(line) or refusal
    os.close(reader)
    status = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
    return (status if status >= 0 else 128 - status), refusal, changed


def _refusal(line: bytes) -> int | None:
    """pgod's status from a `pgod: NNN Reason: why` line."""
    code = line[len(_REFUSAL):len(_REFUSAL) + 3]
    if line.startswith(_REFUSAL) and code.isdigit() and line[len(_REFUSAL) + 3:][:1] == b" ":
        return int(code)
    return None


def _write_all(fd: int, data: bytes) -> None:
    while data:
        data = data[os.write(fd, data):]


def exit_code(ssh_status: int, refusal: int | None) -> int:
    """pgod's refusal (ssh saw only its low 8 bits) mapped to our small code."""
    if refusal is not None and ssh_status == refusal & 0xFF:
        return EXIT_CODES.get(refusal, 1)
    return ssh_status


def _leave(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)  # unwinds KeyFile: no copy of a key is left behind


def run(args: Args, target: Target) -> tuple[int, int | None, bool]:
    """ssh with the key in place; what `relay` returns."""
    for signum in (signal.SIGTERM, signal.SIGHUP):  # until relay forwards them to ssh
        signal.signal(signum, _leave)
    key = KeyFile(args.identity)
    with key as key_path:
        argv = ssh_argv(target.host, args.port, key_path, target.remote_command(), args.insecure)
        if not args.insecure:
            os.makedirs(os.path.dirname(known_hosts_file()), mode=0o700, exist_ok=True)
        try:
            return relay(argv, ssh_environment(key.variable))
        except FileNotFoundError:
            raise SystemExit("pgoctl: OpenSSH's ssh client is needed "
                             "(apt-get install openssh-client)") from None


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = parse_args(sys.argv[1:] if argv is None else argv)
        if args.show:
            print(HELP if args.show == "--help" else f"pgoctl {__version__}", end="")
            return 0
        target = parse_target(args.target, args.args)
        if target.host.startswith("-"):
            raise UsageError(f"{target.host!r} is not a host name")
    except (UsageError, ValueError) as err:
        print(f"pgoctl: {err} (see pgoctl --help)", file=sys.stderr)
        return EXIT_USAGE
    try:
        status, refusal, changed = run(args, target)
    except OSError as err:  # a known_hosts directory or key copy that cannot be made
        raise SystemExit(f"pgoctl: {err.strerror or err}: {err.filename or ''}") from None
    if changed:
        print(f"pgoctl: the host key of [{target.host}]:{args.port} changed; if that is "
              f"expected, delete its line from {known_hosts_file()}", file=sys.stderr)
    return exit_code(status, refusal)


if __name__ == "__main__":
    sys.exit(main())
