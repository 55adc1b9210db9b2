"""GET /metrics on a real pgod (-m on loopback), scraped by a real Prometheus (Debian's
`prometheus`), queried through Prometheus' HTTP API after a deploy and after a commit the
policy refuses."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from .helpers import free_port, wait_for_http
from .pgod_process import Pgod
from .sshclients import keygen, ssh
from .test_trust import Service, files

PROMETHEUS = "/usr/bin/prometheus"


class Prometheus:
    """prometheus scraping `target` every second, its API on a loopback port."""

    def __init__(self, root: Path, target: str) -> None:
        self.port = free_port()
        config = root / "prometheus.yml"
        config.write_text(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
            "scrape_configs:\n  - job_name: pgod\n    static_configs:\n"
            f"      - targets: ['{target}']\n")
        self.log_path = root / "prometheus.log"
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [PROMETHEUS, f"--config.file={config}", f"--storage.tsdb.path={root / 'tsdb'}",
                 f"--web.listen-address=127.0.0.1:{self.port}"],
                stdout=log, stderr=subprocess.STDOUT)

    def get(self, path: str) -> Any:
        url = f"http://127.0.0.1:{self.port}{path}"
        with urllib.request.urlopen(url, timeout=5) as reply:
            return json.loads(reply.read().decode())

    def query(self, expr: str) -> dict[str, float]:
        """`expr`'s current value by series (its labels as JSON)."""
        reply = self.get("/api/v1/query?" + urllib.parse.urlencode({"query": expr}))
        assert reply["status"] == "success", reply
        return {json.dumps(r["metric"], sort_keys=True): float(r["value"][1])
                for r in reply["data"]["result"]}

    def until(self, expr: str, ok: Callable[[float], bool], timeout: float = 60.0) -> float:
        """Poll `expr` (one series) until `ok(value)`; fail with what it was."""
        deadline, last = time.monotonic() + timeout, {}
        while time.monotonic() < deadline:
            try:
                last = self.query(expr)
            except (OSError, urllib.error.URLError) as err:  # not up yet
                last = {"error": repr(err)}  # type: ignore[dict-item]
            values = [v for v in last.values() if isinstance(v, float)]
            if len(values) == 1 and ok(values[0]):
                return values[0]
            time.sleep(0.5)
        raise AssertionError(f"{expr}: {last}\n{self.log_path.read_text()[-3000:]}")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def service(workdir: Path, make_user: Any, make_repo: Any) -> Iterator[tuple[Service, int]]:
    """A hello service under a pgod serving metrics on a loopback port, not started."""
    user, port, key = make_user(), free_port(), keygen(workdir, "op")
    svc = Service(workdir, user, make_repo(files(port, "good", key)), port, key)
    metrics_port = free_port()
    svc.pgod = Pgod(svc.config, workdir / "lib", "-s", f"127.0.0.1:{svc.ssh_port}",
                    "-m", f"127.0.0.1:{metrics_port}")
    try:
        yield svc, metrics_port
    finally:
        svc.pgod.stop()


def scrape(port: int, path: str = "/metrics") -> tuple[int, str, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as reply:
            return reply.status, reply.headers["Content-Type"], reply.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.headers["Content-Type"], ""


def test_prometheus_sees_a_deploy_and_a_refused_commit(
        service: tuple[Service, int], workdir: Path) -> None:
    svc, metrics_port = service
    prometheus = Prometheus(workdir, f"127.0.0.1:{metrics_port}")
    try:
        svc.pgod.start()
        wait_for_http(svc.port, "good")
        svc.pgod.wait_log("operator key(s)")
        good = svc.wait_state("ok")["deployed"]
        deployed = 'pgo_deploys_total{service="svc",outcome="deployed"}'
        prometheus.until(deployed, lambda v: v >= 1)
        prometheus.until('pgo_service_state{service="svc",state="ok"}', lambda v: v == 1)
        prometheus.until(f'pgo_deployed_info{{service="svc",commit="{good}"}}',
                         lambda v: v == 1)
        prometheus.until('pgo_git_fetch_duration_seconds_count{service="svc"}',
                         lambda v: v >= 1)
        prometheus.until('pgo_command_count{service="svc",command="status"}',
                         lambda v: v >= 1)  # the Go original's name, not ..._total
        prometheus.until('pgo_compose_service_healthy{service="svc",compose_service="web"}',
                         lambda v: v == 1)
        before = prometheus.until(deployed, lambda v: v >= 1)

        bad = svc.repo.commit(files(free_port(), "elsewhere", svc.key), "a port not allowed")
        refused = svc.wait_state("refused")
        assert refused["upstream"] == bad and refused["deployed"] == good
        prometheus.until('pgo_service_state{service="svc",state="refused"}', lambda v: v == 1)
        prometheus.until('pgo_service_state{service="svc",state="ok"}', lambda v: v == 0)
        prometheus.until('pgo_deploys_total{service="svc",outcome="refused"}',
                         lambda v: v == 1)
        prometheus.until('pgo_policy_refusals_total{service="svc"}', lambda v: v == 1)
        assert prometheus.until(deployed, lambda v: True) == before
        # the refused commit is no label anywhere; the deployed one only on the info metric
        assert prometheus.query(f'{{__name__=~"pgo_.+", commit="{bad}"}}') == {}
        with_good = prometheus.query(f'{{__name__=~"pgo_.+", commit="{good}"}}')
        assert [json.loads(k)["__name__"] for k in with_good] == ["pgo_deployed_info"]
    finally:
        prometheus.stop()


def scraped_until(port: int, line: str, timeout: float = 30.0) -> str:
    """Scrape until a sample line is `line` (an SSH connection's end is counted when
    pgod sees it close)."""
    deadline, text = time.monotonic() + timeout, ""
    while time.monotonic() < deadline:
        text = scrape(port)[2]
        if line in text.splitlines():
            return text
        time.sleep(0.2)
    raise AssertionError(f"{line!r} never scraped:\n{text}")


def test_metrics_is_all_the_listener_serves_and_counts_ssh(
        service: tuple[Service, int], workdir: Path) -> None:
    svc, metrics_port = service
    svc.pgod.start()
    svc.pgod.wait_log("operator key(s)")
    status, content_type, text = scrape(metrics_port)
    assert status == 200 and content_type.startswith("text/plain")
    assert "# TYPE pgo_command_count counter" in text
    assert 'pgo_service_state{service="svc",' in text
    assert scrape(metrics_port, "/nothing")[0] == 404
    assert scrape(metrics_port, "/metrics/x")[0] == 404

    stranger = keygen(workdir, "stranger")
    assert ssh(svc.ssh_port, [stranger], "svc//ps").returncode != 0
    scraped_until(metrics_port, 'pgo_ssh_auth_failures_total{reason="auth"} 1.0')
    assert svc.ctl("svc//ps").returncode == 0
    assert svc.ctl("svc//nosuch").returncode != 0  # 406: counted as a session only
    text = scraped_until(metrics_port, 'pgo_ssh_sessions_total{exit="406"} 1.0')
    assert 'pgo_command_count{command="ps",service="svc"} 1.0' in text.splitlines()
    assert "nosuch" not in text and "127.0.0.1" not in text and "SHA256" not in text
