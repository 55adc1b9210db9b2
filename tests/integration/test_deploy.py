"""pgod deploys real services from real git repositories with real podman, as real users."""

from __future__ import annotations

import grp
import os
import pwd
import re
import signal
import subprocess
import time
import urllib.error
from pathlib import Path

import pytest

from .helpers import container_ids, free_port, hello_files, http_get, podman_as, run, wait_for_http
from .pgod_process import FAST_GATE, Pgod, one_service, run_pgod
from .sshclients import keygen, pgoctl, pgoctl_argv


def write_config(path: Path, *services: str) -> Path:
    path.write_text("".join(services))
    return path


def service(name: str, user: str, url: str, ports: str = '"5000/999"', group: str = "") -> str:
    return (f'[[services]]\nname = "{name}"\nuser = "{user}"\nrepository = "{url}"\n'
            f'branch = "main"\nports = [{ports}]\n{FAST_GATE}'
            + (f'group = "{group}"\n' if group else "")
            + "\n")


def test_deploy_follow_and_refuse(workdir, make_user, make_repo) -> None:
    """One service through its life: deploy, README-only commit, content change, policy
    violation, force-push, SIGTERM (containers stay), restart (containers not recreated)."""
    user, port = make_user(), free_port()
    repo = make_repo(hello_files(port, "version one"))
    config = write_config(workdir / "pgod.toml",
                          service("hello", user, repo.url, f'"{port}"'))
    pgod = Pgod(config, workdir / "lib").start()
    try:
        wait_for_http(port, "version one")
        first = container_ids(user, "hello")
        assert first, "the service user's podman sees the project's containers"
        assert not podman_as("root", "ps", "-aq", "--filter",
                             "label=io.podman.compose.project=hello").split()

        # README.md is in the build context (build: .) but no COPY reads it: pgod builds,
        # sees the same image, and leaves the container alone
        readme = repo.commit({"README.md": "docs only\n"}, "docs")
        log = pgod.wait_log(f"no image changed at {readme[:12]}; containers left running")
        assert f"checked out at {readme[:12]}" in log and f"up at {readme[:12]}" not in log
        assert container_ids(user, "hello") == first

        second = repo.commit(hello_files(port, "version two"), "new content")
        pgod.wait_log(f"up at {second[:12]}")
        wait_for_http(port, "version two")
        assert container_ids(user, "hello") != first

        sneaky = hello_files(port, "version bad")
        sneaky["compose.yaml"] = str(sneaky["compose.yaml"]).replace(
            f'"{port}:8080"', '"${WEB_PORT:-' + str(port) + '}:8080"')
        sneaky[".env"] = f"WEB_PORT={port + 1}\n"  # interpolated as podman-compose would
        serving = container_ids(user, "hello")
        bad = repo.commit(sneaky, "publish another port, through .env")
        log = pgod.wait_log(f"policy violated at {bad[:12]}")
        assert f"host port {port + 1}" in log and "compose service 'web'" in log
        wait_for_http(port, "version two")
        assert container_ids(user, "hello") == serving

        forced = repo.force_push(second, hello_files(port, "version forced"), "rewrite")
        pgod.wait_log(f"up at {forced[:12]}")
        wait_for_http(port, "version forced")
        running = container_ids(user, "hello")

        pgod.signal(signal.SIGTERM)
        assert pgod.wait() == 0
        wait_for_http(port, "version forced")
        assert container_ids(user, "hello") == running

        pgod.start()
        pgod.wait_log(f"policy ok at {forced[:12]}")
        log = pgod.wait_log(f"in step at {forced[:12]}", count=2)  # (-d) two passes since
        assert container_ids(user, "hello") == running, "a restart of pgod restarts nothing"
        assert "cloning" not in log, "the checkout under --dir is reused"
        assert f"run as {user} (uid " in log and "podman ps -a " in log  # -d: every command
        assert "podman-compose -f " not in log and "state rebuilt" not in log
    finally:
        pgod.stop()


