"""pgod's SSH interface against real clients (OpenSSH ssh and pgoctl), real services."""

from __future__ import annotations

import contextlib
import json
import os
import queue
import secrets
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from .helpers import (
    Repo,
    container_ids,
    free_port,
    hello_files,
    http_get,
    make_repo_in,
    remove_user,
    run,
    wait_for_http,
)
from .pgod_process import FAST_GATE, Pgod, one_service
from .sshclients import PGOCTL, SSH_OPTIONS, fingerprint, keygen, pgoctl, pgoctl_argv, ssh


@dataclass
class Fleet:
    """Two services, alpha and beta, each with its own user, repository and operator key."""

    root: Path
    pgod: Pgod
    ssh_port: int
    users: dict[str, str]
    repos: dict[str, Repo]
    http: dict[str, int]
    keys: dict[str, Path]   # private keys: "a" for alpha, "b" for beta, "stranger"
    home: Path               # pgoctl's HOME (its known_hosts lives there)

    def files(self, service: str, text: str, *keys: str) -> dict[str, str | bytes]:
        files = hello_files(self.http[service], text)
        for key in keys:
            files[f"ssh/{key}.pub"] = (self.keys[key].with_suffix(".pub")).read_text()
        return files


@pytest.fixture(scope="module")
def fleet() -> Iterator[Fleet]:
    root = Path(tempfile.mkdtemp(prefix="pgo-ssh-", dir="/tmp"))
    root.chmod(0o755)
    users = {s: f"pgoit{secrets.token_hex(3)}" for s in ("alpha", "beta")}
    for user in users.values():
        run(["useradd", "-m", "-s", "/usr/sbin/nologin", user])
    keys = {k: keygen(root, k) for k in ("a", "b", "stranger", "c")}
    http = {"alpha": free_port(), "beta": free_port()}
    fleet = Fleet(root, None, free_port(), users, {}, http, keys, root / "home")  # type: ignore[arg-type]
    fleet.home.mkdir()
    fleet.repos = {"alpha": make_repo_in(root, fleet.files("alpha", "alpha v1", "a")),
                   "beta": make_repo_in(root, fleet.files("beta", "beta v1", "b"))}
    config = root / "pgod.toml"
    config.write_text("".join(
        f'[[services]]\nname = "{s}"\nuser = "{users[s]}"\nrepository = "{fleet.repos[s].url}"\n'
        f'ports = ["{http[s]}"]\n{FAST_GATE}\n' for s in ("alpha", "beta")))
    fleet.pgod = Pgod(config, root / "lib", "-s", f"127.0.0.1:{fleet.ssh_port}").start()
    try:
        try:
            wait_for_http(http["alpha"], "alpha v1")
            wait_for_http(http["beta"], "beta v1")
        except AssertionError as err:
            raise AssertionError(f"{err}\npgod log:\n{fleet.pgod.log[-6000:]}") from None
        fleet.pgod.wait_log("operator key(s)", count=2)
        yield fleet
    finally:
        fleet.pgod.stop()
        for user in users.values():
            remove_user(user)
        shutil.rmtree(root, ignore_errors=True)


def ctl(fleet: Fleet, key: str | None, target: str, *args: str,
        **kw: object) -> subprocess.CompletedProcess[str]:
    path = str(fleet.keys[key]) if key else None
    return pgoctl(fleet.home, fleet.ssh_port, path, target, *args, **kw)  # type: ignore[arg-type]


def same(rows: list[dict[str, object]]) -> list[dict[str, object]]:
    """ps --json rows but their status ("Up 9 seconds ago"), which moves on."""
    return [{k: v for k, v in row.items() if k != "status"} for row in rows]


