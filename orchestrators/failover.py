"""The failover/failback runbook: assess -> plan -> (approval) -> reconcile -> drain -> switch ->
settle -> hand-over -> verify -> report.

Plan, then execute: the plan (``kvdr.failover.plan``) is made from what the vaults hold before
anything is written, shown in the custom status while an operator decides, and made again
after the approval (the world may have moved while people talked). Reconcile and drain run the
full-sync pair orchestration in its ``reconcile`` and ``drain`` modes, so they are as bounded
and paced as any sync. A failure before the switch leaves the topology as it was; the switch
raises the epoch by exactly one. The settle step waits briefly, reads every vault again and
lets the one rule (:func:`kvdr.topology.record.precedence`) pick among records another region's
runbook wrote at the same epoch: the loser stops there (``lost_race``). The hand-over then
arms renewal on the new primary and disarms it on the other vaults (decision 9); its problems
are reported, never a reason to undo the switch. Deterministic: no I/O, time from the context.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import azure.durable_functions as df

from kvdr.catalogue import Activity, Orchestrator
from kvdr.failover.contracts import (
    AssessRequest,
    AssessResult,
    HandOverRequest,
    HandOverResult,
    SaveReportRequest,
    SettleRequest,
    SettleResult,
    SwitchRequest,
    SwitchResult,
    VerifyRequest,
    VerifyResult,
)
from kvdr.failover.handover import HANDOVER_FAILED_CODE, handover_messages
from kvdr.failover.plan import FailoverPlan, PlanOutcome, Step, plan_failover
from kvdr.failover.report import (
    Approval,
    FailoverOutcome,
    FailoverReport,
    lost_race_message,
    unverified_message,
)
from kvdr.failover.request import FailoverKind, FailoverPhase, FailoverRequest
from kvdr.sync.contracts import PairInput, PairResult
from kvdr.sync.model import SyncMode
from kvdr.topology.record import TopologyRecord, choose_current
from kvdr.topology.store import FENCED_CODE
from kvdr.vault.inventory import format_time, parse_time
from orchestrators.approval import approval_gate
from orchestrators.blueprint import bp

RETRY = df.RetryOptions(first_retry_interval_in_milliseconds=5_000, max_number_of_attempts=3)


def _status(phase: FailoverPhase, plan: FailoverPlan | None, **extra: Any) -> dict[str, Any]:
    status: dict[str, Any] = {"phase": str(phase)}
    if plan is not None:
        status["plan"] = plan.to_dict()
    status.update(extra)
    return status


def _seconds(context: df.DurableOrchestrationContext, since: Any) -> float:
    return (context.current_utc_datetime - since).total_seconds()


@bp.orchestration_trigger(context_name="context")
def failover(context: df.DurableOrchestrationContext):
    request = FailoverRequest.from_dict(context.get_input())
    run_id = request.run_id or context.instance_id
    started = context.current_utc_datetime
    report = FailoverReport(run_id, str(request.kind), request.target, request.requested_by,
                            request.reason, started, fired_at=parse_time(request.fired_at),
                            alert_id=request.alert_id)
    sync_runs: list[str] = []

    def finish(outcome: FailoverOutcome, **changes: Any):
        final = report.finish(outcome, context.current_utc_datetime, **changes)
        context.set_custom_status(_status(FailoverPhase.REPORT, None, outcome=str(outcome)))
        yield context.call_activity_with_retry(Activity.FAILOVER_SAVE_REPORT, RETRY,
                                               SaveReportRequest(final.to_dict(),
                                                                 tuple(sync_runs)).to_dict())
        context.set_custom_status(_status(FailoverPhase.DONE, None, outcome=str(outcome)))
        return final.to_dict()

    # -- assess and plan
    context.set_custom_status(_status(FailoverPhase.ASSESS, None))
    step_start = context.current_utc_datetime
    assessed = AssessResult.from_dict((yield context.call_activity_with_retry(
        Activity.FAILOVER_ASSESS, RETRY, AssessRequest(run_id, request.target).to_dict())))
    plan = plan_failover(request, assessed.assessment)
    report = _planned(report, plan, assessed).timed("assess", _seconds(context, step_start))
    if plan.outcome is not PlanOutcome.READY:
        outcome = (FailoverOutcome.NOT_NEEDED if plan.outcome is PlanOutcome.NOT_NEEDED
                   else FailoverOutcome.BLOCKED)
        return (yield from finish(outcome))
    if request.dry_run:
        return (yield from finish(FailoverOutcome.PLANNED_ONLY))

    # -- approval gate
    if request.approval_required:
        approval = yield from approval_gate(
            context, request.approval_timeout_seconds,
            lambda deadline: _status(FailoverPhase.AWAITING_APPROVAL, plan,
                                     approval_deadline=deadline))
        if approval.approved is None:
            report = replace(report, approval=approval)
            return (yield from finish(FailoverOutcome.APPROVAL_TIMED_OUT, messages=(
                *report.messages, f"nobody approved within {request.approval_timeout_seconds} "
                "s; nothing was changed")))
        report = replace(report, approval=approval).timed("approval_wait",
                                                          approval.wait_seconds)
        if not approval.approved:
            return (yield from finish(FailoverOutcome.REJECTED))
        # re-assess: the epoch and the vaults' health may have changed during the wait
        context.set_custom_status(_status(FailoverPhase.ASSESS, plan))
        assessed = AssessResult.from_dict((yield context.call_activity_with_retry(
            Activity.FAILOVER_ASSESS, RETRY, AssessRequest(run_id, request.target).to_dict())))
        pinned = replace(request, expected_epoch=plan.epoch_before)
        plan = plan_failover(pinned, assessed.assessment)
        report = _planned(report, plan, assessed)
        if plan.outcome is not PlanOutcome.READY:
            return (yield from finish(FailoverOutcome.BLOCKED if plan.outcome is
                                      PlanOutcome.BLOCKED else FailoverOutcome.NOT_NEEDED))
    else:
        report = replace(report, approval=Approval(False))

    # -- reconcile and drain (planned, failback)
    for step, source, target in ((Step.RECONCILE, plan.target, plan.source),
                                 (Step.DRAIN, plan.source, plan.target)):
        if step not in plan.steps:
            continue
        context.set_custom_status(_status(FailoverPhase(str(step)), plan))
        step_start = context.current_utc_datetime
        sync_run = f"{run_id}.{step}"
        sync_runs.append(sync_run)
        # fenced at the epoch in force before the switch (a raised record refuses batches)
        pair = PairInput(sync_run, source, target, False, plan.epoch_before,
                         format_time(step_start) or "", max_parallel=assessed.max_parallel,
                         mode=SyncMode(str(step)))
        result = PairResult.from_dict((yield context.call_sub_orchestrator(
            Orchestrator.FULL_SYNC_PAIR, pair.to_dict(),
            instance_id=f"{context.instance_id}:{step}")))
        report = replace(report, steps={**report.steps, str(step): _step_summary(result)})
        report = report.timed(str(step), _seconds(context, step_start))
        failed = sum(result.report.get("counts", {}).get("failed", {}).values())
        if failed and not result.error and _fenced_only(result):
            # another region's runbook switched during this step: it won; say who
            again = AssessResult.from_dict((yield context.call_activity_with_retry(
                Activity.FAILOVER_ASSESS, RETRY, AssessRequest(run_id, request.target).to_dict())))
            winner = _record_in_force(again)
            return (yield from finish(FailoverOutcome.LOST_RACE, lost_to=winner, messages=(
                *report.messages, f"the {step} step was fenced: another runbook changed the "
                "topology during it", lost_race_message(winner))))
        if result.error or failed:
            error = result.error or {"code": "failover.step_failed", "message": (
                f"{failed} item(s) failed in the {step} step; nothing was switched. Fix them "
                "and run again, or fail over unplanned to accept the loss")}
            return (yield from finish(FailoverOutcome.FAILED, error=dict(error)))

    # -- switch
    context.set_custom_status(_status(FailoverPhase.SWITCH, plan))
    step_start = context.current_utc_datetime
    record = TopologyRecord(primary=plan.target, epoch=plan.epoch_after,
                            changed_at=context.current_utc_datetime,
                            changed_by=request.requested_by or "kvdr", reason=request.reason,
                            runbook_id=run_id)
    switched = SwitchResult.from_dict((yield context.call_activity_with_retry(
        Activity.FAILOVER_SWITCH, RETRY,
        SwitchRequest(run_id, record.to_dict(), plan.epoch_before, plan.fence).to_dict())))
    report = report.with_calls(switched.calls).timed("switch", _seconds(context, step_start))
    if not switched.ok and switched.holder:  # another runbook's record reached ours first
        return (yield from finish(FailoverOutcome.LOST_RACE, lost_to=dict(switched.holder),
                                  messages=(*report.messages,
                                            lost_race_message(switched.holder))))
    if not switched.ok:
        return (yield from finish(FailoverOutcome.FAILED, error=dict(switched.error or {})))
    report = replace(report, fenced=switched.fenced,
                     unreached={**report.unreached, **switched.unreached})

    # -- settle: a runbook of another region may have switched at this epoch too (no
    # compare-and-swap in Key Vault); wait, read every vault again, the one rule picks
    context.set_custom_status(_status(FailoverPhase.SETTLE, plan))
    step_start = context.current_utc_datetime
    if request.settle_seconds > 0:
        yield context.create_timer(step_start + timedelta(seconds=request.settle_seconds))
    settled = SettleResult.from_dict((yield context.call_activity_with_retry(
        Activity.FAILOVER_SETTLE, RETRY, SettleRequest(run_id, record.to_dict()).to_dict())))
    report = report.with_calls(settled.calls).timed("settle", _seconds(context, step_start))
    if not settled.won:  # the winner's runbook hands over and verifies; this one stops here
        return (yield from finish(FailoverOutcome.LOST_RACE, fenced=(),
                                  lost_to=dict(settled.winner or {}),
                                  messages=(*report.messages,
                                            lost_race_message(settled.winner))))
    if settled.rivals:
        report = replace(report, messages=(*report.messages, (
            f"won a race at epoch {plan.epoch_after}: the rival record(s) of "
            + ", ".join(f"runbook {r.get('runbook_id') or '?'} (primary {r.get('primary')})"
                        for r in settled.rivals)
            + f" were replaced in {', '.join(settled.rewritten) or 'no vault'}")))

    # -- hand renewal over: whatever happens here, the switch stands
    context.set_custom_status(_status(FailoverPhase.HANDOVER, plan))
    step_start = context.current_utc_datetime
    others = tuple(r for r in switched.fenced if r != plan.target)
    unreached = {r: report.unreached.get(r, "vault.unreachable")
                 for r in assessed.assessment.records if r != plan.target and r not in others}
    try:
        handed = HandOverResult.from_dict((yield context.call_activity_with_retry(
            Activity.FAILOVER_HANDOVER, RETRY,
            HandOverRequest(run_id, plan.target, plan.epoch_after, others,
                            unreached).to_dict())))
    except Exception as exc:  # failed after its retries: the next sync finishes the job
        text = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else "unknown error"
        handed = HandOverResult(error={"code": HANDOVER_FAILED_CODE, "message": text})
    renewal = handed.renewal if handed.renewal is not None else {
        "ok": False, "error": dict(handed.error or {})}
    report = replace(report.with_calls(handed.calls), renewal=renewal, messages=(
        *report.messages, *handover_messages(plan.target, handed.renewal, handed.error)))
    report = report.timed("handover", _seconds(context, step_start))

    # -- verify
    context.set_custom_status(_status(FailoverPhase.VERIFY, plan))
    step_start = context.current_utc_datetime
    verified = VerifyResult.from_dict((yield context.call_activity_with_retry(
        Activity.FAILOVER_VERIFY, RETRY,
        VerifyRequest(run_id, plan.target, plan.epoch_after).to_dict())))
    report = report.with_calls(verified.calls).timed("verify", _seconds(context, step_start))
    # a vault the verification could not read is said, as the switch's are
    report = replace(report, unreached={**report.unreached, **verified.unreached})
    if not verified.ok:
        # the switch stands (the new primary took its record, the others were fenced): say
        # what was done and what was not, so nobody undoes or repeats it blindly
        return (yield from finish(FailoverOutcome.FAILED, error=dict(verified.error or {}),
                                  messages=(*report.messages, unverified_message(
                                      plan.target, plan.epoch_after, switched.fenced,
                                      verified.error))))
    notes = [f"{r} still holds an older record (unreachable during the switch): the next "
             "failover/failback repairs it" for r in verified.stale]
    return (yield from finish(FailoverOutcome.COMPLETED,
                              messages=(*report.messages, *notes)))


def _planned(report: FailoverReport, plan: FailoverPlan, assessed: AssessResult
             ) -> FailoverReport:
    """The report after (re)planning: plan, epochs, reachability and the RPO exposure."""
    assessment = assessed.assessment
    rpo: float | None
    if plan.outcome is not PlanOutcome.READY:
        rpo, basis = None, ""  # nothing will switch: no loss window to speak of
    elif plan.kind is FailoverKind.UNPLANNED:
        rpo, basis = assessment.lag_seconds, assessment.lag_basis or "unknown"
    else:
        rpo, basis = 0.0, "drained before the switch"
    return replace(report.with_calls(assessment.calls), plan=plan.to_dict(), source=plan.source,
                   epoch_before=plan.epoch_before, epoch_after=plan.epoch_after,
                   unreached=dict(assessment.unreachable), rpo_exposure_seconds=rpo,
                   rpo_basis=basis, rto_objective_seconds=assessed.rto_objective_seconds,
                   messages=plan.reasons)


def _fenced_only(result: PairResult) -> bool:
    """Every item the step failed was refused by the fence (a newer record in the target)."""
    failures = result.report.get("failures") or ()
    return bool(failures) and all(f.get("code") == FENCED_CODE for f in failures)


def _record_in_force(assessed: AssessResult) -> dict[str, Any] | None:
    records = [TopologyRecord.from_dict(r) for r in assessed.assessment.records.values() if r]
    return choose_current(records).to_dict() if records else None


def _step_summary(result: PairResult) -> dict[str, Any]:
    """What the report keeps of a reconcile/drain sync: status, counts, listed conflicts and
    failures (names and reasons only), calls."""
    keep = ("status", "source_region", "target_regions", "counts", "conflicts", "overwritten",
            "failures", "omitted", "calls", "duration_seconds", "renewal")
    summary = {k: result.report.get(k) for k in keep if k in result.report}
    if result.error:
        summary["error"] = dict(result.error)
    return summary
