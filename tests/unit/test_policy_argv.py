"""The argument layer's checks, pure: podman's splitting as podman does it (a port of Go's
encoding/csv, first record, which pflag's `strings` options use), and every part checked."""

from __future__ import annotations

import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pgo.policy import podmanopts as opts
from pgo.policy.argv import check_calls
from pgo.policy.podmanargs import Parsed, Scope, check_options
from pgo.policy.shapes import ShapeError, unsplit
from pgo.ports import PortRange


def go_csv_first_record(text: str) -> list[str] | None:
    """pflag's readAsCSV: encoding/csv's Reader.Read() on the value (Comma ',', no lazy
    quotes, no trimming): blank lines skipped, fields split at ',', a field starting with
    '"' quoted ('""' is a quote, line breaks allowed), a bare '"' an error (None)."""
    if text == "":
        return []
    text = text.replace("\r\n", "\n")
    while text.startswith("\n"):
        text = text[1:]
    if text == "":
        return None  # io.EOF: podman errors
    fields, i = [], 0
    while True:
        if text.startswith('"', i):
            value, i = [], i + 1
            while True:
                end = text.find('"', i)
                if end < 0:
                    return None  # extraneous or missing quote
                value.append(text[i:end])
                if text.startswith('"', end + 1):
                    value.append('"')
                    i = end + 2
                    continue
                i = end + 1
                break
            field = "".join(value)
            if i < len(text) and text[i] not in ",\n":
                return None
        else:
            end = min((p for p in (text.find(",", i), text.find("\n", i)) if p >= 0),
                      default=len(text))
            field = text[i:end]
            if '"' in field:
                return None  # bare quote
            i = end
        fields.append(field.rstrip("\r"))
        if i >= len(text) or text[i] == "\n":
            return fields
        i += 1


VALUES = st.text(alphabet=string.ascii_letters[:4] + string.digits[:3] + ',"= \t\n\r=:/-',
                 max_size=24)


@given(VALUES)
def test_podman_splits_as_pgod_does_where_pgod_splits(value: str) -> None:
    parts = opts.split_like_podman(value)
    if parts is not None:  # None: refused, whatever podman would make of it
        assert go_csv_first_record(value) == parts


SPLITTING = sorted({o.names[0]: o for table in (opts.CREATE, opts.BUILD, opts.NETWORK_CREATE,
                                                opts.VOLUME_CREATE)
                    for o in table if o.splits and o.check}.items())
SINGLE = sorted({o.names[0]: o for table in (opts.CREATE, opts.BUILD, opts.PULL, opts.POD_CREATE)
                 for o in table if o.value and not o.splits and o.check}.items())


@pytest.mark.parametrize(("name", "option"), SPLITTING, ids=[n for n, _ in SPLITTING])
@given(value=VALUES)
def test_every_part_podman_reads_is_checked(name: str, option: opts.Option,
                                            value: str) -> None:
    problems = list(check_options(Parsed(options=[(name, value)]), {name: option}))
    podman_reads = go_csv_first_record(value)
    if not problems:
        assert podman_reads is not None and option.check is not None
        assert all(option.check(part) is None for part in podman_reads)


@pytest.mark.parametrize(("name", "option"), SINGLE, ids=[n for n, _ in SINGLE])
@given(value=VALUES)
def test_a_value_podman_takes_whole_is_checked_whole(name: str, option: opts.Option,
                                                     value: str) -> None:
    problems = list(check_options(Parsed(options=[(name, value)]), {name: option}))
    assert option.check is not None
    assert bool(problems) == (option.check(value) is not None)


@given(VALUES)
def test_the_model_layer_passes_only_values_podman_reads_as_one(value: str) -> None:
    try:
        unsplit("group_add", value, "--group-add")
    except ShapeError:
        return
    assert go_csv_first_record(value) == ([value] if value else [])


SCOPE = Scope("/srv/web", (PortRange(5006, 5010),), ("https://github.com/org/*",))
IMAGE = "docker.io/library/busybox"


def create(*args: str) -> list[str]:
    return ["create", "--name=web_1", "--label", "io.podman.compose.service=web", *args,
            IMAGE, "sh"]


