"""pgod under Type=notify, as systemd runs it: a real datagram socket as $NOTIFY_SOCKET
and $WATCHDOG_USEC, a real pgod deploying a real service (and then a broken commit)."""

from __future__ import annotations

import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .helpers import REPO_ROOT, free_port, hello_files, wait_for_http
from .pgod_process import FAST_GATE, Pgod


class Datagrams:
    """What arrives on a bound AF_UNIX SOCK_DGRAM socket, collected by a thread."""

    def __init__(self, path: Path) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(0.2)
        self.received: list[str] = []
        self._done = False
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while not self._done:
            try:
                self.received.append(self.sock.recv(4096).decode())
            except TimeoutError:
                continue

    def wait(self, what: str, ok: Callable[[str], bool], timeout: float = 120.0) -> str:
        """The first datagram (from the start) that `ok` accepts, waiting for it."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = next((d for d in list(self.received) if ok(d)), None)
            if found is not None:
                return found
            time.sleep(0.1)
        raise AssertionError(f"never {what}; received {self.received[-20:]}")

    def close(self) -> None:
        self._done = True
        self._thread.join()
        self.sock.close()


def _connects(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            return True
    except OSError:
        return False


def test_pgod_tells_systemd_ready_status_watchdog_and_stopping(
        workdir: Path, make_user: Any, make_repo: Any) -> None:
    user, port, ssh_port, http_port = make_user(), free_port(), free_port(), free_port()
    repo = make_repo(hello_files(port, "notified"))
    config = workdir / "pgod.toml"
    config.write_text(f'[[services]]\nname = "svc"\nuser = "{user}"\nrepository = "{repo.url}"\n'
                      f'ports = ["{port}"]\nhealth_timeout = "20s"\n{FAST_GATE}')
    received = Datagrams(workdir / "notify")
    pgod = Pgod(config, workdir / "lib", "-s", f"127.0.0.1:{ssh_port}",
                "-m", f"127.0.0.1:{http_port}",
                env={"NOTIFY_SOCKET": str(workdir / "notify"), "WATCHDOG_USEC": "1000000"})
    try:
        pgod.start()
        ready = received.wait("READY=1", lambda d: "READY=1" in d.split("\n"))
        # ready means both listeners are up: nothing may come before them
        assert _connects(ssh_port) and _connects(http_port)
        assert "STATUS=1 service: 1 " in ready
        assert received.received.index(ready) == 0
        received.wait("ok in STATUS", lambda d: d == "STATUS=1 service: 1 ok")
        wait_for_http(port, "notified")
        assert pgod.wait_log("systemd watchdog: pinging every 0.5s")

        compose = str(hello_files(port, "crash")["compose.yaml"])
        repo.commit({"compose.yaml": compose + '    command: ["/bin/busybox", "false"]\n'},
                    "crash at start")
        received.wait("deploying", lambda d: d == "STATUS=1 service: 1 deploying")
        received.wait("broken", lambda d: d == "STATUS=1 service: 1 broken")
        pings = received.received.count("WATCHDOG=1")
        time.sleep(2)  # the loop keeps pinging
        assert received.received.count("WATCHDOG=1") > pings >= 1

        pgod.signal(signal.SIGTERM)
        assert pgod.wait() == 0
        stopping = received.wait("STOPPING=1", lambda d: d.startswith("STOPPING=1\n"))
        assert stopping == "STOPPING=1\nSTATUS=stopping; 1 service: 1 broken"
        assert sum("READY=1" in d.split("\n") for d in received.received) == 1
    finally:
        pgod.stop()
        received.close()


def test_the_unit_file_passes_systemd_analyze_verify() -> None:
    """Every option of contrib/pgod.service is one this systemd knows, with a valid value
    (verify exits 0 on a bad value too, but says so on stderr)."""
    unit = REPO_ROOT / "contrib" / "pgod.service"
    result = subprocess.run(["systemd-analyze", "verify", "--man=no", str(unit)],
                            capture_output=True, text=True, check=False, cwd="/")
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")
    text = unit.read_text()
    assert "Type=notify" in text and "WatchdogSec=" in text
    assert "\nNoNewPrivileges=yes" not in text and "\nPrivateTmp=yes" not in text
