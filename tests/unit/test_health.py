from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from pgo.health import (
    ContainerState,
    Expectation,
    Failure,
    Readiness,
    Settling,
    active_profiles,
    checks_due,
    expectations,
    from_inspect,
    heal_needed,
    judge,
)

RUNNING = ContainerState(name="app_web_1", service="web", status="running", exit_code=0,
                         health=None, health_output="", restart_count=0, started_at=100.0,
                         id="w1")
WEB = {"web": Expectation("web", one_shot=False)}
HEALTHY_WEB = {"web": Expectation("web", healthcheck=True, one_shot=False)}


def web(**kw: Any) -> ContainerState:
    return replace(RUNNING, **kw)


def job(**kw: Any) -> ContainerState:
    return replace(RUNNING, name="app_job_1", service="job", id="j1", **kw)


def settled(*containers: ContainerState, since: float = 0.0) -> Settling:
    return Settling(since, {c.id: (c.restart_count, c.started_at) for c in containers})


# ---- judge: one observation -------------------------------------------------------------

def test_all_running_without_healthcheck_starts_settling() -> None:
    verdict = judge([web()], WEB, now=5.0, settling=None)
    assert verdict.state is Readiness.WAITING
    assert verdict.settling == Settling(5.0, {"w1": (0, 100.0)})
    assert verdict.failures == verdict.waiting == ()


def test_ready_once_settled() -> None:
    first = judge([web()], WEB, now=5.0, settling=None, settle=10.0)
    later = judge([web()], WEB, now=14.9, settling=first.settling, settle=10.0)
    assert later.state is Readiness.WAITING
    done = judge([web()], WEB, now=15.0, settling=later.settling, settle=10.0)
    assert done.state is Readiness.READY
    assert done.settling == first.settling


def test_settle_zero_is_ready_at_once() -> None:
    assert judge([web()], WEB, now=1.0, settling=None, settle=0).state is Readiness.READY


def test_healthcheck_starting_waits() -> None:
    verdict = judge([web(health="starting")], HEALTHY_WEB, now=1.0, settling=None)
    assert verdict.state is Readiness.WAITING
    assert verdict.waiting == (Failure("app_web_1", "web", "health starting"),)
    assert verdict.settling is None


def test_healthy_settles() -> None:
    verdict = judge([web(health="healthy")], HEALTHY_WEB, now=1.0, settling=None, settle=0)
    assert verdict.state is Readiness.READY


def test_unhealthy_fails_with_the_check_output() -> None:
    verdict = judge([web(health="unhealthy", health_output="curl: refused")], HEALTHY_WEB,
                    now=1.0, settling=None)
    assert verdict.state is Readiness.FAILED
    assert verdict.failures == (Failure("app_web_1", "web", "unhealthy: curl: refused"),)
    assert verdict.failures[0].describe() == "container app_web_1 unhealthy: curl: refused"


def test_unhealthy_without_output_says_so() -> None:
    verdict = judge([web(health="unhealthy")], HEALTHY_WEB, now=1.0, settling=None)
    assert verdict.failures[0].how == "unhealthy: (the check printed nothing)"


def test_image_healthcheck_counts_too() -> None:
    """No healthcheck in the compose file, but the image has one: podman reports it."""
    verdict = judge([web(health="starting")], WEB, now=1.0, settling=None)
    assert verdict.state is Readiness.WAITING


def test_compose_healthcheck_without_a_status_waits_then_fails() -> None:
    assert judge([web()], HEALTHY_WEB, now=1.0, settling=None).state is Readiness.WAITING
    verdict = judge([web()], HEALTHY_WEB, now=1.0, settling=None, timed_out=True)
    assert verdict.failures == (
        Failure("app_web_1", "web", "not ready in time (no health status reported)"),)


def test_exited_non_zero_fails() -> None:
    verdict = judge([web(status="exited", exit_code=3)], WEB, now=1.0, settling=None)
    assert verdict.state is Readiness.FAILED
    assert verdict.failures[0].describe() == "container app_web_1 exited with code 3"


