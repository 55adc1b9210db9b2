"""pgod's SSH server as an outsider sees it: ssh-audit (Debian's) finds nothing to fail or
warn about, OpenSSH 9.2's ssh and pgoctl still get in, and sources that keep failing are
penalised while everyone else keeps working."""

from __future__ import annotations

import concurrent.futures
import contextlib
import re
import secrets
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from .helpers import free_port, hello_files, make_repo_in, remove_user, run, wait_for_http
from .pgod_process import FAST_GATE, Pgod, run_pgod
from .sshclients import fingerprint, keygen, pgoctl, ssh

# Names ssh-audit 2.5.0 (Debian 12) does not know yet, so it says "unknown algorithm":
# the ML-KEM hybrid key exchange and the strict-kex marker (the Terrapin countermeasure).
NEWER_THAN_SSH_AUDIT = {"mlkem768x25519-sha256", "kex-strict-s-v00@openssh.com"}


@dataclass
class Server:
    root: Path
    pgod: Pgod
    port: int
    key: Path       # alpha's operator key
    stranger: Path  # a key no service allows


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    root = Path(tempfile.mkdtemp(prefix="pgo-sshaudit-", dir="/tmp"))
    root.chmod(0o755)
    user, http, port = f"pgoit{secrets.token_hex(3)}", free_port(), free_port()
    run(["useradd", "-m", "-s", "/usr/sbin/nologin", user])
    key, stranger = keygen(root, "op"), keygen(root, "stranger")
    repo = make_repo_in(root, {**hello_files(http, "audited"),
                               "ssh/op.pub": key.with_suffix(".pub").read_text()})
    config = root / "pgod.toml"
    config.write_text(f'[[services]]\nname = "alpha"\nuser = "{user}"\n'
                      f'repository = "{repo.url}"\nports = ["{http}"]\n{FAST_GATE}')
    pgod = Pgod(config, root / "lib", "-s", f"127.0.0.1:{port}", duration="1h").start()
    try:
        wait_for_http(http, "audited")
        pgod.wait_log("operator key(s)")
        yield Server(root, pgod, port, key, stranger)
    finally:
        pgod.stop()
        remove_user(user)
        shutil.rmtree(root, ignore_errors=True)


def audit_findings(output: str) -> list[tuple[str, str, str]]:
    """(algorithm, level, note) for every [fail], [warn] and [info] ssh-audit printed about
    an algorithm (continuation lines belong to the algorithm above them)."""
    findings, algorithm = [], ""
    for line in output.splitlines():
        if match := re.match(r"\((?:kex|key|enc|mac)\) (\S+)", line):
            algorithm = match.group(1)
        elif not line.strip().startswith("`-"):
            algorithm = ""
        for level, note in re.findall(r"\[(fail|warn|info)\] ([^\n]*)", line):
            if algorithm:
                findings.append((algorithm, level, note.strip()))
    return findings


def test_ssh_audit_finds_nothing_to_fail_or_warn_about(server: Server) -> None:
    result = subprocess.run(["ssh-audit", "-n", "-p", str(server.port), "127.0.0.1"],
                            capture_output=True, text=True, timeout=120, check=False)
    out = result.stdout
    assert "(gen) banner: SSH-2.0-AsyncSSH_" in out, out + result.stderr
    findings = audit_findings(out)
    assert [f for f in findings if f[1] == "fail"] == [], out
    warnings = [f for f in findings if f[1] == "warn"]
    assert {(a, n) for a, _, n in warnings} <= {(a, "unknown algorithm")
                                               for a in NEWER_THAN_SSH_AUDIT}, out
    offered = {section: re.findall(rf"^\({section}\) (\S+)", out, re.MULTILINE)
               for section in ("kex", "key", "enc", "mac")}
    assert offered["key"] == ["ssh-ed25519"], out
    assert offered["enc"] == ["chacha20-poly1305@openssh.com", "aes256-gcm@openssh.com",
                              "aes128-gcm@openssh.com"], out
    assert all(mac.endswith("-etm@openssh.com") for mac in offered["mac"]), out
    assert not any("sha1" in name or "nistp" in name or "@ssh.com" in name
                   for names in offered.values() for name in names), out
    assert "compression: disabled" in out, out