def test_two_services_two_users_side_by_side(workdir, make_user, make_repo, git_daemon) -> None:
    """alice from file://, bob from git daemon and with `group` set to a secondary group."""
    alice, bob = make_user(), make_user()
    group = f"{bob}-ops"
    run(["groupadd", group])
    run(["usermod", "-a", "-G", group, bob])
    port_a, port_b = free_port(), free_port()
    repo_a = make_repo(hello_files(port_a, "this is alice"))
    repo_b = make_repo(hello_files(port_b, "this is bob"))
    config = write_config(workdir / "two.toml",
                          service("alice", alice, repo_a.url, f'"{port_a}"'),
                          service("bob", bob, git_daemon.url(repo_b), f'"{port_b}"', group))
    pgod = Pgod(config, workdir / "lib2").start()
    try:
        wait_for_http(port_a, "this is alice")
        wait_for_http(port_b, "this is bob")
        assert container_ids(alice, "alice") and container_ids(bob, "bob")
        assert not container_ids(alice, "bob") and not container_ids(bob, "alice")
        ops, checkout_b = grp.getgrnam(group).gr_gid, workdir / "lib2" / "bob"
        assert (checkout_b.stat().st_gid, checkout_b.stat().st_mode & 0o7777) == (ops, 0o2750)
        assert (checkout_b / "compose.yaml").stat().st_gid == ops, "the group owns bob's files"
        checkout_a = workdir / "lib2" / "alice"
        assert (checkout_a.stat().st_gid, checkout_a.stat().st_mode & 0o7777) == \
            (pwd.getpwnam(alice).pw_gid, 0o700)
        pgod.stop()
        # bob's group is dropped from the config: the next start makes the checkout private
        write_config(config, service("bob", bob, git_daemon.url(repo_b), f'"{port_b}"'))
        pgod = Pgod(config, workdir / "lib2").start()
        private = (pwd.getpwnam(bob).pw_gid, 0o700)
        deadline = time.monotonic() + 60
        while (checkout_b.stat().st_gid, checkout_b.stat().st_mode & 0o7777) != private:
            assert time.monotonic() < deadline, "checkout still shared with the dropped group"
            time.sleep(0.2)
        assert "this is bob" in http_get(port_b)
    finally:
        pgod.stop()
        run(["groupdel", group])


def test_recovers_when_every_process_of_the_user_was_killed(workdir, make_user,
                                                           make_repo) -> None:
    """All of the user's processes killed (the pause process, conmon, the container) while
    podman's runtime directory stays: rootless podman then refuses every command until
    `podman system migrate`. The next change deploys anyway, and the log says what happened."""
    user, port = make_user(), free_port()
    repo = make_repo(hello_files(port, "before the kill"))
    config = write_config(workdir / "kill.toml", service("hello", user, repo.url, f'"{port}"'))
    pgod = Pgod(config, workdir / "lib-kill").start()
    try:
        pgod.wait_log("up at ")
        wait_for_http(port, "before the kill")
        run(["pkill", "-KILL", "-U", str(pwd.getpwnam(user).pw_uid)])
        after = repo.commit(hello_files(port, "after the kill"), "new content")
        log = pgod.wait_log(f"up at {after[:12]}")
        assert f"{user}'s podman pause process is gone; running podman system migrate" in log
        wait_for_http(port, "after the kill")
    finally:
        pgod.stop()


def test_sighup_exits_2(workdir) -> None:
    config = write_config(workdir / "empty.toml")
    pgod = Pgod(config, workdir / "lib3").start()
    pgod.wait_log("SSH listening")
    pgod.signal(signal.SIGHUP)
    assert pgod.wait() == 2


def test_config_edit_with_restart_flag_exits_2(workdir) -> None:
    config = write_config(workdir / "watched.toml")
    pgod = Pgod(config, workdir / "lib4", "-r").start()
    pgod.wait_log("SSH listening")
    config.write_text("# edited\n")
    assert pgod.wait() == 2
    assert "changed, sending SIGHUP" in pgod.log


def test_bad_config_exits_1_naming_file_service_and_key(workdir) -> None:
    config = write_config(workdir / "bad.toml",
                          service("web", "root", "file:///nowhere.git", '"5005/x"'))
    result = run_pgod("-c", str(config), "--dir", str(workdir / "lib5"))
    assert result.returncode == 1
    assert f"{config}: service 'web': key 'ports'" in result.stderr
    assert "Traceback" not in result.stderr


