"""pgoctl(1): run SERVICE//COMMAND on a pgod over SSH.

The transport is OpenSSH's own `ssh` client, so pgoctl starts in milliseconds (no crypto
imports) and behaves like ssh towards keys and hosts. pgoctl adds: the key from a file or
an environment variable, its own trust-on-first-use known-hosts file, and pgod's refusal
statuses (400..500, which ssh truncates to 8 bits) mapped to small documented exit codes,
several targets at once (`pgo.cli.fanout`) and connections kept open for the next call
(ssh's own master connections, `pgo.cli.sshmux`), which a later call with one target runs
over without starting ssh at all (`pgo.cli.muxclient`: ssh's multiplexing protocol).
"""

from __future__ import annotations

import os
import sys

from pgo import __version__
from pgo.cli.sshmux import control_path, dial, master_options, mux_options
from pgo.target import looks_like_target, parse_targets

# signal's own functions and numbers without its enum wrappers (enum costs more CPU than
# the rest of pgoctl's start: ~15 ms here); what forwards SIGTERM/SIGHUP/SIGINT to ssh.
signal = __import__("_signal")
TYPE_CHECKING = False
if TYPE_CHECKING:  # nothing below imports re, argparse, subprocess or typing: see pgo.target
    from collections.abc import Callable, Sequence

    from pgo.target import Target

# pgod's refusal status -> pgoctl's exit code (sysexits.h), see pgoctl(1).
EXIT_CODES = {400: 64, 401: 77, 404: 68, 406: 65, 409: 69, 429: 75, 500: 70}
EXIT_USAGE, EXIT_SSH = 2, 255
USAGE = ("usage: pgoctl [OPTION]... HOST:SERVICE//COMMAND [ARGS...]\n"
         "       pgoctl [OPTION]... H1,H2:S1,S2//COMMAND [ARGS...] [TARGET [ARGS...]]...")
# (short, long, value name or "", help): the whole command line, and --help, come from here.
OPTIONS = (
    ("-i", "--identity", "FILE", "private key file, or '$VAR' to read the key from variable VAR"),
    ("-p", "--port", "PORT", "pgod's SSH port (default 2222)"),
    ("", "--insecure", "", "do not check or record the host key (for CI only)"),
    ("", "--no-reuse", "", "a connection of its own, none kept open for later calls"),
    ("", "--json", "", "status/history/ps --json of every target as one object"),
    ("-h", "--help", "", "show this help and exit"),
    ("", "--version", "", "show pgoctl's version and exit"),
)
HELP = "\n".join([
    USAGE, "",
    "Operate a service that pgod runs: up, down, ps, pull, build, restart, start, stop,",
    "logs [-f] [--tail N] [--since T] [-t] [SERVICE], ping, status [--json], history",
    "[-n N] [--json], sync, diff, freeze [REASON...], unfreeze, rollback [COMMIT]. Every word",
    "after the target belongs to the command, except one \"--\" right after it, which",
    "is dropped: HOST:SVC//logs -- --tail 5 sends logs --tail 5. A later word that is",
    "a target starts another command. Several targets run at once, each line labelled",
    "with its host (HOST:SERVICE if they name several services).", "", "options:",
    *(f"  {', '.join(filter(None, (short, long)))} {value}".ljust(24) + text
      for short, long, value, text in OPTIONS), "",
    "The key: -i FILE, -i '$VAR' (the key's text in environment variable VAR), or the",
    "key's text in PGOCTL_ID. ssh's configuration files are not read. A connection",
    "stays open for 60 s after a call (one per host, port and key) for the next ones.", "",
    "Exit status: the remote command's; pgod's refusals map to 64 (400 bad request),",
    "77 (401 key not allowed), 68 (404 no such service), 65 (406 unknown command or",
    "argument), 69 (409 kept down by the host's stop file), 75 (429 too many commands",
    "running), 70 (500 internal error); 255 when",
    "SSH itself fails; 2 for a bad command line; 1 for pgoctl's other errors (no key,",
    "a key file it cannot open) and a refusal it does not know. Of several targets:",
    "the highest of their statuses.", ""])
_REFUSAL = b"pgod: "
_CHANGED = b"REMOTE HOST IDENTIFICATION HAS CHANGED"
_TAKEN = b"disabling multiplexing"  # ssh: "ControlSocket PATH already exists, disabling ..."


# the options without a value: the attribute of Args each sets, and to what
_FLAGS = {"--insecure": ("insecure", True), "--no-reuse": ("reuse", False),
          "--json": ("json", True)}


class UsageError(Exception):
    """A bad command line; the message says what is wrong."""


