"""Faults around a running pgod, with real git (file:// and a git daemon), podman, pgod and
SSH: the git server down at start and while running, the branch deleted or the repository
emptied upstream, the checkout deleted on disk, pgod killed in the middle of a deploy, two
pushes during one deploy, and a full state directory. Each is checked over HTTP and with
`status --json` (pgoctl)."""

from __future__ import annotations

import calendar
import json
import os
import pwd
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .conftest import GitDaemon
from .helpers import Repo, container_ids, free_port, http_get, run, wait_for_http
from .sshclients import keygen
from .test_trust import Service, files, start

Url = Callable[[Repo], str]


def served(workdir: Path, make_user: Any, make_repo: Any, url: Url,
           text: str = "good") -> Service:
    """`start`, but pgod pulls from `url(repo)` (a git daemon) instead of file://."""
    user, port, key = make_user(), free_port(), keygen(workdir, "op")
    repo = make_repo(files(port, text, key))
    svc = Service(workdir, user, repo, port, key)
    config = svc.config.read_text()
    assert f'"{repo.url}"' in config
    svc.config.write_text(config.replace(f'"{repo.url}"', f'"{url(repo)}"'))
    svc.pgod.start()
    wait_for_http(port, text)
    svc.pgod.wait_log("operator key(s)")
    return svc


