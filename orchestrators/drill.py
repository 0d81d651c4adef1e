"""The DR drill runbook: preflight -> renewal ownership (and the issuer and key-version
warnings) -> RPO per secondary -> RTO rehearsal per secondary -> report -> the
``kvdr.drill.completed`` event.

Non-disruptive: it never changes the topology record and never writes a user item (see
``kvdr.drill``). A step whose activity fails for good becomes a failed check, not a failed
orchestration, so every drill ends with a saved report and the event the drill-failure alert
watches. Deterministic: no I/O, time from ``context.current_utc_datetime``.
"""

from __future__ import annotations

from typing import Any

import azure.durable_functions as df

from kvdr.catalogue import Activity
from kvdr.drill.checks import CheckName, skipped, step_failed
from kvdr.drill.contracts import (
    DrillInput,
    Measurement,
    MeasureRequest,
    PreflightRequest,
    PreflightResult,
    RenewalCheckRequest,
    RenewalCheckResult,
)
from kvdr.drill.preflight import Preflight
from kvdr.drill.report import DrillPhase, DrillReport
from orchestrators.blueprint import bp

RETRY = df.RetryOptions(first_retry_interval_in_milliseconds=5_000, max_number_of_attempts=3)


def _status(context: df.DurableOrchestrationContext, phase: DrillPhase, report: DrillReport,
            **extra: Any) -> None:
    context.set_custom_status({"phase": str(phase), "run_id": report.run_id,
                               "targets": list(report.targets),
                               "checks_failed": len(report.failed_checks), **extra})


@bp.orchestration_trigger(context_name="context")
def drill(context: df.DurableOrchestrationContext):
    request = DrillInput.from_dict(context.get_input())
    run_id = request.run_id or context.instance_id
    report = DrillReport(run_id, context.current_utc_datetime, targets=request.targets or ())

    _status(context, DrillPhase.PREFLIGHT, report)
    try:
        found = PreflightResult.from_dict((yield context.call_activity_with_retry(
            Activity.DRILL_PREFLIGHT, RETRY, PreflightRequest(run_id, request.targets).to_dict())))
        pre = found.preflight
        report = DrillReport(run_id, report.started_at, found.regions,
                             found.rpo_objective_seconds, found.rto_objective_seconds,
                             pre.primary, pre.epoch, pre.targets, pre.checks).add_calls(found.calls)
    except Exception as exc:  # the activity failed for good: the drill still reports
        pre = Preflight(())
        report = report.with_checks([step_failed(CheckName.RUNBOOK, None, exc)])

    # renewal ownership over the vaults that answered; issuers and key versions against the
    # secondaries whose pending changes can be listed (the primary answered too)
    if pre.primary is None:
        report = report.with_checks([skipped(CheckName.RENEWAL_OWNERSHIP,
                                             "not checked: there is no current primary")])
    else:
        _status(context, DrillPhase.RENEWAL, report)
        try:
            renewal = RenewalCheckResult.from_dict((yield context.call_activity_with_retry(
                Activity.DRILL_CHECK_RENEWAL, RETRY, RenewalCheckRequest(
                    run_id, pre.primary, pre.reachable(report.regions),
                    pre.measure_rpo).to_dict())))
            report = report.with_checks(renewal.checks).add_calls(renewal.calls)
        except Exception as exc:
            report = report.with_checks([step_failed(CheckName.RENEWAL_OWNERSHIP, None, exc)])

    for phase, activity, regions in (
            (DrillPhase.RPO, Activity.DRILL_MEASURE_RPO, pre.measure_rpo),
            (DrillPhase.RTO, Activity.DRILL_REHEARSE_RTO, pre.measure_rto)):
        name = CheckName.RPO if phase == DrillPhase.RPO else CheckName.RTO
        for target in regions:
            _status(context, phase, report, region=target)
            try:
                measured = Measurement.from_dict((yield context.call_activity_with_retry(
                    activity, RETRY,
                    MeasureRequest(run_id, pre.primary or "", target, pre.epoch or 0).to_dict())))
                report = report.with_checks([measured.check]).add_calls(measured.calls)
            except Exception as exc:
                report = report.with_checks([step_failed(name, target, exc)])

    report = report.finish(context.current_utc_datetime)
    _status(context, DrillPhase.REPORT, report, result=str(report.result))
    record = report.to_dict()
    try:
        yield context.call_activity_with_retry(Activity.DRILL_SAVE_REPORT, RETRY, record)
    except Exception as exc:
        record["save_error"] = step_failed(CheckName.RUNBOOK, None, exc).message
    try:  # last: the event is the alert contract, emitted whatever happened before
        yield context.call_activity_with_retry(Activity.DRILL_EMIT_EVENT, RETRY, record)
    except Exception as exc:
        record["event_error"] = step_failed(CheckName.RUNBOOK, None, exc).message
    _status(context, DrillPhase.DONE, report, result=str(report.result))
    return record