@pytest.mark.parametrize(("call", "fragment"), [
    (create("--privileged"), "argument '--privileged': not an option pgod admits here"),
    (create("--cap-add", "NET_ADMIN"), "argument '--cap-add'"),
    (create("--device", "/dev/fuse"), "argument '--device'"),
    (create("--security-opt", "label=disable"), "only no-new-privileges"),
    (create("--log-opt=tag=x,path=/etc/passwd"), "(part 'path=/etc/passwd')"),
    (create("--group-add", "audio,keep-groups"), "(part 'keep-groups')"),
    (create("--group-add", '"keep-groups"'), "a quote or a line break"),
    (create("-v", "/:/host"), "'/' is outside the checkout /srv/web"),
    (create("-v", "/srv/web/../etc:/e:ro"), "'/srv/etc' is outside"),
    (create("-v", "/srv/web/data:/d:U"), "option 'U' is not admitted"),
    (create("--mount", "type=bind,source=/etc,destination=/e"), "'/etc' is outside"),
    (create("--mount", "type=image,source=x,destination=/e"), "only types bind, volume"),
    (create("-p", "8080:80"), "host port 8080 is outside"),
    (create("-p", "5006:80,9000:90"), "host port 9000 is outside"),
    (create("--network=host"), "'host' is not a network of this project"),
    (create("--network=slirp4netns:allow_host_loopback=true"), "allow_host_loopback=true"),
    (create("--network=container:other_1"), "not a container of this project"),
    (create("--pid", "host"), "only private"),
    (create("--userns", "host"), "only keep-id, nomap, auto or private"),
    (create("--sysctl", "net.ipv4.ip_forward=1,kernel.core_pattern=|x"), "namespaced"),
    (create("--pod=other"), "not a pod of this project"),
    (["build", "-t", "x", "--ssh", "default", "/srv/web"], "argument '--ssh'"),
    (["build", "-t", "x", "http://127.0.0.1/x.git"], "is a URL, which the host fetches"),
    (["build", "-t", "x", "/etc"], "'/etc' is outside"),
    (["build", "-t", "x", "--build-context=k=/etc", "/srv/web"], "'/etc' is outside"),
    (["build", "-f", "/etc/passwd", "-t", "x", "/srv/web"], "'/etc/passwd' is outside"),
    (["pull", "docker-archive:/tmp/x.tar"], "transport"),
    (["volume", "create", "--opt", "device=/etc", "v"], "'/etc' is outside"),
    (["network", "create", "--driver", "macvlan", "n"], "only bridge"),
    (["pod", "create", "--name=p", "--userns=host"], "argument '--userns=host'"),
    (["start", "other_1"], "not the start of the project's containers"),
    (["rm", "-f", "x"], "'rm -f x' is not a podman command pgod admits"),
    (["create", "--name=web_1", "--unknown-option", IMAGE], "'--unknown-option'"),
])
def test_arguments_refused(call: list[str], fragment: str) -> None:
    got = check_calls([call], SCOPE)
    assert got and any(fragment in m for m in got), got


def test_messages_name_the_compose_service() -> None:
    got = check_calls([create("-v", "/:/h"), ["build", "-t", IMAGE, "/etc"]], SCOPE)
    assert got[0].startswith("compose service 'web': podman create: argument -v '/:/h'")
    assert got[1].startswith("compose service 'web': podman build: argument context")


def test_arguments_admitted() -> None:
    calls = [["pod", "create", "--name=pod_web", "--infra=false", "--share="],
             ["network", "create", "--label", "a=b", "web_front"],
             ["volume", "create", "--label", "a=b", "web_data"],
             ["build", "-f", "/srv/web/Containerfile", "-t", IMAGE, "--build-arg", "A=a,b",
              "--build-context=lib=/srv/web/lib", "/srv/web"],
             create("--pod=pod_web", "-v", "/srv/web/data:/d:ro", "--mount",
                    "type=volume,source=web_data,destination=/v", "--network=web_front:alias=a",
                    "-p", "5006:80", "-e", "A=a,b,\"c\"", "--log-opt=max-size=1m",
                    "--group-add", "audio", "--security-opt", "no-new-privileges"),
             ["start", "web_1"], ["wait", "--condition=running", "web_1"]]
    assert check_calls(calls, SCOPE) == []
