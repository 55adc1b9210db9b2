"""One service's state as a value: the persisted record and its transitions. Pure.

`transition(record, event, now) -> record` is the only way a record changes; the runner
holds the record, `statestore` writes it. Facts (what is deployed, the last good commit,
a broken or refused upstream head, a freeze, a stop, a failure) are kept apart; `state` is
derived from them by `settle` after every event that ends a step, and set directly only
for the two steps in progress (`cloning`, `deploying`). See pgod(8), STATE.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace

from pgo.logformat import without_credentials

HISTORY = 100  # deploy attempts kept, newest first
IMAGE = "image"  # the trigger of an image update (a new digest behind the same tag)
REASON = 2000  # characters of a reason kept


class State(enum.Enum):
    CLONING = "cloning"      # the first clone is running
    DEPLOYING = "deploying"  # a deploy (or a bring-back) runs, its gate included
    OK = "ok"                # upstream's head is deployed and ready
    REFUSED = "refused"      # upstream's head breaks the policy; the deployed commit runs
    BROKEN = "broken"        # upstream's head failed its deploy or gate; the last good runs
    FROZEN = "frozen"        # not following the branch (an operator's freeze or rollback)
    STOPPED = "stopped"      # an operator's down/stop, or DIR/NAME.stop
    FAILING = "failing"      # what should run does not; each pass tries again, backing off


class Outcome(enum.Enum):
    DEPLOYED = "deployed"
    REFUSED = "refused"
    BROKEN = "broken"
    ROLLED_BACK = "rolled back"
    NO_CHANGE = "no change"  # the commit touched nothing the project uses
    FAILED = "failed"        # a bring-back (self-heal, roll-back) that did not work


@dataclass(frozen=True)
class Attempt:
    """One deploy attempt, as `history` shows it."""

    time: float
    commit: str
    subject: str
    trigger: str   # start, poll, sync, operator SHA256:..., rollback, self-heal
    outcome: Outcome
    reason: str


@dataclass(frozen=True)
class Mark:
    """Who did something to the service, when, and why (a freeze, a stop)."""

    by: str
    at: float
    reason: str = ""


@dataclass(frozen=True)
class Fetch:
    time: float
    error: str | None = None
    failures: int = 0  # fetches failed in a row (the pass interval backs off)


@dataclass(frozen=True)
class Record:
    """Everything `status` and `history` report about one service; persisted."""

    service: str
    user: str = ""
    state: State = State.CLONING
    since: float = 0.0
    deployed: str | None = None   # the commit whose project was last brought up
    last_good: str | None = None  # the last commit that passed the health gate
    upstream: str | None = None   # the branch's head at the last fetch
    broken: str | None = None     # a commit whose deploy or gate failed
    held: bool = False            # `broken` is not tried again until ... (pgod(8))
    broken_config: str = ""       # the service's config when `broken` was marked
    refused: str | None = None    # a commit the policy refused
    reason: str | None = None     # why the state is what it is (refusal, failure)
    failing: bool = False         # what should run does not (a deploy and its bring-back)
    failures: int = 0             # failures in a row (backoff)
    retry_at: float = 0.0         # the next try after a failure, not before
    frozen: Mark | None = None
    stopped: Mark | None = None   # an operator's down or stop
    host_stop: Mark | None = None  # the host's DIR/NAME.stop
    last_attempt: Attempt | None = None
    last_fetch: Fetch | None = None
    history: tuple[Attempt, ...] = ()
    # image updates (no git change): digests whose update failed its gate, not tried again
    # until the image behind the tag changes again; and why
    broken_images: tuple[str, ...] = ()
    image_reason: str | None = None


# Events: what happened. Each is turned into a new record by `transition`.

@dataclass(frozen=True)
class Cloning:
    pass


@dataclass(frozen=True)
class Fetched:
    head: str


@dataclass(frozen=True)
class FetchFailed:
    error: str


@dataclass(frozen=True)
class Deploying:
    commit: str


@dataclass(frozen=True)
class Refused:
    commit: str
    subject: str
    trigger: str
    reason: str


@dataclass(frozen=True)
class Deployed:
    """`commit` passed the gate (or needed none: `outcome` NO_CHANGE)."""

    commit: str
    subject: str
    trigger: str
    reason: str
    outcome: Outcome = Outcome.DEPLOYED


@dataclass(frozen=True)
class Broke:
    """`commit`'s deploy or gate failed. `restored`: what ran before runs again (else
    nothing known to be good runs: failing). `held`: the failure cost the service a down,
    so the commit is not tried again until the branch moves, the config changes or an
    operator says so; else (a pull, a build) it is, after `backoff` seconds. `config`: the
    service's config now."""

    commit: str
    subject: str
    trigger: str
    reason: str
    restored: bool = True
    held: bool = True
    backoff: float = 0.0
    config: str = ""


@dataclass(frozen=True)
class Restored:
    """The last good commit is back (after a failed deploy): history says so."""

    commit: str
    subject: str
    reason: str


