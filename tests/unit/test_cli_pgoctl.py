import os
import re
import shutil
import signal
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

import pytest

from pgo.cli import pgoctl as pgoctl_module
from pgo.cli.pgoctl import (
    EXIT_CODES,
    EXIT_SSH,
    EXIT_USAGE,
    HELP,
    OPTIONS,
    KeyFile,
    UsageError,
    exit_code,
    known_hosts_file,
    main,
    parse_args,
    ssh_argv,
    ssh_environment,
    ssh_path,
)

ROOT = Path(__file__).resolve().parents[2]
KEY_TEXT = "-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n-----END OPENSSH PRIVATE KEY-----"


class FakeSsh:
    """An `ssh` first in PATH that records its environment and argv, and exits 0."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        script = directory / "bin" / "ssh"
        script.parent.mkdir()
        script.write_text(f"#!/bin/sh\nenv > {directory}/env\n"
                          f"printf '%s\\n' \"$@\" > {directory}/argv\n")
        script.chmod(0o755)

    def env(self) -> dict[str, str]:
        lines = (self.directory / "env").read_text().splitlines()
        return dict(line.partition("=")[::2] for line in lines if "=" in line)

    def argv(self) -> list[str]:
        return (self.directory / "argv").read_text().splitlines()


@pytest.fixture
def fake_ssh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeSsh]:
    fake = FakeSsh(tmp_path)
    monkeypatch.setenv("PATH", f"{tmp_path}/bin:{os.environ['PATH']}")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    handlers = {signum: signal.getsignal(signum)  # relay() forwards these to ssh's pid
                for signum in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)}
    yield fake
    for signum, handler in handlers.items():
        signal.signal(signum, handler)


def test_args_after_the_target_belong_to_the_command() -> None:
    args = parse_args(["-i", "k", "h:pgo//logs", "--tail", "20", "-f", "-p", "1"])
    assert args.target == "h:pgo//logs" and args.args == ["--tail", "20", "-f", "-p", "1"]
    assert (args.identity, args.port, args.insecure) == ("k", 2222, False)


@pytest.mark.parametrize("argv", [
    ["--identity=k", "--port=22", "--insecure", "h:s//c"], ["-ik", "-p22", "--insecure", "h:s//c"],
    ["--insecure", "-i", "k", "-p", "22", "--", "h:s//c"],
])
def test_option_spellings(argv: list[str]) -> None:
    args = parse_args(argv)
    assert (args.identity, args.port, args.insecure, args.target) == ("k", 22, True, "h:s//c")


def test_a_double_dash_after_the_target_is_dropped() -> None:
    assert parse_args(["h:s//logs", "--", "-f"]).args == ["-f"]
    assert parse_args(["h:s//logs", "-f", "--"]).args == ["-f", "--"]


@pytest.mark.parametrize(("argv", "args"), [  # the examples in --help and pgoctl(1)
    (["h:svc//logs", "--", "--tail", "5"], ["--tail", "5"]),
    (["h:svc//logs", "--tail", "5"], ["--tail", "5"]),
    (["h:svc//logs", "-p", "1"], ["-p", "1"]),
    (["h:svc//logs", "--", "--"], ["--"]),
    (["-p", "1", "--", "h:svc//logs", "-f"], ["-f"]),
])
def test_what_double_dash_does(argv: list[str], args: list[str]) -> None:
    parsed = parse_args(argv)
    assert (parsed.target, parsed.args) == ("h:svc//logs", args)
    page = " ".join((ROOT / "docs" / "pgoctl.1.md").read_text().split())
    if argv[0] == "h:svc//logs":
        assert f"**pgoctl {' '.join(argv)}**" in page
    if argv[1:] == ["--", "--tail", "5"]:
        assert "HOST:SVC//logs -- --tail 5 sends logs --tail 5." in " ".join(HELP.split())


@pytest.mark.parametrize(("argv", "message"), [
    ([], "missing"), (["-x", "h:s//c"], "unrecognized option '-x'"),
    (["--ident", "k", "h:s//c"], "unrecognized"), (["-p"], "needs a value"),
    (["-p", "http", "h:s//c"], "not a port"), (["-p", "0", "h:s//c"], "not a port"),
    (["-p", "65536", "h:s//c"], "not a port"), (["-p", "²", "h:s//c"], "not a port"),
    (["--insecure=yes", "h:s//c"], "takes no value"),
    (["-i", "", "h:s//c"], "needs a value"), (["--identity="], "needs a value"),
])
def test_usage_errors(argv: list[str], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        parse_args(argv)


def test_usage_errors_exit_2_with_a_hint(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["h:s/c"]) == 2
    assert main(["--", "-h:s//c"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("pgoctl: 'h:s/c': expected HOST:SERVICE//COMMAND")
    assert err[1] == "pgoctl: '-h' is not a host name (see pgoctl --help)"


def test_help_lists_every_option(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["-i", "k", "--help", "h:s//c"]) == 0
    out = capsys.readouterr().out
    assert out == HELP and out.startswith("usage: pgoctl [OPTION]")
    for short, long, value, text in OPTIONS:
        assert f"{short}, {long}" in out if short else long in out
        assert text in out and value in out
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.startswith("pgoctl 0.")


def _exit_status_section() -> str:
    page = (ROOT / "docs" / "pgoctl.1.md").read_text()
    return page.partition("\n# EXIT STATUS\n")[2].partition("\n# ")[0]


def test_help_and_man_page_list_every_exit_code() -> None:
    codes = {*EXIT_CODES.values(), EXIT_SSH, EXIT_USAGE, 1}
    terms = re.findall(r"^\*\*(\d+)\*\*$", _exit_status_section(), re.MULTILINE)
    assert sorted(map(int, terms)) == sorted(codes)
    text = " ".join(HELP.partition("Exit status:")[2].split())
    for status, code in EXIT_CODES.items():
        assert f"{code} ({status} " in text
    assert f"; {EXIT_SSH} when SSH itself fails; {EXIT_USAGE} for a bad command line; " \
           "1 for pgoctl's other errors" in text


def test_the_man_page_describes_every_option() -> None:
    page = (ROOT / "docs" / "pgoctl.1.md").read_text()
    for short, long, value, _ in OPTIONS:
        term = ", ".join(f"**{name}**" for name in (short, long) if name)
        term += f" *{value}*" if value else ""
        assert re.search(rf"^{re.escape(term)}\n:   \S", page, re.MULTILINE), term


@pytest.mark.parametrize(("ssh", "refusal", "code"), [
    (0, None, 0), (3, None, 3), (401 & 0xFF, 401, 77), (400 & 0xFF, 400, 64),
    (404 & 0xFF, 404, 68), (406 & 0xFF, 406, 65), (500 & 0xFF, 500, 70),
    (255, None, 255), (1, 401, 1),  # a refusal line that is not what ended the session
])
def test_exit_codes(ssh: int, refusal: int | None, code: int) -> None:
    assert exit_code(ssh, refusal) == code


def test_codes_are_distinct_and_small() -> None:
    assert len(set(EXIT_CODES.values())) == len(EXIT_CODES)
    assert all(0 < c < 126 for c in EXIT_CODES.values())


def test_ssh_argv_offers_only_our_key_and_ends_options() -> None:
    argv = ssh_argv("example.org", 2222, "/k", "pgo//ps", insecure=False)
    assert argv[0] == "ssh" and argv[-3:] == ["--", "example.org", "pgo//ps"]
    assert "IdentitiesOnly=yes" in argv and "IdentityAgent=none" in argv
    assert "StrictHostKeyChecking=accept-new" in argv
    assert "StrictHostKeyChecking=no" in ssh_argv("h", 1, "/k", "x", insecure=True)


@pytest.mark.parametrize("insecure", [False, True])
def test_ssh_reads_no_config_file(insecure: bool) -> None:
    """~/.ssh/config could add keys (IdentityFile) or reuse a master connection that was
    authenticated with another key and another known_hosts (ControlMaster/ControlPath)."""
    argv = ssh_argv("h", 1, "/k", "x", insecure=insecure)
    options = argv[:argv.index("--")]
    assert options.count("-F") == 1 and options[options.index("-F") + 1] == "/dev/null"


def test_a_dead_connection_ends_within_about_a_minute() -> None:
    argv = ssh_argv("h", 1, "/k", "x", insecure=False)
    for value in ("ServerAliveInterval=15", "ServerAliveCountMax=4"):
        assert argv[argv.index(value) - 1] == "-o"


def test_identity_from_a_variable_is_private_and_removed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_KEY", "-----BEGIN KEY-----\nabc\n-----END KEY-----")
    with KeyFile("$MY_KEY") as path:
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        with open(path) as handle:
            assert handle.read().endswith("-----END KEY-----\n")
    assert not os.path.exists(path)


def test_identity_falls_back_to_pgoctl_id(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PGOCTL_ID", "key text")
    with KeyFile(None) as path, open(path) as handle:
        assert handle.read() == "key text\n"
    monkeypatch.delenv("PGOCTL_ID")
    with pytest.raises(SystemExit, match="PGOCTL_ID"), KeyFile(None):
        pass
    with pytest.raises(SystemExit, match="NOPE"), KeyFile("$NOPE"):
        pass


def test_identity_file_is_used_as_is(tmp_path: Path) -> None:
    (tmp_path / "id").write_text(KEY_TEXT)
    with KeyFile(str(tmp_path / "id")) as path:
        assert path == str(tmp_path / "id")
    assert (tmp_path / "id").exists()


@pytest.mark.parametrize(("option", "variable"), [
    ("/k", None), ("k", None), ("$MY_KEY", "MY_KEY"), (None, "PGOCTL_ID")])
def test_the_variable_holding_the_key(option: str | None, variable: str | None) -> None:
    assert KeyFile(option).variable == variable


def test_ssh_environment_has_no_key_text(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_KEY", KEY_TEXT)
    monkeypatch.setenv("PGOCTL_ID", KEY_TEXT)
    monkeypatch.setenv("OTHER", "kept")
    env = ssh_environment("MY_KEY")
    assert "MY_KEY" not in env and "PGOCTL_ID" not in env
    assert env["OTHER"] == "kept" and env["PATH"] == os.environ["PATH"]
    assert "PGOCTL_ID" not in ssh_environment(None) and "MY_KEY" in ssh_environment(None)


@pytest.mark.parametrize("identity", [["-i", "$MY_KEY"], [], ["-i", "key"]])
def test_ssh_is_started_without_the_key_in_its_environment(
        fake_ssh: FakeSsh, monkeypatch: pytest.MonkeyPatch, identity: list[str]) -> None:
    monkeypatch.chdir(fake_ssh.directory)
    Path("key").write_text(KEY_TEXT)
    monkeypatch.setenv("MY_KEY" if identity[1:] == ["$MY_KEY"] else "PGOCTL_ID", KEY_TEXT)
    monkeypatch.setenv("OTHER", "kept")
    assert main([*identity, "h:s//ping"]) == 0
    env = fake_ssh.env()
    assert env["OTHER"] == "kept" and "PATH" in env
    assert "MY_KEY" not in env and "PGOCTL_ID" not in env
    assert "PRIVATE KEY" not in (fake_ssh.directory / "env").read_text()
    assert fake_ssh.argv()[-2:] == ["h", "s//ping"]


def test_without_openssh_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no ssh in it
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    (tmp_path / "key").write_text(KEY_TEXT)
    with pytest.raises(SystemExit, match="OpenSSH's ssh client is needed"):
        main(["-i", str(tmp_path / "key"), "h:s//ping"])


def test_a_key_file_that_cannot_be_read_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match=r"key file '/nonexistent': No such file"), \
            KeyFile("/nonexistent"):
        pass
    os.mkfifo(tmp_path / "fifo")  # nobody writes to it: checking it must not hang
    with KeyFile(str(tmp_path / "fifo")) as path:
        assert path == str(tmp_path / "fifo")


@pytest.mark.parametrize(("path", "option"), [
    ("/a/b", '"/a/b"'), ("/tmp/a b", '"/tmp/a b"'), ("/x/100%/k", '"/x/100%%/k"'),
    ('/x/"q"', '"/x/\\"q\\""'), ("/x\\y", '"/x\\\\y"'), ("/x/$HOME", '"/x/$HOME"'),
])
def test_ssh_path_quotes_for_ssh(path: str, option: str) -> None:
    assert ssh_path(path) == option


def test_ssh_path_is_absolute(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    assert ssh_path("k") == f'"{tmp_path}/k"'
    assert ssh_path("~/k") == f'"{tmp_path}/~/k"'  # not ssh's ~ expansion: the file named so


@pytest.mark.parametrize("path", ["/x/${HOME}/k", "/x/a\nb"])
def test_ssh_path_refuses_what_ssh_cannot_be_told(path: str) -> None:
    with pytest.raises(SystemExit, match=r"pgoctl: ssh cannot be given the path .*\$\{"):
        ssh_path(path)


def test_relative_xdg_config_home_is_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", "/home/me")
    monkeypatch.setenv("XDG_CONFIG_HOME", "~/conf")
    assert known_hosts_file() == "/home/me/.config/pgo/known_hosts"
    monkeypatch.setenv("XDG_CONFIG_HOME", "/conf")
    assert known_hosts_file() == "/conf/pgo/known_hosts"


# Each character ssh would split on, expand or unquote; two spaces, since `ssh -G` shows
# several known-hosts files joined by one.
NASTY = "/tmp/pgoctl  test/%h %% \"q\" \\ \\\\ 'a' #c =\t\r$HOME ~"


@pytest.mark.skipif(shutil.which("ssh") is None, reason="needs OpenSSH's ssh")
def test_ssh_reads_back_the_exact_paths(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", NASTY)
    argv = ssh_argv("127.0.0.1", 2222, f"{NASTY}/key", "x", insecure=False)
    config = subprocess.run(["ssh", "-G", *argv[1:argv.index("--")], "127.0.0.1"],
                            capture_output=True, check=True).stdout.decode().split("\n")
    values: dict[str, list[str]] = {}
    for line in config:
        keyword, _, value = line.partition(" ")
        values.setdefault(keyword, []).append(value)
    assert values["userknownhostsfile"] == [f"{NASTY}/pgo/known_hosts"]
    # ssh -G shows IdentityFile before its %-expansion (it expands %% when loading the key)
    assert values["identityfile"] == [f"{NASTY}/key".replace("%", "%%")]


def test_a_known_hosts_directory_that_cannot_be_made_is_one_line(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", "/proc/pgoctl-test")
    monkeypatch.setenv("PGOCTL_ID", "not really a key")
    with pytest.raises(SystemExit) as stop:
        main(["localhost:svc//ping"])
    assert stop.value.code == "pgoctl: No such file or directory: /proc/pgoctl-test"


def test_a_sigterm_before_ssh_runs_leaves_no_copy_of_the_key(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The key's text from PGOCTL_ID is copied to a private file for ssh; a SIGTERM that
    comes before ssh is started (and pgoctl forwards signals to it) still removes it."""
    monkeypatch.setenv("PGOCTL_ID", "not really a key")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    seen: list[str] = []

    def relay(argv: list[str], env: dict[str, str]) -> tuple[int, int | None, bool]:
        seen.extend(p for p in os.listdir(tmp_path) if p.startswith("pgoctl-"))
        os.kill(os.getpid(), signal.SIGTERM)
        raise AssertionError("SIGTERM did not end pgoctl")
    monkeypatch.setattr(pgoctl_module, "relay", relay)
    monkeypatch.setattr(pgoctl_module, "dial", lambda *_: (None, False))  # ssh connects
    try:
        with pytest.raises(SystemExit) as stop:
            main(["localhost:svc//ping"])
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGHUP, signal.SIG_DFL)
    assert stop.value.code == 128 + signal.SIGTERM
    assert seen and not [p for p in os.listdir(tmp_path) if p.startswith("pgoctl-")]


