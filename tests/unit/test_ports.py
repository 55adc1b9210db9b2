"""Port ranges from the config and compose `ports:` entries as podman would publish them."""

from __future__ import annotations

import podman_compose
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from pgo.ports import MAX_PORT, PortRange, PublishedPort, parse_compose_port, parse_port_range

ports = st.integers(1, MAX_PORT)


@st.composite
def port_ranges(draw: st.DrawFn) -> PortRange:
    first = draw(ports)
    return PortRange(first, draw(st.integers(first, MAX_PORT)))


# -- PortRange ---------------------------------------------------------------------------

def test_range_contains_its_ends_and_nothing_outside() -> None:
    r = PortRange(5005, 5010)
    assert 5005 in r and 5010 in r and 5007 in r
    assert 5004 not in r and 5011 not in r
    assert "5005" not in r and True not in PortRange(1, 1)


def test_range_str() -> None:
    assert str(PortRange(5005, 5010)) == "5005-5010"
    assert str(PortRange(5005, 5005)) == "5005"


def test_ranges_order_by_first_then_last() -> None:
    assert sorted([PortRange(5, 9), PortRange(1, 3), PortRange(5, 6)]) == [
        PortRange(1, 3), PortRange(5, 6), PortRange(5, 9)]


@pytest.mark.parametrize(("first", "last"), [(0, 5), (5, 4), (1, 65536), (-1, 3)])
def test_range_refuses_impossible_bounds(first: int, last: int) -> None:
    with pytest.raises(ValueError, match="not within 1-65535"):
        PortRange(first, last)


# -- parse_port_range ----------------------------------------------------------------------

@pytest.mark.parametrize(("text", "expected"), [
    ("5005/5", PortRange(5005, 5010)),
    ("1025/5", PortRange(1025, 1030)),
    ("5005", PortRange(5005, 5005)),
    ("5005/0", PortRange(5005, 5005)),
    ("1", PortRange(1, 1)),
    ("65535", PortRange(65535, 65535)),
    ("65530/5", PortRange(65530, 65535)),
    ("1/65534", PortRange(1, 65535)),
    ("05005/05", PortRange(5005, 5010)),
])
def test_parse_port_range(text: str, expected: PortRange) -> None:
    assert parse_port_range(text) == expected


@pytest.mark.parametrize(("text", "fragment"), [
    ("", "port range is empty"),
    (" 5005/5", "white space"),
    ("5005/5 ", "white space"),
    ("5005 /5", "white space"),
    ("5005/5\n", "white space"),
    ("abc", "the port 'abc' is not a number"),
    ("5005/x", "the count 'x' is not a number"),
    ("5005-5010", "the port '5005-5010' is not a number"),
    ("+5005", "the port '+5005' is not a number"),
    ("5005/+5", "the count '+5' is not a number"),
    ("50.5", "is not a number"),
    ("\u0665\u0660\u0660\u0665", "is not a number"),  # Arabic-Indic digits: int() takes them
    ("5005/5/5", "the count '5/5' is not a number"),
    ("/5", "the port is missing"),
    ("5005/", "the count is missing"),
    ("-5", "the port -5 is negative"),
    ("5005/-5", "the count -5 is negative"),
    ("0", "port 0 is not within 1-65535"),
    ("0/5", "port 0 is not within 1-65535"),
    ("65536", "port 65536 is not within 1-65535"),
    ("9" * 5000, "is not within 1-65535"),
    ("65535/1", "runs past port 65535"),
    ("65530/6", "runs past port 65535"),
    ("1/99999999999999999999", "runs past port 65535"),
])
def test_parse_port_range_errors(text: str, fragment: str) -> None:
    with pytest.raises(ValueError, match="port range") as caught:
        parse_port_range(text)
    assert fragment in str(caught.value)
    assert len(str(caught.value)) < 300


