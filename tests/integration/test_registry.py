"""Private registries and image updates, against a real registry on loopback (Debian's
docker-registry with htpasswd auth, marked insecure in a registries.conf given to pgod's
children by CONTAINERS_REGISTRIES_CONF): real podman, podman-compose, pgod and pgoctl."""

from __future__ import annotations

import json
import pwd
import secrets
import socket
import stat
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .helpers import (
    BUSYBOX,
    free_port,
    http_get,
    podman_as,
    run,
    wait_for_http,
    write_file,
)
from .sshclients import keygen
from .test_trust import Service

REGISTRY = "/usr/bin/docker-registry"
USER = "deployer"


class LoopbackRegistry:
    """docker-registry on 127.0.0.1:PORT, htpasswd auth for USER with a random token."""

    def __init__(self, root: Path) -> None:
        self.root, self.port = root / "registry", free_port()
        self.root.mkdir()
        self.token = "tok-" + secrets.token_hex(12)
        (self.root / "htpasswd").write_text(run(["htpasswd", "-Bbn", USER, self.token]))
        (self.root / "config.yml").write_text(
            f"version: 0.1\nhttp: {{addr: 127.0.0.1:{self.port}}}\n"
            f"storage: {{filesystem: {{rootdirectory: {self.root}/data}}}}\n"
            f"auth: {{htpasswd: {{realm: x, path: {self.root}/htpasswd}}}}\n")
        self.conf = root / "registries.conf"
        self.conf.write_text(f'[[registry]]\nlocation = "127.0.0.1:{self.port}"\n'
                             "insecure = true\n")
        self.conf.chmod(0o644)
        self.log = open(self.root / "registry.log", "wb")  # noqa: SIM115 (closed in stop)
        self.proc = subprocess.Popen([REGISTRY, "serve", str(self.root / "config.yml")],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.1)
        raise AssertionError(f"docker-registry did not listen on {self.port}")

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def push(self, tag: str, text: str, broken: bool = False) -> str:
        """Build a busybox httpd image serving `text` (one that exits at once if `broken`)
        as root and push it as HOST/app:TAG; the digest pushed."""
        context = self.root / f"build-{secrets.token_hex(3)}"
        write_file(context / "busybox", BUSYBOX.read_bytes())
        write_file(context / "www" / "index.html", f"<p>{text}</p>\n")
        command = '["/bin/busybox", "false"]' if broken else \
            '["/bin/busybox", "httpd", "-f", "-p", "8080", "-h", "/www"]'
        write_file(context / "Containerfile",
                   "FROM scratch\nCOPY busybox /bin/busybox\n"
                   'RUN ["/bin/busybox", "--install", "-s", "/bin"]\n'
                   f"COPY www /www\nCMD {command}\n")
        local = f"localhost/pgo-registry-test:{context.name}"
        run(["podman", "build", "-q", "-t", local, str(context)])
        digest = context / "digest"
        run(["podman", "push", "-q", "--tls-verify=false", "--creds", f"{USER}:{self.token}",
             "--digestfile", str(digest), local, f"{self.host}/app:{tag}"])
        run(["podman", "rmi", "-f", local])
        return digest.read_text().strip()

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)
        self.log.close()


@pytest.fixture
def registry(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LoopbackRegistry]:
    reg = LoopbackRegistry(workdir)
    monkeypatch.setenv("CONTAINERS_REGISTRIES_CONF", str(reg.conf))  # pgod passes it on
    yield reg
    reg.stop()


def compose_files(registry: LoopbackRegistry, port: int, key: Path, tag: str,
                  steady: bool = False) -> dict[str, str | bytes]:
    """web from HOST/app:TAG on `port`; with `steady`, a second service from HOST/app:steady
    (a tag nobody moves)."""
    other = f"  other:\n    image: {registry.host}/app:steady\n    init: true\n" \
            "    stop_grace_period: 1s\n" if steady else ""
    return {"compose.yaml": f"services:\n  web:\n    image: {registry.host}/app:{tag}\n"
                            f'    ports: ["{port}:8080"]\n    init: true\n'
                            f"    stop_grace_period: 1s\n{other}",
            "ssh/op.pub": key.with_suffix(".pub").read_text()}


def service_container(user: str, service: str) -> str:
    (found,) = podman_as(user, "ps", "-q", "--no-trunc", "--filter",
                         f"label=com.docker.compose.service={service}").split()
    return found


def private_service(workdir: Path, make_user: Any, make_repo: Any, registry: LoopbackRegistry,
                    login: str, tag: str, extra: str = "", steady: bool = False) -> Service:
    user, port, key = make_user(), free_port(), keygen(workdir, "op")
    repo = make_repo(compose_files(registry, port, key, tag, steady))
    return Service(workdir, user, repo, port, key, f"registries = [{login}]\n{extra}")


def config_with(svc: Service, login: str) -> None:
    text = svc.config.read_text().splitlines()
    svc.config.write_text("\n".join(f"registries = [{login}]" if line.startswith(
        "registries") else line for line in text) + "\n")