@pytest.mark.parametrize("restart", [None, "no", False])  # False: YAML's unquoted no
def test_one_shot_exit_zero_is_done(restart: object) -> None:
    service: dict[str, Any] = {"image": "x"} if restart is None else {"restart": restart}
    expected = expectations({"services": {"web": {"image": "x", "restart": "always"},
                                          "job": service}})
    verdict = judge([web(), job(status="exited")], expected, now=1.0, settling=None,
                    settle=0)
    assert verdict.state is Readiness.READY


def test_one_shot_still_running_is_ready() -> None:
    expected = {**WEB, "job": Expectation("job")}
    assert judge([web(), job()], expected, now=1.0, settling=None,
                 settle=0).state is Readiness.READY


def test_one_shot_exit_one_fails() -> None:
    expected = {**WEB, "job": Expectation("job")}
    verdict = judge([web(), job(status="exited", exit_code=1)], expected, now=1.0,
                    settling=None)
    assert verdict.failures == (Failure("app_job_1", "job", "exited with code 1"),)


@pytest.mark.parametrize("status", ["exited", "stopped"])  # stopped: podman restarting it
def test_restart_always_container_that_exited_fails(status: str) -> None:
    verdict = judge([web(status=status, exit_code=0)], WEB, now=1.0, settling=None)
    assert verdict.failures == (Failure("app_web_1", "web", "exited with code 0"),)


@pytest.mark.parametrize("status", ["created", "configured", "initialized", "paused"])
def test_not_started_yet_waits(status: str) -> None:
    verdict = judge([web(status=status)], WEB, now=1.0, settling=None)
    assert verdict.waiting == (Failure("app_web_1", "web", f"is {status}"),)


@pytest.mark.parametrize("status", ["stopping", "removing", "dead", "unknown"])
def test_going_away_fails(status: str) -> None:
    verdict = judge([web(status=status)], WEB, now=1.0, settling=None)
    assert verdict.failures == (Failure("app_web_1", "web", f"is {status}"),)


# ---- judge: settling --------------------------------------------------------------------

@pytest.mark.parametrize("change", [{"restart_count": 1}, {"started_at": 104.0},
                                    {"id": "w2"}])
def test_restart_while_settling_fails(change: dict[str, Any]) -> None:
    """Decided: a restart during the settle time fails the gate (a crash loop of a
    `restart: always` container looks ready between two crashes)."""
    verdict = judge([web(**change)], WEB, now=3.0, settling=settled(web()))
    assert verdict.failures == (Failure("app_web_1", "web", "restarted"),)


def test_not_ready_while_settling_starts_over() -> None:
    """A container paused (by an operator) while settling: not ready, settle restarts."""
    verdict = judge([web(status="paused")], WEB, now=3.0, settling=settled(web()))
    assert verdict.state is Readiness.WAITING and verdict.settling is None


def test_timeout_while_settling_goes_on_settling() -> None:
    verdict = judge([web()], WEB, now=3.0, settling=settled(web()), timed_out=True)
    assert verdict.state is Readiness.WAITING and verdict.settling == settled(web())


# ---- judge: missing containers, timeout, replicas, profiles ------------------------------

def test_missing_container_waits_then_fails_at_timeout() -> None:
    verdict = judge([], WEB, now=1.0, settling=None)
    assert verdict.waiting == (Failure("", "web", "1 of 1 container(s) missing"),)
    failed = judge([], WEB, now=1.0, settling=None, timed_out=True)
    assert failed.state is Readiness.FAILED
    assert failed.failures[0].describe() == \
        "service web: not ready in time (1 of 1 container(s) missing)"


def test_timeout_names_each_container_not_ready() -> None:
    expected = {**HEALTHY_WEB, "db": Expectation("db", one_shot=False),
                "cache": Expectation("cache", one_shot=False)}
    db = web(name="app_db_1", service="db", id="d1", status="created")
    cache = web(name="app_cache_1", service="cache", id="c1")
    verdict = judge([web(health="starting"), db, cache], expected, now=1.0, settling=None,
                    timed_out=True)
    assert verdict.failures == (
        Failure("app_web_1", "web", "not ready in time (health starting)"),
        Failure("app_db_1", "db", "not ready in time (is created)"))