def test_openssh_and_pgoctl_still_connect(server: Server) -> None:
    version = subprocess.run(["ssh", "-V"], capture_output=True, text=True, check=True).stderr
    assert version.startswith("OpenSSH_9.2"), version  # Debian 12's, the oldest supported
    result = ssh(server.port, [server.key], "alpha//ping", "-v")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("pong!")
    assert "kex: algorithm: curve25519-sha256\n" in result.stderr
    assert "cipher: chacha20-poly1305@openssh.com MAC: <implicit>" in result.stderr
    for cipher in ("aes256-gcm@openssh.com", "aes128-gcm@openssh.com"):
        result = ssh(server.port, [server.key], "alpha//ping", "-o", f"Ciphers={cipher}")
        assert result.returncode == 0, (cipher, result.stderr)
    for option, refused in (("KexAlgorithms=ecdh-sha2-nistp256", "key exchange method"),
                            ("Ciphers=aes128-ctr", "cipher")):
        old = ssh(server.port, [server.key], "alpha//ping", "-o", option, "-o", "LogLevel=INFO")
        assert old.returncode == 255 and f"no matching {refused} found" in old.stderr
    ctl = pgoctl(server.root, server.port, str(server.key), "alpha//ping")
    assert ctl.returncode == 0, ctl.stderr
    assert ctl.stdout.startswith("pong!")


def test_print_host_key_gives_the_line_that_pins_it(server: Server) -> None:
    """The line pgod --print-host-key prints, for -s 127.0.0.1:PORT and for -s :PORT (any
    host), is what OpenSSH and pgoctl check the host key against; another key is refused."""
    lib = str(server.root / "lib")
    printed = run_pgod("--print-host-key", "--dir", lib, "-s", f"127.0.0.1:{server.port}")
    assert printed.returncode == 0, printed.stderr
    line = printed.stdout.strip()
    assert re.fullmatch(rf"\[127\.0\.0\.1\]:{server.port} ssh-ed25519 AAAA\S+", line), line
    any_host = run_pgod("--print-host-key", "--dir", lib, "-s", f":{server.port}").stdout
    assert any_host == line.replace("[127.0.0.1]", "[*]") + "\n"
    other = run_pgod("--print-host-key", "--dir", str(server.root / "other")).stdout.split()
    for pinned, works in ((line, True), (any_host.strip(), True),
                          (f"[*]:{server.port} {other[1]} {other[2]}", False)):
        known = server.root / "known_hosts"
        known.write_text(pinned + "\n")
        result = ssh(server.port, [server.key], "alpha//ping", "-o", "StrictHostKeyChecking=yes",
                     "-o", f"UserKnownHostsFile={known}", "-o", "LogLevel=INFO")
        assert (result.returncode == 0) is works, (pinned, result.stderr)
        home = server.root / f"home-{secrets.token_hex(3)}"
        (home / ".config" / "pgo").mkdir(parents=True)
        (home / ".config" / "pgo" / "known_hosts").write_text(pinned + "\n")
        ctl = pgoctl(home, server.port, str(server.key), "alpha//ping")
        assert (ctl.returncode == 0) is works, (pinned, ctl.stderr)
        if not works:
            assert "REMOTE HOST IDENTIFICATION HAS CHANGED" in result.stderr + ctl.stderr


def test_print_host_key_starts_no_daemon(server: Server) -> None:
    directory, port = server.root / "fresh", free_port()
    printed = run_pgod("--print-host-key", "--dir", str(directory), "-s", f"127.0.0.1:{port}")
    assert printed.returncode == 0, printed.stderr
    assert "generated SSH host key" in printed.stderr
    assert (directory / ".pgod" / "ssh_host_ed25519_key").stat().st_mode & 0o777 == 0o600
    assert "SSH listening" not in printed.stderr
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=5).close()


