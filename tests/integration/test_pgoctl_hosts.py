"""pgoctl across hosts against a real pgod: several targets at once, the worst exit status,
--json merged, and connections held for the next call (and never ridden by another key)."""

from __future__ import annotations

import json
import os
import shutil
import socket as pysocket
import subprocess
import time
from pathlib import Path

from . import test_ssh
from .sshclients import PGOCTL, fingerprint
from .test_ssh import Fleet

fleet = test_ssh.fleet  # the fixture: a pgod of its own for this module, alpha and beta


def run_pgoctl(fleet: Fleet, home: Path, key: str, *words: str,
               env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {"PATH": os.environ["PATH"], "HOME": str(home), "USER": "root", **(env or {})}
    return subprocess.run([PGOCTL, "-i", str(fleet.keys[key]), "-p", str(fleet.ssh_port),
                           *words], capture_output=True, text=True, timeout=120, env=full_env,
                          check=False, stdin=subprocess.DEVNULL)


def fresh_home(fleet: Fleet, name: str) -> Path:
    home = fleet.root / name
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir()
    return home


def connections(port: int) -> dict[str, set[int]]:
    """Client-side TCP sockets to 127.0.0.1:`port` from /proc/net/tcp, by state:
    established ones and those in TIME_WAIT (a connection the client closed)."""
    found: dict[str, set[int]] = {"established": set(), "time_wait": set()}
    states = {"01": "established", "06": "time_wait"}
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote, state = fields[1], fields[2], fields[3]
        if remote == f"0100007F:{port:04X}" and state in states:
            found[states[state]].add(int(local.split(":")[1], 16))
    return found


def test_two_hosts_at_once_each_line_labelled(fleet: Fleet) -> None:
    """The same pgod as 127.0.0.1 and as localhost: two targets, two connections."""
    home = fresh_home(fleet, "two-hosts")
    result = run_pgoctl(fleet, home, "a", "127.0.0.1,localhost:alpha//ping")
    assert result.returncode == 0, result.stderr
    lines = sorted(result.stdout.splitlines())
    assert [line.split(": ")[0] for line in lines] == ["127.0.0.1", "localhost"]
    assert all(line.split(": ", 1)[1].startswith("pong! - ") for line in lines)
    both = run_pgoctl(fleet, home, "a", "127.0.0.1:alpha//ping", "localhost:alpha//status")
    assert both.returncode == 0, both.stderr
    assert "127.0.0.1: pong! - " in both.stdout  # one service: the host is the label
    assert "localhost: service:      alpha\n" in both.stdout


def test_the_worst_exit_status_wins(fleet: Fleet) -> None:
    """Key a may run alpha, not beta: 0 and 401 (77) make 77; each refusal is labelled."""
    home = fresh_home(fleet, "worst")
    result = run_pgoctl(fleet, home, "a", "127.0.0.1:alpha,beta//ping")
    assert result.returncode == 77, result.stderr
    assert "127.0.0.1:alpha: pong! - " in result.stdout
    assert "127.0.0.1:beta: pgod: 401 " in result.stderr
    missing = run_pgoctl(fleet, home, "a", "127.0.0.1:alpha//ping", "127.0.0.1:nosuch//ping",
                         "127.0.0.1:beta//ping")
    assert missing.returncode == 77, missing.stderr  # 77 (401) > 68 (404) > 0
    assert "127.0.0.1:nosuch: pgod: 404 " in missing.stderr


def test_json_of_several_targets_is_one_object(fleet: Fleet) -> None:
    home = fresh_home(fleet, "json")
    result = run_pgoctl(fleet, home, "a", "--json", "127.0.0.1,localhost:alpha//status",
                        "127.0.0.1:beta//status")
    assert result.returncode == 77, result.stderr
    merged = json.loads(result.stdout)
    assert set(merged) == {"127.0.0.1:alpha", "localhost:alpha", "127.0.0.1:beta"}
    assert merged["127.0.0.1:alpha"]["state"] == "ok"
    assert merged["localhost:alpha"]["service"] == "alpha"
    assert merged["127.0.0.1:beta"] is None
    history = run_pgoctl(fleet, home, "a", "--json", "127.0.0.1:alpha//history", "-n", "1")
    assert history.returncode == 0, history.stderr
    assert list(json.loads(history.stdout)) == ["127.0.0.1:alpha"]


def test_a_second_call_rides_the_held_connection_and_another_key_does_not(
        fleet: Fleet) -> None:
    home = fresh_home(fleet, "reuse")
    port = fleet.ssh_port
    before = connections(port)["established"]  # the earlier tests' masters
    assert run_pgoctl(fleet, home, "a", "127.0.0.1:alpha//ping").returncode == 0
    directory = home / ".cache" / "pgoctl"
    assert oct(directory.stat().st_mode & 0o777) == "0o700"
    sockets = list(directory.iterdir())
    key_a = fingerprint(fleet.keys["a"]).removeprefix("SHA256:")[:22]
    assert len(sockets) == 1
    assert sockets[0].name.startswith("k" + key_a.replace("/", "_").replace("+", "-") + "-")
    held = connections(port)["established"] - before
    assert len(held) == 1, held  # the master, in the background
    closed = connections(port)["time_wait"]
    for _ in range(3):
        again = run_pgoctl(fleet, home, "a", "127.0.0.1:alpha//status")
        assert again.returncode == 0, again.stderr
    assert connections(port)["established"] - before == held
    assert connections(port)["time_wait"] <= closed  # no connection was opened and closed
    # --no-reuse: a connection of its own (closed by the client when it is done)
    alone = run_pgoctl(fleet, home, "a", "--no-reuse", "127.0.0.1:alpha//ping")
    assert alone.returncode == 0, alone.stderr
    assert connections(port)["time_wait"] - closed, "--no-reuse opened no connection"
    assert connections(port)["established"] - before == held
    # key b: its own socket and connection, authenticated as b (pgod's audit line)
    other = run_pgoctl(fleet, home, "b", "127.0.0.1:beta//ping")
    assert other.returncode == 0, other.stderr
    assert len(list(directory.iterdir())) == 2
    assert len(connections(port)["established"] - before - held) == 1
    assert f"beta: beta//ping from 127.0.0.1 key {fingerprint(fleet.keys['b'])}" \
        in fleet.pgod.log
    # key b asking for alpha while a's connection is open: refused as b (401)
    refused = run_pgoctl(fleet, home, "b", "127.0.0.1:alpha//ping")
    assert refused.returncode == 77, refused.stderr
    # a key allowed nowhere is refused in the handshake, though a's connection is open
    stranger = run_pgoctl(fleet, home, "stranger", "127.0.0.1:alpha//ping")
    assert stranger.returncode == 255, stranger.stderr
    assert len(list(directory.iterdir())) == 2
    for socket in directory.iterdir():  # end the masters: the fleet's later tests start clean
        end_master(socket)


def test_a_reused_call_is_a_session_of_the_master_without_ssh(fleet: Fleet) -> None:
    """pgoctl's fast path: with the master up, a call speaks ssh's mux protocol itself. It
    runs with no ssh on PATH (the slow path cannot: shown first), opens no connection, and
    prints and exits exactly as ssh (--no-reuse) does, refusals included."""
    home = fresh_home(fleet, "fast")
    no_ssh = fleet.root / "no-ssh"  # PATH for the fast calls: no ssh to be found there
    no_ssh.mkdir(exist_ok=True)
    blind = {"PATH": str(no_ssh)}
    first = run_pgoctl(fleet, home, "a", "--no-reuse", "127.0.0.1:alpha//ping", env=blind)
    assert first.returncode == 1 and "ssh client is needed" in first.stderr, first.stderr
    port = fleet.ssh_port
    before = connections(port)["established"]
    assert run_pgoctl(fleet, home, "a", "127.0.0.1:alpha//ping").returncode == 0
    held = connections(port)["established"] - before
    assert len(held) == 1, held
    closed = connections(port)["time_wait"]
    sessions = fleet.pgod.log.count("alpha//ping from 127.0.0.1")
    fast = run_pgoctl(fleet, home, "a", "127.0.0.1:alpha//ping", env=blind)
    assert fast.returncode == 0 and fast.stdout.startswith("pong! - "), fast.stderr
    assert fleet.pgod.log.count("alpha//ping from 127.0.0.1") == sessions + 1  # it ran there
    for target, code in (("alpha//shell", 65), ("gamma//ps", 68), ("alpha//down -v", 65),
                         ("alpha//status", 0)):
        words = f"127.0.0.1:{target}".split()
        reused = run_pgoctl(fleet, home, "a", *words, env=blind)
        alone = run_pgoctl(fleet, home, "a", "--no-reuse", *words)
        assert (reused.returncode, reused.stderr) == (alone.returncode, alone.stderr) \
            == (code, alone.stderr), (target, reused, alone)
        if code:
            assert reused.stdout == alone.stdout
        else:
            assert reused.stdout.split()[:3] == alone.stdout.split()[:3]
    assert connections(port)["established"] - before == held
    fast_closed = connections(port)["time_wait"] - closed  # only the --no-reuse calls'
    assert len(fast_closed) == 4, fast_closed
    (socket,) = (home / ".cache" / "pgoctl").iterdir()
    end_master(socket)


def test_a_stale_socket_falls_back_to_ssh_which_takes_its_place(fleet: Fleet) -> None:
    """A socket whose master is gone (connection refused): ssh runs instead, as a new
    master; the next call rides that one without ssh again."""
    home = fresh_home(fleet, "stale")
    assert run_pgoctl(fleet, home, "a", "127.0.0.1:alpha//ping").returncode == 0
    (path,) = (home / ".cache" / "pgoctl").iterdir()
    drop_master(path)
    with pysocket.socket(pysocket.AF_UNIX) as stale:
        stale.bind(str(path))  # the file stays; nobody listens
    again = run_pgoctl(fleet, home, "a", "127.0.0.1:alpha//ping")
    assert again.returncode == 0 and again.stdout.startswith("pong! - "), again.stderr
    blind = run_pgoctl(fleet, home, "a", "127.0.0.1:alpha//ping",
                       env={"PATH": str(fleet.root)})
    assert blind.returncode == 0, blind.stderr
    end_master(path)


def client_ports(port: int) -> set[int]:
    """The local ports of every client-side TCP socket to 127.0.0.1:`port`, in any state."""
    return {int(fields[1].split(":")[1], 16)
            for fields in map(str.split, Path("/proc/net/tcp").read_text().splitlines()[1:])
            if fields[2] == f"0100007F:{port:04X}"}


def end_master(path: Path) -> None:
    """Tell the master at `path` to exit (`ssh -O exit`), if one is there."""
    subprocess.run(["ssh", "-o", f"ControlPath={path}", "-O", "exit", "x"],
                   capture_output=True, check=False, timeout=30)


def drop_master(path: Path) -> None:
    """End the master at `path` and wait until it has removed its socket (it acknowledges
    "exit" before it does)."""
    end_master(path)
    deadline = time.monotonic() + 30
    while path.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not path.exists(), "the master did not remove its socket"


def test_a_first_call_is_one_connection_the_masters_and_answers_as_ssh_does(
        fleet: Fleet) -> None:
    """A first call dials pgod itself and hands the connection to ssh, which logs in over it
    as the master: one TCP connection, held for the next call; what it prints and its exit
    status are those of a call with --no-reuse (ssh's own connection, a session of ssh's)."""
    home = fresh_home(fleet, "first")
    assert run_pgoctl(fleet, home, "a", "127.0.0.1:alpha//ping").returncode == 0
    (path,) = (home / ".cache" / "pgoctl").iterdir()
    for words, code in ((["127.0.0.1:alpha//frobnicate"], 65), (["127.0.0.1:nosuch//ping"], 68),
                        (["127.0.0.1:alpha//logs", "--tail", "x"], 65),
                        (["127.0.0.1:alpha//ping"], 0)):
        drop_master(path)
        before, closing = connections(fleet.ssh_port), client_ports(fleet.ssh_port)
        first = run_pgoctl(fleet, home, "a", *words)
        after = connections(fleet.ssh_port)
        plain = run_pgoctl(fleet, home, "a", "--no-reuse", *words)
        assert (first.returncode, first.stderr) == (code, plain.stderr), words
        assert first.stdout.split(" - ")[0] == plain.stdout.split(" - ")[0]  # ping: its host
        assert path.is_socket()  # the master stays, for the next call
        new = after["established"] - before["established"]  # (the dropped master's may
        # still be closing, and reach TIME_WAIT meanwhile: not this call's)
        assert len(new) == 1 and not after["time_wait"] - closing, (before, after)
    drop_master(path)