def test_replicas_all_expected() -> None:
    expected = {"web": Expectation("web", replicas=2, one_shot=False)}
    assert judge([web()], expected, now=1.0, settling=None).waiting == (
        Failure("", "web", "1 of 2 container(s) missing"),)
    second = web(name="app_web_2", id="w2")
    assert judge([web(), second], expected, now=1.0, settling=None,
                 settle=0).state is Readiness.READY


def test_containers_of_services_not_expected_are_not_judged() -> None:
    """An inactive profile's service run by hand: not what `up` started."""
    other = web(name="app_tool_1", service="tool", id="t1", status="exited", exit_code=1)
    assert judge([web(), other], WEB, now=1.0, settling=None,
                 settle=0).state is Readiness.READY


def test_no_services_is_ready() -> None:
    assert judge([], {}, now=1.0, settling=None, settle=0).state is Readiness.READY


# ---- expectations: the compose model -------------------------------------------------------

def test_expectations_of_a_model() -> None:
    model = {"services": {
        "web": {"image": "x", "restart": "always", "healthcheck": {"test": ["CMD", "true"]}},
        "job": {"image": "x"},
        "shell": {"image": "x", "restart": "unless-stopped",
                  "healthcheck": {"test": "wget -q localhost"}},
        "off": {"image": "x", "healthcheck": {"test": ["CMD", "true"], "disable": True}},
        "none": {"image": "x", "healthcheck": {"test": ["NONE"]}},
        "bare": {"image": "x", "healthcheck": {"interval": "5s"}},  # the image's, if any
    }}
    assert expectations(model) == {
        "web": Expectation("web", healthcheck=True, one_shot=False),
        "job": Expectation("job"),
        "shell": Expectation("shell", healthcheck=True, one_shot=False),
        "off": Expectation("off"), "none": Expectation("none"), "bare": Expectation("bare"),
    }


@pytest.mark.parametrize(("service", "replicas"), [
    ({"scale": 3}, 3),
    ({"scale": "2"}, 2),
    ({"scale": "many"}, 1),
    ({"scale": 0}, 0),
    ({"deploy": {"replicas": 2, "mode": "replicated"}}, 2),
    ({"deploy": {"replicas": 2}}, 1),  # podman-compose 1.6.0 wants mode: replicated
    ({"scale": 1, "deploy": {"replicas": 4, "mode": "replicated"}}, 1),  # scale wins
    ({}, 1),
])
def test_replicas_as_podman_compose_counts_them(service: dict[str, Any], replicas: int) -> None:
    assert expectations({"services": {"s": service}})["s"].replicas == replicas


def test_inactive_profiles_are_not_expected() -> None:
    model = {"services": {"web": {}, "debug": {"profiles": ["debug"]},
                          "both": {"profiles": ["debug", "ops"]}}}
    assert set(expectations(model)) == {"web"}
    assert set(expectations(model, {"ops"})) == {"web", "both"}
    assert set(expectations(model, {"debug"})) == {"web", "debug", "both"}


def test_active_profiles_from_compose_profiles() -> None:
    assert active_profiles({"COMPOSE_PROFILES": " debug, ops,,"}) == {"debug", "ops"}
    assert active_profiles({"COMPOSE_PROFILES": None}) == frozenset()
    assert active_profiles({}) == frozenset()


def test_extends_brings_restart_and_healthcheck() -> None:
    model = {"services": {
        "base": {"restart": "always", "healthcheck": {"test": ["CMD", "true"]}},
        "web": {"extends": "base"},
        "api": {"extends": {"service": "web"}, "healthcheck": {"disable": True}},
        "loop": {"extends": "loop"},
    }}
    found = expectations(model)
    assert found["web"] == Expectation("web", healthcheck=True, one_shot=False)
    assert found["api"] == Expectation("api", healthcheck=False, one_shot=False)
    assert found["loop"] == Expectation("loop")


def test_services_that_are_not_mappings_are_skipped() -> None:
    assert expectations({"services": {"web": None}}) == {}
    assert expectations({}) == {}


