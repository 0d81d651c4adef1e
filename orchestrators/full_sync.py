"""The full sync runbook: topology -> one ``full_sync_pair`` per target (in parallel) ->
merge -> the rotation scan (not in a dry run) -> save -> the report.

``full_sync_pair`` plans (an activity that stores the batches and returns counts), aligns
renewal (decision 9: the secondary's copies stop renewing before anything is copied; chunked
``sync_align_renewal`` activities, once per pair, not again after ``continue_as_new``), executes
the batches through ``full_sync_batches`` sub-orchestrations of at most ``GROUP_SIZE`` batches with
at most ``pacing.max_parallel`` activities in flight, verifies, and returns its report. It
``continue_as_new``\\ s after ``MAX_GROUPS_PER_EXECUTION`` groups, so no history grows with the
size of the vault (decision 6). Failover and failback call ``full_sync_pair`` directly with
``mode`` ``reconcile`` or ``drain`` (see :class:`kvdr.sync.model.SyncMode`); every batch is fenced
by the epoch the pair was planned at. Deterministic: no I/O, time from
``context.current_utc_datetime``, instance ids derived from the parent's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import azure.durable_functions as df

from kvdr.catalogue import Activity, Orchestrator
from kvdr.rotation.contracts import ScanRequest
from kvdr.sync.contracts import (
    UNVERIFIED_CODE,
    BatchRequest,
    ExecutedBatch,
    FailBatchRequest,
    FullSyncInput,
    GroupInput,
    GroupResult,
    PairInput,
    PairPlanRequest,
    PairPlanSummary,
    PairResult,
    RenewalRequest,
    RenewalResult,
    SyncTopology,
    TopologyRequest,
    VerifyRequest,
    VerifyResult,
)
from kvdr.sync.model import PlanAction
from kvdr.sync.progress import Phase, SyncProgress
from kvdr.sync.report import MAX_LISTED, BatchResult, ItemNote, ItemOutcome, SyncReport
from kvdr.vault.inventory import format_time, parse_time
from orchestrators.blueprint import bp

GROUP_SIZE = 40                 # batches per full_sync_batches sub-orchestration
MAX_GROUPS_PER_EXECUTION = 100  # then full_sync_pair continues as new

RETRY = df.RetryOptions(first_retry_interval_in_milliseconds=5_000, max_number_of_attempts=3)
# a vault that did not answer (after a session's retries), as VaultError codes say it
OUTAGE_CODES = frozenset({"vault.unreachable", "vault.unavailable"})


def run_record(report: SyncReport, *, run_id: str, drift: int, epoch: int,
               errors: list[Mapping[str, Any]]) -> dict[str, Any]:
    """The orchestration output and the stored last-sync status: the report plus run id, drift
    found, epoch and errors (targets that could not be synced)."""
    record = report.to_dict()
    record.update(run_id=run_id, drift=drift, epoch=epoch, errors=[dict(e) for e in errors])
    if errors:
        # a target whose copies could not be verified was still reached: what it got counts
        reached = len(report.target_regions) > len(errors) or any(
            n for action, kinds in report.counts.items() if action != "failed"
            for n in kinds.values())
        record["status"] = "partial" if reached else "failed"
    return record


# --- full_sync ----------------------------------------------------------------------------------


@bp.orchestration_trigger(context_name="context")
def full_sync(context: df.DurableOrchestrationContext):
    request = FullSyncInput.from_dict(context.get_input())
    run_id = request.run_id or context.instance_id
    started = context.current_utc_datetime
    context.set_custom_status(SyncProgress(Phase.TOPOLOGY).to_dict())
    topo = SyncTopology.from_dict((yield context.call_activity_with_retry(
        Activity.SYNC_READ_TOPOLOGY, RETRY,
        TopologyRequest(request.targets, request.dry_run).to_dict())))
    if not topo.ok:
        report = SyncReport(topo.primary or "?", tuple(request.targets or ()), started,
                            request.dry_run).add_calls(topo.calls)
        report = report.finish(context.current_utc_datetime)
        record = run_record(report, run_id=run_id, drift=0, epoch=topo.epoch,
                            errors=[{"target": None, **dict(topo.error or {})}])
        record["status"] = "failed"
        context.set_custom_status(SyncProgress(Phase.SAVE).to_dict())
        yield context.call_activity_with_retry(Activity.SYNC_SAVE_REPORT, RETRY, record)
        context.set_custom_status(SyncProgress(Phase.DONE).to_dict())
        return record

    context.set_custom_status(SyncProgress(Phase.PLAN).to_dict())
    pairs = [context.call_sub_orchestrator(
        Orchestrator.FULL_SYNC_PAIR,
        PairInput(run_id, topo.primary, target, request.dry_run, topo.epoch,
                  format_time(started) or "",
                  max_parallel=topo.max_parallel).to_dict(),
        instance_id=f"{context.instance_id}:{target}") for target in topo.targets]
    results = [PairResult.from_dict(r) for r in (yield context.task_all(pairs))]

    report = SyncReport(topo.primary, (), started, request.dry_run).add_calls(topo.calls)
    for result in results:
        report = report.merge(SyncReport.from_dict(result.report))
    report = report.finish(context.current_utc_datetime)
    errors = [{"target": r.target, **dict(r.error)} for r in results if r.error]
    record = run_record(report, run_id=run_id, drift=sum(r.drift for r in results),
                        epoch=topo.epoch, errors=errors)
    if not request.dry_run:
        # decision 9: announce what the events missed (kvdr.rotation.scan); an envelope, so a
        # queue outage never fails the sync
        record["rotation"] = yield context.call_activity_with_retry(
            Activity.ROTATION_SCAN, RETRY, ScanRequest(
                run_id, topo.primary, topo.epoch,
                format_time(context.current_utc_datetime) or "").to_dict())
    context.set_custom_status(SyncProgress(Phase.SAVE).to_dict())
    yield context.call_activity_with_retry(Activity.SYNC_SAVE_REPORT, RETRY, record)
    context.set_custom_status(SyncProgress(Phase.DONE).to_dict())
    return record


# --- full_sync_pair -----------------------------------------------------------------------------


@bp.orchestration_trigger(context_name="context")
def full_sync_pair(context: df.DurableOrchestrationContext):
    pair = PairInput.from_dict(context.get_input())
    started = parse_time(pair.started_at)
    progress = SyncProgress(Phase.PLAN, pair.target)

    if pair.summary is None:
        context.set_custom_status(progress.to_dict())
        summary = PairPlanSummary.from_dict((yield context.call_activity_with_retry(
            Activity.SYNC_PLAN_PAIR, RETRY, PairPlanRequest(
                pair.run_id, pair.source, pair.target, pair.dry_run, pair.epoch,
                pair.started_at, pair.mode).to_dict())))
        report = SyncReport.from_dict(summary.report) if summary.report else SyncReport(
            pair.source, (pair.target,), started, pair.dry_run)  # type: ignore[arg-type]
        if not summary.ok:
            context.set_custom_status(SyncProgress(Phase.DONE, pair.target).to_dict())
            return PairResult(pair.target, report.finish(context.current_utc_datetime).to_dict(),
                              error=summary.error).to_dict()
        context.set_custom_status(SyncProgress(Phase.RENEWAL, pair.target).to_dict())
        report = yield from _align_renewal(context, pair, report)
    else:
        summary = PairPlanSummary.from_dict(pair.summary)
        report = SyncReport.from_dict(pair.report or summary.report or {})

    progress = SyncProgress(Phase.EXECUTE, pair.target, pair.next_batch, summary.batches,
                            pair.items_done, summary.items_total)
    if pair.dry_run:
        summary = PairPlanSummary(summary.ok, summary.source, summary.target, 0, 0,
                                  summary.batch_size, summary.target_items, summary.drift,
                                  summary.report)
    next_batch, items_done, groups = pair.next_batch, pair.items_done, 0
    while next_batch < summary.batches:
        if groups >= MAX_GROUPS_PER_EXECUTION:
            carried = replace(pair, summary=summary.to_dict(), report=report.to_dict(),
                              next_batch=next_batch, items_done=items_done)
            context.continue_as_new(carried.to_dict())
            return None
        count = min(GROUP_SIZE, summary.batches - next_batch)
        context.set_custom_status(progress.to_dict())
        group = GroupResult.from_dict((yield context.call_sub_orchestrator(
            Orchestrator.FULL_SYNC_BATCHES,
            GroupInput(pair.run_id, pair.source, pair.target, pair.started_at, next_batch,
                       count, pair.max_parallel, progress.to_dict(), pair.epoch,
                       pair.mode).to_dict(),
            instance_id=f"{context.instance_id}:g{next_batch:06d}")))
        report = report.merge(SyncReport.from_dict(group.report))
        next_batch += count
        items_done += group.items_done
        groups += 1
        progress = SyncProgress(Phase.EXECUTE, pair.target, next_batch, summary.batches,
                                items_done, summary.items_total)

    unverified, error = 0, None
    if summary.batches:
        context.set_custom_status(SyncProgress(Phase.VERIFY, pair.target, next_batch,
                                               summary.batches, items_done,
                                               summary.items_total).to_dict())
        verified = VerifyResult.from_dict((yield context.call_activity_with_retry(
            Activity.SYNC_VERIFY_PAIR, RETRY, VerifyRequest(
                pair.run_id, pair.source, pair.target, summary.batches, pair.epoch,
                summary.target_items, pair.mode).to_dict())))
        report = report.add_calls(verified.calls)
        report, unverified = _absorb_verification(report, verified)
        if not verified.ok:  # the pair's error, not an item: a failover will not switch on it
            note = verified.error or {}
            error = {"code": str(note.get("code", "sync.verify_failed")),
                     "message": f"the copies to {pair.target} could not be verified: "
                                f"{note.get('message', 'unknown error')}"}
    context.set_custom_status(SyncProgress(Phase.DONE, pair.target, next_batch, summary.batches,
                                           items_done, summary.items_total).to_dict())
    return PairResult(pair.target, report.finish(context.current_utc_datetime).to_dict(),
                      drift=summary.drift, unverified=unverified, error=error).to_dict()


def _align_renewal(context: df.DurableOrchestrationContext, pair: PairInput,
                   report: SyncReport):
    """The pair's renewal step, one activity per chunk until the cursor says done; its section
    goes into the report under the secondary's region (its failures are no item failures)."""
    request = RenewalRequest(pair.run_id, pair.source, pair.target, pair.epoch, pair.dry_run,
                             pair.mode)
    while True:
        chunk = RenewalResult.from_dict((yield context.call_activity_with_retry(
            Activity.SYNC_ALIGN_RENEWAL, RETRY, request.to_dict())))
        report = report.with_renewal(chunk.secondary, chunk.section).add_calls(chunk.calls)
        if chunk.next_cursor is None:
            return report
        request = replace(request, cursor=chunk.next_cursor)


