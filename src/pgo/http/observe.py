"""What happened, counted as it happens: a watcher of every record change (`service.Watch`)
and of every SSH session's end. Pure: records, events, command lines and exit statuses in,
counts out; the clock is injected.

Label values are bounded: a service label is always a configured service, an SSH command
one of pgo's commands; no commit, fingerprint or address is ever a label here.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Iterable

from pgo import state
from pgo.command import COMMANDS
from pgo.http.tally import DEPLOY_BUCKETS, FETCH_BUCKETS, Counter, Histogram
from pgo.state import Outcome, Record, State

# The statuses pgod's SSH server ends a session with itself (sshcommands); any other
# non-zero one is the command's own.
REFUSAL_STATUSES = frozenset({400, 401, 404, 406, 409, 429, 500})


def outcome_label(outcome: Outcome) -> str:
    """An attempt's outcome as a label value: deployed, refused, broken, rolled_back,
    no_change, failed."""
    return outcome.name.lower()


def new_attempt(before: Record, after: Record) -> state.Attempt | None:
    """The attempt the change added to history, if it added one."""
    attempt = after.last_attempt
    return attempt if attempt is not None and attempt != before.last_attempt else None


def command_labels(line: str, services: Collection[str]) -> tuple[str, str] | None:
    """(service, command) of an SSH command line `SERVICE//COMMAND ...`, if both are known
    (else the session is counted only as a session: a client chooses what it sends)."""
    words = line.split(None, 1)
    service, sep, command = (words[0] if words else "").partition("//")
    if not sep or command not in COMMANDS or service not in services:
        return None
    return service, command


def exit_label(code: int) -> str:
    """An SSH session's exit status as a label value: 0, one of pgod's refusals (400 ...
    500), or `command` (the compose command's own non-zero status)."""
    return str(code) if code == 0 or code in REFUSAL_STATUSES else "command"


class Observer:
    """The counts since pgod started. `services`: the configured ones (their series start
    at 0); `fetch_took(service)`: seconds the service's last fetch took."""

    def __init__(self, services: Iterable[str], fetch_took: Callable[[str], float],
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.services: tuple[str, ...] = ()
        self._known: frozenset[str] = frozenset()
        self._fetch_took, self._clock = fetch_took, clock
        self.deploys = Counter()             # (service, outcome)
        self.deploy_seconds = Histogram(DEPLOY_BUCKETS)  # (service,)
        self.fetch_seconds = Histogram(FETCH_BUCKETS)    # (service,)
        self.fetch_failures = Counter()      # (service,)
        self.refusals = Counter()            # (service,)
        self.commands = Counter()            # (service, command)
        self.command_errors = Counter()      # (service, command)
        self.sessions = Counter()            # (exit,)
        self._deploying: dict[str, float] = {}  # service -> when its deploying began
        self.add(services)

    def add(self, services: Iterable[str]) -> None:
        """Services configured since (a config applied in place): their series start at 0.
        A removed service's series stay until pgod restarts, as Prometheus expects."""
        new = [s for s in services if s not in self._known]
        self.services = (*self.services, *new)
        self._known = frozenset(self.services)
        for service in new:
            for outcome in Outcome:
                self.deploys.zero((service, outcome_label(outcome)))
            for counter in (self.fetch_failures, self.refusals):
                counter.zero((service,))
            self.deploy_seconds.zero((service,))
            self.fetch_seconds.zero((service,))

    def watch(self, before: Record, event: state.Event, after: Record) -> None:
        """A `service.Watch`: count what the change means."""
        service = after.service
        if attempt := new_attempt(before, after):
            self.deploys.inc((service, outcome_label(attempt.outcome)))
            if attempt.outcome is Outcome.REFUSED:
                self.refusals.inc((service,))
        if after.state is State.DEPLOYING and before.state is not State.DEPLOYING:
            self._deploying[service] = self._clock()
        elif before.state is State.DEPLOYING and after.state is not State.DEPLOYING:
            began = self._deploying.pop(service, None)
            if began is not None:
                self.deploy_seconds.observe((service,), max(0.0, self._clock() - began))
        if isinstance(event, state.Fetched | state.FetchFailed):
            self.fetch_seconds.observe((service,), self._fetch_took(service))
            if isinstance(event, state.FetchFailed):
                self.fetch_failures.inc((service,))

    def session_ended(self, line: str, code: int) -> None:
        """An SSH session ran `line` and exited `code`."""
        self.sessions.inc((exit_label(code),))
        labels = command_labels(line, self._known)
        if labels is None:
            return
        self.commands.inc(labels)
        if code != 0:
            self.command_errors.inc(labels)
