"""Operators' controls of one service, over SSH: freeze, unfreeze, rollback, diff, and what
an operator's down/stop/up/start means for the record. Each runs with the service lock
held (the caller's), changes the record only through events, and returns what the
operator is told. Refusals are `Refusal`s with a status, as every SSH command's."""

from __future__ import annotations

import os

from pgo import state
from pgo.deploy import Kind, Result
from pgo.errors import PgoError, Refusal
from pgo.reconcile import Action, changed_and_used, plan, redeploy
from pgo.service import ServiceRunner
from pgo.state import Outcome

GOOD = (Outcome.DEPLOYED, Outcome.ROLLED_BACK)


def refuse_if_host_stopped(runner: ServiceRunner, command: str) -> None:
    """DIR/NAME.stop is the host's word: no operator command brings the service up."""
    path = runner.work.stop_file()
    if os.path.lexists(path):
        raise Refusal(409, f"{command}: {path} exists: the host's administrator keeps "
                           "this service down until that file is removed")


def freeze(runner: ServiceRunner, by: str, reason: str) -> str:
    runner.event(state.Froze(by, reason))
    return (f"frozen at {(runner.record.deployed or '-')[:12]}: pgod does not follow "
            f"branch {runner.config.branch} until unfreeze (self-heal goes on)\n")


def unfreeze(runner: ServiceRunner) -> str:
    if runner.record.frozen is None:
        return "not frozen\n"
    runner.event(state.Unfroze())
    runner.poke("poll")
    return f"unfrozen: following branch {runner.config.branch} again from the next pass\n"


def stopped_by_operator(runner: ServiceRunner, by: str, command: str) -> None:
    runner.event(state.Stopped(by, f"{command} by an operator"))


def started_by_operator(runner: ServiceRunner) -> None:
    """`up` or `start`: the service follows its branch again, a broken commit included."""
    if runner.record.stopped is not None:
        runner.event(state.Started())
    if runner.record.broken is not None:
        runner.event(state.Unbroken())
    runner.poke("poll")


async def rollback_target(runner: ServiceRunner, given: str | None) -> str:
    """The full hash to roll back to: `given` (in the branch's history), or the last good
    commit before the deployed one."""
    record = runner.record
    if given is None:
        for commit in dict.fromkeys(a.commit for a in record.history if a.outcome in GOOD):
            if commit != record.deployed and record.deployed is not None and \
                    await runner.checkout.is_ancestor(commit, record.deployed):
                return commit
        raise Refusal(406, "rollback: no good commit before the deployed one in this "
                           "service's history; name one: rollback COMMIT")
    try:
        commit = await runner.checkout.rev_parse(given)
    except PgoError:
        commit = ""
    if not commit:
        raise Refusal(406, f"rollback: {given!r} is no commit of this repository")
    if not await runner.checkout.is_ancestor(commit, runner.checkout.upstream):
        raise Refusal(406, f"rollback: {commit[:12]} is not in the history of branch "
                           f"{runner.config.branch}")
    return commit


async def rollback(runner: ServiceRunner, given: str | None, by: str) -> str:
    """Deploy an earlier commit through the gate, then freeze there."""
    refuse_if_host_stopped(runner, "rollback")
    commit = await rollback_target(runner, given)
    at = await runner.work.read(commit)
    if at.problems:
        raise Refusal(406, f"rollback: {commit[:12]} is refused by the policy: "
                           + "; ".join(at.problems))
    checkout = (Action.CHECKOUT,) if await runner.checkout.head() != commit else ()
    decided = redeploy(checkout, f"rollback to {commit[:12]} by operator {by}")
    subject = await runner.checkout.subject(commit)
    if runner.record.stopped is not None:  # an operator asks for this commit to run
        runner.event(state.Started())
    runner.event(state.Deploying(commit))
    result = await runner.deployer.deploy(decided, at, runner.record.last_good,
                                          runner.record.failing, [])
    trigger = f"operator {by}"
    if result.kind is Kind.FAILED:
        await _rollback_failed(runner, result, commit, subject, trigger)
        raise Refusal(500, f"rollback to {commit[:12]} failed: {result.reason}")
    runner.adopt(at)
    runner.event(state.Deployed(commit, subject, trigger, decided.reason, Outcome.ROLLED_BACK))
    runner.event(state.Froze(by, f"rollback to {commit[:12]}"))
    return f"rolled back to {commit[:12]} ({subject}); frozen there: unfreeze to follow " \
           f"branch {runner.config.branch} again\n"


async def _rollback_failed(runner: ServiceRunner, result: Result, commit: str, subject: str,
                           trigger: str) -> None:
    """History says so; what ran before is back (or the service is failing). Upstream's
    broken commit, if any, stays held: a rollback is no deploy of the branch."""
    runner.event(state.RollbackFailed(commit, subject, trigger, result.reason))
    back = runner.record.last_good
    if result.touched and result.restored and back is not None:
        await runner.restored(back, f"rollback to {commit[:12]} failed")
    elif result.touched:
        runner.event(state.BringBackFailed(back or commit, "", trigger, result.reason,
                                           state.backoff(runner.record.failures + 1,
                                                         runner.interval)))
    else:
        runner.event(state.Interrupted())


async def diff(runner: ServiceRunner) -> str:
    """What the next pass would do (after a fetch), without doing it."""
    fetched, target = await runner.fetch()
    record = runner.record
    failed = "" if fetched or record.last_fetch is None else \
        f" (fetch failed: {record.last_fetch.error})"
    lines = [f"upstream:  {target}{failed}", f"deployed:  {record.deployed or '-'}"]
    if (stop := record.host_stop or record.stopped) is not None:
        return "\n".join([*lines, f"plan:      nothing: stopped by {stop.by}"]) + "\n"
    if record.frozen is not None:
        return "\n".join([*lines, f"plan:      nothing: frozen by {record.frozen.by}"
                          f" ({record.frozen.reason or 'no reason given'})"]) + "\n"
    seen, _ = await runner.observe(target)
    decided = plan(seen)
    used = sorted(changed_and_used(seen.changed, seen.used))
    lines.append("changed:   " + (", ".join(used[:20]) if used else
                                  "nothing the project uses"))
    steps = ", ".join(a.value for a in decided.actions) or "nothing"
    lines.append(f"plan:      {steps}" + (f" ({decided.reason})" if decided.reason else ""))
    return "\n".join(lines) + "\n"