class Args:
    """pgoctl's parsed command line."""

    __slots__ = ("identity", "insecure", "json", "port", "reuse", "show", "targets")

    def __init__(self) -> None:
        self.identity: str | None = None
        self.port, self.insecure, self.show = 2222, False, ""
        self.reuse, self.json = True, False
        #: each target as written, with the words after it (its command's arguments)
        self.targets: list[tuple[str, list[str]]] = []

    @property
    def target(self) -> str:
        return self.targets[0][0]

    @property
    def args(self) -> list[str]:
        return self.targets[0][1]


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
        if long in _FLAGS:
            setattr(args, *_FLAGS[long])
        elif long == "--identity":
            args.identity = value
        elif not (value and value.isascii() and value.isdigit() and 0 < int(value) < 65536):
            raise UsageError(f"--port {value!r} is not a port number")
        else:
            args.port = int(value)
    if not words:
        raise UsageError("HOST:SERVICE//COMMAND is missing")
    args.targets = split_targets(words)
    return args


def split_targets(words: list[str]) -> list[tuple[str, list[str]]]:
    """`T1 a b T2 c`: each target with its words; `T -- ...`: all the rest is T's."""
    targets: list[tuple[str, list[str]]] = []
    while words:
        target, words = words[0], words[1:]
        if words[:1] == ["--"]:
            targets.append((target, words[1:]))
            break
        end = next((i for i, word in enumerate(words) if looks_like_target(word)), len(words))
        targets.append((target, words[:end]))
        words = words[end:]
    return targets


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


def ssh_argv(host: str, port: int, key_path: str, remote: str | None, insecure: bool,
             mux: Sequence[str] = ("-o", "ControlMaster=no", "-o", "ControlPath=none"),
             ) -> list[str]:
    """The OpenSSH command line: no ssh_config (-F /dev/null: no other keys, no master
    connection but ours, `mux`), our key only, publickey only, no forwarding, TOFU hosts,
    keep-alives (a dead network ends `logs -f` within about a minute). No `remote`: no
    command (`mux` has -N)."""
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
            "-o", "ServerAliveCountMax=4", "-o", "LogLevel=ERROR", *hosts, *mux,
            "--", host, *([] if remote is None else [remote])]


def ssh_environment(variable: str | None) -> dict[str, str]:
    """Our environment for ssh, without the key's text: no PGOCTL_ID, no `variable`."""
    return {name: value for name, value in os.environ.items()
            if name not in ("PGOCTL_ID", variable)}


def private_directory() -> str:
    """A new directory, mode 0700, in $TMPDIR (if absolute) or /tmp, made the way
    tempfile.mkdtemp makes one but without tempfile's imports (random, shutil, re: 20 ms
    of CPU here, at every call with the key in a variable)."""
    base = os.environ.get("TMPDIR", "")
    if not base.startswith("/"):
        base = "/tmp"  # noqa: S108 (a new 0700 directory, random name, os.mkdir: as mkdtemp)
    for _ in range(100):
        path = os.path.join(base, "pgoctl-" + os.urandom(8).hex())
        try:
            os.mkdir(path, 0o700)
        except FileExistsError:
            continue
        return path
    raise FileExistsError(17, "no unused name", os.path.join(base, "pgoctl-*"))


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
        self.directory = private_directory()
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


def spawn(argv: list[str], env: dict[str, str], connection: int | None = None,
          ) -> tuple[int, int]:
    """Start ssh with stdin from /dev/null (or stdin and stdout the socket `connection`)
    and stderr into a pipe; its pid and the pipe."""
    reader, writer = os.pipe()
    stdio: list[tuple[int, ...] | tuple[int, int, str, int, int]] = (
        [(os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0)] if connection is None else
        [(os.POSIX_SPAWN_DUP2, connection, 0), (os.POSIX_SPAWN_DUP2, connection, 1)])
    try:
        pid = os.posix_spawnp(argv[0], argv, env,
                              file_actions=[*stdio, (os.POSIX_SPAWN_DUP2, writer, 2)])
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
    refusal, changed = watch(reader)
    status = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
    return (status if status >= 0 else 128 - status), refusal, changed


def watch(reader: int, each: Callable[[bytes], object] = len) -> tuple[int | None, bool]:
    """Relay the stderr pipe `reader` to ours until its end (then close it), each complete
    line also to `each`: pgod's refusal status if one was announced, and whether ssh
    reported a changed host key."""
    refusal, changed, line = None, False, b""
    try:
        while data := os.read(reader, 65536):
            _write_all(2, data)
            *complete, line = (line + data).split(b"\n")
            for text in complete:
                refusal = _refusal(text) or refusal
                changed = changed or _CHANGED in text
                each(text)
    finally:
        os.close(reader)
    return _refusal(line) or refusal, changed


class _Interrupted(Exception):
    pass


def _interrupted(_signum: int, _frame: object) -> None:
    raise _Interrupted