@given(port_ranges())
def test_any_range_round_trips_through_the_config_syntax(r: PortRange) -> None:
    assert parse_port_range(f"{r.first}/{r.last - r.first}") == r
    assert str(r) == (f"{r.first}" if r.first == r.last else f"{r.first}-{r.last}")
    if r.first == r.last:
        assert parse_port_range(str(r)) == r


@given(st.text(alphabet="0123456789/-+ x", max_size=12) | st.text(max_size=12))
def test_garbage_never_parses_to_a_port_outside_1_to_65535(text: str) -> None:
    try:
        r = parse_port_range(text)
    except ValueError:
        return
    assert 1 <= r.first <= r.last <= MAX_PORT


# -- parse_compose_port: what it publishes ----------------------------------------------------

def tcp(host: int | None, container: str, ip: str | None = None) -> PublishedPort:
    return PublishedPort(ip, host, container, "tcp")


@pytest.mark.parametrize(("entry", "expected"), [
    ("80", [tcp(None, "80")]),
    (80, [tcp(None, "80")]),
    ("80-82", [tcp(None, "80"), tcp(None, "81"), tcp(None, "82")]),
    (":80", [tcp(None, "80")]),
    ("5006:80", [tcp(5006, "80")]),
    ("05006:080", [tcp(5006, "80")]),
    ("127.0.0.1:5006:80", [tcp(5006, "80", "127.0.0.1")]),
    ("0.0.0.0:5006:80", [tcp(5006, "80", "0.0.0.0")]),  # noqa: S104 (a port entry)
    ("127.0.0.1::80", [tcp(None, "80", "127.0.0.1")]),
    ("[::1]:5006:80", [tcp(5006, "80", "::1")]),
    ("[0:0::0:1]:5006:80", [tcp(5006, "80", "::1")]),
    ("[::1]::80", [tcp(None, "80", "::1")]),
    ("[127.0.0.1]:5006:80", [tcp(5006, "80", "127.0.0.1")]),
    ("5005-5007:80-82", [tcp(5005, "80"), tcp(5006, "81"), tcp(5007, "82")]),
    ("5006:80/udp", [PublishedPort(None, 5006, "80", "udp")]),
    ("5006:80/UDP", [PublishedPort(None, 5006, "80", "udp")]),
    ("5006:80/sctp", [PublishedPort(None, 5006, "80", "sctp")]),
    ("5006:80/tcp", [tcp(5006, "80")]),
    ("5006:80/tcp,udp,tcp", [tcp(5006, "80"), PublishedPort(None, 5006, "80", "udp")]),
    ({"target": 80}, [tcp(None, "80")]),
    ({"target": "80", "published": 5006}, [tcp(5006, "80")]),
    ({"target": 80, "published": "5006"}, [tcp(5006, "80")]),
    ({"target": 80, "published": 0}, [tcp(None, "80")]),
    ({"target": 80, "published": ""}, [tcp(None, "80")]),
    ({"target": 80, "published": None}, [tcp(None, "80")]),
    ({"target": "80-81", "published": "5005-5006"}, [tcp(5005, "80"), tcp(5006, "81")]),
    ({"target": 80, "host_ip": "127.0.0.1"}, [tcp(None, "80", "127.0.0.1")]),
    ({"target": 80, "published": 5006, "host_ip": "[::1]"}, [tcp(5006, "80", "::1")]),
    ({"target": 80, "published": 5006, "protocol": "udp"},
     [PublishedPort(None, 5006, "80", "udp")]),
    ({"target": 80, "published": 5006, "mode": "host", "name": "web", "app_protocol": "http",
      "x-note": "ok"}, [tcp(5006, "80")]),
    # podman-compose pastes target into the -p string: this one publishes host port 8080
    ({"target": "8080:80"}, [tcp(8080, "80")]),
])
def test_parse_compose_port(entry: object, expected: list[PublishedPort]) -> None:
    assert parse_compose_port(entry) == expected


