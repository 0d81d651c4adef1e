"""The restore runbook: plan -> (approval) -> execute the batches -> report.

The plan (:func:`kvdr.restore.plan.build_plan`, value-free reads) is made against the primary
in force, its items that write are stored in batches, and a small view of it (counts, the
first names per action) is the custom status while an operator decides — through the same
gate, event and ``POST /api/runbooks/{id}/approve`` route as a failover. The plan executed is
the plan approved; each item is re-read before it is written.

Execution is paced like the full sync: at most ``pacing.max_parallel`` batch activities in
flight, and the orchestration ``continue_as_new``\\ s after :data:`MAX_BATCHES_PER_EXECUTION`
batches, so no history grows with the size of the damage (decision 6). Every batch is fenced
by the epoch the plan was made at: once one finds a failover happened, no later batch touches
a vault and the run ends ``fenced`` with a report of what was and was not done. Deterministic:
no I/O, time from the context.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import azure.durable_functions as df

from kvdr.catalogue import Activity
from kvdr.failover.report import Approval
from kvdr.restore.contracts import (
    APPROVAL_TIMED_OUT,
    BATCH_FAILED_CODE,
    PLAN_FAILED_CODE,
    BatchRequest,
    BatchResult,
    Carried,
    PlanRequest,
    PlanSummary,
    RestorePhase,
    RunNotes,
    run_record,
)
from kvdr.restore.report import RestoreReport, RestoreRunOutcome
from kvdr.restore.request import RestoreRequest
from kvdr.vault.inventory import format_time
from orchestrators.approval import approval_gate
from orchestrators.blueprint import bp

RETRY = df.RetryOptions(first_retry_interval_in_milliseconds=5_000, max_number_of_attempts=3)
MAX_BATCHES_PER_EXECUTION = 200  # then the runbook continues as new


def _status(phase: RestorePhase, summary: PlanSummary | None = None, **extra: Any
            ) -> dict[str, Any]:
    status: dict[str, Any] = {"phase": str(phase)}
    if summary is not None and summary.ok:
        status["plan"] = summary.status()
    status.update(extra)
    return status


@bp.orchestration_trigger(context_name="context")
def restore(context: df.DurableOrchestrationContext):
    data = context.get_input()
    request = RestoreRequest.from_dict(data)
    run_id = request.run_id or context.instance_id

    def finish(report: RestoreReport, notes: RunNotes, outcome: str | None = None):
        final = report.finish(context.current_utc_datetime, outcome)
        record = run_record(final, notes)
        context.set_custom_status(_status(RestorePhase.REPORT, outcome=final.outcome))
        yield context.call_activity_with_retry(Activity.RESTORE_SAVE_REPORT, RETRY, record)
        context.set_custom_status(_status(RestorePhase.DONE, outcome=final.outcome))
        return record

    if data.get("carried") is None:
        planned = yield from _plan_and_approve(context, request, run_id)
        if not isinstance(planned, Carried):
            report, notes, outcome = planned
            return (yield from finish(report, notes, outcome))
        carried = planned
    else:
        carried = Carried.from_dict(data["carried"])

    # -- execute, at most max_parallel batches in flight
    summary, notes = carried.summary, carried.notes
    report = RestoreReport.from_dict(carried.report)
    next_batch, items_done, fence = carried.next_batch, carried.items_done, carried.fenced
    limit = min(summary.batches, next_batch + MAX_BATCHES_PER_EXECUTION)

    def batch(n: int, give_up: Mapping[str, str] | None = None) -> dict[str, Any]:
        return BatchRequest(run_id, n, summary.primary or "", summary.epoch,
                            request.disable_new, give_up).to_dict()

    def progress() -> dict[str, Any]:
        return _status(RestorePhase.EXECUTE, summary, progress={
            "batches_done": next_batch - len(in_flight), "batches": summary.batches,
            "items_done": items_done, "items": summary.items})

    in_flight: list[tuple[Any, int]] = []
    context.set_custom_status(progress())
    while next_batch < limit or in_flight:
        while next_batch < limit and len(in_flight) < max(1, summary.max_parallel):
            # once fenced, the rest only list their items as not done (no vault is touched)
            in_flight.append((context.call_activity_with_retry(
                Activity.RESTORE_EXECUTE_BATCH, RETRY, batch(next_batch, fence)), next_batch))
            next_batch += 1
        winner = yield context.task_any([task for task, _ in in_flight])
        n = next(n for task, n in in_flight if task is winner)
        in_flight = [(task, m) for task, m in in_flight if task is not winner]
        if getattr(winner, "state", None) is not None and winner.state.name == "FAILED":
            # failed for good after its retries: every item of the batch failed, none was lost
            give_up = {"code": BATCH_FAILED_CODE, "message": _first_line(winner.result)}
            result = BatchResult.from_dict((yield context.call_activity_with_retry(
                Activity.RESTORE_EXECUTE_BATCH, RETRY, batch(n, give_up))))
        else:
            result = BatchResult.from_dict(winner.result)
        if result.fenced is not None and fence is None:
            fence = dict(result.fenced)
        report = report.merge(result.outcomes)
        notes = notes.with_calls(result.calls)
        items_done += len(result.outcomes)
        context.set_custom_status(progress())

    if next_batch < summary.batches:
        carried = Carried(summary, report.to_dict(), notes, next_batch, items_done, fence)
        context.continue_as_new({**request.to_dict(), "run_id": run_id,
                                 "carried": carried.to_dict()})
        return None
    if fence is not None:
        notes = notes.noted(f"{fence.get('message')}; restored {report.done}, already "
                            f"restored {report.already}, not done {report.failed} of "
                            f"{summary.items} item(s) to write")
        return (yield from finish(report, notes, RestoreRunOutcome.FENCED))
    return (yield from finish(report, notes))


def _plan_and_approve(context: df.DurableOrchestrationContext, request: RestoreRequest,
                      run_id: str):
    """Plan, then the approval gate. Returns what to execute (:class:`Carried`), or the
    ``(report, notes, outcome)`` to finish with (a failed plan, a dry run, nothing to write, a
    rejection, no answer in time)."""
    started = context.current_utc_datetime
    context.set_custom_status(_status(RestorePhase.PLAN))
    plan_request = PlanRequest(run_id, format_time(request.as_of) or "", request.scope.to_dict(),
                               request.disable_new, request.dry_run, request.requested_by,
                               request.reason, format_time(started))
    try:
        summary = PlanSummary.from_dict((yield context.call_activity_with_retry(
            Activity.RESTORE_PLAN, RETRY, plan_request.to_dict())))
    except Exception as exc:  # failed for good: the run still reports why
        summary = PlanSummary(False, error={"code": PLAN_FAILED_CODE,
                                            "message": _first_line(exc)})
    notes = RunNotes(plan=summary.status() if summary.ok else None).with_calls(summary.calls)
    if not summary.ok or summary.report is None:
        report = RestoreReport(run_id, request.as_of, summary.primary or "?", summary.epoch,
                               request.requested_by, request.reason, started,
                               dry_run=request.dry_run, complete=False)
        return report, RunNotes(error=summary.error, calls=notes.calls), \
            RestoreRunOutcome.FAILED
    report = RestoreReport.from_dict(summary.report)
    for region, code in sorted(summary.unreached.items()):
        notes = notes.noted(f"{region} did not answer [{code}]: its copies were not "
                            "consulted, so an item only it could bring back is not in the plan")
    if request.dry_run:
        return report, notes, RestoreRunOutcome.PLANNED_ONLY
    if summary.items == 0:
        return report, notes.noted("nothing to write: every item in scope is as it was "
                                   "then, or cannot be restored (see the report)"), None

    if not request.approval_required:
        return Carried(summary, report.to_dict(), notes.approved(Approval(False)), 0)
    approval = yield from approval_gate(
        context, request.approval_timeout_seconds,
        lambda deadline: _status(RestorePhase.AWAITING_APPROVAL, summary,
                                 approval_deadline=deadline))
    if approval.approved is None:
        notes = notes.approved(approval)
        return report, notes.noted(f"nobody approved within {request.approval_timeout_seconds}"
                                   " s; nothing was restored"), APPROVAL_TIMED_OUT
    notes = notes.approved(approval)
    if not approval.approved:
        return report, notes, RestoreRunOutcome.REJECTED
    return Carried(summary, report.to_dict(), notes, 0)


def _first_line(error: Any) -> str:
    text = str(error) if error is not None else "the activity failed"
    return text.strip().splitlines()[0][:300] if text.strip() else "the activity failed"