def relay_mux(path: str, remote: str) -> tuple[int, int | None, bool] | None:
    """The command as a session of the held master at `path`, without ssh (what `relay`
    returns), or None if the master cannot run it (it has not run: run ssh instead). A
    signal ends the session, as it ends ssh's: 255."""
    from pgo.cli import muxclient  # noqa: PLC0415 (only with a held connection)

    reader, writer = os.pipe()
    stdin = os.open(os.devnull, os.O_RDONLY)
    try:
        sock, session, rest = muxclient.open_session(path, os.fsencode(remote),
                                                     (stdin, 1, writer))
    except muxclient.MuxError:
        os.close(reader)
        return None
    finally:
        os.close(stdin)
        os.close(writer)
    signums = (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)
    before = [signal.signal(signum, _interrupted) for signum in signums]
    refusal = None
    try:
        refusal, _ = watch(reader)
        return muxclient.wait_exit(sock, session, rest) & 0xFF, refusal, False
    except _Interrupted:  # closing the control connection ends the session
        return 255, refusal, False
    finally:
        sock.close()
        for signum, handler in zip(signums, before, strict=True):
            signal.signal(signum, handler)


def start_master(argv: list[str], env: dict[str, str], connection: int,
                 ) -> tuple[int, bool, bool]:
    """ssh logging in as the master over `connection` (our socket, closed here), its
    stderr relayed: its exit status (0: it is logged in and in the background), whether it
    reported a changed host key, and whether another call's master took the socket first
    (ssh would then stay, a connection of no use: it is stopped)."""
    try:
        pid, reader = spawn(argv, env, connection)
    finally:
        os.close(connection)
    lost: list[bytes] = []

    def took(line: bytes) -> None:
        if _TAKEN in line and not lost:
            lost.append(line)
            os.kill(pid, signal.SIGTERM)

    signums = (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)
    before = [signal.signal(signum, lambda sig, _frame: os.kill(pid, sig)) for signum in signums]
    try:
        _, changed = watch(reader, took)
        status = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
    finally:
        for signum, handler in zip(signums, before, strict=True):
            signal.signal(signum, handler)
    return (status if status >= 0 else 128 - status), changed, bool(lost)


def first_call(args: Args, target: Target, path: str, key_path: str,
               env: dict[str, str]) -> tuple[int, int | None, bool] | None:
    """The first call with `path` not there yet: our own connection (`dial`), ssh logging in
    over it as the master, the command as a session of it (`relay_mux`); what `relay`
    returns, or None where ssh must run as before (it could not be dialled, the master
    would not run the session: nothing has run)."""
    try:
        connection, timed_out = dial(target.host, args.port)
    except KeyboardInterrupt:  # as ssh, which SIGINT ends while it connects (SIGTERM,
        return 128 + signal.SIGINT, None, False  # SIGHUP: `_leave`, the same status)
    if timed_out:  # ssh would have waited as long: its words for it
        print(f"ssh: connect to host {target.host} port {args.port}: Connection timed out",
              file=sys.stderr)
        return EXIT_SSH, None, False
    if connection is None:
        return None
    argv = ssh_argv(target.host, args.port, key_path, None, args.insecure,
                    master_options(ssh_path(path)))
    status, changed, lost = start_master(argv, env, connection)
    if status != 0 and not lost:  # ssh's own failure, in its words on stderr
        return status, None, changed
    return relay_mux(path, target.remote_command())


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


def reuse_path(args: Args, key_path: str, host: str) -> str | None:
    """The socket of a master connection shared by the calls with this key to this host,
    port and user, checking host keys the same way; or None (--no-reuse, or a socket that
    must not be used: a warning says why)."""
    if not args.reuse:
        return None
    where = "\0".join((login_name(), host, str(args.port), str(args.insecure),
                       known_hosts_file()))
    path, problem = control_path(key_path, where)
    if problem:
        print(f"pgoctl: not reusing connections: {problem}", file=sys.stderr)
    return path


def held_socket(args: Args, paths: Sequence[str | None],
                exists: Callable[[str], bool]) -> str | None:
    """The control socket to run the command over without ssh (`relay_mux`): that of the
    one target, when there is one (no socket yet: `first_call`). For several targets, or
    --json, or without reuse, None: ssh runs (over its masters)."""
    path = session_socket(args, paths)
    return path if path and exists(path) else None


def session_socket(args: Args, paths: Sequence[str | None]) -> str | None:
    """The control socket whose master runs the command of the one target, None for several
    targets, --json or --no-reuse (ssh runs the command, over its masters if any)."""
    return paths[0] if len(paths) == 1 and not args.json else None


def reuse_options(path: str | None) -> list[str]:
    """ssh's options for the master connection at `path` (or for none)."""
    return mux_options(path, ssh_path(path) if path else "")


