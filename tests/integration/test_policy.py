"""The policy on a real pgod, real users and real podman: a refused file of each class of
issue 10 leaves the old version serving with the reason in `status`; a file using every
admitted feature deploys, and podman inspect shows what the policy promised."""

from __future__ import annotations

import asyncio
import json
import pwd
from collections.abc import Callable
from pathlib import Path

from pgo import compose
from pgo.config import ServiceConfig
from pgo.dryrun import argument_problems
from pgo.ports import PortRange
from pgo.proc import Account

from .helpers import (
    PODMAN_COMPOSE,
    container_ids,
    free_port,
    hello_files,
    podman_as,
    wait_for_http,
)
from .pgod_process import one_service
from .sshclients import keygen, pgoctl

Files = dict[str, str | bytes]


def _web(extra: str) -> Callable[[Files], Files]:
    """The files with `extra` (YAML lines) added to service web."""
    def change(files: Files) -> Files:
        text = str(files["compose.yaml"]).replace("    init: true\n",
                                                  "    init: true\n" + extra)
        return {**files, "compose.yaml": text}
    return change


def _invalid_utf8(files: Files) -> Files:
    return {**files, "compose.yaml": str(files["compose.yaml"]).encode() + b"# \xff\xfe\n"}


CLASSES = [
    ("a mapping where podman-compose iterates (host / mounted)",
     _web('    volumes: {"/:/host": null}\n'),
     "key 'volumes': a mapping ({'/:/host': None}) is not a shape pgod reads the way "
     "podman-compose does"),
    ("a value podman splits (a log path)",
     _web('    logging: {driver: k8s-file, options: {tag: "x,path=/tmp/pgo-it-log"}}\n'),
     "podman reads the value of --log-opt as a comma-separated list"),
    ("a build context on the host's loopback",
     lambda files: {**files, "compose.yaml": str(files["compose.yaml"]).replace(
         "    build: .\n", '    build: "http://127.0.0.1:9/secret.git"\n')},
     "is a URL, which the host fetches with its own network"),
    ("invalid UTF-8", _invalid_utf8, "compose.yaml: line "),
]


def test_each_class_is_refused_and_the_old_version_serves(workdir, make_user,
                                                            make_repo) -> None:
    user, port, ssh_port = make_user(), free_port(), free_port()
    key = keygen(workdir, "op")
    files = {**hello_files(port, "version one"), "ssh/op.pub": key.with_suffix(".pub")
             .read_text()}
    repo = make_repo(files)
    (workdir / "home").mkdir()
    pgod = one_service(workdir, "hello", user, repo.url, port, ssh_port, duration="1s")
    try:
        wait_for_http(port, "version one")
        pgod.wait_log("operator key(s)")
        serving = container_ids(user, "hello")
        for what, change, fragment in CLASSES:
            bad = repo.commit(change(files), what)
            log = pgod.wait_log(f"policy violated at {bad[:12]}")
            assert fragment in log, what
            status = pgoctl(workdir / "home", ssh_port, str(key), "hello//status")
            assert status.returncode == 0 and fragment in status.stdout, (what, status)
            assert f"commit {bad[:12]} refused" in status.stdout
            assert container_ids(user, "hello") == serving, what
            wait_for_http(port, "version one")
    finally:
        pgod.stop()


EVERYTHING = """\
services:
  web:
    build: {context: ., args: {GREETING: "a,b"}, labels: {built: "yes"}}
    image: localhost/policy-web:1
    ports: ["PORT:8080"]
    init: true
    stop_grace_period: 1s
    read_only: true
    volumes: ["./www:/extra:ro", "data:/data", {type: tmpfs, target: /scratch}]
    tmpfs: [/run/x]
    environment: {A: "a,b", B: '"quoted"'}
    labels: [team=pgo]
    logging: {driver: k8s-file, options: {max-size: 1m}}
    security_opt: [no-new-privileges]
    cap_drop: [ALL]
    group_add: ["1000"]
    ulimits: {nofile: {soft: 1024, hard: 1024}}
    stop_signal: SIGTERM
    hostname: web
    networks: {front: {aliases: [www]}}
networks:
  front: {}
volumes:
  data: {}
"""


def test_every_admitted_feature_deploys_as_promised(workdir, make_user, make_repo) -> None:
    user, port, ssh_port = make_user(), free_port(), free_port()
    files = hello_files(port, "all of it")
    files["compose.yaml"] = EVERYTHING.replace("PORT", str(port))
    repo = make_repo(files)
    pgod = one_service(workdir, "every", user, repo.url, port, ssh_port, duration="1h")
    try:
        wait_for_http(port, "all of it")
        checkout = str(workdir / "lib" / "every")
        [container] = container_ids(user, "every")
        inspected = json.loads(podman_as(user, "container", "inspect", container))[0]
        host = inspected["HostConfig"]
        assert host["Privileged"] is False and not host.get("CapAdd")
        assert inspected["EffectiveCaps"] in (None, [])  # cap_drop: ALL, nothing added
        assert not host.get("Devices")
        binds = [m["Source"] for m in inspected["Mounts"] if m["Type"] == "bind"]
        assert binds and all(b.startswith(checkout + "/") for b in binds), binds
        home = pwd.getpwnam(user).pw_dir
        assert inspected["HostConfig"]["LogConfig"]["Path"].startswith(
            f"{home}/.local/share/containers/storage/"), "the log path is podman's own"
        assert host["LogConfig"]["Type"] == "k8s-file"
        assert "keep-groups" not in (host.get("GroupAdd") or [])
        assert inspected["HostConfig"]["SecurityOpt"] == ["no-new-privileges"]
    finally:
        pgod.stop()
    # the argument layer, as the service user on the real checkout: nothing to refuse
    project = compose.Project("every", checkout, "compose.yaml", Account.lookup(user),
                              PODMAN_COMPOSE)
    service = ServiceConfig(name="every", user=user, repository=repo.url,
                            ports=(PortRange(port, port),))
    for args in (["pull"], ["build"], ["up", "-d"]):
        assert asyncio.run(argument_problems(project, service, args)) == [], args


def test_the_argument_layer_reads_files_as_the_service_user(workdir, make_user) -> None:
    """An env file the service user may not read: podman-compose fails to read it as that
    user, so its commands cannot be worked out, and nothing is run."""
    user = make_user()
    checkout = workdir / "checkout"
    checkout.mkdir()
    (checkout / "compose.yaml").write_text(
        "services:\n  web: {image: localhost/x, env_file: [secret.env]}\n")
    (checkout / "secret.env").write_text("A=1\n")
    (checkout / "secret.env").chmod(0o600)  # root's; the user cannot read it
    checkout.chmod(0o755)
    project = compose.Project("t", str(checkout), "compose.yaml", Account.lookup(user),
                              PODMAN_COMPOSE)
    service = ServiceConfig(name="t", user=user, repository="unused")
    got = asyncio.run(argument_problems(project, service, ["up", "-d"]))
    assert len(got) == 1 and "its podman commands could not be worked out" in got[0]
    assert "Permission denied" in got[0] or "PermissionError" in got[0], got
    assert not Path(checkout / "missing").exists()
