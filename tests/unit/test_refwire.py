"""refwire: pkt-lines, the git:// request, v2's ls-refs, v0's advertisement, and when the
ref worker may answer at all."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pgo import refwire
from pgo.gittree import is_oid
from pgo.refwire import RemoteError, Special, Target, WireError
from pgo.refworker import config_files

A = "a" * 40
B = "b" * 40
S256 = "c" * 64


def packets(*items: bytes | str | Special) -> bytes:
    return b"".join(i.value if isinstance(i, Special) else refwire.pkt(i) for i in items)


# -- pkt-lines --------------------------------------------------------------------------

@given(st.lists(st.one_of(st.binary(min_size=1, max_size=300),
                          st.sampled_from(list(Special)))))
def test_packets_decode_to_what_was_encoded(items: list[bytes | Special]) -> None:
    data = packets(*items)
    assert refwire.decode(data) == (items, b"")


@given(st.lists(st.binary(min_size=1, max_size=50), min_size=1), st.data())
def test_a_cut_stream_decodes_its_whole_packets_and_keeps_the_rest(
        items: list[bytes], data: st.DataObject) -> None:
    whole = packets(*items)
    cut = data.draw(st.integers(0, len(whole)))
    got, rest = refwire.decode(whole[:cut])
    assert packets(*got) + rest == whole[:cut]  # nothing lost, nothing made up
    assert got == items[:len(got)]
    assert len(rest) < 4 or len(rest) < refwire.length(rest[:4])


def test_pkt_line_format() -> None:
    assert refwire.pkt("a\n") == b"0006a\n"
    assert refwire.pkt(b"x" * 65516)[:4] == b"fff0"
    with pytest.raises(ValueError, match="a pkt-line holds"):
        refwire.pkt(b"x" * 65517)
    with pytest.raises(ValueError, match="a pkt-line holds"):
        refwire.pkt(b"")


@pytest.mark.parametrize("header", [b"000g", b"0003", b"fff1", b"ffff", b"00 4", b"004"])
def test_bad_lengths_are_wire_errors(header: bytes) -> None:
    with pytest.raises(WireError):
        refwire.length(header)


def test_special_lengths() -> None:
    assert [refwire.special(n) for n in (0, 1, 2, 4)] == [
        Special.FLUSH, Special.DELIM, Special.END, None]


# -- the git:// URL ---------------------------------------------------------------------

@pytest.mark.parametrize(("url", "target"), [
    ("git://example.org/repo.git", Target("example.org", 9418, "example.org", "/repo.git")),
    ("git://127.0.0.1:9419/a/b.git", Target("127.0.0.1", 9419, "127.0.0.1:9419", "/a/b.git")),
    ("git://[::1]:7/r", Target("::1", 7, "[::1]:7", "/r")),
    ("git://host/~alice/r.git", Target("host", 9418, "host", "~alice/r.git")),
])
def test_git_urls_it_takes(url: str, target: Target) -> None:
    assert refwire.git_target(url) == target


@pytest.mark.parametrize("url", [
    "https://example.org/r.git", "ssh://host/r.git", "file:///srv/r.git", "/srv/r.git",
    "host:r.git", "git://user@host/r.git", "git://user:pw@host/r.git", "git://host/",
    "git://host", "git://host/a%20b", "git://host/r?x=1", "git://host/r#frag",
    "git://host/a b", "git://host/a\nb", "git://host:0/r", "git://host:70000/r",
    "git://-host/r", "git://host:/r", "GIT://host/r", "git://host/a\\b", "git://hö.st/r",
])
def test_git_urls_it_leaves_to_git(url: str) -> None:
    assert refwire.git_target(url) is None


def test_the_request_names_the_path_and_host_and_asks_for_v2() -> None:
    target = refwire.git_target("git://127.0.0.1:9419/r.git")
    assert target is not None
    line = b"git-upload-pack /r.git\0host=127.0.0.1:9419\0"
    assert target.request(2) == refwire.pkt(line + b"\0version=2\0")
    assert target.request(0) == refwire.pkt(line)


# -- protocol v2 ------------------------------------------------------------------------

V2_CAPS = ["version 2\n", "agent=git/2.39.5\n", "ls-refs=unborn\n", "fetch=shallow\n",
           "server-option\n", "object-format=sha1\n"]


def test_v2_capabilities_and_the_ls_refs_request() -> None:
    got, _ = refwire.decode(packets(*V2_CAPS, Special.FLUSH))
    assert refwire.is_v2(got[0])
    caps = refwire.capabilities(got[1:])
    assert caps == {"agent": "git/2.39.5", "ls-refs": "unborn", "fetch": "shallow",
                    "server-option": "", "object-format": "sha1"}
    assert refwire.ls_refs("refs/heads/main", caps) == packets(
        "command=ls-refs\n", "object-format=sha1\n", Special.DELIM,
        "ref-prefix refs/heads/main\n", Special.FLUSH)
    assert refwire.ls_refs("refs/heads/x", {"ls-refs": ""}) == packets(
        "command=ls-refs\n", Special.DELIM, "ref-prefix refs/heads/x\n", Special.FLUSH)


def test_no_ls_refs_no_flush_or_an_error_in_the_capabilities() -> None:
    with pytest.raises(WireError):
        refwire.ls_refs("refs/heads/main", {"fetch": ""})
    with pytest.raises(WireError):
        refwire.capabilities([b"ls-refs\n"])
    with pytest.raises(RemoteError, match="access denied"):
        refwire.capabilities([b"ERR access denied\n", Special.FLUSH])


def test_ls_refs_answer() -> None:
    got, _ = refwire.decode(packets(f"{A} refs/heads/main\n",
                                    f"{B} refs/heads/main-2 symref-target:x\n",
                                    f"{S256} refs/heads/main/x\n", Special.FLUSH))
    assert refwire.listed_refs(got) == {"refs/heads/main": A, "refs/heads/main-2": B,
                                        "refs/heads/main/x": S256}
    assert refwire.listed_refs([Special.FLUSH]) == {}


@pytest.mark.parametrize("bad", [
    [b"xyz refs/heads/main\n", Special.FLUSH], [f"{A}\n".encode(), Special.FLUSH],
    [f"{A[:39]} refs/heads/main\n".encode(), Special.FLUSH], [f"{A} refs/heads/m\n".encode()],
    [Special.DELIM, Special.FLUSH],
])
def test_ls_refs_answers_it_does_not_take(bad: list[refwire.Packet]) -> None:
    with pytest.raises(WireError):
        refwire.listed_refs(bad)


# -- protocol v0 ------------------------------------------------------------------------

def test_v0_advertisement() -> None:
    got, _ = refwire.decode(packets(
        f"{A} HEAD\0multi_ack thin-pack symref=HEAD:refs/heads/main agent=git/2.39\n",
        f"{A} refs/heads/main\n", f"{B} refs/tags/v1\n", f"{A} refs/tags/v1^{{}}\n",
        Special.FLUSH))
    assert refwire.advertised_refs(got) == {"HEAD": A, "refs/heads/main": A,
                                            "refs/tags/v1": B}
    assert not refwire.is_v2(got[0])


def test_v1_and_an_empty_repository() -> None:
    got, _ = refwire.decode(packets("version 1\n", f"{'0' * 40} capabilities^{{}}\0agent=x\n",
                                    Special.FLUSH))
    assert refwire.advertised_refs(got) == {}
    got, _ = refwire.decode(packets("version 1\n", f"{A} refs/heads/main\0caps\n",
                                    Special.FLUSH))
    assert refwire.advertised_refs(got) == {"refs/heads/main": A}


def test_v0_errors() -> None:
    with pytest.raises(RemoteError, match="no such repository"):
        refwire.advertised_refs([b"ERR no such repository: /x\n"])
    with pytest.raises(WireError):
        refwire.advertised_refs([f"{A} refs/heads/main\n".encode()])
    with pytest.raises(WireError):
        refwire.advertised_refs([b"hello\n", Special.FLUSH])


# -- may the worker answer --------------------------------------------------------------

@pytest.mark.parametrize("key", [
    "url.git://mirror/.insteadof", "url.https://x/.pushinsteadof", "core.gitproxy",
    "http.proxy", "protocol.allow", "protocol.git.allow", "protocol.version",
    "include.path", "includeif.gitdir:/x/.path", "remote.git://h/r.git.url",
    "URL.git://mirror/.insteadOf",
])
def test_config_keys_that_leave_it_to_git(key: str) -> None:
    keys = ["user.name", "core.bare", key, "remote.origin.url"]
    assert refwire.config_defers(keys, "git://h/r.git") == key


def test_config_keys_that_do_not() -> None:
    keys = ["user.name", "core.repositoryformatversion", "core.filemode", "core.bare",
            "remote.origin.url", "remote.origin.fetch", "branch.main.remote", "safe.directory",
            "url.git://x/.name", "http.sslverify", "core.sshcommand", "credential.helper"]
    assert refwire.config_defers(keys, "git://h/r.git") is None


def test_config_listing_keys() -> None:
    listing = b"user.name\nA B\0safe.directory\n/x\0core.bare\nfalse\0core.emptyvalue\0"
    assert refwire.config_keys(listing) == ["user.name", "safe.directory", "core.bare",
                                            "core.emptyvalue"]
    assert refwire.config_keys(b"") == []


def test_environment() -> None:
    ours = {"HOME": "/h", "PATH": "/bin", "GIT_TERMINAL_PROMPT": "0",
            "GIT_SSH_COMMAND": "ssh -o BatchMode=yes", "GIT_CONFIG_SYSTEM": "/x"}
    assert refwire.env_defers(ours) is None
    assert refwire.env_defers({**ours, "GIT_CONFIG_NOSYSTEM": "1"}) is None
    for name in ("GIT_PROXY_COMMAND", "GIT_CONFIG_PARAMETERS", "GIT_CONFIG_GLOBAL",
                 "GIT_ALLOW_PROTOCOL", "GIT_CONFIG_COUNT"):
        assert refwire.env_defers({**ours, name: "x"}) == name


def test_object_ids() -> None:
    """What a worker may send onwards (refpool) and what the listings keep (gittree)."""
    assert is_oid(A) and is_oid(S256)
    for bad in (A.upper(), A[:39], A + "a", "", None, 1, "g" * 40, f"{A}\n"):
        assert not is_oid(bad)


def test_the_config_files_the_worker_watches() -> None:
    env = {"HOME": "/home/a", "GIT_CONFIG_SYSTEM": "/var/lib/pgo/.pgod-gitconfig"}
    assert config_files("/var/lib/pgo/s", env) == [
        "/var/lib/pgo/.pgod-gitconfig", "/home/a/.gitconfig", "/home/a/.config/git/config",
        "/var/lib/pgo/s/.git/config"]
    assert config_files("/c", {"HOME": "/h", "GIT_CONFIG_NOSYSTEM": "1",
                               "XDG_CONFIG_HOME": "/x"}) == [
        "/h/.gitconfig", "/x/git/config", "/c/.git/config"]
    assert config_files("/c", {"HOME": "/h"})[0] == "/etc/gitconfig"


@pytest.mark.parametrize(("url", "base"), [
    ("https://example.org/r.git", "https://example.org/r.git/"),
    ("http://127.0.0.1:8080/a/r/", "http://127.0.0.1:8080/a/r/"),
])
def test_http_urls_it_takes(url: str, base: str) -> None:
    assert refwire.http_base(url) == base


@pytest.mark.parametrize("url", [
    "https://user:token@example.org/r.git", "https://u@h/r", "https://h/r?x", "https://h/a%2f",
    "https://h", "https://[::1]/r", "https://h/a b", "ftp://h/r", "git://h/r",
])
def test_http_urls_it_leaves_to_git(url: str) -> None:
    assert refwire.http_base(url) is None


def test_smart_http_v0_service_header() -> None:
    got, _ = refwire.decode(packets("# service=git-upload-pack\n", Special.FLUSH,
                                    f"{A} refs/heads/main\0caps\n", Special.FLUSH))
    assert refwire.advertised_refs(refwire.service_header(got)) == {"refs/heads/main": A}
    with pytest.raises(WireError):
        refwire.service_header(got[2:])


def test_http_config_and_proxies() -> None:
    url = "https://h/r.git"
    for key in ("http.extraheader", "http.https://h/.sslverify", "credential.helper",
                "http.proxy"):
        assert refwire.config_defers(["user.name", key], url) == key
        assert refwire.config_defers(["user.name", key], "git://h/r") in (None, "http.proxy")
    assert refwire.env_defers({"HOME": "/h", "HTTPS_PROXY": "x"}, url) == "HTTPS_PROXY"
    assert refwire.env_defers({"HOME": "/h", "https_proxy": "x"}, "git://h/r") is None


def test_an_err_packet_is_the_servers_refusal() -> None:
    refwire.refused(f"{A} refs/heads/main\n".encode())
    refwire.refused(Special.FLUSH)
    with pytest.raises(RemoteError, match=r"^access denied or repository not exported: /x$"):
        refwire.refused(b"ERR access denied or repository not exported: /x")