def exchange(source: str, port: int) -> tuple[bytes, bytes]:
    """What pgod sends a raw connection from `source` that greets it with a version and
    waits: its banner line, and the type of the packet that follows (20: KEXINIT, the start
    of a key exchange; 1: DISCONNECT)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10,
                                  source_address=(source, 0)) as sock:
        received = b""
        with contextlib.suppress(ConnectionError):  # (pgod may have closed already)
            sock.sendall(b"SSH-2.0-probe\r\n")
        with contextlib.suppress(TimeoutError, ConnectionError):
            sock.settimeout(3)
            while (chunk := sock.recv(65536)) and len(received) < 4096:
                received += chunk
    banner, _, packet = received.partition(b"\r\n")
    return banner, packet[5:6]  # uint32 length, byte padding length, byte type


def fail_until_penalised(server: Server, source: str, attempt: Callable[[], None],
                         most: int) -> int:
    """Run `attempt` until pgod logs a penalty for `source`; how many it took."""
    for tries in range(1, most + 1):
        attempt()
        if f"penalising {source} " in server.pgod.wait_log("", timeout=1):
            return tries
    raise AssertionError(f"{source} not penalised after {most} tries:\n{server.pgod.log}")


def test_a_flood_of_bad_keys_is_penalised_while_others_get_in(server: Server) -> None:
    """127.0.0.3 floods pgod with a key no service allows; after 8 or so it is refused for
    30 s (logged once), even with a good key, and without a key exchange; meanwhile
    127.0.0.2's operator keeps working."""
    flood, good = "127.0.0.3", "127.0.0.2"

    def stranger() -> int:
        return ssh(server.port, [server.stranger], "alpha//ping", "-b", flood).returncode

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        attempts = [pool.submit(stranger) for _ in range(24)]
        while not all(a.done() for a in attempts):
            result = ssh(server.port, [server.key], "alpha//ping", "-b", good)
            assert result.returncode == 0 and result.stdout.startswith("pong!"), result.stderr
        assert [a.result() for a in attempts] == [255] * 24
    log = server.pgod.wait_log(f"penalising {flood} for 30s (penalty 1)")
    assert log.count(f"penalising {flood} ") == 1, log
    refused = f"refused key {fingerprint(server.stranger)} from {flood}:"
    assert 8 <= log.count(refused) < 24, log  # the rest were refused before their keys
    result = ssh(server.port, [server.key], "alpha//ping", "-b", flood, "-o", "LogLevel=INFO")
    assert result.returncode == 255 and "pong" not in result.stdout
    # OpenSSH shows the reason pgod sends, unless its own KEXINIT hit the closed socket
    # first (EPIPE: seen once in a loaded run); the exchange below reads it for sure.
    assert any(seen in result.stderr for seen in (
        "penalised for connections that did not authenticate: try again in ", "Broken pipe",
        "Connection reset by peer")), result.stderr
    banner, after = exchange(flood, server.port)
    assert banner.startswith(b"SSH-2.0-AsyncSSH_") and after == b"\x01", (banner, after)
    assert exchange(good, server.port)[1] == b"\x14"  # KEXINIT: what the flood never gets
    assert ssh(server.port, [server.key], "alpha//ping", "-b", good).returncode == 0


def test_an_operator_is_penalised_for_its_own_mistakes_at_a_quarter_of_the_rate(
        server: Server) -> None:
    """After a good login from 127.0.0.4, twice the bad keys that penalise a stranger do not
    lock it out; about four times as many (counted after its last good login) do."""
    source = "127.0.0.4"
    assert ssh(server.port, [server.key], "alpha//ping", "-b", source).returncode == 0

    def bad_key() -> None:
        assert ssh(server.port, [server.stranger], "alpha//ping", "-b", source).returncode == 255

    for _ in range(16):
        bad_key()
    result = ssh(server.port, [server.key], "alpha//ping", "-b", source)
    assert result.returncode == 0, result.stderr
    assert 32 <= fail_until_penalised(server, source, bad_key, 40) <= 34
    assert f"penalising {source} for 30s (penalty 1, though it authenticated before)" \
        in server.pgod.log


def test_connections_that_never_authenticate_are_penalised(server: Server) -> None:
    """Connections from 127.0.0.5 that take the banner and leave weigh half a point each:
    about 16 earn a penalty."""
    source = "127.0.0.5"

    def idle() -> None:
        with socket.create_connection(("127.0.0.1", server.port), timeout=10,
                                      source_address=(source, 0)) as sock:
            assert sock.recv(64).startswith(b"SSH-2.0-")

    assert 16 <= fail_until_penalised(server, source, idle, 20) <= 18
    assert "the last one with no authentication" in server.pgod.log
    assert ssh(server.port, [server.key], "alpha//ping", "-b", source).returncode == 255
