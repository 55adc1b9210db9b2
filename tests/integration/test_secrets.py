"""Secrets with a real pgod (-d), real age keys, podman and a container that serves what it
got: host values (env, env_file) and `.age` files decrypted into /run/pgo/NAME arrive in
the container, and never in pgod's log, `status` or `history`."""

from __future__ import annotations

import secrets
import shutil
import stat
import subprocess
from pathlib import Path
from typing import Any

from .helpers import free_port, hello_files, http_get, run, wait_for_http
from .pgod_process import run_pgod
from .sshclients import keygen
from .test_trust import Service

RUN = Path("/run/pgo/svc")

COMPOSE = """\
services:
  web:
    build: .
    ports:
      - "{port}:8080"
    init: true
    stop_grace_period: 1s
    env_file: ["${{PGO_SECRETS}}/db.env"]
    environment:
      FROM_FILE: "${{FILE_TOKEN}}"
      FROM_ENV: "${{ENV_TOKEN}}"
      SHARED: "${{SHARED}}"
    secrets: [page]
    command: ["/bin/sh", "-c", "mkdir -p /tmp/w && {{ echo db=$$DB_PASSWORD; \
echo file=$$FROM_FILE; echo env=$$FROM_ENV; echo shared=$$SHARED; \
echo page=$$(cat /run/secrets/page); }} > /tmp/w/index.html && \
exec httpd -f -p 8080 -h /tmp/w"]
secrets:
  page:
    file: "${{PGO_SECRETS}}/page.txt"
"""


CRASH = COMPOSE.split("    command:", maxsplit=1)[0] + """\
    command: ["/bin/sh", "-c", "echo db password $$DB_PASSWORD and $$FROM_ENV; exit 3"]
secrets:
  page:
    file: "${{PGO_SECRETS}}/page.txt"
"""


def keypair(directory: Path, name: str) -> tuple[Path, str]:
    """An age identity file (0600) and its public key."""
    identity = directory / f"{name}.key"
    run(["age-keygen", "-o", str(identity)])
    identity.chmod(0o600)
    return identity, run(["age-keygen", "-y", str(identity)]).strip()


def encrypt(recipient: str, text: str) -> bytes:
    return subprocess.run(["age", "-r", recipient], input=text.encode(), capture_output=True,
                          check=True).stdout


def repo_files(port: int, recipient: str, tokens: dict[str, str], key: Path,
               ) -> dict[str, str | bytes]:
    files = hello_files(port, "secrets")
    files["compose.yaml"] = COMPOSE.format(port=port)
    files["ssh/op.pub"] = key.with_suffix(".pub").read_text()
    files[".env"] = "ENV_TOKEN=from-dotenv\nSHARED=from-dotenv\n"  # the host's values win
    files["secrets/db.env.age"] = encrypt(recipient, f"DB_PASSWORD={tokens['db']}\n")
    files["config/page.txt.age"] = encrypt(recipient, tokens["page"])
    return files


def test_host_values_and_age_files_reach_the_container_and_no_log(
        workdir: Path, make_user: Any, make_repo: Any) -> None:
    tokens = {k: f"{k}-{secrets.token_hex(8)}" for k in ("db", "page", "file", "env")}
    identity, recipient = keypair(workdir, "host")
    env_file = workdir / "svc.env"
    env_file.write_text(f"FILE_TOKEN={tokens['file']}\nSHARED=from-env-file\n")
    env_file.chmod(0o600)
    user, port, key = make_user(), free_port(), keygen(workdir, "op")
    repo = make_repo(repo_files(port, recipient, tokens, key))
    svc = Service(workdir, user, repo, port, key,
                  f'env_file = "{env_file}"\n'
                  f'env = ["ENV_TOKEN={tokens["env"]}", "SHARED=from-env"]\n')
    svc.pgod.argv += ["--age-identity", str(identity)]
    svc.pgod.start()
    try:
        page = wait_for_http(port, "db=")
        assert page.split() == [f"db={tokens['db']}", f"file={tokens['file']}",
                                f"env={tokens['env']}", "shared=from-env",
                                f"page={tokens['page']}"]
        svc.pgod.wait_log("operator key(s)")
        first = svc.wait_state("ok")["deployed"]
        assert stat.S_IMODE(RUN.stat().st_mode) == 0o700 and RUN.stat().st_uid == \
            int(run(["id", "-u", user]))
        assert sorted(p.name for p in RUN.iterdir()) == ["db.env", "page.txt"]
        assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in RUN.iterdir())
        assert (RUN / "page.txt").read_text() == tokens["page"]

        # an operator's down, the directory gone (a reboot), then up: written again first
        assert svc.ctl("svc//down").returncode == 0
        shutil.rmtree(RUN)
        assert svc.ctl("svc//up").returncode == 0
        assert wait_for_http(port, "db=").split()[-1] == f"page={tokens['page']}"
        svc.wait_state("ok")

        _, stranger = keypair(workdir, "stranger")
        other = repo.commit({"config/other.txt.age": encrypt(stranger, "x")}, "wrong key")
        refused = svc.wait_state("refused")
        assert refused["deployed"] == first and refused["upstream"] == other
        assert "config/other.txt.age does not decrypt" in refused["reason"]
        assert http_get(port).split()[0] == f"db={tokens['db']}"  # still running

        # a container that prints its secrets as it fails the gate: its log lines are
        # logged and its reason recorded, without them
        crash = repo.commit({"compose.yaml": CRASH.format(port=port)}, "print and fail",
                            delete=["config/other.txt.age"])
        broken = svc.wait_state("broken")
        assert broken["upstream"] == crash and broken["deployed"] == first
        assert "exited with code 3" in broken["reason"]
        svc.pgod.wait_log(f"{first[:12]} is back")
        assert http_get(port).split()[0] == f"db={tokens['db']}"
        assert "password *** and ***" in svc.pgod.log

        shown = [svc.ctl("svc//status", "--json").stdout,
                 svc.ctl("svc//history", "--json").stdout, svc.pgod.log_path.read_text()]
        assert "-d" in svc.pgod.argv and "[env: " in shown[-1]  # the debug lines are there
        for token in tokens.values():
            assert not any(token in text for text in shown), token

        svc.pgod.stop()
        svc.config.write_text("")  # removed from the config: its decrypted files go too
        svc.pgod.start()
        svc.pgod.wait_log("its decrypted files are removed")
        assert not RUN.exists()
    finally:
        svc.pgod.stop()
        shutil.rmtree(RUN, ignore_errors=True)


def test_an_env_file_others_can_read_is_a_config_error(workdir: Path, make_user: Any) -> None:
    env_file = workdir / "svc.env"
    env_file.write_text("TOKEN=value-not-shown\n")
    env_file.chmod(0o644)
    config = workdir / "pgod.toml"
    config.write_text(f'[[services]]\nname = "svc"\nuser = "{make_user()}"\n'
                      f'repository = "file:///nowhere"\nenv_file = "{env_file}"\n')
    result = run_pgod("-c", str(config), "--dir", str(workdir / "lib"), "-m", "")
    assert result.returncode == 1
    assert f"{config}: service 'svc': key 'env_file': env file {env_file}" in result.stderr
    assert "mode 0644" in result.stderr and "value-not-shown" not in result.stderr
