"""pgod(8): parse the command line into Settings, run the Daemon. Nothing else lives here."""

from __future__ import annotations

import argparse
import asyncio
import functools
import logging
import os
import re
import shlex
import socket
import sys
from collections.abc import Sequence
from typing import NoReturn

from pgo import __version__, configrepo, hostenv, secretfiles
from pgo.config import config_from_text, load_config
from pgo.daemon import (
    DEFAULT_JOBS,
    EXIT_ERROR,
    EXIT_OK,
    Daemon,
    Settings,
)
from pgo.duration import format_duration, parse_duration
from pgo.errors import ConfigError, PgoError
from pgo.logformat import SafeFormatter
from pgo.proxy.caddy import DEFAULT_RELOAD, CaddySettings
from pgo.sshserver import known_hosts_line
from pgo.statedir import open_host_key, prepare_state_dir

DEFAULT_INTERVAL = "5m0s"
_BOOL_FLAGS = {"-d": "--debug", "-r": "--restart", "-o": "--root"}
_LONG = ("config", "config-branch", "ssh", "debug", "restart", "root", "duration", "dir",
         "metrics", "webhook", "hosts", "jobs", "version", "help", "caddy", "caddy-reload",
         "age-identity", "print-host-key")
DEFAULT_METRICS = "127.0.0.1:9112"
_TRUE, _FALSE = {"true", "t", "1", "yes"}, {"false", "f", "0", "no"}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_ERROR, f"pgod: {message} (see pgod --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="pgod", usage="pgod [OPTION]... -c CONFIG",
        description="Clone and pull every service's git repository, check its compose file "
                    "against the service's policy and run podman-compose as the service's "
                    "user; redeploy when the project changes upstream. A deploy is done when "
                    "its containers pass a health gate; one that fails brings the last good "
                    "commit back. Each service's state and history: DIR/.pgod/state/.",
        epilog="Exit status: 0 after SIGINT/SIGTERM (containers keep running), 1 on an error, "
               "2 after SIGHUP (so systemd restarts pgod). Bool options also take Go syntax: "
               "--root=false.")
    parser.add_argument("-c", "--config", metavar="FILE",
                        help="config file to read (required), or git+URL#PATH: a file in a "
                             "git repository, followed every duration")
    parser.add_argument("--config-branch", metavar="BRANCH", default="main",
                        help="the branch of a git+URL#PATH config (default main)")
    parser.add_argument("-s", "--ssh", metavar="ADDR", default=":2222",
                        help='SSH address to listen on (default ":2222")')
    parser.add_argument("-m", "--metrics", metavar="ADDR", default=DEFAULT_METRICS,
                        help="HTTP address for Prometheus metrics at /metrics, the status page at "
                             "/ and /status.json (default "
                             f'"{DEFAULT_METRICS}"; "" turns the listener off)')
    parser.add_argument("-w", "--webhook", metavar="ADDR", default="",
                        help="HTTP address for forges' push events at /hook (default off; "
                             "the -m address shares its listener)")
    parser.add_argument("-d", "--debug", action=argparse.BooleanOptionalAction, default=False,
                        help="debug logging: every command run, as which user, where; "
                        "the event loop's stalls over 50 ms, its callbacks over 20 ms "
                        "of CPU")
    parser.add_argument("-r", "--restart", action=argparse.BooleanOptionalAction,
                        default=False,
                        help="send SIGHUP to ourselves when the config file changes")
    parser.add_argument("-o", "--root", action=argparse.BooleanOptionalAction, default=True,
                        help="require root (default true); --root=false or --no-root runs "
                             "every service as the invoking user, for debugging")
    parser.add_argument("-t", "--duration", metavar="DURATION", default=DEFAULT_INTERVAL,
                        help="time between pulls, Go syntax such as 90s or 1h30m "
                             f"(default {DEFAULT_INTERVAL}; each wait adds jitter up to half; "
                             "while fetches fail it doubles, up to 4x)")
    parser.add_argument("-j", "--jobs", metavar="N", default=str(DEFAULT_JOBS),
                        help="deploys (their dry runs, pull, build, down, up; not the "
                             "gate) and other podman-compose runs at once, over all "
                             "services; the others wait their turn (default "
                             f"{DEFAULT_JOBS}: twice the CPUs)")
    parser.add_argument("--dir", metavar="DIR", default="/var/lib/pgo",
                        help="where repositories are checked out, DIR/NAME (default /var/lib/pgo)")
    parser.add_argument("--hosts", metavar="NAMES",
                        help="this machine's names for the services' `machines` key, comma-"
                             "separated (default: the host name, short and fully qualified)")
    parser.add_argument("--age-identity", metavar="FILE", default=secretfiles.IDENTITY,
                        help="the host's age identity, which decrypts the repositories' .age "
                             f"files (default {secretfiles.IDENTITY}; root's only)")
    parser.add_argument("--caddy", metavar="FILE",
                        help="write the routes of the services' urls to FILE, a Caddyfile "
                             "snippet for Caddy to import (default: none)")
    parser.add_argument("--caddy-reload", metavar="COMMAND",
                        help="after FILE changes, run COMMAND (split as a shell would, run "
                             f'without one; default "{" ".join(DEFAULT_RELOAD)}"; "" runs '
                             "nothing)")
    parser.add_argument("--print-host-key", action="store_true",
                        help="print the known_hosts line of pgod's SSH host key (DIR/.pgod/"
                             "ssh_host_ed25519_key, generated if missing) for the -s address "
                             "(* for any host) and exit; the daemon is not started")
    parser.add_argument("--version", action="version", version=f"pgod {__version__}")
    return parser