def restart(daemon: GitDaemon) -> None:
    """The git daemon back on its port (its argv names the port), serving the same base."""
    daemon.proc = subprocess.Popen(daemon.proc.args, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
    daemon._wait_listening(deadline=time.monotonic() + 30)


def until(svc: Service, what: str, ok: Callable[[dict[str, Any]], bool],
          timeout: float = 180.0) -> dict[str, Any]:
    """Poll `status --json` until `ok(status)` (Service.until, with this file's patience)."""
    return svc.until(what, ok, timeout)


def deployed(svc: Service, commit: str, timeout: float = 240.0) -> dict[str, Any]:
    """Wait until `commit` is deployed and the state is ok."""
    return svc.wait_deployed(commit, timeout)


def fetch_time(status: dict[str, Any]) -> float:
    return float(calendar.timegm(time.strptime(status["last_fetch"]["time"],
                                               "%Y-%m-%dT%H:%M:%SZ")))


def history(svc: Service) -> list[tuple[str, str]]:
    result = svc.ctl("svc//history", "--json")
    assert result.returncode == 0, result.stderr
    return [(h["commit"], h["outcome"]) for h in json.loads(result.stdout)]


def checkout_head(path: Path) -> str:
    """The commit the checkout's working tree is at (read as root)."""
    return run(["git", "-c", "safe.directory=*", "-C", str(path), "rev-parse", "HEAD"]).strip()


def test_git_server_down_at_start_keeps_the_deployed_commit_serving(
        workdir: Path, make_user: Any, make_repo: Any) -> None:
    daemon = GitDaemon(workdir)  # our own: stopping the session's would break other tests
    svc = served(workdir, make_user, make_repo, daemon.url)
    try:
        good = svc.wait_state("ok")["deployed"]
        running = container_ids(svc.user, "svc")
        svc.pgod.signal(signal.SIGTERM)
        assert svc.pgod.wait() == 0
        daemon.stop()
        started = time.time()
        svc.pgod.start()
        svc.pgod.wait_log("fetch failed")
        svc.pgod.wait_log("operator key(s)")
        ping = svc.ctl("svc//ping")
        assert ping.returncode == 0 and ping.stdout.startswith("pong! - "), ping.stderr
        status = until(svc, "a fetch error in status",
                       lambda s: (s["last_fetch"] or {}).get("error") is not None)
        assert status["state"] == "ok" and status["deployed"] == good, status
        assert "Connection refused" in status["last_fetch"]["error"], status["last_fetch"]
        assert fetch_time(status) >= int(started), status["last_fetch"]
        assert "good" in http_get(svc.port)
        assert container_ids(svc.user, "svc") == running  # nothing restarted
        assert "svc: up\n" not in svc.pgod.log and "svc: down\n" not in svc.pgod.log

        restart(daemon)
        two = svc.repo.commit(files(svc.port, "two", svc.key), "two")
        wait_for_http(svc.port, "two")
        after = deployed(svc, two)
        assert after["last_fetch"]["error"] is None and after["last_fetch"]["failures"] == 0
        assert "fetch works again" in svc.pgod.log
    finally:
        svc.pgod.stop()
        daemon.stop()


def test_git_server_down_while_running_restarts_nothing_and_backs_off(
        workdir: Path, make_user: Any, make_repo: Any, git_daemon: GitDaemon) -> None:
    svc = served(workdir, make_user, make_repo, git_daemon.url)
    bare, away = svc.repo.bare, svc.repo.bare.with_name(svc.repo.bare.name + ".away")
    try:
        good = svc.wait_state("ok")["deployed"]
        running = container_ids(svc.user, "svc")
        bare.rename(away)  # the daemon now refuses it: not exported
        gone = time.time()
        first = until(svc, "a failed fetch",
                      lambda s: (s["last_fetch"] or {}).get("failures", 0) >= 1)
        assert first["last_fetch"]["error"], first["last_fetch"]
        assert "not exported" in first["last_fetch"]["error"], first["last_fetch"]
        assert fetch_time(first) >= int(gone), first["last_fetch"]
        later = until(svc, "3 failed fetches in a row",
                      lambda s: s["last_fetch"]["failures"] >= 3, timeout=120)
        assert fetch_time(later) >= fetch_time(first)
        assert later["last_fetch"]["error"], later["last_fetch"]
        assert later["state"] == "ok" and later["deployed"] == good, later
        assert svc.pgod.log.count("fetch failed, will retry next pass") >= 3
        assert "good" in http_get(svc.port)
        assert container_ids(svc.user, "svc") == running  # several passes, nothing restarted

        away.rename(bare)
        back = until(svc, "fetching again", lambda s: s["last_fetch"]["error"] is None)
        assert back["last_fetch"]["failures"] == 0 and back["state"] == "ok", back
        svc.pgod.wait_log("fetch works again")
        assert container_ids(svc.user, "svc") == running
    finally:
        if away.exists() and not bare.exists():
            away.rename(bare)
        svc.pgod.stop()


def test_branch_deleted_or_repository_emptied_upstream_keeps_the_last_good(
        workdir: Path, make_user: Any, make_repo: Any) -> None:
    svc = start(workdir, make_user, make_repo)
    bare = str(svc.repo.bare)
    try:
        good = svc.wait_state("ok")["deployed"]
        running = container_ids(svc.user, "svc")
        run(["git", "-C", bare, "branch", "other", "main"])
        run(["git", "-C", bare, "symbolic-ref", "HEAD", "refs/heads/other"])
        run(["git", "-C", bare, "update-ref", "-d", "refs/heads/main"])
        status = until(svc, "the missing branch in status",
                       lambda s: "refs/heads/main" in ((s["last_fetch"] or {}).get("error") or ""))
        assert status["state"] == "ok" and status["deployed"] == good, status
        assert "good" in http_get(svc.port)
        assert container_ids(svc.user, "svc") == running

        run(["git", "-C", bare, "update-ref", "refs/heads/main", good])
        until(svc, "fetching again", lambda s: s["last_fetch"]["error"] is None)

        shutil.rmtree(bare)  # the repository emptied: no branch, no commit at all
        run(["git", "init", "-q", "--bare", "-b", "main", bare])
        run(["chmod", "-R", "a+rX", bare])
        status = until(svc, "the emptied repository in status",
                       lambda s: "refs/heads/main" in (s["last_fetch"]["error"] or ""))
        assert status["state"] == "ok" and status["deployed"] == good, status
        time.sleep(3)  # passes go by
        assert "good" in http_get(svc.port)
        assert container_ids(svc.user, "svc") == running
        assert svc.status()["deployed"] == good
    finally:
        svc.pgod.stop()


def test_checkout_deleted_on_disk_is_cloned_again_without_a_restart(
        workdir: Path, make_user: Any, make_repo: Any) -> None:
    svc = start(workdir, make_user, make_repo)
    checkout = workdir / "lib" / "svc"
    try:
        good = svc.wait_state("ok")["deployed"]
        running = container_ids(svc.user, "svc")
        clones = svc.pgod.log.count("svc: cloning ")
        mark = len(svc.pgod.log)
        run(["rm", "-rf", str(checkout)])
        svc.pgod.wait_log("svc: cloning ", count=clones + 1)
        svc.pgod.wait_log("svc: checked out at", count=2)
        passes = svc.pgod.log.count("svc: in step at ")  # (each idle pass says so at -d)
        svc.pgod.wait_log("svc: in step at ", count=passes + 3)  # passes go by
        status = svc.wait_state("ok")
        assert status["deployed"] == good, status
        assert checkout_head(checkout) == good
        assert (checkout / "compose.yaml").exists()
        assert os.stat(checkout).st_uid == pwd.getpwnam(svc.user).pw_uid
        assert "good" in http_get(svc.port)
        assert container_ids(svc.user, "svc") == running  # not restarted
        since = svc.pgod.log[mark:]
        assert "svc: up\n" not in since and "svc: down\n" not in since \
            and "self-heal" not in since, since[-4000:]
    finally:
        svc.pgod.stop()


def test_pgod_killed_during_build_and_during_up_converges_after_a_restart(
        workdir: Path, make_user: Any, make_repo: Any) -> None:
    svc = start(workdir, make_user, make_repo)
    try:
        svc.wait_state("ok")
        two = svc.repo.commit(files(svc.port, "two", svc.key), "two")
        svc.pgod.wait_log("svc: building", count=2)  # the first deploy's, then two's
        svc.pgod.signal(signal.SIGKILL)
        assert svc.pgod.wait() == -signal.SIGKILL
        svc.pgod.start()
        wait_for_http(svc.port, "two", timeout=300)
        deployed(svc, two)

        three = svc.repo.commit(files(svc.port, "three", svc.key), "three")
        svc.pgod.wait_log("svc: up\n", count=2)  # two's deploy in this run, then three's
        svc.pgod.signal(signal.SIGKILL)
        assert svc.pgod.wait() == -signal.SIGKILL
        svc.pgod.start()
        wait_for_http(svc.port, "three", timeout=300)
        # (the killed pgod's podman-compose up serves three, maybe before this one listens)
        svc.pgod.wait_log("SSH listening")
        status = deployed(svc, three)
        assert status["last_good"] == three, status
        assert history(svc)[0] == (three, "deployed")
    finally:
        svc.pgod.stop()


def test_two_pushes_during_a_deploy_are_serialized_and_the_newest_wins(
        workdir: Path, make_user: Any, make_repo: Any) -> None:
    svc = start(workdir, make_user, make_repo)
    try:
        good = svc.wait_state("ok")["deployed"]
        first = svc.repo.commit(files(svc.port, "first", svc.key), "first")
        svc.pgod.wait_log("svc: building", count=2)
        second = svc.repo.commit(files(svc.port, "second", svc.key), "second")
        wait_for_http(svc.port, "second")
        deployed(svc, second)
        assert history(svc)[:3] == [(second, "deployed"), (first, "deployed"),
                                    (good, "deployed")]
        log = svc.pgod.log
        first_up = log.index(f"svc: up at {first[:12]}")
        assert log.index(f"change detected {first[:12]}..{second[:12]}") > first_up
        assert log.count("svc: building") == 3 and log.count("svc: up\n") == 3
        time.sleep(3)  # passes go by: nothing more is deployed
        assert history(svc)[0] == (second, "deployed") and "second" in http_get(svc.port)
    finally:
        svc.pgod.stop()


def fill(directory: Path) -> Path:
    """Take every free byte of the file system of `directory`; the filler's path."""
    filler = directory / "filler"
    stat = os.statvfs(directory)
    run(["fallocate", "-l", str(stat.f_bavail * stat.f_frsize), str(filler)])
    left = os.statvfs(directory)
    assert left.f_bavail * left.f_frsize < 4096, f"{directory}: not full"
    return filler


def test_a_full_state_directory_keeps_the_record_and_the_service(
        workdir: Path, make_user: Any, make_repo: Any) -> None:
    lib = workdir / "lib"
    lib.mkdir()
    # the clone (busybox, about 2 MB, in git and in the tree) and a first record fit
    run(["mount", "-t", "tmpfs", "-o", "size=24m,mode=0755", "pgo-faults", str(lib)])
    svc = None
    try:
        svc = start(workdir, make_user, make_repo)
        good = svc.wait_state("ok")["deployed"]
        running = container_ids(svc.user, "svc")
        record = lib / ".pgod" / "state" / "svc.json"
        before = json.loads(record.read_text())
        assert before["deployed"] == good
        filler = fill(lib)
        two = svc.repo.commit(files(svc.port, "two", svc.key), "two")
        svc.pgod.wait_log("cannot save the state record")
        time.sleep(3)  # passes go by
        assert svc.pgod.proc is not None and svc.pgod.proc.poll() is None, "pgod exited"
        on_disk = json.loads(record.read_text())
        assert on_disk["deployed"] == good and on_disk["last_good"] == good
        assert on_disk == before or on_disk["history"] == before["history"]
        assert not list(record.parent.glob("*.tmp")), "a temporary record was left"
        assert "good" in http_get(svc.port)
        assert container_ids(svc.user, "svc") == running
        status = svc.status()
        assert status["deployed"] == good, status

        filler.unlink()  # space again: the new commit deploys and the record is saved
        wait_for_http(svc.port, "two")
        deployed(svc, two)
        until(svc, "saved", lambda _: json.loads(record.read_text())["deployed"] == two)
    finally:
        if svc is not None:
            svc.pgod.stop()
        if subprocess.run(["umount", str(lib)], capture_output=True).returncode != 0:
            run(["umount", "-l", str(lib)])