def test_ping_ps_logs_status_with_pgoctl_and_openssh(fleet: Fleet) -> None:
    for result in (ctl(fleet, "a", "alpha//ping"),
                   ssh(fleet.ssh_port, [fleet.keys["a"]], "alpha//ping")):
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith("pong! - ")
    # the audit trail: who ran what, with which key from which file
    assert f"alpha: alpha//ping from 127.0.0.1 key {fingerprint(fleet.keys['a'])} " \
           "(alpha:ssh/a.pub)" in fleet.pgod.log
    ps = ssh(fleet.ssh_port, [fleet.keys["a"]], "alpha//ps")
    assert ps.returncode == 0, ps.stderr
    assert "alpha_web_1" in ps.stdout and "Up" in ps.stdout
    (row,) = json.loads(ssh(fleet.ssh_port, [fleet.keys["a"]], "alpha//ps --json").stdout)
    assert (row["name"], row["service"], row["state"]) == ("alpha_web_1", "web", "running")
    assert f"0.0.0.0:{fleet.http['alpha']}->8080/tcp" in row["ports"], row
    assert row["id"] in container_ids(fleet.users["alpha"], "alpha") and row["started"]
    # pgoctl's own --json (merged by host:service) and the command's --json agree
    assert same(json.loads(ctl(fleet, "a", "alpha//ps", "--json").stdout)) == same([row])
    home = {"HOME": str(fleet.home), "USER": "root", "PATH": os.environ["PATH"]}
    merged = subprocess.run([PGOCTL, "--json", *pgoctl_argv(fleet.ssh_port, str(fleet.keys["a"]),
                                                            "alpha//ps")[1:]],
                            capture_output=True, text=True, env=home, timeout=60, check=True)
    assert list(json.loads(merged.stdout)) == ["127.0.0.1:alpha"]
    assert same(json.loads(merged.stdout)["127.0.0.1:alpha"]) == same([row])
    probe = f"probe-{secrets.token_hex(4)}"
    with pytest.raises(urllib.error.HTTPError):
        http_get(fleet.http["alpha"], 10, "/" + probe)  # busybox httpd -vv logs the URL
    logs = ctl(fleet, "a", "alpha//logs", "--tail", "50")
    assert logs.returncode == 0, logs.stderr
    assert probe in logs.stdout + logs.stderr
    # podman-compose colours its [service] prefix always; the client has no terminal
    plain = ssh(fleet.ssh_port, [fleet.keys["a"]], "alpha//logs --tail 50")
    for output in (logs.stdout + logs.stderr, plain.stdout + plain.stderr):
        assert "[web]" in output and probe in output and "\x1b" not in output
    status = ctl(fleet, "a", "alpha//status")
    assert status.returncode == 0
    assert "state:        ok" in status.stdout
    upstream = run(["git", "-C", str(fleet.repos["alpha"].bare), "rev-parse", "main"]).strip()
    assert f"upstream:     {upstream}" in status.stdout


def test_logs_follow_streams_until_the_client_goes_away(fleet: Fleet) -> None:
    marker = f"marker-{secrets.token_hex(4)}"
    env = {"PATH": "/usr/bin:/bin", "HOME": str(fleet.home), "USER": "root"}
    follower = subprocess.Popen(pgoctl_argv(fleet.ssh_port, str(fleet.keys["a"]),
                                            "alpha//logs", "-f", "--tail", "0"),
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                env=env)
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in follower.stdout or ()],
                     daemon=True).start()
    try:
        fleet.pgod.wait_log("alpha//logs -f --tail 0 from")
        seen = ""
        deadline = time.monotonic() + 60
        while marker not in seen and time.monotonic() < deadline:
            # the line must be written after podman's logs -f started, which pgod's log line
            # does not say (podman-compose takes seconds on a busy machine): asked again
            with pytest.raises(urllib.error.HTTPError):  # a 404 for /marker-..., logged
                http_get(fleet.http["alpha"], 10, "/" + marker)
            with contextlib.suppress(queue.Empty):
                seen += lines.get(timeout=2)
        assert marker in seen, f"logs -f never streamed {marker}: {seen!r}"
        assert follower.poll() is None, "logs -f keeps streaming"
    finally:
        follower.terminate()
        follower.wait(10)
        if follower.stdout is not None:
            follower.stdout.close()
    _wait_gone(fleet.users["alpha"], "logs -f")
    fleet.pgod.wait_log("alpha: client went away, stopping logs")
    assert "exception was never retrieved" not in fleet.pgod.log
    assert "Traceback" not in fleet.pgod.log