@dataclass(frozen=True)
class BringBackFailed:
    """What should run could not be brought back (self-heal, a failing service's retry,
    the restore after a failed deploy). `backoff`: seconds until the next try."""

    commit: str
    subject: str
    trigger: str
    reason: str
    backoff: float


@dataclass(frozen=True)
class Healed:
    commit: str
    subject: str
    reason: str


@dataclass(frozen=True)
class Trouble:
    """A pass failed outside a deploy (git, reading the project): what runs is left
    alone; the record says why. None: a later pass went well, the reason is gone."""

    reason: str | None


@dataclass(frozen=True)
class Unbroken:
    """An operator's sync or up, or a changed config: the broken commit may be tried."""


@dataclass(frozen=True)
class Froze:
    by: str
    reason: str


@dataclass(frozen=True)
class Unfroze:
    pass


@dataclass(frozen=True)
class Stopped:
    """An operator's down or stop (`host`: the host's DIR/NAME.stop appeared)."""

    by: str
    reason: str = ""
    host: bool = False


@dataclass(frozen=True)
class Started:
    """An operator's up or start (`host`: the host's DIR/NAME.stop is gone)."""

    host: bool = False


@dataclass(frozen=True)
class Interrupted:
    """A deploy that had not touched the running containers was cut short (pgod stops):
    nothing changed, the state is what the facts say."""


@dataclass(frozen=True)
class RollbackFailed:
    """An operator's rollback to `commit` failed; `restored`: what ran runs again."""

    commit: str
    subject: str
    trigger: str
    reason: str


@dataclass(frozen=True)
class ImagesUpdated:
    """New images behind the same tags (`reason`: each one's old and new digest) passed
    the gate at the deployed `commit`: what broke before is forgotten."""

    commit: str
    subject: str
    reason: str


@dataclass(frozen=True)
class ImagesBroke:
    """New images (`digests`) failed the gate; `restored`: the previous ones run again
    (else nothing known to be good runs: failing, like a broken deploy's failed way back).
    Those digests are not tried again until the tag moves to another one."""

    commit: str
    subject: str
    digests: tuple[str, ...]
    reason: str
    restored: bool = True
    backoff: float = 0.0


Event = (Cloning | Fetched | FetchFailed | Deploying | Refused | Deployed | Broke | Restored
         | BringBackFailed | Healed | Trouble | Unbroken | Froze | Unfroze | Stopped
         | Started | Interrupted | RollbackFailed | ImagesUpdated | ImagesBroke)


def settle(record: Record) -> State:  # noqa: PLR0911
    """The state the facts of `record` amount to, once no step is in progress."""
    if record.stopped is not None or record.host_stop is not None:
        return State.STOPPED
    if record.failing:
        return State.FAILING
    if record.frozen is not None:
        return State.FROZEN
    if record.upstream is not None and record.upstream == record.refused:
        return State.REFUSED
    if record.upstream is not None and record.upstream == record.broken:
        return State.BROKEN
    if record.deployed is None:
        return State.FAILING if record.reason else State.CLONING
    return State.OK


def transition(record: Record, event: Event, now: float) -> Record:
    """The record after `event`, at time `now`. Pure; tests/unit/test_state.py covers each
    event in each state."""
    new = _apply(record, event, now)
    state = new.state if _in_progress(record, event) else settle(new)
    if state is not record.state:
        new = replace(new, state=state, since=now)
    return new


def _in_progress(record: Record, event: Event) -> bool:
    """Whether `event` begins a step whose end decides the state: a clone, a deploy, or a
    fetch of a new head that does not run yet (the pass judges it next: until then the
    state stays what it was, not "ok" for a head nobody checked)."""
    if isinstance(event, Fetched):
        return event.head not in (record.upstream, record.deployed)
    return isinstance(event, Cloning | Deploying)


