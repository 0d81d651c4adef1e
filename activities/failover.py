"""The failover/failback activities: assess the vaults, switch the topology record, verify it,
save the report. Each may run twice (decision 5): the switch writes a record only where it is
not already held, and refuses when another runbook raised the epoch in the meantime.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from typing import Any

from activities.blueprint import bp
from activities.sync.store import plans_prefix
from kvdr.errors import KvdrError, TopologyError
from kvdr.events.handler import process_handler
from kvdr.failover.contracts import (
    AssessRequest,
    AssessResult,
    SaveReportRequest,
    SwitchRequest,
    SwitchResult,
    VerifyRequest,
    VerifyResult,
)
from kvdr.failover.plan import Assessment
from kvdr.failover.report import (
    LAST_REPORT_KEY,
    FailoverReport,
    replaces_last_report,
    report_key,
)
from kvdr.services import Runtime, get_runtime
from kvdr.status import estimated_lag
from kvdr.telemetry import custom_event
from kvdr.topology.reading import read_records
from kvdr.topology.record import TopologyRecord, assess_topology
from kvdr.topology.store import read_topology, write_topology

logger = logging.getLogger(__name__)

COMPLETED_EVENT = "kvdr.failover.request.completed"


@contextmanager
def _sessions(runtime: Runtime, regions: tuple[str, ...], *, probe: tuple[str, ...] = ()
              ) -> Iterator[dict[str, Any]]:
    """Fresh sessions, so the calls each activity reports are exactly its own; regions in
    ``probe`` give up within seconds when their vault does not answer."""
    with ExitStack() as stack:
        opened = {}
        for region in regions:
            session = runtime.open_session(region, probe=region in probe)
            stack.callback(session.close)
            opened[region] = session
        yield opened


def _read_all(sessions: Mapping[str, Any]
              ) -> tuple[dict[str, TopologyRecord | None], dict[str, str]]:
    """Every vault's record under the one rule (:mod:`kvdr.topology.reading`); unreachable
    vaults are named with their error code."""
    reads = read_records(sessions)
    return reads.records(), reads.unreachable()


# --- assess -------------------------------------------------------------------------------------


def assess(runtime: Runtime, request: AssessRequest, *, now: datetime | None = None
           ) -> AssessResult:
    config = runtime.config
    regions = config.region_names
    with _sessions(runtime, regions, probe=regions) as sessions:
        records, unreachable = _read_all(sessions)
        calls = {r: s.calls for r, s in sessions.items()}
    lag, basis = estimated_lag(runtime.state, request.target, now or datetime.now(UTC))
    assessment = Assessment({r: rec.to_dict() if rec else None for r, rec in records.items()},
                            unreachable, lag, basis, calls)
    return AssessResult(assessment, config.objectives.rto_seconds, config.pacing.max_parallel)


@bp.activity_trigger(input_name="request")
def failover_assess(request: dict[str, Any]) -> dict[str, Any]:
    return assess(get_runtime(), AssessRequest.from_dict(request)).to_dict()


# --- switch -------------------------------------------------------------------------------------


def switch(runtime: Runtime, request: SwitchRequest) -> SwitchResult:
    """Write the new record to the new primary first (it must succeed: that write is also the
    proof that the vault takes writes), then to every other reachable vault, which fences it:
    its events and syncs stop counting as the primary's."""
    record = TopologyRecord.from_dict(request.record)
    target = record.primary
    with _sessions(runtime, (target, *request.fence), probe=request.fence) as sessions:
        def calls() -> dict[str, int]:
            return {r: s.calls for r, s in sessions.items()}

        try:
            held = read_topology(sessions[target])
            if (held is not None and held.epoch == record.epoch
                    and held.primary == record.primary):
                # a concurrent runbook (the metric and the health alert of one outage) made
                # the same switch: adopt its record, so no two records share an epoch
                record = held
            elif held is not None and held.epoch > request.epoch_before:
                raise TopologyError(
                    f"{target} already holds epoch {held.epoch} (primary {held.primary}, "
                    f"runbook {held.runbook_id or '?'}): another runbook changed the topology "
                    "since this one assessed it; nothing was switched",
                    code="topology.changed")
            write_topology(sessions[target], record)
        except KvdrError as exc:
            return SwitchResult(False, calls=calls(), error=exc.to_dict())
        fenced, unreached = [target], {}
        for region in request.fence:
            try:
                write_topology(sessions[region], record)
                fenced.append(region)
            except KvdrError as exc:
                logger.warning("failover %s: %s not fenced [%s]", request.run_id, region,
                               exc.code)
                unreached[region] = exc.code
        result = SwitchResult(True, tuple(fenced), unreached, calls())
    process_handler().forget_topology()  # this process's event path must not act on the old primary
    logger.info("failover %s: %s is primary at epoch %d (fenced %s)", request.run_id, target,
                record.epoch, ", ".join(fenced))
    return result