def test_unknown_user_exits_1(workdir) -> None:
    config = write_config(workdir / "nouser.toml",
                          service("web", "no-such-user-pgo", "file:///nowhere.git"))
    result = run_pgod("-c", str(config), "--dir", str(workdir / "lib6"))
    assert result.returncode == 1
    assert "key 'user'" in result.stderr and "no-such-user-pgo" in result.stderr


def test_a_directory_others_can_write_is_refused(workdir) -> None:
    """pgod chowns what it finds in --dir: a directory others can write (where a symlink
    could be planted) stops it with exit 1 and one line, before any service starts."""
    config = write_config(workdir / "open.toml", service("web", "root", "file:///nowhere.git"))
    shared = workdir / "lib-open"
    shared.mkdir(mode=0o777)
    shared.chmod(0o1777)
    result = run_pgod("-c", str(config), "--dir", str(shared))
    assert result.returncode == 1, result.stderr
    assert f"{shared} belongs to uid 0 with mode 1777: --dir must" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (shared / ".pgod").exists()


def test_missing_config_option_exits_1() -> None:
    result = run_pgod()
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "-c CONFIG" in result.stderr


def test_failures_leave_the_running_version_and_say_why(workdir, make_user, make_repo) -> None:
    """A build that fails, a compose file that cannot be read and an unreachable repository:
    each time the deployed version keeps serving, and log and `status` say why."""
    user, port, ssh_port = make_user(), free_port(), free_port()
    key = keygen(workdir, "op")
    files = {**hello_files(port, "good"), "ssh/op.pub": key.with_suffix(".pub").read_text()}
    repo = make_repo(files)
    config = write_config(workdir / "fail.toml", service("svc", user, repo.url, f'"{port}"'))
    pgod = Pgod(config, workdir / "lib", "-s", f"127.0.0.1:{ssh_port}").start()

    def status() -> str:
        result = pgoctl(workdir, ssh_port, str(key), "svc//status")
        assert result.returncode == 0, result.stderr
        return result.stdout

    try:
        wait_for_http(port, "good")
        running = container_ids(user, "svc")
        broken = {**files, **hello_files(port, "broken")}
        broken["Containerfile"] = str(broken["Containerfile"]).replace(
            "COPY www /www", 'RUN ["/bin/busybox", "false"]\nCOPY www /www')
        bad_build = repo.commit(broken, "a build that fails")
        pgod.wait_log(f"deploy of {bad_build[:12]} failed; restoring")
        assert "podman-compose build exited" in pgod.wait_log("podman-compose build exited")
        assert "podman-compose build exited" in status()
        wait_for_http(port, "good")
        assert container_ids(user, "svc") == running

        bad_yaml = repo.commit({"compose.yaml": "services: [\n"}, "unreadable compose file")
        pgod.wait_log(f"policy violated at {bad_yaml[:12]}")
        assert "invalid YAML" in status()
        wait_for_http(port, "good")

        repo.bare.rename(repo.bare.with_suffix(".moved"))
        pgod.wait_log("fetch failed, will retry next pass")
        assert "last fetch:   failed at" in status() and "does not appear to be a git" in status()
        repo.bare.with_suffix(".moved").rename(repo.bare)
        fixed = repo.commit({**files, **hello_files(port, "fixed")}, "fixed")
        pgod.wait_log(f"up at {fixed[:12]}")
        wait_for_http(port, "fixed")
        assert "reason:       -" in status()
    finally:
        pgod.stop()


