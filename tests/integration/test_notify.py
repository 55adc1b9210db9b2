"""Notifications from a real pgod to a real HTTP receiver on loopback (Apprise's json://):
a deploy, a refused commit, a build that keeps failing (sent once), a crash and its
fallback, the fix; an unreachable endpoint only logged; no secret in any message."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from .helpers import free_port, hello_files, wait_for_http
from .pgod_process import FAST_GATE, Pgod

SECRET = "topsecret-value-42"  # noqa: S105 (an env value: never in a message)
PASSWORD = "s3cret-pw"  # noqa: S105 (a URL's password: never in a message nor in the log)


class Receiver:
    """A tiny HTTP server that keeps every JSON body POSTed to it."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.paths: list[str] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                receiver.paths.append(self.path)
                receiver.bodies.append(json.loads(self.rfile.read(length)))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def outcomes(self) -> list[tuple[str, str]]:
        """(commit, outcome) of each message, in order."""
        return [(_field(b, "commit"), _field(b, "outcome")) for b in list(self.bodies)]

    def wait(self, commit: str, outcome: str, pgod: Pgod, timeout: float = 180.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for body in list(self.bodies):
                if (_field(body, "commit"), _field(body, "outcome")) == (commit[:12], outcome):
                    return body
            time.sleep(0.2)
        raise AssertionError(f"no {outcome} message for {commit[:12]}; got {self.outcomes()}"
                             f"\n{pgod.log[-5000:]}")

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _field(body: dict[str, Any], name: str) -> str:
    for line in str(body.get("message", "")).splitlines():
        key, _, value = line.partition(": ")
        if key == name:
            return value
    return ""


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    yield found
    found.close()


def _files(port: int, text: str, published: str | None = None,
           extra: str = "") -> dict[str, str | bytes]:
    files = hello_files(port, text)
    compose = str(files["compose.yaml"])
    if published is not None:
        compose = compose.replace(f'"{port}:8080"', published)
    files["compose.yaml"] = (compose + "    environment:\n      SECRET_TOKEN: ${SECRET_TOKEN}\n"
                             + extra)
    files[".env"] = f"SECRET_TOKEN={SECRET}\n"
    return files


def test_deploys_refusals_failures_and_fallbacks_are_notified_once_without_secrets(
        workdir: Path, make_user: Any, make_repo: Any, receiver: Receiver) -> None:
    user, port, dead = make_user(), free_port(), free_port()
    repo = make_repo(_files(port, "one"))
    first = repo.commit({}, "nothing new")  # (the first commit's hash, as pgod sees it)
    hook = f"json://127.0.0.1:{receiver.port}/hook"
    config = workdir / "pgod.toml"
    config.write_text(f'notify = ["json://bob:{PASSWORD}@127.0.0.1:{dead}/nobody"]\n'
                      f'[[services]]\nname = "svc"\nuser = "{user}"\n'
                      f'repository = "{repo.url}"\nports = ["{port}"]\nhealth_timeout = "20s"\n'
                      f'notify = ["{hook}"]\n{FAST_GATE}')
    pgod = Pgod(config, workdir / "lib").start()
    try:
        deployed = receiver.wait(first, "deployed", pgod)
        wait_for_http(port, "one")
        assert deployed["type"] == "success" and deployed["title"].startswith("svc on ")

        refused = repo.commit(_files(port, "two", published='"80:8080"'), "port 80")
        body = receiver.wait(refused, "refused", pgod)
        assert body["type"] == "failure" and "80" in _field(body, "reason")

        no_build = repo.commit({**_files(port, "three"),
                                "Containerfile": "FROM scratch\nCOPY missing /x\n"}, "no build")
        body = receiver.wait(no_build, "broken", pgod)
        assert f"the last good commit {first[:12]} runs" in _field(body, "now")
        pgod.wait_log(f"deploy of {no_build[:12]} failed after taking", count=2)  # passes

        crash = repo.commit(_files(port, "crash", extra='    command: ["/bin/busybox", "sh", '
                                                        '"-c", "env; exit 3"]\n'),
                            "crash at start")
        body = receiver.wait(crash, "broken", pgod)
        assert "exited with code 3" in _field(body, "reason")
        assert f"the last good commit {first[:12]} runs" in _field(body, "now")

        fixed = repo.commit(_files(port, "fixed"), "fixed")
        receiver.wait(fixed, "deployed", pgod)
        wait_for_http(port, "fixed")
    finally:
        pgod.stop()
    assert receiver.outcomes() == [
        (first[:12], "deployed"), (refused[:12], "refused"), (no_build[:12], "broken"),
        (crash[:12], "broken"), (fixed[:12], "deployed")]
    assert set(receiver.paths) == {"/hook"}
    for body in receiver.bodies:
        assert _field(body, "service") == "svc" and _field(body, "host")
        assert SECRET not in json.dumps(body) and PASSWORD not in json.dumps(body)
    log = pgod.log
    assert f"notifying json://127.0.0.1:{dead}/nobody failed" in log  # bob:****@ cut too
    assert PASSWORD not in log


def test_a_first_commit_that_keeps_failing_is_sent_once_and_its_recovery_too(
        workdir: Path, make_user: Any, make_repo: Any, receiver: Receiver) -> None:
    """Nothing good to fall back to: the commit is tried again at each backoff (1s, 2s,
    4s, ...), failing each time; one message says so, one more when a fix runs."""
    user, port = make_user(), free_port()
    repo = make_repo(_files(port, "crash", extra='    command: ["/bin/busybox", "false"]\n'))
    crash = repo.commit({}, "still crashing")
    config = workdir / "pgod.toml"
    config.write_text(f'[[services]]\nname = "svc"\nuser = "{user}"\n'
                      f'repository = "{repo.url}"\nports = ["{port}"]\nhealth_timeout = "20s"\n'
                      f'notify = ["json://127.0.0.1:{receiver.port}/hook"]\n{FAST_GATE}')
    pgod = Pgod(config, workdir / "lib").start()
    try:
        body = receiver.wait(crash, "broken", pgod)
        assert _field(body, "now") == "nothing known to be good runs: the service is failing"
        pgod.wait_log(f"deploy of {crash[:12]} failed", count=2)  # tried again
        fixed = repo.commit(_files(port, "fixed"), "fixed")
        body = receiver.wait(fixed, "recovered", pgod)
        assert body["type"] == "success"
        wait_for_http(port, "fixed")
    finally:
        pgod.stop()
    assert receiver.outcomes() == [(crash[:12], "broken"), (fixed[:12], "recovered")]
