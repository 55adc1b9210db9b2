"""Which record changes deserve a notification, and its text. Pure.

A message is sent for: a deploy of a new commit that passed its gate, a commit the policy
refused, a commit whose deploy or gate failed (and what runs instead), a service that starts
failing (nothing known to be good runs), and its recovery. The same refusal, or the same
broken commit, at a later pass is not sent again.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pgo import state
from pgo.logformat import without_credentials
from pgo.state import Outcome, Record

REASON = 1000  # characters of a reason in a message
# NAME=VALUE, as in podman's `-e NAME=VALUE` or a container's `env` output: a value that
# may be a secret. Only the name is kept.
_ASSIGNMENT = re.compile(r"(?<![\w.-])([A-Za-z_][A-Za-z0-9_]*)=(\"[^\"]*\"|'[^']*'|[^\s,;]+)")


@dataclass(frozen=True)
class Message:
    """One notification: what happened to which service at which commit, and why."""

    service: str
    commit: str    # the commit it is about, short
    outcome: str   # deployed, refused, broken, failing, recovered
    reason: str
    detail: str = ""   # what runs now, for a broken commit
    failure: bool = False  # a problem (the notification's type), else good news


def message_for(before: Record, event: state.Event,  # noqa: PLR0911
                after: Record) -> Message | None:
    """The message `event` (which turned `before` into `after`) deserves, if any."""
    match event:
        case state.Refused(commit=commit) if (before.refused, before.reason) != (
                commit, after.reason):
            return _message(after, commit, "refused", after.reason, failure=True)
        case state.Broke(commit=commit):
            return _broke(before, after, commit)
        case state.BringBackFailed(commit=commit) if not before.failing:
            return _message(after, commit, "failing", after.reason, failure=True)
        case state.Deployed(commit=commit) if before.failing:
            return _message(after, commit, "recovered", f"deployed {commit[:12]}")
        case state.Healed(commit=commit) | state.Restored(commit=commit) if before.failing:
            return _message(after, commit, "recovered", f"{commit[:12]} runs again")
        case state.Deployed(commit=commit, outcome=Outcome.DEPLOYED) if (
                commit != before.deployed):
            return _message(after, commit, "deployed", _last_reason(after))
    return None


def _broke(before: Record, after: Record, commit: str) -> Message | None:
    """A failed deploy: once per broken commit (and again if it makes the service fail)."""
    failing = after.failing and not before.failing
    if before.broken == commit and not failing:
        return None
    if after.failing:
        detail = "nothing known to be good runs: the service is failing"
    elif after.last_good is not None:
        detail = f"the last good commit {after.last_good[:12]} runs"
    else:
        detail = ""
    return _message(after, commit, "broken", after.reason, detail, failure=True)


def _last_reason(record: Record) -> str:
    return record.last_attempt.reason if record.last_attempt is not None else ""


def _message(record: Record, commit: str, outcome: str, reason: str | None, detail: str = "",
             *, failure: bool = False) -> Message:
    return Message(record.service, commit[:12], outcome, scrub(reason or ""), detail, failure)


def scrub(text: str) -> str:
    """A reason as a message may carry it: no URL credentials, no NAME=VALUE values, at
    most REASON characters."""
    text = _ASSIGNMENT.sub(r"\1=(value not shown)", without_credentials(text))
    return text if len(text) <= REASON else text[:REASON - 15] + " ... (cut here)"


def title(message: Message, host: str) -> str:
    """`svc on host: abc123def456 broken`."""
    return f"{message.service} on {host}: {message.commit} {message.outcome}"


def body(message: Message, host: str) -> str:
    lines = [f"service: {message.service}", f"host: {host}", f"commit: {message.commit}",
             f"outcome: {message.outcome}"]
    if message.reason:
        lines.append(f"reason: {message.reason}")
    if message.detail:
        lines.append(f"now: {message.detail}")
    return "\n".join(lines)
