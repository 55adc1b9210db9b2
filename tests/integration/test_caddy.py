"""Routes through a real Caddy (HTTP only, loopback): a real pgod deploys a real service,
writes its urls into the snippet Caddy imports and reloads Caddy; an operator's down takes
the route away, an up brings it back; a refused commit keeps it."""

from __future__ import annotations

import http.server
import os
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pgo.proxy.caddyfile import render
from pgo.proxy.routes import Route
from pgo.proxy.urls import parse_site, parse_target

from .helpers import free_port, hello_files, run
from .pgod_process import Pgod, run_pgod
from .sshclients import keygen
from .test_trust import Service, files

HOST = "example.org"


class Caddy:
    """`caddy run` with an admin Caddyfile that imports pgod's snippet: the admin API and
    plain HTTP on loopback ports, no automatic HTTPS, a catch-all site answering 404."""

    def __init__(self, root: Path) -> None:
        self.root, self.http_port, self.admin_port = root, free_port(), free_port()
        self.snippet, self.caddyfile = root / "pgo.caddy", root / "Caddyfile"
        self.caddyfile.write_text(
            f"{{\n\tadmin 127.0.0.1:{self.admin_port}\n\tauto_https off\n"
            f"\thttp_port {self.http_port}\n}}\n\nhttp:// {{\n\trespond \"no route\" 404\n}}\n\n"
            f"import {self.snippet}\n")
        # (importing a missing or empty file is an error; comments are enough)
        self.snippet.write_text("# pgod writes this\n")
        self.log = root / "caddy.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def reload(self) -> str:
        return (f"caddy reload --config {self.caddyfile} --adapter caddyfile "
                f"--address 127.0.0.1:{self.admin_port}")

    def start(self) -> None:
        env = {**os.environ, "HOME": str(self.root), "XDG_DATA_HOME": str(self.root / "data"),
               "XDG_CONFIG_HOME": str(self.root / "config")}
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                ["caddy", "run", "--config", str(self.caddyfile), "--adapter", "caddyfile"],
                stdout=log, stderr=subprocess.STDOUT, env=env)
        self.until("Caddy up", lambda got: got[0] == 404, host="nothing.invalid")

    def stop(self) -> None:
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.terminate()
            self.proc.wait(30)

    def get(self, host: str = HOST, path: str = "/") -> tuple[int, str]:
        """(status, body) of a request through Caddy with `Host: host`; (0, error) when
        nothing answers."""
        request = urllib.request.Request(f"http://127.0.0.1:{self.http_port}{path}",
                                         headers={"Host": host})
        try:
            with urllib.request.urlopen(request, timeout=5) as reply:  # noqa: S310 (http:)
                return reply.status, reply.read().decode()
        except urllib.error.HTTPError as err:
            return err.code, err.read().decode()
        except OSError as err:
            return 0, repr(err)

    def until(self, what: str, ok: Any, host: str = HOST, timeout: float = 60.0) -> str:
        deadline, got = time.monotonic() + timeout, (0, "")
        while time.monotonic() < deadline:
            got = self.get(host)
            if ok(got):
                return got[1]
            time.sleep(0.3)
        log = self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""
        raise AssertionError(f"never {what}; last: {got}\n{log}")


@pytest.fixture
def caddy(workdir: Path) -> Iterator[Caddy]:
    server = Caddy(workdir)
    try:
        server.start()
        yield server
    finally:
        server.stop()


def test_a_deploy_is_routed_through_caddy_and_a_down_takes_the_route_away(
        workdir: Path, make_user: Any, make_repo: Any, caddy: Caddy) -> None:
    user, port, key = make_user(), free_port(), keygen(workdir, "op")
    svc = Service(workdir, user, make_repo(files(port, "routed page", key)), port, key,
                  f'urls = {{ "{HOST}" = ":{port}" }}\n')
    svc.pgod = Pgod(svc.config, workdir / "lib", "-s", f"127.0.0.1:{svc.ssh_port}",
                    "--caddy", str(caddy.snippet), "--caddy-reload", caddy.reload)
    svc.pgod.start()
    try:
        svc.pgod.wait_log("operator key(s)")
        svc.wait_state("ok")
        page = caddy.until("routed", lambda got: got[0] == 200 and "routed page" in got[1])
        assert "<p>routed page</p>" in page
        assert caddy.get("other.example.org") == (404, "no route")  # by host name only
        snippet = caddy.snippet.read_text()
        assert f"http://{HOST} {{\n\t# service svc\n\treverse_proxy 127.0.0.1:{port}\n}}" \
            in snippet
        svc.pgod.wait_log("Caddy reloaded")

        # a commit the policy refuses (a port outside `ports`): the good one runs, routed
        svc.repo.commit({**files(port, "refused", key),
                         "compose.yaml": str(hello_files(free_port(), "x")["compose.yaml"])},
                        "publish a port outside the range")
        svc.wait_state("refused")
        assert caddy.get() == (200, page)

        down = svc.ctl("svc//down")
        assert down.returncode == 0, down.stderr
        svc.wait_state("stopped")
        caddy.until("unrouted after down", lambda got: got == (404, "no route"))
        assert "reverse_proxy" not in caddy.snippet.read_text()

        up = svc.ctl("svc//up")
        assert up.returncode == 0, up.stderr
        caddy.until("routed after up", lambda got: got == (200, page))
    finally:
        svc.pgod.stop()
    assert "Caddy did not load" not in svc.pgod.log


