"""A real pgod, started as a subprocess from the test venv, its log kept in a file."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

from .helpers import free_port

PGOD = os.path.join(os.path.dirname(sys.executable), "pgod")
# The health gate's settle time in the tests' configs: 1 s, not the default 10 s (what is
# tested is that the gate runs and judges, not how long a real service should settle).
FAST_GATE = 'health_settle = "1s"\n'



class Pgod:
    """pgod -c CONFIG --dir DIR ... as a child; `wait_log` polls its log with a deadline."""

    def __init__(self, config: Path, directory: Path, *extra: str, duration: str = "1s",
                 source: str | None = None, env: Mapping[str, str] | None = None) -> None:
        """`config` names the log (CONFIG.log); `source`, if given, is -c's value instead
        (a git+URL#PATH config)."""
        self.config, self.directory = config, directory
        self.env = dict(env or {})  # added to the test's own environment
        self.log_path = config.with_suffix(".log")
        # Never the default :2222, which anything else on the machine may hold.
        ssh = [] if "-s" in extra else ["-s", f"127.0.0.1:{free_port()}"]
        # nor the default metrics port 9112: no listener unless the test asks for one
        http = [] if "-m" in extra else ["-m", ""]
        self.argv = [PGOD, "-c", source or str(config), "--dir", str(directory), "-t",
                     duration, "-d", *ssh, *http, *extra]
        self.proc: subprocess.Popen[bytes] | None = None
        self._log_offset = 0

    def start(self) -> Pgod:
        self._log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(self.argv, stdout=log, stderr=subprocess.STDOUT,
                                         env={**os.environ, "PYTHONUNBUFFERED": "1", **self.env})
        return self

    @property
    def log(self) -> str:
        """This run's log so far."""
        with open(self.log_path, encoding="utf-8", errors="replace") as handle:
            handle.seek(self._log_offset)
            return handle.read()

    def wait_log(self, needle: str, timeout: float = 120.0, count: int = 1) -> str:
        """Wait until `needle` appears `count` times in this run's log; fail with the log."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.log
            if text.count(needle) >= count:
                return text
            if self.proc is not None and self.proc.poll() is not None:
                break
            time.sleep(0.2)
        raise AssertionError(f"{needle!r} (x{count}) not in pgod log:\n{self.log[-6000:]}")

    def signal(self, signum: signal.Signals) -> None:
        assert self.proc is not None
        self.proc.send_signal(signum)

    def wait(self, timeout: float = 60.0) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def one_service(root: Path, name: str, user: str, url: str, port: int, ssh_port: int,
                duration: str = "1h") -> Pgod:
    """pgod serving SSH on loopback `ssh_port` for one service allowed host port `port`,
    started (config and state under `root`)."""
    config = root / f"{name}.toml"
    config.write_text(f'[[services]]\nname = "{name}"\nuser = "{user}"\n'
                      f'repository = "{url}"\nports = ["{port}"]\n{FAST_GATE}')
    return Pgod(config, root / "lib", "-s", f"127.0.0.1:{ssh_port}", duration=duration).start()


def run_pgod(*argv: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    """Run pgod to completion (for the error exits)."""
    return subprocess.run([PGOD, *argv], capture_output=True, text=True, timeout=timeout,
                          check=False)