def run(args: Args, targets: Sequence[Target]) -> list[tuple[int, int | None, bool]]:
    """ssh with the key in place, once per target, all at once; what `relay` returns, per
    target. One target (without --json): its output as it is, unlabelled."""
    for signum in (signal.SIGTERM, signal.SIGHUP):  # until relay forwards them to ssh
        signal.signal(signum, _leave)
    key = KeyFile(args.identity)
    with key as key_path:
        paths = [reuse_path(args, key_path, t.host) for t in targets]
        if (socket := held_socket(args, paths, os.path.exists)) is not None:
            held = relay_mux(socket, targets[0].remote_command())
            if held is not None:
                return [held]
        if not args.insecure:
            os.makedirs(os.path.dirname(known_hosts_file()), mode=0o700, exist_ok=True)
        env = ssh_environment(key.variable)
        try:
            if socket is None and (fresh := session_socket(args, paths)) is not None:
                first = first_call(args, targets[0], fresh, key_path, env)
                if first is not None:
                    return [first]
            argvs = [ssh_argv(t.host, args.port, key_path, t.remote_command(), args.insecure,
                              reuse_options(path))
                     for t, path in zip(targets, paths, strict=True)]
            if len(targets) == 1 and not args.json:
                return [relay(argvs[0], env)]
            from pgo.cli import fanout  # noqa: PLC0415 (only for several)

            results = fanout.run_all(argvs, env, fanout.labels(targets), args.json)
        except FileNotFoundError:
            raise SystemExit("pgoctl: OpenSSH's ssh client is needed "
                             "(apt-get install openssh-client)") from None
    if args.json:
        keys = [fanout.json_key(t) for t in targets]
        _write_all(1, fanout.merge_json(keys, [out for _, out, _ in results]).encode())
    return [(status, next((r for r in map(_refusal, err.split(b"\n")) if r), None),
             _CHANGED in err) for status, _, err in results]


def remember(targets: Sequence[Target], codes: Sequence[int]) -> None:
    """HOST:SERVICE of each target that worked, in $XDG_CONFIG_HOME/pgo/targets (for the
    shell completion; the last 100)."""
    path = os.path.join(os.path.dirname(known_hosts_file()), "targets")
    try:
        with open(path, encoding="utf-8") as handle:
            known = handle.read().split()
    except OSError:
        known = []
    new = [f"{t.host}:{t.service}" for t, code in zip(targets, codes, strict=True)
           if code == 0 and f"{t.host}:{t.service}" not in known]
    if not new:
        return
    try:
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        with open(path, "w", encoding="utf-8") as handle:
            handle.write("".join(f"{entry}\n" for entry in [*known, *dict.fromkeys(new)][-100:]))
    except OSError:
        pass


def targets_of(args: Args) -> list[Target]:
    """Every target of the command line; with --json, each a status, history or ps --json."""
    targets = [t for text, words in args.targets for t in parse_targets(text, words)]
    for target in targets:
        if target.host.startswith("-"):
            raise UsageError(f"{target.host!r} is not a host name")
        if args.json and target.command not in ("status", "history", "ps"):
            raise UsageError(f"--json: {target.command} has no JSON output "
                             "(status, history and ps have)")
        if args.json and "--json" not in target.args:
            target.args = (*target.args, "--json")
    return targets


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = parse_args(sys.argv[1:] if argv is None else argv)
        if args.show:
            print(HELP if args.show == "--help" else f"pgoctl {__version__}", end="")
            return 0
        targets = targets_of(args)
    except (UsageError, ValueError) as err:
        print(f"pgoctl: {err} (see pgoctl --help)", file=sys.stderr)
        return EXIT_USAGE
    try:
        results = run(args, targets)
    except OSError as err:  # a known_hosts directory or key copy that cannot be made
        raise SystemExit(f"pgoctl: {err.strerror or err}: {err.filename or ''}") from None
    for target, (_, _, changed) in zip(targets, results, strict=True):
        if changed:
            print(f"pgoctl: the host key of [{target.host}]:{args.port} changed; if that is "
                  f"expected, delete its line from {known_hosts_file()}", file=sys.stderr)
    codes = [exit_code(status, refusal) for status, refusal, _ in results]
    remember(targets, codes)
    return max(codes)


def entry() -> None:
    """pgoctl as a program (scripts/install's launcher): `main`, then out at once with its
    status, without the interpreter's own clean-up (freeing every object and module: ~3 ms
    of CPU here, on every call; nothing of pgoctl's is left to close by then). An error
    still leaves the usual way, and so does output that cannot be flushed (the
    interpreter reports that as it always has)."""
    code = main()
    try:
        for stream in (sys.stdout, sys.stderr):
            if stream is not None:  # None: started with that descriptor closed
                stream.flush()
    except OSError:  # e.g. a closed pipe: the interpreter reports it at its exit, as before
        sys.exit(code)
    os._exit(code)


if __name__ == "__main__":
    entry()