def test_a_symlink_left_by_a_container_is_not_followed(workdir, make_user, make_repo) -> None:
    """Commit one mounts ./data writable and its container plants `data/host -> /`; commit
    two mounts ./data/host/etc read-only. git keeps the untracked link and the policy (git
    objects) cannot see it: pgod must refuse the working tree, not mount the host's /etc."""
    user, port = make_user(), free_port()
    files = hello_files(port, "planter")
    files["compose.yaml"] = str(files["compose.yaml"]) + (
        "    volumes: ['./data:/data']\n"
        "    command: ['/bin/busybox', 'sh', '-c', 'ln -sfn / /data/host && exec "
        "/bin/busybox httpd -f -vv -p 8080 -h /www']\n")
    repo = make_repo(files)
    config = write_config(workdir / "plant.toml", service("plant", user, repo.url, f'"{port}"'))
    pgod = Pgod(config, workdir / "lib").start()
    try:
        wait_for_http(port, "planter")
        link = workdir / "lib" / "plant" / "data" / "host"
        deadline = time.monotonic() + 60
        while not link.is_symlink() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert link.is_symlink() and str(link.readlink()) == "/"
        running = container_ids(user, "plant")
        through = hello_files(port, "through the link")
        through["compose.yaml"] = str(through["compose.yaml"]) + \
            "    volumes: ['./data/host/etc:/www/etc:ro']\n"
        bad = repo.commit(through, "mount a path under the old writable mount")
        log = pgod.wait_log(f"working tree at {bad[:12]} refused: './data/host/etc' goes "
                            "through 'data/host', a symlink that is not in the commit")
        # the running version could write there: down first, but the tree is checked before
        # that too, so a link already planted costs no downtime
        assert "down first: data/host/etc is in a writable mount of the running version" in log
        assert container_ids(user, "plant") == running
        assert "planter" in http_get(port)
        with pytest.raises(urllib.error.HTTPError):  # no /www/etc: not the host's /etc
            http_get(port, path="/etc/passwd")
    finally:
        pgod.stop()


def test_a_failed_deploy_after_down_first_brings_the_old_version_back(workdir, make_user,
                                                                      make_repo) -> None:
    """The new version reads an env file in the running one's writable mount, so pgod takes
    the running one down before building; the build fails: the old version comes back."""
    user, port = make_user(), free_port()
    files = hello_files(port, "old and writable")
    files["compose.yaml"] = str(files["compose.yaml"]) + "    volumes: ['./data:/data']\n"
    repo = make_repo(files)
    config = write_config(workdir / "back.toml", service("back", user, repo.url, f'"{port}"'))
    pgod = Pgod(config, workdir / "lib").start()
    try:
        wait_for_http(port, "old and writable")
        broken = hello_files(port, "never built")
        broken["compose.yaml"] = str(broken["compose.yaml"]) + "    env_file: data/web.env\n"
        broken["data/web.env"] = "GREETING=hi\n"
        broken["Containerfile"] = str(broken["Containerfile"]).replace(
            "COPY www /www", 'RUN ["/bin/busybox", "false"]\nCOPY www /www')
        bad = repo.commit(broken, "read from the old writable mount, and fail to build")
        log = pgod.wait_log(f"deploy of {bad[:12]} failed; restoring")
        assert "down first: data/web.env is in a writable mount of the running version" in log
        attempt = log[log.index("down first: data/web.env"):]
        assert attempt.index("INFO back: down") < attempt.index("INFO back: building")
        pgod.wait_log("podman-compose build exited")
        wait_for_http(port, "old and writable")
        # each retry would take the service down again: none until the branch moves
        log = pgod.wait_log(f"deploy of {bad[:12]} failed after taking the service down; "
                            "not tried again", count=3)
        assert log.count(f"deploy of {bad[:12]} failed; restoring") == 1
        fixed = repo.commit(hello_files(port, "fixed"), "a commit that builds")
        pgod.wait_log(f"up at {fixed[:12]}")
        wait_for_http(port, "fixed")
    finally:
        pgod.stop()