def test_a_reload_that_fails_is_logged_and_caddy_keeps_its_routes(
        workdir: Path, make_user: Any, make_repo: Any, caddy: Caddy) -> None:
    user, port, key = make_user(), free_port(), keygen(workdir, "op")
    svc = Service(workdir, user, make_repo(files(port, "first", key)), port, key,
                  f'urls = {{ "{HOST}" = ":{port}" }}\n')
    broken = workdir / "Broken"  # what the reload hands Caddy does not parse
    broken.write_text(caddy.caddyfile.read_text() + "garbage {\n")
    svc.pgod = Pgod(svc.config, workdir / "lib", "-s", f"127.0.0.1:{svc.ssh_port}",
                    "--caddy", str(caddy.snippet), "--caddy-reload",
                    caddy.reload.replace(str(caddy.caddyfile), str(broken)))
    svc.pgod.start()
    try:
        svc.pgod.wait_log("operator key(s)")
        svc.wait_state("ok")
        log = svc.pgod.wait_log(f"Caddy did not load {caddy.snippet}, it keeps its previous "
                                "routes")
        assert "caddy reload exited 1" in log and "Syntax error" in log  # Caddy's own error
        assert f"reverse_proxy 127.0.0.1:{port}" in caddy.snippet.read_text()
        assert caddy.get() == (404, "no route")  # Caddy still has the config it had
    finally:
        svc.pgod.stop()


def test_two_services_claiming_one_host_name_is_a_config_error(workdir: Path) -> None:
    config = workdir / "pgod.toml"
    config.write_text("".join(
        f'[[services]]\nname = "{name}"\nuser = "root"\nrepository = "file:///r.git"\n'
        f'ports = ["5006"]\nurls = {{ "{HOST}" = ":5006" }}\n' for name in ("web", "www")))
    result = run_pgod("-c", str(config), "--no-root", "--dir", str(workdir / "lib"),
                      "--caddy", str(workdir / "pgo.caddy"))
    assert result.returncode == 1
    assert (f"{config}: service 'www': key 'urls': '{HOST}' is claimed by service 'web' too"
            in result.stderr)
    assert not (workdir / "pgo.caddy").exists()


class _Echo(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = f"{self.server.name} {self.path}".encode()  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def upstreams() -> Iterator[dict[str, int]]:
    """Two HTTP servers on loopback that answer "NAME PATH": web and api."""
    servers = {}
    for name in ("web", "api"):
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
        server.name = name  # type: ignore[attr-defined]
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers[name] = server
    yield {name: server.server_address[1] for name, server in servers.items()}
    for server in servers.values():
        server.shutdown()
        server.server_close()


def test_the_snippet_routes_hosts_and_path_prefixes_as_documented(
        caddy: Caddy, upstreams: dict[str, int]) -> None:
    routes = [Route(parse_site(site), parse_target(target), service) for site, target, service in (
        (HOST, f":{upstreams['web']}", "web"),
        (f"{HOST}/api", f"127.0.0.1:{upstreams['api']}", "api"),
        (f"www.{HOST}/v1/", f"localhost:{upstreams['api']}", "api"))]
    caddy.snippet.write_text(render(routes))
    run(caddy.reload.split())
    assert caddy.get(HOST, "/") == (200, "web /")
    assert caddy.get(HOST, "/apix") == (200, "web /apix")  # a prefix is a whole segment
    assert caddy.get(HOST, "/api") == (200, "api /api")    # the path is passed on as it is
    assert caddy.get(HOST, "/api/a?b=1") == (200, "api /api/a?b=1")
    assert caddy.get(f"www.{HOST}", "/v1/x") == (200, "api /v1/x")
    assert caddy.get(f"www.{HOST}", "/") == (404, "")  # no route for the rest of the host
    assert caddy.get("EXAMPLE.org", "/") == (200, "web /")
    assert caddy.get("other.org", "/") == (404, "no route")
    caddy.snippet.write_text(render([]))
    run(caddy.reload.split())
    assert caddy.get(HOST, "/") == (404, "no route")