@pytest.mark.parametrize(("entry", "fragment"), [
    ("", "is empty"),
    (" 80", "white space"),
    ("5006: 80", "white space"),
    ("80\t", "white space"),
    ("abc", "container port 'abc' is not PORT or FIRST-LAST"),
    ("+80", "container port '+80' is not PORT or FIRST-LAST"),
    ("+5006:80", "host port '+5006' is not PORT or FIRST-LAST"),
    ("-1", "is not PORT or FIRST-LAST"),
    ("80-", "is not PORT or FIRST-LAST"),
    ("80-82-84", "is not PORT or FIRST-LAST"),
    ("0", "container port '0' is not within 1-65535"),
    ("65536", "is not within 1-65535"),
    ("5006:0", "is not within 1-65535"),
    ("0:80", "host port '0' is not within 1-65535"),
    ("70000:80", "host port '70000' is not within 1-65535"),
    ("80-80", "does not go upwards"),
    ("5010-5005:80-85", "does not go upwards"),
    ("5005-5007:80", "differ in number"),
    ("5005:80-82", "differ in number"),
    ("5005-5006:80-82", "differ in number"),
    ("80/", "protocol '' is not one of"),
    ("80/icmp", "protocol 'icmp' is not one of"),
    ("80/tcp,", "protocol '' is not one of"),
    ("80/tcp/udp", "protocol 'tcp/udp' is not one of"),
    ("5006:", "the container port is missing"),
    ("1:2:3:4", "put an IPv6 address in brackets"),
    ("::1:5006:80", "put an IPv6 address in brackets"),
    ("::80", "host IP '' is not an IP address"),
    (":5006:80", "host IP '' is not an IP address"),
    ("localhost:5006:80", "host IP 'localhost' is not an IP address"),
    ("300.1.1.1:5006:80", "host IP '300.1.1.1' is not an IP address"),
    ("[fe80::1%eth0]:5006:80", "is not an IP address"),
    ("[::1]:80", "with an IPv6 address"),
    ("[::1]:1:2:3", "with an IPv6 address"),
    ("[::1]5006:80", "write an IPv6 address as [ADDRESS]"),
    ("::1]:5006:80", "write an IPv6 address as [ADDRESS]"),
    ("[::1]:[::2]:80", "more than one IPv6 address"),
    (True, "is a boolean"),
    (None, "neither a string, a number nor a mapping"),
    (8.5, "neither a string, a number nor a mapping"),
    ([80], "neither a string, a number nor a mapping"),
    (-80, "is not PORT or FIRST-LAST"),
    ({"published": 5006}, "'target' (the container port) is required"),
    ({"target": 0, "published": 5006}, "'target' (the container port) is required"),
    ({"target": "0", "published": 5006}, "is not within 1-65535"),
    ({"target": 80, "published": True}, "published True is not a string or number"),
    ({"target": 80, "published": [5006]}, "is not a string or number"),
    ({"target": 80, "published": "5005-5007"}, "differ in number"),
    ({"target": 80, "published": 5006, "host_ip": "::1"}, "put an IPv6 address in brackets"),
    ({"target": 80, "published": 5006, "protocol": None}, "protocol 'None' is not one of"),
    ({"target": 80, "published": 5006, "protocol": ""}, "protocol '' is not one of"),
    ({"target": 80, "pubished": 5006}, "unknown key 'pubished'"),
    # podman-compose writes a null published port into -p as the text None (hypothesis found it)
    ({"target": 1, "published": None, "host_ip": "127.0.0.1"}, "host port 'None' is not"),
])
def test_parse_compose_port_errors(entry: object, fragment: str) -> None:
    with pytest.raises(ValueError, match="ports entry") as caught:
        parse_compose_port(entry)
    assert fragment in str(caught.value)


def test_published_port_str_names_ports_and_ip() -> None:
    assert str(tcp(5006, "80", "::1")) == "container port 80/tcp on host port 5006 of ::1"
    assert str(tcp(None, "80")) == "container port 80/tcp on a random host port"


# -- parse_compose_port: properties -----------------------------------------------------------