def normalize_go_flags(argv: Sequence[str]) -> list[str]:
    """Accept Go flag spellings: -config x, --root=false, -o=false, -debug=true."""
    out: list[str] = []
    for arg in argv:
        if arg == "--":
            out.extend(argv[len(out):])
            break
        name, eq, value = arg.partition("=")
        if re.fullmatch(r"-[a-z][a-z-]+", name) and name[1:] in _LONG:
            name = "-" + name
        name = _BOOL_FLAGS.get(name, name)
        if eq and name in _BOOL_FLAGS.values():
            out.append(_bool_flag(name, value))
        else:
            out.append(name + eq + value)
    return out


def _bool_flag(name: str, value: str) -> str:
    if value.lower() in _TRUE:
        return name
    if value.lower() in _FALSE:
        return "--no-root" if name == "--root" else "--no-" + name[2:]
    raise SystemExit(f"pgod: {name}={value}: expected true or false")


def parse_ssh_address(text: str) -> tuple[str, int]:
    """':2222' -> ('', 2222); '127.0.0.1:22'; '[::1]:2222'. ValueError if malformed."""
    match = re.fullmatch(r"(?P<host>\[[0-9a-fA-F:.]+\]|[^\s:\[\]]*):(?P<port>\d{1,5})", text)
    if match is None or int(match.group("port")) > 65535:
        raise ValueError(f"invalid SSH address {text!r}: use [HOST]:PORT such as :2222")
    return match.group("host").strip("[]"), int(match.group("port"))


def parse_http_address(text: str, what: str = "metrics") -> tuple[str, int] | None:
    """-m, -w: '' -> None (off); otherwise [HOST]:PORT as for -s."""
    if text == "":
        return None
    try:
        return parse_ssh_address(text)
    except ValueError:
        raise ValueError(f"invalid {what} address {text!r}: use [HOST]:PORT such as "
                         f'{DEFAULT_METRICS}, or "" for none') from None


def parse_hosts(text: str | None) -> frozenset[str]:
    """--hosts a,b -> {a, b}; none given: `hostname -s` and `hostname -f`."""
    if text is None:
        fqdn = socket.getfqdn()
        return frozenset({socket.gethostname().split(".")[0].lower(), fqdn.lower()})
    names = frozenset(n.strip().lower() for n in text.split(",") if n.strip())
    if not names:
        build_parser().error(f"--hosts {text!r}: name at least one host")
    return names