def _absorb_verification(report: SyncReport, verified: VerifyResult
                         ) -> tuple[SyncReport, int]:
    """Unverified items become failures (code ``sync.unverified``) unless the run already
    reported them as failed. A verification that could not run adds no item (the pair
    reports it as its error): it once counted as a failed secret named "(verification)"."""
    if not verified.ok:
        return report, 0
    failed = {(n.kind, n.name.lower()) for n in report.failures}
    fresh = [n for n in verified.unverified if (n.kind, n.name.lower()) not in failed]
    outcomes = tuple(ItemOutcome(n.kind, n.name, PlanAction.UNCHANGED, ok=False,
                                 code=UNVERIFIED_CODE, message=n.reason) for n in fresh)
    return report.add_batch(BatchResult(outcomes)), len(fresh)


# --- full_sync_batches --------------------------------------------------------------------------


@bp.orchestration_trigger(context_name="context")
def full_sync_batches(context: df.DurableOrchestrationContext):
    group = GroupInput.from_dict(context.get_input())
    progress = SyncProgress.from_dict(group.progress)
    report = SyncReport(group.source, (group.target,),
                        parse_time(group.started_at))  # type: ignore[arg-type]
    end = group.first + group.count
    next_batch, items_done = group.first, 0
    in_flight: list[tuple[Any, int]] = []
    down: str | None = None  # the outage code once a whole batch failed with one
    while next_batch < end or in_flight:
        while next_batch < end and len(in_flight) < max(1, group.max_parallel):
            request = BatchRequest(group.run_id, group.source, group.target, next_batch,
                                   group.epoch, group.mode)
            in_flight.append((context.call_activity_with_retry(
                Activity.SYNC_EXECUTE_BATCH, RETRY, request.to_dict()), next_batch))
            next_batch += 1
        winner = yield context.task_any([task for task, _ in in_flight])
        n = next(n for task, n in in_flight if task is winner)
        in_flight = [(task, m) for task, m in in_flight if task is not winner]
        if getattr(winner, "state", None) is not None and winner.state.name == "FAILED":
            # the activity failed for good (after retries): every item of the batch failed
            failed = yield context.call_activity_with_retry(
                Activity.SYNC_FAIL_BATCH, RETRY, FailBatchRequest(
                    BatchRequest(group.run_id, group.source, group.target, n, group.epoch,
                                 group.mode),
                    _first_line(winner.result)).to_dict())
            result = BatchResult.from_dict(failed)
        else:
            executed = ExecutedBatch.from_dict(winner.result)
            result = executed.result
            report = _add_skipped(report, executed.skipped)
            report = report.add_overwritten(executed.overwritten)
        report = report.add_batch(result)
        items_done += len(result.outcomes)
        progress = progress.advanced(batches=1, items=len(result.outcomes))
        context.set_custom_status(progress.to_dict())
        down = down or _outage(result)
        if down is not None and next_batch < end:
            # the target did not answer a whole batch through its retries: every batch not
            # sent yet would only pay the same schedule again; they fail at once, not attempted
            why = (f"not attempted: {group.target} stopped answering ({down}); the next sync "
                   "copies it")
            pending = [context.call_activity_with_retry(
                Activity.SYNC_FAIL_BATCH, RETRY, FailBatchRequest(
                    BatchRequest(group.run_id, group.source, group.target, n, group.epoch,
                                 group.mode), why).to_dict()) for n in range(next_batch, end)]
            for failed in (yield context.task_all(pending)):
                result = BatchResult.from_dict(failed)
                report = report.add_batch(result)
                items_done += len(result.outcomes)
                progress = progress.advanced(batches=1, items=len(result.outcomes))
            next_batch = end
            context.set_custom_status(progress.to_dict())
    return GroupResult(report.to_dict(), items_done).to_dict()


def _outage(result: BatchResult) -> str | None:
    """The code of a vault outage that failed every item of the batch (None otherwise)."""
    codes = {o.code for o in result.outcomes if not o.ok}
    if result.outcomes and all(not o.ok for o in result.outcomes) and codes <= OUTAGE_CODES:
        return sorted(c for c in codes if c)[0]
    return None


def _add_skipped(report: SyncReport, notes: Sequence[ItemNote]) -> SyncReport:
    """List the copier's skips (found only when executing) with their reasons."""
    if not notes:
        return report
    listed = (*report.skipped, *notes)
    kept = listed[:MAX_LISTED]
    return replace(report, skipped=kept, omitted=report.omitted + len(listed) - len(kept))


def _first_line(error: Any) -> str:
    text = str(error) if error is not None else "the batch activity failed"
    return text.strip().splitlines()[0][:300] if text.strip() else "the batch activity failed"