ipv4 = st.ip_addresses(v=4).map(str)
ipv6 = st.ip_addresses(v=6).map(str)
protocols = st.lists(st.sampled_from(["tcp", "udp", "sctp", "TCP", "Udp"]), min_size=1,
                     max_size=3)


@st.composite
def spans(draw: st.DrawFn, length: int | None = None) -> tuple[str, list[int]]:
    """A port or FIRST-LAST range as text, with its ports; `length` fixes the count."""
    size = draw(st.integers(1, 50)) if length is None else length
    first = draw(st.integers(1, MAX_PORT - size + 1))
    ports_ = list(range(first, first + size))
    if size == 1 and draw(st.booleans()):
        return str(first), ports_
    assume(size > 1)
    return f"{first}-{first + size - 1}", ports_


@st.composite
def short_entries(draw: st.DrawFn) -> tuple[str, str | None, list[int], list[int], list[str]]:
    """A valid short-syntax entry with the IP, host ports, container ports, protocols in it."""
    container_text, container = draw(spans())
    host_text, hosts = draw(spans(len(container)))
    ip = draw(st.none() | ipv4 | ipv6)
    text = f"{host_text}:{container_text}"
    if ip is not None:
        text = f"[{ip}]:{text}" if ":" in ip else f"{ip}:{text}"
    chosen = draw(st.none() | protocols)
    if chosen is not None:
        text += "/" + ",".join(chosen)
    names = list(dict.fromkeys(p.lower() for p in chosen or ["tcp"]))
    return text, ip, hosts, container, names


@given(short_entries())
def test_short_syntax_publishes_exactly_the_generated_host_ports(
        case: tuple[str, str | None, list[int], list[int], list[str]]) -> None:
    text, ip, hosts, container, names = case
    published = parse_compose_port(text)
    assert published == [PublishedPort(ip, h, str(c), p) for p in names
                         for h, c in zip(hosts, container, strict=True)]


@given(spans(), st.none() | ipv4)
def test_container_only_entries_publish_on_random_host_ports(
        container: tuple[str, list[int]], ip: str | None) -> None:
    text = container[0] if ip is None else f"{ip}::{container[0]}"
    published = parse_compose_port(text)
    assert [p.host_port for p in published] == [None] * len(container[1])
    assert [int(p.container_port) for p in published] == container[1]


garbage = st.text(alphabet="0123456789:-/[].,abtcpud+ ", max_size=24) | st.text(max_size=16)


@given(garbage | st.integers() | st.dictionaries(
    st.sampled_from(["target", "published", "host_ip", "protocol"]),
    garbage | st.integers() | st.none()))
def test_garbage_never_publishes_a_port_outside_1_to_65535(entry: object) -> None:
    try:
        published = parse_compose_port(entry)
    except ValueError:
        return
    assert published
    for port in published:
        assert port.host_port is None or 1 <= port.host_port <= MAX_PORT
        assert 1 <= int(port.container_port) <= MAX_PORT
        assert port.protocol in ("tcp", "udp", "sctp")


long_values = st.none() | st.integers(-1, 70000) | st.sampled_from(
    ["", "80", "5005-5006", "8080:80", "127.0.0.1", "[::1]", "::1", "udp", "tcp", "x"])


@given(st.dictionaries(st.sampled_from(["target", "published", "host_ip", "protocol"]),
                       long_values))
def test_long_syntax_reads_as_the_string_podman_compose_makes_of_it(
        entry: dict[str, object]) -> None:
    try:
        as_string = podman_compose.port_dict_to_str(entry)
    except ValueError:
        with pytest.raises(ValueError, match="'target'"):
            parse_compose_port(entry)
        return
    try:
        expected: list[PublishedPort] | str = parse_compose_port(as_string)
    except ValueError as err:
        expected = "error"
        assert "ports entry" in str(err)
    try:
        got: list[PublishedPort] | str = parse_compose_port(entry)
    except ValueError:
        got = "error"
    assert got == expected
