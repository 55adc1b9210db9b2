"""`ps --json`: podman's entries in pgod's own shape."""

from __future__ import annotations

import json

from pgo.command import Request, parse_request
from pgo.pslist import entry, port_words, ps_json

# One element of podman 4.3.1's `podman ps -a --format json`, trimmed to what is read.
RUNNING = {
    "Id": "4f1c" * 16, "Image": "localhost/hello:latest", "Names": ["svc_web_1"],
    "State": "running", "Status": "Up 3 minutes (healthy)", "ExitCode": 0,
    "StartedAt": 1764650000, "Labels": {"io.podman.compose.service": "web"},
    "Ports": [{"host_ip": "127.0.0.1", "container_port": 8080, "host_port": 5006,
               "range": 1, "protocol": "tcp"}],
}


def test_a_running_container() -> None:
    assert entry(RUNNING) == {
        "name": "svc_web_1", "service": "web", "id": "4f1c" * 16,
        "image": "localhost/hello:latest", "state": "running",
        "status": "Up 3 minutes (healthy)", "health": "healthy", "exit_code": 0,
        "started": "2025-12-02T04:33:20Z", "ports": ["127.0.0.1:5006->8080/tcp"]}


def test_an_exited_container_without_ports_or_healthcheck() -> None:
    row = entry({"Names": ["svc_job_1"], "State": "exited", "Status": "Exited (3) 2 s ago",
                 "ExitCode": 3, "StartedAt": 0, "Ports": None, "Labels": None})
    assert (row["state"], row["exit_code"], row["health"], row["started"], row["ports"],
            row["service"]) == ("exited", 3, None, None, [], None)


def test_ports_ranges_any_address_udp_and_junk() -> None:
    assert port_words([
        {"host_ip": "", "container_port": 53, "host_port": 5353, "range": 1, "protocol": "udp"},
        {"host_ip": "::1", "container_port": 9000, "host_port": 7000, "range": 3},
        {"host_port": "80", "container_port": 80}, {"host_port": True, "container_port": 1},
        "80:80", None]) == ["0.0.0.0:5353->53/udp", "::1:7000-7002->9000-9002/tcp"]
    assert port_words(None) == [] and port_words({"host_port": 1}) == []


def test_the_array_is_sorted_by_name_and_is_json() -> None:
    other = {**RUNNING, "Names": ["svc_api_1"], "Ports": []}
    rows = json.loads(ps_json([RUNNING, other]))
    assert [r["name"] for r in rows] == ["svc_api_1", "svc_web_1"]
    assert json.loads(ps_json([])) == []


def test_ps_takes_json_and_nothing_else_of_its_own() -> None:
    assert parse_request("svc//ps --json") == Request("svc", "ps", ("--json",))
    assert parse_request("svc//ps") == Request("svc", "ps")