def test_running_commands_per_service_are_capped(fleet: Fleet) -> None:
    """8 `logs -f` on alpha: a 9th command (a sync too) on alpha is refused with 429; ping,
    status and beta are not held up; once the followers leave, alpha's ps runs again."""
    port, started = fleet.ssh_port, "alpha//logs -f --tail 0 from"
    before = fleet.pgod.log.count(started)
    followers = [subprocess.Popen(["ssh", *SSH_OPTIONS, "-i", str(fleet.keys["a"]), "-p",
                                   str(port), "127.0.0.1", "alpha//logs -f --tail 0"],
                                  stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL) for _ in range(8)]
    try:
        fleet.pgod.wait_log(started, count=before + 8)
        busy = ssh(port, [fleet.keys["a"]], "alpha//ps")
        assert busy.returncode == 429 & 0xFF, busy.stderr
        assert "pgod: 429 Too Many Requests: 8 commands are already running" in busy.stderr
        assert ctl(fleet, "a", "alpha//ps").returncode == 75
        assert ctl(fleet, "a", "alpha//sync").returncode == 75  # a sync counts too
        for key, command in (("a", "alpha//ping"), ("a", "alpha//status"), ("b", "beta//ps")):
            result = ssh(port, [fleet.keys[key]], command)
            assert result.returncode == 0, (command, result.stderr)
    finally:
        for follower in followers:
            follower.terminate()
            follower.wait(10)
    deadline = time.monotonic() + 30
    while (result := ssh(port, [fleet.keys["a"]], "alpha//ps")).returncode != 0:
        assert time.monotonic() < deadline, result.stderr
        time.sleep(0.3)
    _wait_gone(fleet.users["alpha"], "logs -f")


