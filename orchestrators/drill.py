"""The DR drill runbook: preflight -> RPO per secondary -> RTO rehearsal per secondary ->
report -> the ``kvdr.drill.model.completed`` event.

Non-disruptive: it never changes the topology record and never writes a user item (see
``kvdr.drill.model``). A step whose activity fails for good becomes a failed check, not a failed
orchestration, so every drill ends with a saved report and the event the drill-failure alert
watches. Deterministic: no I/O, time from ``context.current_utc_datetime``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import azure.durable_functions as df

from activities.drill import Measurement, MeasureRequest, PreflightRequest, PreflightResult
from kvdr.drill.model import CheckName, DrillPhase, DrillReport, Preflight, step_failed
from orchestrators.blueprint import bp

DRILL_ORCHESTRATOR = "drill"
RETRY = df.RetryOptions(first_retry_interval_in_milliseconds=5_000, max_number_of_attempts=3)


@dataclass(frozen=True)
class DrillInput:
    """The runbook's input. ``targets`` limits the secondaries rehearsed (default: all);
    ``run_id`` defaults to the instance id."""

    targets: tuple[str, ...] | None = None
    run_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {}
        if self.targets is not None:
            data["targets"] = list(self.targets)
        if self.run_id:
            data["run_id"] = self.run_id
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> DrillInput:
        data = data or {}
        targets = data.get("targets")
        return cls(tuple(targets) if targets is not None else None, data.get("run_id"))


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
            "drill_preflight", RETRY, PreflightRequest(run_id, request.targets).to_dict())))
        pre = found.preflight
        report = DrillReport(run_id, report.started_at, found.regions,
                             found.rpo_objective_seconds, found.rto_objective_seconds,
                             pre.primary, pre.epoch, pre.targets, pre.checks).add_calls(found.calls)
    except Exception as exc:  # the activity failed for good: the drill still reports
        pre = Preflight(())
        report = report.with_checks([step_failed(CheckName.RUNBOOK, None, exc)])

    for phase, activity, regions in ((DrillPhase.RPO, "drill_measure_rpo", pre.measure_rpo),
                                     (DrillPhase.RTO, "drill_rehearse_rto", pre.measure_rto)):
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
        yield context.call_activity_with_retry("drill_save_report", RETRY, record)
    except Exception as exc:
        record["save_error"] = step_failed(CheckName.RUNBOOK, None, exc).message
    try:  # last: the event is the alert contract, emitted whatever happened before
        yield context.call_activity_with_retry("drill_emit_event", RETRY, record)
    except Exception as exc:
        record["event_error"] = step_failed(CheckName.RUNBOOK, None, exc).message
    _status(context, DrillPhase.DONE, report, result=str(report.result))
    return record