def test_a_private_image_deploys_and_a_wrong_token_keeps_the_old_version(
        workdir: Path, make_user: Any, make_repo: Any, registry: LoopbackRegistry) -> None:
    registry.push("v1", "version one")
    token_file = workdir / "token"
    token_file.write_text(registry.token + "\n")
    token_file.chmod(0o600)
    svc = private_service(workdir, make_user, make_repo, registry,
                          f'"{USER}:@file:{token_file}@{registry.host}"', "v1")
    svc.pgod.start()
    try:
        wait_for_http(svc.port, "version one")
        svc.pgod.wait_log("operator key(s)")
        first = svc.wait_state("ok")["deployed"]
        auth = workdir / "lib" / ".registry-auth" / "svc" / "auth.json"
        info = auth.stat()
        assert stat.S_IMODE(info.st_mode) == 0o600
        assert info.st_uid == pwd.getpwnam(svc.user).pw_uid
        assert registry.host in json.loads(auth.read_text())["auths"]
        home = Path(pwd.getpwnam(svc.user).pw_dir)
        assert not (home / ".config" / "containers" / "auth.json").exists()
        pulled = svc.ctl("svc//pull")  # an operator's pull logs in as pgod's does
        assert pulled.returncode == 0, pulled.stderr
        svc.pgod.stop()

        wrong = "tok-" + secrets.token_hex(12)
        config_with(svc, f'"{USER}:{wrong}@{registry.host}"')
        registry.push("v2", "version two")
        second = svc.repo.commit(compose_files(registry, svc.port, svc.key, "v2"), "v2")
        svc.pgod.start()
        svc.pgod.wait_log("operator key(s)")
        broken = svc.until("broken at v2", lambda s: (s["state"], s["upstream"]) == (
            "broken", second))
        assert broken["deployed"] == first
        assert "podman login" in broken["reason"] and "invalid username/password" in \
            broken["reason"]
        assert "version one" in http_get(svc.port)
        refused = svc.ctl("svc//pull")
        assert refused.returncode != 0 and "podman login" in refused.stderr
        assert wrong not in refused.stderr + refused.stdout
        status = svc.ctl("svc//status").stdout
        log = svc.pgod.log_path.read_text()
        for secret in (registry.token, wrong):
            assert secret not in log and secret not in status
            assert secret not in json.dumps(svc.status())
            assert secret not in svc.ctl("svc//history", "--json").stdout
        assert "REGISTRY_AUTH_FILE" in log  # (-d: the variable's name is logged, never more)
        svc.pgod.stop()

        svc.config.write_text("")  # the service removed: its logins go with it
        svc.pgod.start()
        svc.pgod.wait_log("svc: removed from the config")
        assert not auth.parent.exists() and auth.parent.parent.exists()
    finally:
        svc.pgod.stop()


def test_a_new_image_behind_the_tag_is_served_and_a_broken_one_is_put_back(
        workdir: Path, make_user: Any, make_repo: Any, registry: LoopbackRegistry) -> None:
    first = registry.push("latest", "version one")
    registry.push("steady", "the other one")
    svc = private_service(workdir, make_user, make_repo, registry,
                          f'"{USER}:{registry.token}@{registry.host}"', "latest",
                          'image_updates = "2s"\n', steady=True)
    svc.pgod.start()
    try:
        wait_for_http(svc.port, "version one")
        svc.pgod.wait_log("operator key(s)")
        commit = svc.wait_state("ok")["deployed"]
        other, web = service_container(svc.user, "other"), service_container(svc.user, "web")
        second = registry.push("latest", "version two")
        wait_for_http(svc.port, "version two")
        updated = svc.until("an image update in history", lambda s: (
            s["last_attempt"]["trigger"], s["last_attempt"]["outcome"]) == ("image",
                                                                            "deployed"))
        assert (updated["state"], updated["deployed"]) == ("ok", commit)
        assert f"{first} -> {second}" in updated["last_attempt"]["reason"]
        assert service_container(svc.user, "other") == other  # only what changed is new
        assert service_container(svc.user, "web") != web

        broken = registry.push("latest", "never serves", broken=True)
        seen = svc.until("the broken image recorded",
                         lambda s: broken in s["images"]["broken"])
        assert (seen["state"], seen["deployed"]) == ("ok", commit)
        assert "health gate" in seen["images"]["reason"]
        wait_for_http(svc.port, "version two")
        text = svc.ctl("svc//status").stdout
        assert broken in text and "the previous image runs" in text
        history = json.loads(svc.ctl("svc//history", "--json").stdout)
        assert [(h["trigger"], h["outcome"]) for h in history[:2]] == [
            ("image", "broken"), ("image", "deployed")]
        assert f"{second} -> {broken}" in history[0]["reason"]
        time.sleep(6)  # intervals go by: the broken digest is not tried again
        assert svc.pgod.log.count("image update failed; putting the previous image back") == 1
        assert "version two" in http_get(svc.port)
        assert svc.status()["images"]["broken"] == [broken]
        assert registry.token not in svc.pgod.log_path.read_text()
    finally:
        svc.pgod.stop()
