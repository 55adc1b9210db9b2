"""pgoctl across hosts, the pure parts: several targets, labels, merging, exit status, and
the names and checks of the sockets of held connections."""

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from pgo.cli.fanout import Lines, labels, merge_json, worst
from pgo.cli.pgoctl import UsageError, parse_args, targets_of
from pgo.cli.sshmux import control_path, key_fingerprint, mux_options, socket_name, unsafe
from pgo.target import looks_like_target, parse_targets


def hosts_services(text: str) -> list[tuple[str, str]]:
    return [(t.host, t.service) for t in parse_targets(text)]


def test_commas_make_one_target_per_host_and_service() -> None:
    assert hosts_services("w1,w2:pgo//ps") == [("w1", "pgo"), ("w2", "pgo")]
    assert hosts_services("[::1],h:a,b//ps") == [("::1", "a"), ("::1", "b"), ("h", "a"),
                                                 ("h", "b")]
    assert hosts_services("[::1]:pgo//ps") == [("::1", "pgo")]


@pytest.mark.parametrize("text", ["w1,:pgo//ps", ",w:pgo//ps", "w:a,//ps", "w:pgo//",
                                  "pgo//ps", "w1,w2:pgo/ps", "[::1,h:s//ps"])
def test_bad_lists_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="HOST:SERVICE//COMMAND"):
        parse_targets(text)


def test_a_later_target_starts_another_command() -> None:
    args = parse_args(["-i", "k", "w1:a//logs", "--tail", "5", "w2:b//ps", "w3:c//ping"])
    assert args.targets == [("w1:a//logs", ["--tail", "5"]), ("w2:b//ps", []),
                            ("w3:c//ping", [])]
    assert (args.target, args.args) == ("w1:a//logs", ["--tail", "5"])


def test_after_a_double_dash_every_word_is_the_command_s() -> None:
    args = parse_args(["w1:a//freeze", "--", "see", "w2:b//ps"])
    assert args.targets == [("w1:a//freeze", ["see", "w2:b//ps"])]
    assert not looks_like_target("http://example.org") and looks_like_target("h:s//c")


def test_json_adds_json_and_takes_only_status_history_and_ps() -> None:
    targets = targets_of(parse_args(["--json", "a,b:s//status", "c:t//history", "-n", "2",
                                     "d:u//ps"]))
    assert [t.remote_command() for t in targets] == ["s//status --json", "s//status --json",
                                                     "t//history -n 2 --json", "u//ps --json"]
    with pytest.raises(UsageError, match="logs has no JSON output"):
        targets_of(parse_args(["--json", "a:s//status", "b:s//logs"]))


def test_labels_name_the_service_only_when_there_are_several() -> None:
    assert labels(parse_targets("w1,w2:pgo//ps")) == ["w1", "w2"]
    assert labels([*parse_targets("w1:a//ps"), *parse_targets("w2:b//ps")]) == ["w1:a", "w2:b"]


def test_lines_are_labelled_whole_however_they_arrive() -> None:
    lines = Lines(b"w1: ")
    assert lines.feed(b"one\ntw") == [b"w1: one\n"]
    assert lines.feed(b"o\n") == [b"w1: two\n"]
    assert lines.feed(b"three") == []
    assert lines.end() == [b"w1: three\n"] and lines.end() == []


def test_merged_json_keys_every_target_null_where_none_parses() -> None:
    text = merge_json(["w1:a", "w2:a"], [b'{"state": "ok"}\n', b""])
    assert json.loads(text) == {"w1:a": {"state": "ok"}, "w2:a": None}


def test_the_worst_status_is_the_highest() -> None:
    assert worst([0, 0]) == 0 and worst([0, 77, 68]) == 77 and worst([77, 255, 0]) == 255


def test_the_fingerprint_is_ssh_keygen_s(tmp_path: Path) -> None:
    key = tmp_path / "k"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    listed = subprocess.run(["ssh-keygen", "-l", "-E", "sha256", "-f", str(key)],
                            capture_output=True, text=True, check=True).stdout.split()[1]
    assert key_fingerprint(str(key)) == listed
    pem = tmp_path / "pem"
    pem.write_text("-----BEGIN RSA PRIVATE KEY-----\nabc\n-----END RSA PRIVATE KEY-----\n")
    assert (key_fingerprint(str(pem)) or "").startswith("file:")
    os.mkfifo(tmp_path / "fifo")
    assert key_fingerprint(str(tmp_path / "fifo")) is None  # (opening it does not hang)


def test_socket_names_differ_by_key_and_by_place() -> None:
    one = socket_name("SHA256:ab/c+" + "x" * 40, "root\0h\0002222")
    assert one.startswith("kab_c-xxxxxxxxxxxxxxxxx-") and "/" not in one
    assert one != socket_name("SHA256:zz" + "x" * 40, "root\0h\0002222")
    assert one != socket_name("SHA256:ab/c+" + "x" * 40, "root\0h\0002223")
    assert socket_name("file:abc", "w").startswith("f")


def test_the_directory_is_private_and_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    tmp_path = Path(tempfile.mkdtemp(prefix="t", dir="/tmp"))  # pytest's are too long
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "run"))
    key = tmp_path / "k"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    path, problem = control_path(str(key), "root\0h\0002222")
    assert problem == "" and path is not None
    assert os.path.dirname(path) == str(tmp_path / "run" / "pgoctl")
    assert (tmp_path / "run" / "pgoctl").stat().st_mode & 0o777 == 0o700
    (tmp_path / "run" / "pgoctl").chmod(0o777)
    assert "may be written by others" in unsafe(str(tmp_path / "run" / "pgoctl"), path)
    (tmp_path / "run" / "pgoctl").chmod(0o700)
    Path(path).write_text("not a socket")
    assert "is not a socket" in control_path(str(key), "root\0h\0002222")[1]
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / ("x" * 80)))
    assert "too long" in control_path(str(key), "root\0h\0002222")[1]
    shutil.rmtree(tmp_path)


def test_mux_options() -> None:
    assert mux_options(None) == ["-o", "ControlMaster=no", "-o", "ControlPath=none"]
    assert mux_options("/p", '"/p"') == ["-o", "ControlMaster=auto", "-o", 'ControlPath="/p"',
                                         "-o", "ControlPersist=60"]
