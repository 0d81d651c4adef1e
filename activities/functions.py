"""The activity functions the Blueprint registers, under the names of the runbook catalogue
(:class:`kvdr.catalogue.Activity`), and the composition root of their families.

Each function is one line: it builds its family's object from this process's services and hands
it the typed request (:mod:`kvdr.sync.contracts`, :mod:`kvdr.failover.contracts`,
:mod:`kvdr.drill.contracts`). This module is the only one that fetches the process's services
(:func:`kvdr.services.get_runtime`): every family below has its dependencies passed in, as
Temporal's activity classes hold their clients. The object is built per call, so it always
uses the services installed now (the command line and the tests install their own).
"""

from __future__ import annotations

from typing import Any

from activities.blueprint import bp
from activities.drill import DrillActivities
from activities.failover import FailoverActivities
from activities.restore import RestoreActivities
from activities.rotation import RotationActivities
from activities.sync import SyncActivities
from kvdr.drill.contracts import MeasureRequest, PreflightRequest, RenewalCheckRequest
from kvdr.events.handler import process_handler
from kvdr.failover.contracts import (
    AssessRequest,
    HandOverRequest,
    SaveReportRequest,
    SettleRequest,
    SwitchRequest,
)
from kvdr.failover.contracts import VerifyRequest as FailoverVerifyRequest
from kvdr.restore.contracts import BatchRequest as RestoreBatchRequest
from kvdr.restore.contracts import PlanRequest as RestorePlanRequest
from kvdr.rotation.contracts import ScanRequest
from kvdr.services import get_runtime
from kvdr.sync.contracts import (
    BatchRequest,
    FailBatchRequest,
    PairPlanRequest,
    RenewalRequest,
    TopologyRequest,
    VerifyRequest,
)

# --- the composition root -----------------------------------------------------------------------


def sync_activities() -> SyncActivities:
    return SyncActivities(get_runtime())


def failover_activities() -> FailoverActivities:
    # the switch makes this process's event handler (the event triggers') forget the topology
    return FailoverActivities(get_runtime(), process_handler())


def rotation_activities() -> RotationActivities:
    return RotationActivities(get_runtime())


def restore_activities() -> RestoreActivities:
    return RestoreActivities(get_runtime())


def drill_activities() -> DrillActivities:
    # building the process's services (once) also configures telemetry, which the event needs
    return DrillActivities(get_runtime())


# --- full sync ----------------------------------------------------------------------------------


@bp.activity_trigger(input_name="request")
def sync_read_topology(request: dict[str, Any]) -> dict[str, Any]:
    return sync_activities().read_topology(TopologyRequest.from_dict(request)).to_dict()


@bp.activity_trigger(input_name="request")
def sync_plan_pair(request: dict[str, Any]) -> dict[str, Any]:
    return sync_activities().plan_pair(PairPlanRequest.from_dict(request)).to_dict()


@bp.activity_trigger(input_name="request")
def sync_align_renewal(request: dict[str, Any]) -> dict[str, Any]:
    return sync_activities().align_renewal(RenewalRequest.from_dict(request)).to_dict()


@bp.activity_trigger(input_name="request")
def sync_execute_batch(request: dict[str, Any]) -> dict[str, Any]:
    return sync_activities().execute_batch(BatchRequest.from_dict(request)).to_dict()


@bp.activity_trigger(input_name="request")
def sync_fail_batch(request: dict[str, Any]) -> dict[str, Any]:
    return sync_activities().fail_batch(FailBatchRequest.from_dict(request)).to_dict()


@bp.activity_trigger(input_name="request")
def sync_verify_pair(request: dict[str, Any]) -> dict[str, Any]:
    return sync_activities().verify_pair(VerifyRequest.from_dict(request)).to_dict()


@bp.activity_trigger(input_name="record")
def sync_save_report(record: dict[str, Any]) -> dict[str, Any]:
    return sync_activities().save_report(record)


# --- failover and failback ----------------------------------------------------------------------


@bp.activity_trigger(input_name="request")
def failover_assess(request: dict[str, Any]) -> dict[str, Any]:
    return failover_activities().assess(AssessRequest.from_dict(request)).to_dict()


@bp.activity_trigger(input_name="request")
def failover_switch(request: dict[str, Any]) -> dict[str, Any]:
    return failover_activities().switch(SwitchRequest.from_dict(request)).to_dict()


@bp.activity_trigger(input_name="request")
def failover_settle(request: dict[str, Any]) -> dict[str, Any]:
    return failover_activities().settle(SettleRequest.from_dict(request)).to_dict()


@bp.activity_trigger(input_name="request")
def failover_handover(request: dict[str, Any]) -> dict[str, Any]:
    return failover_activities().hand_over(HandOverRequest.from_dict(request)).to_dict()


@bp.activity_trigger(input_name="request")
def failover_verify(request: dict[str, Any]) -> dict[str, Any]:
    return failover_activities().verify(FailoverVerifyRequest.from_dict(request)).to_dict()


@bp.activity_trigger(input_name="request")
def failover_save_report(request: dict[str, Any]) -> dict[str, Any]:
    return failover_activities().save_report(SaveReportRequest.from_dict(request))


# --- drill --------------------------------------------------------------------------------------


@bp.activity_trigger(input_name="request")
def drill_preflight(request: dict[str, Any]) -> dict[str, Any]:
    return drill_activities().preflight(PreflightRequest.from_dict(request)).to_dict()


@bp.activity_trigger(input_name="request")
def drill_check_renewal(request: dict[str, Any]) -> dict[str, Any]:
    return drill_activities().check_renewal(RenewalCheckRequest.from_dict(request)).to_dict()


@bp.activity_trigger(input_name="request")
def drill_measure_rpo(request: dict[str, Any]) -> dict[str, Any]:
    return drill_activities().measure_rpo(MeasureRequest.from_dict(request)).to_dict()


@bp.activity_trigger(input_name="request")
def drill_rehearse_rto(request: dict[str, Any]) -> dict[str, Any]:
    return drill_activities().rehearse_rto(MeasureRequest.from_dict(request)).to_dict()


@bp.activity_trigger(input_name="record")
def drill_save_report(record: dict[str, Any]) -> dict[str, Any]:
    return drill_activities().save_report(record)


@bp.activity_trigger(input_name="record")
def drill_emit_event(record: dict[str, Any]) -> dict[str, Any]:
    return drill_activities().emit_event(record)


# --- rotation -----------------------------------------------------------------------------------


@bp.activity_trigger(input_name="request")
def rotation_scan(request: dict[str, Any]) -> dict[str, Any]:
    return rotation_activities().scan(ScanRequest.from_dict(request)).to_dict()


# --- restore ------------------------------------------------------------------------------------


@bp.activity_trigger(input_name="request")
def restore_plan(request: dict[str, Any]) -> dict[str, Any]:
    return restore_activities().plan(RestorePlanRequest.from_dict(request)).to_dict()


@bp.activity_trigger(input_name="request")
def restore_execute_batch(request: dict[str, Any]) -> dict[str, Any]:
    return restore_activities().execute_batch(RestoreBatchRequest.from_dict(request)).to_dict()


@bp.activity_trigger(input_name="record")
def restore_save_report(record: dict[str, Any]) -> dict[str, Any]:
    return restore_activities().save_report(record)
