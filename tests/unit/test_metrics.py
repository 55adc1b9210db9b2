"""GET /metrics: what records, events, containers and SSH sessions mean as samples."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from pgo import state
from pgo.http import gauges
from pgo.http.metrics import Metrics, go_names
from pgo.http.observe import Observer, command_labels, exit_label, new_attempt
from pgo.http.tally import Histogram
from pgo.penalties import Failure, Penalties
from pgo.state import Outcome, Record, State
from pgo.status import ContainerRow

A = "a" * 40
B = "b" * 40
C = "c" * 40


@dataclass
class FakeSeen:
    at: float
    rows: tuple[ContainerRow, ...]


@dataclass
class FakeRunner:
    record: Record
    seen: FakeSeen | None = None
    fetch_took: float = 0.0


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def feed(observer: Observer, record: Record, *events: state.Event,
         clock: Clock | None = None, step: float = 0.0) -> Record:
    """Apply events as a runner does, telling the observer of each change."""
    for event in events:
        after = state.transition(record, event, 1000.0)
        observer.watch(record, event, after)
        record = after
        if clock is not None:
            clock.now += step
    return record


def deployed(service: str, commit: str) -> Record:
    return state.transition(Record(service=service), state.Deployed(
        commit, "subject", "start", "first"), 500.0)


# -- gauges from a record ---------------------------------------------------------------

def test_state_samples_one_per_state_one_of_them_set() -> None:
    samples = dict(gauges.state_samples(deployed("web", A)))
    assert len(samples) == len(State)
    assert samples[("web", "ok")] == 1.0
    assert sum(samples.values()) == 1.0


def test_deployed_info_names_the_deployed_commit_only_once_there_is_one() -> None:
    assert gauges.deployed_info(Record(service="web")) == []
    assert gauges.deployed_info(deployed("web", A)) == [(("web", A), 1.0)]


def test_last_success_is_the_newest_deployed_attempt() -> None:
    record = deployed("web", A)
    record = state.transition(record, state.Deployed(B, "", "poll", "", Outcome.NO_CHANGE),
                              900.0)
    record = state.transition(record, state.Broke(C, "", "poll", "gate"), 950.0)
    assert gauges.last_success(record) == [(("web",), 500.0)]
    assert gauges.last_success(Record(service="web")) == []


def test_fetch_samples_count_failures_in_a_row_until_one_works() -> None:
    record = state.transition(Record(service="web"), state.FetchFailed("down"), 10.0)
    record = state.transition(record, state.FetchFailed("down"), 20.0)
    assert gauges.fetch_samples(record) == ([(("web",), 20.0)], [(("web",), 2.0)])
    record = state.transition(record, state.Fetched(A), 30.0)
    assert gauges.fetch_samples(record) == ([(("web",), 30.0)], [(("web",), 0.0)])


def test_compose_service_health_from_the_rows_last_seen() -> None:
    rows = [ContainerRow("p_web_1", "web", "running", "healthy"),
            ContainerRow("p_web_2", "web", "running", "starting"),
            ContainerRow("p_db_1", "db", "running"),
            ContainerRow("p_job_1", "job", "exited", exit_code=1)]
    assert gauges.compose_service_samples("svc", rows) == [
        (("svc", "db"), 1.0), (("svc", "job"), 0.0), (("svc", "web"), 0.0)]
    assert gauges.container_samples("svc", rows) == [
        (("svc", "db", "running", "none"), 1.0), (("svc", "job", "exited", "none"), 1.0),
        (("svc", "web", "running", "healthy"), 1.0),
        (("svc", "web", "running", "starting"), 1.0)]


# -- counting events --------------------------------------------------------------------

def test_deploys_counted_by_outcome_once_per_history_entry() -> None:
    observer = Observer(["web"], lambda _: 0.0)
    record = feed(observer, Record(service="web"), state.Deploying(A),
                  state.Deployed(A, "", "start", ""))
    refused = state.Refused(B, "", "poll", "ports")
    record = feed(observer, record, state.Fetched(B), refused, refused, refused)
    record = feed(observer, record, state.Fetched(C), state.Deploying(C),
                  state.Broke(C, "", "poll", "gate"), state.Restored(A, "", "back"))
    counts = observer.deploys
    assert counts.get(("web", "deployed")) == 1
    assert counts.get(("web", "refused")) == 1  # the same refusal at every pass: once
    assert counts.get(("web", "broken")) == 1
    assert counts.get(("web", "rolled_back")) == 1
    assert counts.get(("web", "failed")) == 0
    assert observer.refusals.get(("web",)) == 1
    assert record.state is State.BROKEN


def test_every_outcome_starts_at_zero_for_every_service() -> None:
    observer = Observer(["a", "b"], lambda _: 0.0)
    assert {labels for labels, _ in observer.deploys.items()} == {
        (s, o.name.lower()) for s in ("a", "b") for o in Outcome}


def test_deploy_duration_is_the_time_spent_deploying() -> None:
    clock = Clock()
    observer = Observer(["web"], lambda _: 0.0, clock)
    feed(observer, Record(service="web"), state.Deploying(A),
         state.Deployed(A, "", "start", ""), clock=clock, step=42.0)
    series = observer.deploy_seconds.series[("web",)]
    assert (series.count, series.total) == (1, 42.0)


def test_no_duration_without_a_deploying_seen_first() -> None:
    observer = Observer(["web"], lambda _: 0.0)
    record = Record(service="web", state=State.DEPLOYING)  # (a record loaded mid-deploy)
    feed(observer, record, state.Deployed(A, "", "start", ""))
    assert observer.deploy_seconds.series[("web",)].count == 0


def test_fetch_duration_and_failures() -> None:
    took = {"web": 0.3}
    observer = Observer(["web"], took.__getitem__)
    record = feed(observer, Record(service="web"), state.Fetched(A))
    took["web"] = 7.0
    feed(observer, record, state.FetchFailed("timeout"))
    series = observer.fetch_seconds.series[("web",)]
    assert (series.count, series.total) == (2, 7.3)
    assert observer.fetch_failures.get(("web",)) == 1


def test_new_attempt_only_when_history_grows() -> None:
    before = deployed("web", A)
    assert new_attempt(before, state.transition(before, state.Fetched(B), 1.0)) is None
    after = state.transition(before, state.Refused(B, "", "poll", "x"), 1.0)
    attempt = new_attempt(before, after)
    assert attempt is not None and attempt.outcome is Outcome.REFUSED


@pytest.mark.parametrize(("line", "labels"), [
    ("web//ps", ("web", "ps")),
    ("web//logs -f --tail 3", ("web", "logs")),
    ("nope//ps", None),          # no such service: a client chose it
    ("web//rm -rf /", None),     # no such command
    ("web", None),
    ("", None),
])
def test_command_labels_only_known_services_and_commands(
        line: str, labels: tuple[str, str] | None) -> None:
    assert command_labels(line, ["web", "db"]) == labels


def test_exit_label_is_bounded() -> None:
    assert [exit_label(c) for c in (0, 1, 130, 401, 404, 500, 255)] == [
        "0", "command", "command", "401", "404", "500", "command"]


def test_sessions_and_go_command_counts() -> None:
    observer = Observer(["web"], lambda _: 0.0)
    for line, code in (("web//ps", 0), ("web//ps", 1), ("web//up", 0), ("other//ps", 404)):
        observer.session_ended(line, code)
    assert dict(observer.commands.items()) == {("web", "ps"): 2, ("web", "up"): 1}
    assert dict(observer.command_errors.items()) == {("web", "ps"): 1}
    assert dict(observer.sessions.items()) == {("0",): 2, ("command",): 1, ("404",): 1}


def test_histogram_buckets_are_cumulative() -> None:
    histogram = Histogram((1.0, 5.0))
    for value in (0.5, 1.0, 3.0, 9.0):
        histogram.observe(("x",), value)
    assert histogram.cumulative(("x",)) == [("1.0", 2.0), ("5.0", 3.0), ("+Inf", 4.0)]


# -- a whole scrape ---------------------------------------------------------------------

def scrape(runners: dict[str, FakeRunner], penalties: Penalties | None = None,
           sessions: tuple[tuple[str, int], ...] = ()) -> tuple[str, Metrics]:
    metrics = Metrics(sorted(runners), runners, penalties or Penalties(), lambda: 3)
    for line, code in sessions:
        metrics.observer.session_ended(line, code)
    return metrics.render().decode(), metrics


def two_services() -> dict[str, FakeRunner]:
    web = deployed("web", A)
    web = state.transition(web, state.Fetched(B), 600.0)
    web = state.transition(web, state.Refused(B, "", "poll", "port 80 outside ports"), 601.0)
    rows = (ContainerRow("web_app_1", "app", "running", "healthy"),)
    return {"web": FakeRunner(web, FakeSeen(700.0, rows)),
            "db": FakeRunner(deployed("db", C))}


def samples(text: str) -> list[tuple[str, dict[str, str], float]]:
    return [(s.name, s.labels, s.value) for family in text_string_to_metric_families(text)
            for s in family.samples]


def test_a_scrape_shows_both_services() -> None:
    text, _ = scrape(two_services())
    found = samples(text)
    states = {(labels["service"], labels["state"]) for name, labels, value in found
              if name == "pgo_service_state" and value == 1.0}
    assert states == {("web", "refused"), ("db", "ok")}
    info = {(labels["service"], labels["commit"]) for name, labels, _ in found
            if name == "pgo_deployed_info"}
    assert info == {("web", A), ("db", C)}
    assert ("pgo_compose_service_healthy", {"service": "web", "compose_service": "app"},
            1.0) in found
    for service in ("web", "db"):
        assert ("pgo_deploys_total", {"service": service, "outcome": "deployed"}, 0.0) in found
        assert ("pgo_git_fetch_duration_seconds_count", {"service": service}, 0.0) in found


def test_no_label_holds_a_commit_except_the_info_metric() -> None:
    runners = two_services()
    text, metrics = scrape(runners, sessions=((f"web//rollback {A[:12]}", 0),))
    feed(metrics.observer, runners["web"].record, state.Deploying(B),
         state.Broke(B, "", "operator SHA256:abc", "gate"))
    text = metrics.render().decode()
    commit = re.compile(r"[0-9a-f]{7,}")
    for name, labels, _ in samples(text):
        values = [v for k, v in labels.items() if not (name == "pgo_deployed_info"
                                                       and k == "commit")]
        assert not [v for v in values if commit.search(v) or "SHA256" in v], (name, labels)


def test_the_go_names_are_exposed_as_the_go_original_does() -> None:
    text, _ = scrape(two_services(), sessions=(("web//ps", 0), ("web//up", 1)))
    assert "# TYPE pgo_command_count counter\n" in text
    assert "# TYPE pgo_command_error_count counter\n" in text
    assert 'pgo_command_count{command="ps",service="web"} 1.0\n' in text
    assert 'pgo_command_error_count{command="up",service="web"} 1.0\n' in text
    assert "pgo_command_count_total" not in text
    assert "_created" not in text


def test_go_names_touches_only_the_go_counters_lines() -> None:
    text = (b"# HELP pgo_command_count_total x\n# TYPE pgo_command_count_total counter\n"
            b"# TYPE pgo_deploys_total counter\n")
    assert go_names(text) == (b"# HELP pgo_command_count x\n# TYPE pgo_command_count counter\n"
                              b"# TYPE pgo_deploys_total counter\n")


def test_ssh_counters_come_from_the_penalties() -> None:
    clock = Clock()
    penalties = Penalties(clock=clock)
    penalties.failed("192.0.2.1", Failure.AUTH)
    penalties.failed("192.0.2.1", Failure.NOAUTH)
    penalties.failed("192.0.2.2", Failure.AUTH)
    penalties.succeeded("192.0.2.3")
    found = samples(scrape(two_services(), penalties)[0])
    assert ("pgo_ssh_auth_failures_total", {"reason": "auth"}, 2.0) in found
    assert ("pgo_ssh_auth_failures_total", {"reason": "noauth"}, 1.0) in found
    assert ("pgo_ssh_authenticated_total", {}, 1.0) in found
    assert ("pgo_ssh_unauthenticated_connections", {}, 3.0) in found
    assert not [labels for _, labels, _ in found if "192.0.2" in str(labels)]


def test_build_info() -> None:
    found = samples(scrape({})[0])
    info = [labels for name, labels, _ in found if name == "pgo_build_info"]
    assert len(info) == 1 and info[0]["version"]


def test_before_the_first_look_no_container_samples() -> None:
    runners = two_services()
    runners["web"] = replace(runners["web"], seen=None)
    found = samples(scrape(runners)[0])
    assert not [n for n, _, _ in found if n.startswith("pgo_container")]


def test_every_family_is_in_the_man_page_and_every_one_there_is_served() -> None:
    page = (Path(__file__).resolve().parents[2] / "docs" / "pgod.8.md").read_text()
    section = page.split("# METRICS\n", 1)[1].split("\n# ", 1)[0]
    documented = set(re.findall(r"^\*\*(pgo_[a-z_]+)\*\* \(", section, re.MULTILINE))
    families = {f.name for f in text_string_to_metric_families(scrape(two_services())[0])}
    served = {name + "_total" if name + "_total" in documented else name for name in families}
    assert served == documented