def _wait_gone(user: str, needle: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        procs = subprocess.run(["pgrep", "-a", "-u", user, "-f", "podman"],
                               capture_output=True, text=True, check=False).stdout
        if needle not in procs:
            return
        time.sleep(0.3)
    raise AssertionError(f"{needle!r} still running as {user} after the client left")


@pytest.mark.parametrize(("key", "command", "status", "reason", "pgoctl_code"), [
    ("b", "alpha//ps", 401, "not allowed for service 'alpha'", 77),
    ("a", "gamma//ps", 404, "no service 'gamma'", 68),
    ("a", "alpha//shell", 406, "unknown command 'shell'", 65),
    ("a", "alpha//logs --names", 406, "'--names' is not accepted", 65),
    ("a", "alpha//down -v", 406, "'-v' is not accepted", 65),
    ("a", "alpha//ps;id", 400, "is not a command name", 64),
    ("a", "alpha ps", 400, "expected SERVICE//COMMAND", None),  # pgoctl cannot send it
    ("a", "alpha//logs 'unbalanced", 400, "cannot parse", None),  # pgoctl quotes it
    ("a", "alpha//logs " + "x" * 2000, 400, "longer than 1024", 64),
])
def test_refusals(fleet: Fleet, key: str, command: str, status: int, reason: str,
                  pgoctl_code: int | None) -> None:
    result = ssh(fleet.ssh_port, [fleet.keys[key]], command)
    assert result.returncode == status & 0xFF
    assert f"pgod: {status} " in result.stderr and reason in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    service = {"a": "alpha", "b": "beta"}[key]
    audit = f"refused {command[:200]!r} from 127.0.0.1 key {fingerprint(fleet.keys[key])} " \
            f"({service}:ssh/{key}.pub): pgod: {status} "
    assert audit in fleet.pgod.log
    if pgoctl_code is not None:  # pgoctl sends the same request, maps the status to its code
        target, *args = command.split(" ")
        ctl_result = ctl(fleet, key, target, *args)
        assert ctl_result.returncode == pgoctl_code, ctl_result.stderr
        assert f"pgod: {status} " in ctl_result.stderr and reason in ctl_result.stderr


def test_unknown_key_is_refused_in_the_handshake(fleet: Fleet) -> None:
    result = ssh(fleet.ssh_port, [fleet.keys["stranger"]], "alpha//ping")
    assert result.returncode == 255
    assert "Permission denied (publickey)" in result.stderr
    assert ctl(fleet, "stranger", "alpha//ping").returncode == 255
    assert "not allowed for any service" in fleet.pgod.log


def test_a_connection_offering_many_keys_is_dropped_after_six(fleet: Fleet) -> None:
    """Like OpenSSH's MaxAuthTries: the 7th key is never looked at, and the log has one
    line per refused key, with at most 64 characters of the client's user name."""
    strangers = [keygen(fleet.root, f"many{i}") for i in range(10)]
    user = f"m{secrets.token_hex(4)}" + "x" * 300
    result = ssh(fleet.ssh_port, [*strangers, fleet.keys["a"]], "alpha//ping",
                 "-l", user, "-o", "LogLevel=INFO")
    assert result.returncode == 255
    assert "Too many authentication failures" in result.stderr
    assert "pong" not in result.stdout
    log = fleet.pgod.wait_log("keys refused")
    lines = [line for line in log.splitlines() if repr(user[:64]) in line]
    assert len(lines) == 6, lines
    assert all(f"... ({len(user)} characters)" in line for line in lines)
    assert user[:65] not in log
    assert "disconnecting 127.0.0.1:" in log and ": 6 keys refused" in log


def test_no_shell_no_subsystem_no_forwarding(fleet: Fleet) -> None:
    key = str(fleet.keys["a"])
    sftp = subprocess.run(["sftp", "-b", "-", "-P", str(fleet.ssh_port), "-i", key,
                           "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                           "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes", "127.0.0.1"],
                          input="ls /\n", capture_output=True, text=True, timeout=60, check=False)
    assert sftp.returncode != 0
    assert "bin" not in sftp.stdout
    remote = ssh(fleet.ssh_port, [fleet.keys["a"]], "alpha//ping",
                 "-o", "ExitOnForwardFailure=yes", "-R", f"127.0.0.1:{free_port()}:127.0.0.1:22")
    assert remote.returncode == 255
    assert "remote port forwarding failed" in remote.stderr
    assert "pong" not in remote.stdout
    direct = ssh(fleet.ssh_port, [fleet.keys["a"]], "alpha//ping",
                 "-W", f"127.0.0.1:{fleet.ssh_port}")  # stdio forwarding: direct-tcpip
    assert direct.returncode == 255
    assert "SSH-2.0" not in direct.stdout
    for tty in ("-T", "-tt"):  # a shell without and with a terminal
        options = [o for o in SSH_OPTIONS if o != "-T"]
        shell = subprocess.run(["ssh", *options, tty, "-i", key, "-p", str(fleet.ssh_port),
                                "127.0.0.1"], input="id\n", capture_output=True, text=True,
                               timeout=60, check=False)
        assert "uid=" not in shell.stdout
        assert shell.returncode == (400 & 0xFF if tty == "-T" else 255)
        assert ("no shell here" if tty == "-T" else "PTY allocation request failed") \
            in shell.stderr


def idle_connections(port: int, source: str, count: int) -> list[socket.socket]:
    """`count` connections from `source` that never authenticate, each greeted by pgod."""
    idle = [socket.create_connection(("127.0.0.1", port), source_address=(source, 0))
            for _ in range(count)]
    for sock in idle:  # greeted: pgod counts it as unauthenticated
        assert sock.recv(64).startswith(b"SSH-2.0-")
    return idle


def test_unauthenticated_connections_are_capped(fleet: Fleet) -> None:
    """8 idle connections from one address lock out that address only; 32 in all lock
    out everyone; once they close, everyone gets in again."""
    port, key = fleet.ssh_port, [fleet.keys["a"]]
    idle = idle_connections(port, "127.0.0.2", 8)
    try:
        assert ssh(port, key, "alpha//ping", "-b", "127.0.0.2").returncode == 255
        assert "(8 from 127.0.0.2)" in fleet.pgod.log
        other = ssh(port, key, "alpha//ping", "-b", "127.0.0.3")
        assert other.returncode == 0, other.stderr
        for source in ("127.0.0.3", "127.0.0.4", "127.0.0.5"):
            idle += idle_connections(port, source, 8)
        refused = ssh(port, key, "alpha//ping", "-b", "127.0.0.6")
        assert refused.returncode == 255
        assert "32 unauthenticated connections open (0 from 127.0.0.6)" in fleet.pgod.log
    finally:
        for sock in idle:
            sock.close()
    deadline = time.monotonic() + 30
    while (result := ssh(port, key, "alpha//ping", "-b", "127.0.0.2")).returncode != 0:
        assert time.monotonic() < deadline, result.stderr
        time.sleep(0.2)
    assert result.stdout.startswith("pong!")


def test_offering_one_key_and_signing_with_another_grants_only_the_signer(fleet: Fleet) -> None:
    """OpenSSH with `-i a.pub -i b` offers alpha's key (no private key to sign with), then
    signs with beta's: the session must have beta's rights, not alpha's."""
    offered_only = fleet.root / "offered"
    offered_only.mkdir(exist_ok=True)
    public_a = offered_only / "a.pub"
    shutil.copy(fleet.keys["a"].with_suffix(".pub"), public_a)
    attack = ssh(fleet.ssh_port, [public_a, fleet.keys["b"]], "alpha//ps",
                 "-o", "LogLevel=DEBUG1")
    offered = attack.stderr.index(f"Server accepts key: {public_a}")
    assert attack.stderr.index(f"Authenticated to 127.0.0.1 ([127.0.0.1]:{fleet.ssh_port}) "
                               "using \"publickey\"") > offered
    assert f"Server accepts key: {fleet.keys['b']}" in attack.stderr  # b signed
    assert attack.returncode == 401 & 0xFF, attack.stderr
    assert "not allowed for service 'alpha'" in attack.stderr
    honest = ssh(fleet.ssh_port, [public_a, fleet.keys["b"]], "beta//ping")
    assert honest.returncode == 0, honest.stderr


def test_key_from_environment(fleet: Fleet) -> None:
    text = fleet.keys["a"].read_text()
    no_key = ctl(fleet, None, "alpha//ping", env={"MY_KEY": text})
    assert no_key.returncode == 1  # no -i and no PGOCTL_ID: a clear error, no connection
    assert "PGOCTL_ID" in no_key.stderr
    home, port = fleet.home, fleet.ssh_port
    with_dollar = pgoctl(home, port, "$MY_KEY", "alpha//ping", env={"MY_KEY": text})
    assert with_dollar.returncode == 0, with_dollar.stderr
    from_id = pgoctl(home, port, None, "alpha//ping", env={"PGOCTL_ID": text})
    assert from_id.returncode == 0, from_id.stderr
    assert from_id.stdout.startswith("pong!")


def test_down_and_up_change_what_runs(fleet: Fleet) -> None:
    user, port = fleet.users["beta"], fleet.http["beta"]
    down = ctl(fleet, "b", "beta//down")
    assert down.returncode == 0, down.stderr
    assert container_ids(user, "beta") == []
    with pytest.raises(urllib.error.URLError):
        http_get(port, timeout=5)
    up = ctl(fleet, "b", "beta//up")
    assert up.returncode == 0, up.stderr
    assert container_ids(user, "beta")
    wait_for_http(port, "beta v1")


def test_keys_follow_the_repository(fleet: Fleet) -> None:
    assert ctl(fleet, "c", "alpha//ping").returncode == 255
    added = fleet.repos["alpha"].commit(fleet.files("alpha", "alpha v1", "a", "c"), "add c")
    fleet.pgod.wait_log(f"operator key(s) at {added[:12]}")
    assert ctl(fleet, "c", "alpha//ping").returncode == 0
    # An OpenSSH master connection stays open across the removal: new sessions on it
    # must be refused too, not only new connections.
    mux = ["-S", str(fleet.root / "mux-c")]
    master = ssh(fleet.ssh_port, [fleet.keys["c"]], "", *mux, "-M", "-f", "-N")
    assert master.returncode == 0, master.stderr
    try:
        assert ssh(fleet.ssh_port, [], "alpha//ping", *mux).returncode == 0
        removed = fleet.repos["alpha"].commit({}, "remove c", delete=("ssh/c.pub",))
        fleet.pgod.wait_log(f"operator key(s) at {removed[:12]}")
        held = ctl(fleet, "c", "alpha//ping")  # over the connection pgoctl holds for c
        assert held.returncode == 77, held.stderr
        assert "removed from service 'alpha' after this connection was made" in held.stderr
        fresh = subprocess.run([PGOCTL, "--no-reuse", *pgoctl_argv(
            fleet.ssh_port, str(fleet.keys["c"]), "alpha//ping")[1:]], capture_output=True,
            env={"PATH": "/usr/bin:/bin", "HOME": str(fleet.home), "USER": "root"},
            check=False, stdin=subprocess.DEVNULL)
        assert fresh.returncode == 255, fresh.stderr  # a new connection: refused at once
        on_open = ssh(fleet.ssh_port, [], "alpha//ping", *mux)
        assert on_open.returncode == 401 & 0xFF, on_open.stderr
        assert "removed from service 'alpha' after this connection was made" in on_open.stderr
    finally:
        ssh(fleet.ssh_port, [], "", *mux, "-O", "exit")
    assert ctl(fleet, "a", "alpha//ping").returncode == 0


def test_a_busy_service_does_not_hold_up_the_others(fleet: Fleet) -> None:
    """While beta rebuilds slowly (under its lock), alpha's ping and ps, and beta's own
    ping, answer; beta's deploy finishes after them."""
    slow = fleet.files("beta", "beta slow", "b")
    slow["Containerfile"] = str(slow["Containerfile"]).replace(
        "COPY www /www", 'RUN ["/bin/busybox", "sleep", "20"]\nCOPY www /www')
    commit = fleet.repos["beta"].commit(slow, "slow build")
    fleet.pgod.wait_log("beta: building", count=1)
    deployed = f"beta: up at {commit[:12]}"
    for key, command in (("a", "alpha//ping"), ("a", "alpha//ps"), ("b", "beta//ping"),
                         ("b", "beta//ps")):
        result = ssh(fleet.ssh_port, [fleet.keys[key]], command)
        assert result.returncode == 0, result.stderr
        assert deployed not in fleet.pgod.log, f"{command} waited for beta's build"
    fleet.pgod.wait_log(deployed)
    wait_for_http(fleet.http["beta"], "beta slow")


def test_an_ssh_up_during_a_redeploy_waits_for_it(fleet: Fleet) -> None:
    """The service lock is shared: an `up` sent while beta builds a new commit starts only
    once that deploy is done (pgod's log says so, in that order), then succeeds."""
    slow = fleet.files("beta", "beta slower", "b")
    slow["Containerfile"] = str(slow["Containerfile"]).replace(
        "COPY www /www", 'RUN ["/bin/busybox", "sleep", "10"]\nCOPY www /www')
    building = fleet.pgod.log.count("beta: building")
    commit = fleet.repos["beta"].commit(slow, "slower build")
    fleet.pgod.wait_log("beta: building", count=building + 1)
    up = ctl(fleet, "b", "beta//up", timeout=300)
    assert up.returncode == 0, up.stderr
    log = fleet.pgod.log
    waited = log.rindex("beta: up waits for the service lock")
    deployed = log.index(f"beta: up at {commit[:12]}")
    started = log.index("beta: up starts (service lock taken)", waited)
    finished = log.index("beta: up exited 0", started)
    assert waited < deployed < started < finished, log[waited:]
    wait_for_http(fleet.http["beta"], "beta slower")


def test_a_mutating_command_whose_client_leaves_runs_to_its_end(fleet: Fleet) -> None:
    """httpd as PID 1 ignores SIGTERM, so beta's restart takes its 5 s grace period; the
    client is killed meanwhile, and the restart still finishes (not killed halfway)."""
    slow_stop = fleet.files("beta", "beta slow stop", "b")
    slow_stop["compose.yaml"] = str(slow_stop["compose.yaml"]).replace(
        "init: true", "init: false").replace("stop_grace_period: 1s", "stop_grace_period: 5s")
    commit = fleet.repos["beta"].commit(slow_stop, "slow to stop")
    fleet.pgod.wait_log(f"beta: up at {commit[:12]}")
    starts, finished = "beta: restart starts (service lock taken)", "beta: restart exited 0"
    before = fleet.pgod.log.count(starts), fleet.pgod.log.count(finished)
    client = subprocess.Popen(["ssh", *SSH_OPTIONS, "-i", str(fleet.keys["b"]), "-p",
                               str(fleet.ssh_port), "127.0.0.1", "beta//restart"],
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        fleet.pgod.wait_log(starts, count=before[0] + 1)
    finally:
        client.kill()
        client.wait(10)
    log = fleet.pgod.wait_log(finished, count=before[1] + 1)
    gone = log.rindex("beta: client went away; letting restart finish")
    assert log.rindex(starts) < gone < log.rindex(finished)
    wait_for_http(fleet.http["beta"], "beta slow stop")


def test_host_key_is_pinned_across_restarts_and_a_change_is_refused(fleet: Fleet) -> None:
    home = fleet.root / "pinning"
    home.mkdir()
    first = pgoctl(home, fleet.ssh_port, str(fleet.keys["a"]), "alpha//ping")
    assert first.returncode == 0, first.stderr
    known = (home / ".config" / "pgo" / "known_hosts").read_text()
    assert f"[127.0.0.1]:{fleet.ssh_port} ssh-ed25519 " in known
    host_key = fleet.root / "lib" / ".pgod" / "ssh_host_ed25519_key"
    assert host_key.stat().st_mode & 0o777 == 0o600
    fleet.pgod.stop()
    fleet.pgod.start()
    fleet.pgod.wait_log("SSH listening")
    fleet.pgod.wait_log("operator key(s)", count=2)
    again = pgoctl(home, fleet.ssh_port, str(fleet.keys["a"]), "alpha//ping")
    assert again.returncode == 0, again.stderr
    fleet.pgod.stop()
    (fleet.root / "lib" / ".pgod" / "ssh_host_ed25519_key").unlink()
    fleet.pgod.start()
    fleet.pgod.wait_log("generated SSH host key")
    fleet.pgod.wait_log("operator key(s)", count=2)
    changed = pgoctl(home, fleet.ssh_port, str(fleet.keys["a"]), "alpha//ping")
    assert changed.returncode == 255
    assert "REMOTE HOST IDENTIFICATION HAS CHANGED" in changed.stderr
    assert "host key of [127.0.0.1]" in changed.stderr and "changed" in changed.stderr
    assert "pong" not in changed.stdout
    insecure = subprocess.run(
        [*pgoctl_argv(fleet.ssh_port, str(fleet.keys["a"]), "alpha//ping")[:1], "--insecure",
         *pgoctl_argv(fleet.ssh_port, str(fleet.keys["a"]), "alpha//ping")[1:]],
        capture_output=True, text=True, env={"PATH": "/usr/bin:/bin", "HOME": str(home)},
        check=False, timeout=60)
    assert insecure.returncode == 0, insecure.stderr
    fleet.pgod.stop()
    host_key.write_bytes(b"")  # what a crash while writing it left, before it was atomic
    fleet.pgod.start()
    assert fleet.pgod.wait() == 1
    assert f"cannot run: cannot read the SSH host key {host_key}: the file is empty" \
        in fleet.pgod.log
    assert "Traceback" not in fleet.pgod.log
    host_key.unlink()
    fleet.pgod.start()
    fleet.pgod.wait_log("generated SSH host key")
    fleet.pgod.wait_log("operator key(s)", count=2)


def test_sync_deploys_now_and_says_whether_the_head_runs(workdir, make_user,
                                                          make_repo) -> None:
    """With an hour between pulls, `sync` is what brings a pushed commit live; a refused
    commit makes it exit 1 with the reason, the old version still serving."""
    root = workdir
    user, port, ssh_port = make_user(), free_port(), free_port()
    key = keygen(root, "op")
    files = {**hello_files(port, "sync one"), "ssh/op.pub": key.with_suffix(".pub").read_text()}
    repo = make_repo(files)
    pgod = one_service(root, "svc", user, repo.url, port, ssh_port)
    try:
        wait_for_http(port, "sync one")
        pgod.wait_log("operator key(s)")
        two = repo.commit(hello_files(port, "sync two"), "two")
        result = pgoctl(root, ssh_port, str(key), "svc//sync")
        assert result.returncode == 0, result.stderr
        assert f"deployed:     {two}" in result.stdout and "state:        ok" in result.stdout
        assert "sync two" in http_get(port)  # live when sync returns, not a pass later

        bad = hello_files(port, "sync bad")
        bad["compose.yaml"] = str(bad["compose.yaml"]).replace(f'"{port}:8080"',
                                                               f'"{port + 1}:8080"')
        refused = repo.commit(bad, "a port outside the ranges")
        result = pgoctl(root, ssh_port, str(key), "svc//sync")
        assert result.returncode == 1
        assert f"deployed:     {two}" in result.stdout and "state:        refused" in result.stdout
        assert f"commit {refused[:12]} refused" in result.stdout
        assert "sync two" in http_get(port)
    finally:
        pgod.stop()


def test_ssh_commands_refuse_a_tampered_working_tree(fleet: Fleet) -> None:
    """What a container could leave in a writable mount, planted here by hand: an untracked
    `Dockerfile` symlink in alpha's build context, which podman-compose would pick up. up,
    build and start refuse (500) and say why; ps reads no host path and runs; once the link
    is gone, up works again."""
    link = fleet.root / "lib" / "alpha" / "Dockerfile"
    link.symlink_to("/etc/shadow")
    try:
        for command in ("alpha//up", "alpha//build", "alpha//start"):
            result = ssh(fleet.ssh_port, [fleet.keys["a"]], command)
            assert result.returncode == 500 & 0xFF, (command, result.stderr)
            assert "pgod: 500 Internal Server Error: working tree refused: 'Dockerfile' goes " \
                   "through 'Dockerfile', a symlink that is not in the commit" in result.stderr
        assert ssh(fleet.ssh_port, [fleet.keys["a"]], "alpha//ps").returncode == 0
    finally:
        link.unlink()
    result = ssh(fleet.ssh_port, [fleet.keys["a"]], "alpha//up")
    assert result.returncode == 0, result.stderr