def _apply(r: Record, event: Event, now: float) -> Record:  # noqa: PLR0911, PLR0912
    match event:
        case Cloning():
            return replace(r, state=State.CLONING)
        case Fetched(head=head):
            return replace(r, upstream=head, last_fetch=Fetch(now))
        case FetchFailed(error=error):
            failures = r.last_fetch.failures + 1 if r.last_fetch else 1
            return replace(r, last_fetch=Fetch(now, error, failures))
        case Deploying():
            return replace(r, state=State.DEPLOYING)
        case Refused(commit=commit, reason=reason) if (
                r.refused == commit and r.reason == clip(reason)):
            return r  # the same refusal at every pass: one entry in history
        case Refused(commit=commit, subject=subject, trigger=trigger, reason=reason):
            return _attempt(replace(r, refused=commit, reason=clip(reason)),
                            Attempt(now, commit, subject, trigger, Outcome.REFUSED, reason))
        case Deployed(commit=commit, subject=subject, trigger=trigger, reason=reason,
                      outcome=outcome):
            done = replace(r, deployed=commit, last_good=commit, reason=None, failing=False,
                           failures=0, retry_at=0.0,
                           broken=None if r.broken == commit else r.broken,
                           refused=None if r.refused == commit else r.refused)
            return _attempt(done, Attempt(now, commit, subject, trigger, outcome, reason))
        case Broke(commit=commit, subject=subject, trigger=trigger, reason=reason,
                   restored=restored, held=held, backoff=wait, config=config):
            broke = replace(r, broken=commit, held=held, broken_config=config, reason=clip(reason),
                            failing=not restored, refused=None, failures=r.failures + 1,
                            retry_at=now + wait)
            return _attempt(broke, Attempt(now, commit, subject, trigger, Outcome.BROKEN,
                                           reason))
        case Restored(commit=commit, subject=subject, reason=reason):
            back = replace(r, deployed=commit, failing=False, failures=0, retry_at=0.0)
            return _attempt(back, Attempt(now, commit, subject, "rollback",
                                          Outcome.ROLLED_BACK, reason))
        case BringBackFailed(commit=commit, subject=subject, trigger=trigger, reason=reason,
                             backoff=backoff):
            down = replace(r, failing=True, failures=r.failures + 1, reason=clip(reason),
                           retry_at=now + backoff)
            return _attempt(down, Attempt(now, commit, subject, trigger, Outcome.FAILED,
                                          reason))
        case Healed(commit=commit, subject=subject, reason=reason):
            healed = replace(r, failing=False, failures=0, retry_at=0.0,
                             reason=None if r.failing else r.reason)
            return _attempt(healed, Attempt(now, commit, subject, "self-heal",
                                            Outcome.DEPLOYED, reason))
        case Trouble(reason=reason):
            return replace(r, reason=None if reason is None else clip(reason))
        case Unbroken():  # (a failing service's next try is due now, too)
            return replace(r, broken=None, held=False, broken_config="", retry_at=0.0)
        case Froze(by=by, reason=reason):
            return replace(r, frozen=Mark(by, now, reason))
        case Unfroze():
            return replace(r, frozen=None)
        case Stopped(by=by, reason=reason, host=True):
            return replace(r, host_stop=Mark(by, now, reason))
        case Stopped(by=by, reason=reason):
            return replace(r, stopped=Mark(by, now, reason))
        case Started(host=True):
            return replace(r, host_stop=None)
        case Started():
            return replace(r, stopped=None)
        case Interrupted():
            return r
        case RollbackFailed(commit=commit, subject=subject, trigger=trigger, reason=reason):
            return _attempt(r, Attempt(now, commit, subject, trigger, Outcome.FAILED,
                                       reason))
        case ImagesUpdated() | ImagesBroke():
            return _images(r, event, now)
    raise AssertionError(f"unknown event {event!r}")  # pragma: no cover


def _images(r: Record, event: ImagesUpdated | ImagesBroke, now: float) -> Record:
    """An image update's result: history (trigger `image`), the broken digests."""
    if isinstance(event, ImagesUpdated):
        done = replace(r, broken_images=(), image_reason=None)
        return _attempt(done, Attempt(now, event.commit, event.subject, IMAGE,
                                      Outcome.DEPLOYED, event.reason))
    broke = replace(r, broken_images=tuple(sorted(set(event.digests))),
                    image_reason=clip(event.reason))
    if not event.restored:
        broke = replace(broke, failing=True, failures=r.failures + 1, reason=clip(event.reason),
                        retry_at=now + event.backoff)
    return _attempt(broke, Attempt(now, event.commit, event.subject, IMAGE, Outcome.BROKEN,
                                   event.reason))


def _attempt(record: Record, attempt: Attempt) -> Record:
    attempt = replace(attempt, reason=clip(attempt.reason), subject=attempt.subject[:200])
    return replace(record, last_attempt=attempt,
                   history=(attempt, *record.history)[:HISTORY])


def clip(text: str | None) -> str:
    """A reason as a record keeps it: credentials scrubbed, at most REASON characters (a
    hundred podman-compose outputs must not make a record too large to read back)."""
    text = without_credentials(text or "")
    return text if len(text) <= REASON else text[:REASON - 15] + " ... (cut here)"


def backoff(failures: int, interval: float, cap: float = 4.0) -> float:
    """Seconds before the next try after `failures` failures in a row: the interval,
    doubled with each failure, at most `cap` times it."""
    return interval * min(2.0 ** max(failures - 1, 0), cap)


def held_back(record: Record, target: str, config: str, now: float) -> bool:
    """Whether `target` must not be tried now: it broke, and it is held (until the branch
    moves, the config changes or an operator says so) or its backoff has not run out."""
    if record.broken != target or record.broken_config != config:
        return False
    return record.held or now < record.retry_at


def waiting(record: Record, now: float) -> bool:
    """A failing service whose next try is not due yet."""
    return record.failing and now < record.retry_at