def test_the_key_copys_directory_is_private_and_in_tmpdir(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    made = {pgoctl_module.private_directory() for _ in range(3)}
    assert len(made) == 3
    for path in made:
        assert os.path.dirname(path) == str(tmp_path)
        assert os.path.basename(path).startswith("pgoctl-")
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o700
    monkeypatch.setenv("TMPDIR", "relative")  # as tempfile, only an absolute one
    path = pgoctl_module.private_directory()
    os.rmdir(path)
    assert os.path.dirname(path) == "/tmp"


def _entry(*args: str, stdout: int | TextIO = subprocess.PIPE,
           ) -> subprocess.CompletedProcess[str]:
    """pgoctl started the way scripts/install's launcher starts it (`entry`)."""
    code = ("import sys; sys.path.insert(0, sys.argv.pop(1)); "
            "from pgo.cli.pgoctl import entry; entry()")
    return subprocess.run([sys.executable, "-IS", "-c", code, str(ROOT / "src"), *args],
                          stdout=stdout, stderr=subprocess.PIPE, text=True, check=False,
                          timeout=60)


def test_entry_leaves_with_mains_status_and_its_output_flushed() -> None:
    version = _entry("--version")  # print(..., end=""): still in the buffer at the end
    assert (version.returncode, version.stdout, version.stderr) == (0, "pgoctl 0.1.0", "")
    usage = _entry("h:s/c")
    assert usage.returncode == EXIT_USAGE and usage.stdout == ""
    assert usage.stderr.startswith("pgoctl: 'h:s/c': expected HOST:SERVICE//COMMAND")


def test_entry_reports_output_it_cannot_flush_as_the_interpreter_does() -> None:
    with open("/dev/full", "w") as full:
        result = _entry("--help", stdout=full)
    assert result.returncode == 120  # the interpreter's status for a failed flush at exit
    assert "No space left on device" in result.stderr
    closed = subprocess.run([sys.executable, "-IS", "-c", "import os, subprocess, sys; "
                             "os.close(1); sys.exit(subprocess.call(sys.argv[1:]))",
                             sys.executable, "-IS", "-c", "import sys; sys.path.insert(0, "
                             f"{str(ROOT / 'src')!r}); from pgo.cli.pgoctl import entry; "
                             "sys.argv[1:] = ['--version']; entry()"],
                            capture_output=True, text=True, check=False, timeout=60)
    assert (closed.returncode, closed.stderr) == (0, "")  # no stdout at all: as before