def test_a_down_that_fails_is_not_taken_for_done(workdir, make_user, make_repo) -> None:
    """podman-compose 1.6.0's down exits 0 when `podman rm` fails. A container outside the
    project, in its pod and sharing web's network namespace, makes that rm fail: pgod says
    so, and its roll-back brings the old version back (one pass, run with `sync`)."""
    user, port, ssh_port = make_user(), free_port(), free_port()
    key = keygen(workdir, "op")
    files = {**hello_files(port, "pinned"), "ssh/op.pub": key.with_suffix(".pub").read_text()}
    repo = make_repo(files)
    pgod = one_service(workdir, "pin", user, repo.url, port, ssh_port)
    try:
        wait_for_http(port, "pinned")
        pgod.wait_log("operator key(s)")  # (read once the deploy has passed its gate)
        podman_as(user, "run", "-d", "--name", "holder", "--pod", "pod_pin", "--network",
                  "container:pin_web_1", "--entrypoint", "/bin/busybox", "pin_web", "sleep",
                  "600")
        changed = repo.commit({**files, **hello_files(port, "moved")}, "new content")
        result = pgoctl(workdir, ssh_port, str(key), "pin//sync")
        assert result.returncode == 1, result.stdout + result.stderr
        assert "reason:       podman-compose down left 1 container(s) of project pin " \
               "(pin_web_1): Error: container " in result.stdout
        assert f"deploy of {changed[:12]} failed; restoring" in pgod.log
        assert "pinned" in http_get(port)  # no pass since: the roll-back brought it back
        assert not re.search(r"restoring \w+ failed|restoring failed", pgod.log)
        assert pgoctl(workdir, ssh_port, str(key), "pin//sync").returncode == 1
        assert pgod.log.count(f"deploy of {changed[:12]} failed; restoring") == 2, \
            "sync retries a held commit"
    finally:
        pgod.stop()


def test_a_stop_waits_for_an_operators_restart(workdir, make_user, make_repo) -> None:
    """SIGTERM while an operator's `restart` runs (httpd as PID 1 ignores SIGTERM, so the
    stop takes its 5 s grace period): pgod lets it finish, exits 0, the service serves."""
    user, port, ssh_port = make_user(), free_port(), free_port()
    key = keygen(workdir, "op")
    files = {**hello_files(port, "restarted"), "ssh/op.pub": key.with_suffix(".pub").read_text()}
    files["compose.yaml"] = str(files["compose.yaml"]).replace(
        "init: true", "init: false").replace("stop_grace_period: 1s", "stop_grace_period: 5s")
    repo = make_repo(files)
    config = write_config(workdir / "stop.toml", service("svc", user, repo.url, f'"{port}"'))
    pgod = Pgod(config, workdir / "lib", "-s", f"127.0.0.1:{ssh_port}").start()
    try:
        pgod.wait_log("operator key(s) at ")
        wait_for_http(port, "restarted")
        client = subprocess.Popen(pgoctl_argv(ssh_port, str(key), "svc//restart"),
                                  stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL,
                                  env={"PATH": os.environ["PATH"], "HOME": str(workdir)})
        pgod.wait_log("svc: restart starts (service lock taken)")
        pgod.signal(signal.SIGTERM)
        assert pgod.wait() == 0
        log = pgod.log
        waiting = log.index("waiting for commands on svc to finish")
        assert waiting < log.index("svc: restart exited 0") < log.index("stopped (exit 0)")
        assert client.wait(30) == 0
        wait_for_http(port, "restarted")
    finally:
        pgod.stop()


def test_a_stop_during_a_redeploy_brings_the_new_version_up(workdir, make_user,
                                                            make_repo) -> None:
    """SIGTERM while the running version goes down (httpd as PID 1 ignores SIGTERM: the
    down takes its 5 s grace period): pgod finishes the deploy, then exits 0, and the new
    version serves, instead of a service left down until pgod comes back."""
    user, port = make_user(), free_port()

    def files(text: str) -> dict[str, str | bytes]:
        slow = hello_files(port, text)
        slow["compose.yaml"] = str(slow["compose.yaml"]).replace(
            "init: true", "init: false").replace("stop_grace_period: 1s", "stop_grace_period: 5s")
        return slow

    repo = make_repo(files("before the stop"))
    config = write_config(workdir / "redeploy.toml", service("svc", user, repo.url, f'"{port}"'))
    pgod = Pgod(config, workdir / "lib").start()
    try:
        pgod.wait_log("svc: up at ")
        wait_for_http(port, "before the stop")
        downs = pgod.log.count("svc: down\n")
        commit = repo.commit(files("after the stop"), "new page")
        pgod.wait_log("svc: down\n", count=downs + 1)
        pgod.signal(signal.SIGTERM)
        assert pgod.wait() == 0
        log = pgod.log
        finishing = log.index(f"svc: stopping: finishing the deploy of {commit[:12]} first")
        assert finishing < log.index(f"svc: up at {commit[:12]}") < log.index("stopped (exit 0)")
        wait_for_http(port, "after the stop")
    finally:
        pgod.stop()