def caddy_settings(snippet: str | None, reload: str | None) -> CaddySettings | None:
    """--caddy FILE and --caddy-reload COMMAND; ValueError if they make no sense."""
    if snippet is None:
        if reload is not None:
            raise ValueError("--caddy-reload needs --caddy FILE: the snippet to load")
        return None
    if not snippet or snippet.endswith("/"):
        raise ValueError(f"--caddy {snippet!r}: must name a file, such as /etc/caddy/pgo.caddy")
    try:
        argv = DEFAULT_RELOAD if reload is None else tuple(shlex.split(reload))
    except ValueError as err:
        raise ValueError(f"--caddy-reload {reload!r}: {err}") from None
    return CaddySettings(snippet=os.path.abspath(snippet), reload=argv)


def settings_from(args: argparse.Namespace) -> Settings:
    """Validate the parsed options; raise SystemExit(1) with one clear line on bad input."""
    parser = build_parser()
    if not args.config:
        parser.error("missing -c CONFIG: the config file to read")
    if args.root and os.geteuid() != 0:
        parser.error("must run as root to switch to the services' users "
                     "(use --root=false to debug as yourself)")
    try:
        interval = parse_duration(args.duration)
        host, port = parse_ssh_address(args.ssh)
        http = parse_http_address(args.metrics)
        webhook = parse_http_address(args.webhook, "webhook")
        caddy = caddy_settings(args.caddy, args.caddy_reload)
    except ValueError as err:
        parser.error(str(err))
    if interval <= 0:
        parser.error(f"--duration {args.duration}: must be positive")
    if not args.jobs.isdigit() or int(args.jobs) < 1:
        parser.error(f"--jobs {args.jobs}: must be a whole number, 1 or more")
    hosts = parse_hosts(args.hosts)
    try:
        source = configrepo.parse_source(args.config, args.config_branch)
    except ValueError as err:
        parser.error(str(err))
    repo = None
    try:
        if source is None:
            config = load_config(args.config, check_accounts=args.root, hosts=hosts)
        else:
            repo = configrepo.ConfigRepo(source, prepare_state_dir(os.path.abspath(args.dir)))
            config, _ = asyncio.run(repo.current(functools.partial(
                config_from_text, check_accounts=args.root, hosts=hosts)))
    except ConfigError as err:
        parser.exit(EXIT_ERROR, f"pgod: {err}\n")
    except (PgoError, OSError) as err:
        parser.exit(EXIT_ERROR, f"pgod: cannot read the config {args.config}: {err}\n")
    identity = os.path.abspath(args.age_identity)
    if os.path.lexists(identity) and (why := secretfiles.check_identity(identity)):
        parser.exit(EXIT_ERROR, f"pgod: --age-identity: {why}\n")
    return Settings(config=config, directory=os.path.abspath(args.dir), interval=interval,
                    ssh_host=host, ssh_port=port, watch_config=args.restart,
                    as_root=args.root, http=http, webhook=webhook, hosts=hosts,
                    config_repo=repo, age_identity=identity, caddy=caddy,
                    jobs=int(args.jobs))


def print_host_key(args: argparse.Namespace) -> int:
    """`--print-host-key`: the known_hosts line on stdout, nothing started. Needs neither
    -c nor root (reading DIR/.pgod does)."""
    try:
        host, port = parse_ssh_address(args.ssh)
    except ValueError as err:
        build_parser().error(str(err))
    try:
        key = open_host_key(os.path.abspath(args.dir))
    except (PgoError, OSError) as err:
        logging.getLogger("pgo.daemon").error("cannot print the host key: %s", err)
        return EXIT_ERROR
    print(known_hosts_line(key, host, port))
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(normalize_go_flags(sys.argv[1:] if argv is None else argv))
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(SafeFormatter("%(asctime)s %(levelname)s %(message)s"))
    handler.addFilter(hostenv.RedactingFilter())  # no host value or decrypted text
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.INFO,
                        handlers=[handler])
    logging.getLogger("asyncssh").setLevel(logging.WARNING)
    if args.print_host_key:
        return print_host_key(args)
    settings = settings_from(args)
    logging.getLogger("pgo.daemon").info(
        "pgod %s: %d service(s) from %s, pulling every %s", __version__,
        len(settings.config.services), settings.config.path, format_duration(settings.interval))
    try:
        return asyncio.run(Daemon(settings).serve())
    except (PgoError, OSError) as err:  # cannot start: no traceback, one line, exit 1
        logging.getLogger("pgo.daemon").error("cannot run: %s", err)
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