@bp.activity_trigger(input_name="request")
def failover_switch(request: dict[str, Any]) -> dict[str, Any]:
    return switch(get_runtime(), SwitchRequest.from_dict(request)).to_dict()


# --- verify -------------------------------------------------------------------------------------


def verify(runtime: Runtime, request: VerifyRequest) -> VerifyResult:
    """Read every record back: the new primary at the new epoch must be what readers choose."""
    regions = runtime.config.region_names
    with _sessions(runtime, regions, probe=regions) as sessions:
        records, unreachable = _read_all(sessions)
        calls = {r: s.calls for r, s in sessions.items()}
    try:
        view = assess_topology(records)
    except KvdrError as exc:
        return VerifyResult(False, unreached=unreachable, calls=calls, error=exc.to_dict())
    stale = tuple(r for r, rec in records.items()
                  if rec is not None and rec.epoch < request.epoch_after)
    current = view.current
    if (current.primary, current.epoch) != (request.target, request.epoch_after) \
            or view.split_brain:
        return VerifyResult(False, stale, unreachable, calls, {
            "code": "topology.unverified",
            "message": f"readers choose {current.primary} at epoch {current.epoch}"
                       f"{' (split brain)' if view.split_brain else ''}, not {request.target} "
                       f"at epoch {request.epoch_after}"})
    return VerifyResult(True, stale, unreachable, calls)


@bp.activity_trigger(input_name="request")
def failover_verify(request: dict[str, Any]) -> dict[str, Any]:
    return verify(get_runtime(), VerifyRequest.from_dict(request)).to_dict()


# --- report -------------------------------------------------------------------------------------


def save_report(runtime: Runtime, report: Mapping[str, Any],
                sync_run_ids: tuple[str, ...] = ()) -> dict[str, Any]:
    """Keep the report (per run and as the last one) and delete the step syncs' plans."""
    run_id = report["run_id"]
    runtime.state.put_json(report_key(run_id), dict(report))
    if replaces_last_report(report.get("outcome")):  # a no-op never hides the last real one
        runtime.state.put_json(LAST_REPORT_KEY, dict(report))
    deleted = sum(runtime.state.delete_prefix(plans_prefix(r)) for r in sync_run_ids)
    logger.info("failover %s: %s (%s -> %s)", run_id, report.get("outcome"),
                report.get("source"), report.get("target"))
    result: dict[str, Any] = {"ok": True, "key": report_key(run_id), "plans_deleted": deleted}
    if report.get("outcome") != "planned_only":
        try:
            custom_event(COMPLETED_EVENT, FailoverReport.from_dict(report).event_dimensions())
        except Exception as exc:  # telemetry must never undo a switch that happened
            logger.warning("failover %s: %s not emitted (%s)", run_id, COMPLETED_EVENT,
                           type(exc).__name__)
            result["event_error"] = type(exc).__name__
    return result


@bp.activity_trigger(input_name="request")
def failover_save_report(request: dict[str, Any]) -> dict[str, Any]:
    saved = SaveReportRequest.from_dict(request)
    return save_report(get_runtime(), saved.report, saved.sync_runs)