# ---- heal_needed ---------------------------------------------------------------------------

def test_heal_needed_for_exited_and_gone_long_running_services() -> None:
    expected = {**WEB, "db": Expectation("db", one_shot=False), "job": Expectation("job")}
    found = heal_needed([web(status="exited", exit_code=137), job(status="exited",
                                                                  exit_code=1)], expected)
    assert found == [Failure("app_web_1", "web", "exited with code 137"),
                     Failure(job().name, "job", "exited with code 1"),  # crashed, not done
                     Failure("", "db", "1 of 1 container(s) missing")]
    assert heal_needed([job(status="exited", exit_code=0)], expected) == [
        Failure("", "web", "1 of 1 container(s) missing"),
        Failure("", "db", "1 of 1 container(s) missing")]  # the job is done
    assert heal_needed([], {"job": Expectation("job")}) == [
        Failure("", "job", "1 of 1 container(s) missing")]  # removed: up -d runs it again


def test_heal_not_needed_when_running_and_the_job_done() -> None:
    expected = {**WEB, "job": Expectation("job")}
    assert heal_needed([web(health="unhealthy"), job(status="exited", exit_code=0)],
                       expected) == []


# ---- from_inspect: podman 4.3.1's JSON -----------------------------------------------------

INSPECT = {  # `podman container inspect` of a compose container, podman 4.3.1 (trimmed)
    "Id": "e09fb837507d", "Name": "gx_sick_1", "RestartCount": 2,
    "State": {"Status": "running", "Running": True, "ExitCode": 0,
              "StartedAt": "2026-12-01T21:27:30.885472788Z",
              "FinishedAt": "0001-01-01T00:00:00Z",
              "Health": {"Status": "unhealthy", "FailingStreak": 2, "Log": [
                  {"Start": "2026-12-01T21:27:48.70Z", "ExitCode": 1, "Output": "old"},
                  {"Start": "2026-12-01T21:27:52.98Z", "ExitCode": 1, "Output": "nope\n"}]}},
    "Config": {"Labels": {"io.podman.compose.service": "sick"},
               "Healthcheck": {"Test": ["CMD", "false"], "Interval": 1000000000,
                               "Retries": 2}},
}


def test_from_inspect() -> None:
    assert from_inspect(INSPECT) == ContainerState(
        name="gx_sick_1", service="sick", status="running", exit_code=0, health="unhealthy",
        health_output="nope", restart_count=2, started_at=1796160450.885472,
        id="e09fb837507d", health_interval=1.0)


def test_from_inspect_without_healthcheck() -> None:
    entry = {"Id": "x", "Name": "gx_bad_1",
             "State": {"Status": "exited", "ExitCode": 3, "StartedAt": "0001-01-01T00:00:00Z",
                       "Health": {"Status": "", "FailingStreak": 0, "Log": None}},
             "Config": {"Labels": None}}
    state = from_inspect(entry)
    assert (state.health, state.health_output, state.health_interval) == (None, "", None)
    assert (state.service, state.status, state.exit_code, state.started_at) == \
        (None, "exited", 3, 0.0)


def test_from_inspect_default_interval_and_older_field_name() -> None:
    entry = {"State": {"Status": "running", "Healthcheck": {"Status": "starting"}},
             "Config": {"Healthcheck": {"Test": ["CMD-SHELL", "true"]}}}
    state = from_inspect(entry)
    assert (state.health, state.health_interval) == ("starting", 30.0)


# ---- checks_due ----------------------------------------------------------------------------

def test_checks_due_by_interval() -> None:
    checked = web(health="starting", health_interval=5.0)
    never = web(id="w2", health="healthy", health_interval=5.0)
    sick = web(id="w3", health="unhealthy", health_interval=5.0)
    plain = web(id="w4")
    stopped = web(id="w5", status="exited", health="starting", health_interval=5.0)
    containers = [checked, never, sick, plain, stopped]
    assert checks_due(containers, {"w1": 10.0}, now=14.0) == [never]
    assert checks_due(containers, {"w1": 10.0}, now=15.0) == [checked, never]
