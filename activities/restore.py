"""The restore activity family: plan (read the topology, plan value-free, store the batches that
write), execute a stored batch (fenced by the epoch, one item after another, each checked
before it is written), save the report. Each may run twice (decision 5): the plan replaces its
batches; an item whose restore already landed is not written again
(:func:`kvdr.restore.execute.restore_item` re-reads it first).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from activities.services import ActivityServices, calls_of, open_sessions
from activities.sync.store import missing_since_key
from kvdr.errors import KvdrError, VaultPermissionError
from kvdr.restore.contracts import (
    BATCH_MISSING_CODE,
    PREVIEW_NAMES,
    BatchRequest,
    BatchResult,
    PlanRequest,
    PlanSummary,
    batch_key,
    plans_prefix,
)
from kvdr.restore.execute import restore_item
from kvdr.restore.model import RestoreAction, RestoreItem, RestorePlan, RestoreScope
from kvdr.restore.outcome import RestoreOutcome
from kvdr.restore.plan import build_plan
from kvdr.restore.report import LAST_REPORT_KEY, RestoreReport, RestoreRunOutcome, report_key
from kvdr.telemetry import custom_event
from kvdr.topology.reading import read_records, read_topology
from kvdr.topology.record import TopologyRecord, TopologyView, assess_topology, initial_record
from kvdr.topology.store import FENCED_CODE
from kvdr.vault.inventory import ItemKind, parse_time
from kvdr.vault.permissions import check_write

logger = logging.getLogger(__name__)

COMPLETED_EVENT = "kvdr.restore.completed"


def fenced_message(primary: str, record: TopologyRecord, epoch: int) -> str:
    return (f"fenced: {primary} holds topology epoch {record.epoch} (primary "
            f"{record.primary}), not epoch {epoch} this restore was planned at; a failover or "
            "failback happened since, so nothing of this batch was written — run the restore "
            "again: it plans against the current primary")


def every_item(items: Sequence[RestoreItem], code: str, message: str) -> list[RestoreOutcome]:
    """Every item of a batch answered with one failure (nothing written)."""
    return [RestoreOutcome(i.kind, i.name, i.action, ok=False, code=code, message=message)
            for i in items]


def preview(plan: RestorePlan) -> dict[str, tuple[str, ...]]:
    """The first names per action (never ``unchanged``): what an approver reads."""
    shown: dict[str, list[str]] = {}
    for item in plan.items:
        if item.action == RestoreAction.UNCHANGED:
            continue
        names = shown.setdefault(str(item.action), [])
        if len(names) < PREVIEW_NAMES:
            names.append(f"{item.kind} {item.name}")
    return {action: tuple(names) for action, names in shown.items()}


class RestoreActivities:
    """Plan, execute a batch, save the report (:mod:`kvdr.restore`)."""

    def __init__(self, services: ActivityServices) -> None:
        self._services = services

    def _topology(self, regions: Sequence[str]
                  ) -> tuple[TopologyView, dict[str, str], dict[str, int]]:
        """The topology under the one rule, read through probe sessions (a dead vault costs
        seconds); without any record the configured initial primary at epoch 1 is assumed (a
        restore never bootstraps the record: that is the sync's job)."""
        config = self._services.config
        with open_sessions(self._services, regions, probe=True) as probes:
            reads = read_records(probes)
            calls = calls_of(probes)
        view = reads.view()
        if view is None:
            initial = config.topology.initial_primary
            view = assess_topology({initial: initial_record(initial,
                                                            changed_at=datetime.now(UTC))})
        return view, reads.failed(), calls

    def _missing_since(self, others: Sequence[Any]) -> dict[str, datetime]:
        """When the full sync first saw each item missing from the primary, from every
        secondary's record (the earliest sighting wins): a purge before TIME is not undone."""
        found: dict[str, datetime] = {}
        for region in others:
            kept = self._services.state.get_json(missing_since_key(region.name)) or {}
            for key, text in kept.items():
                when = parse_time(text)
                if when is not None and (key not in found or when < found[key]):
                    found[key] = when
        return found

    def plan(self, request: PlanRequest) -> PlanSummary:
        """Read the topology and plan against the primary (value-free reads); store the items
        that write in batches (not in a dry run); begin the report from the plan."""
        services, config = self._services, self._services.config
        as_of = parse_time(request.as_of)
        assert as_of is not None
        try:
            view, failed, calls = self._topology(config.region_names)
        except KvdrError as exc:
            return PlanSummary(False, error=exc.to_dict())
        if view.split_brain:
            rivals = ", ".join(r.primary for r in view.rivals)
            return PlanSummary(False, calls=calls, error={
                "code": "topology.split_brain",
                "message": f"split brain: {view.current.primary} and {rivals} are both primary "
                           f"at epoch {view.current.epoch}; resolve it with a failover to the "
                           "intended primary, then restore"})
        primary, epoch = view.current.primary, view.current.epoch
        if primary in failed:
            return PlanSummary(False, primary, epoch, calls=calls, error={
                "code": failed[primary],
                "message": f"the primary {primary} did not answer, so nothing can be restored "
                           "there; restore once it answers, or fail over first"})
        others = [r.name for r in config.others(primary) if r.name not in failed]
        unreached = {r: code for r, code in failed.items() if r != primary}
        with open_sessions(services, (primary, *others)) as sessions:
            try:
                plan = build_plan(sessions[primary], {r: sessions[r] for r in others},
                                  as_of=as_of, scope=RestoreScope.from_dict(request.scope),
                                  epoch=epoch, disable_new=request.disable_new,
                                  missing_since=self._missing_since(config.others(primary)),
                                  unreached=unreached)
            except KvdrError as exc:
                return PlanSummary(False, primary, epoch, calls=_add(calls, calls_of(sessions)),
                                   error=exc.to_dict())
            items = plan.executable_with(request.disable_new)
            try:  # before anything is stored or asked: may kvdr write what the plan writes?
                if items and not request.dry_run:
                    check_write(sessions[primary], sorted({i.kind for i in items}))
            except VaultPermissionError as exc:
                return PlanSummary(False, primary, epoch, calls=_add(calls, calls_of(sessions)),
                                   error=exc.to_dict())
            calls = _add(calls, calls_of(sessions))
        size = max(1, config.pacing.batch_size)
        batches = [items[i:i + size] for i in range(0, len(items), size)]
        state = services.state
        state.delete_prefix(plans_prefix(request.run_id))  # a retried plan replaces its batches
        if not request.dry_run:
            for n, batch in enumerate(batches):
                state.put_json(batch_key(request.run_id, n), [i.to_dict() for i in batch])
        report = RestoreReport.from_plan(plan, run_id=request.run_id,
                                         requested_by=request.requested_by,
                                         reason=request.reason,
                                         started=parse_time(request.started),
                                         dry_run=request.dry_run,
                                         disable_new=request.disable_new)
        logger.info("restore %s: planned %d item(s) to write in %d batch(es) on %s (epoch %d)",
                    request.run_id, len(items), len(batches), primary, epoch)
        return PlanSummary(True, primary, epoch, len(batches), len(items), report.to_dict(),
                           preview(plan), unreached, config.pacing.max_parallel, calls)

    def execute_batch(self, request: BatchRequest) -> BatchResult:
        """The fence first (one read of the primary's record: a failover since the plan stops
        the batch before any write), then each item, checked before it is written."""
        raw = self._services.state.get_json(batch_key(request.run_id, request.batch))
        if raw is None:
            return BatchResult((RestoreOutcome(
                ItemKind.SECRET, f"(batch {request.batch})", RestoreAction.ROLL_BACK, ok=False,
                code=BATCH_MISSING_CODE, message="the batch's stored plan is not in the state "
                "store; run the restore again"),))
        items = [RestoreItem.from_dict(i) for i in raw]
        if request.give_up is not None:
            give_up = request.give_up
            return BatchResult(tuple(every_item(items, str(give_up["code"]),
                                                str(give_up["message"]))))
        sources = sorted({i.source_region for i in items
                          if i.source_region and i.source_region != request.primary})
        with open_sessions(self._services, (request.primary, *sources)) as sessions:
            primary = sessions[request.primary]
            record = read_topology(primary)
            if record is not None and (record.epoch != request.epoch
                                       or record.primary != request.primary):
                message = fenced_message(request.primary, record, request.epoch)
                logger.warning("restore %s: batch %d fenced: epoch %d (primary %s) in %s, "
                               "planned at %d", request.run_id, request.batch, record.epoch,
                               record.primary, request.primary, request.epoch)
                return BatchResult(tuple(every_item(items, FENCED_CODE, message)),
                                   {"code": FENCED_CODE, "message": message},
                                   calls_of(sessions))
            others = {r: sessions[r] for r in sources}
            outcomes = tuple(restore_item(primary, others, item, run_id=request.run_id,
                                          disable_new=request.disable_new,
                                          fingerprint_key=self._services.fingerprint_key)
                             for item in items)
            calls = calls_of(sessions)
        logger.info("restore %s: batch %d: %d written, %d failed", request.run_id,
                    request.batch, sum(1 for o in outcomes if o.wrote),
                    sum(1 for o in outcomes if not o.ok))
        return BatchResult(outcomes, None, calls)

    def save_report(self, record: Mapping[str, Any]) -> dict[str, Any]:
        """Keep the report (per run, and as the last one unless a dry run) and delete the
        run's stored batches."""
        state, run_id = self._services.state, record["run_id"]
        state.put_json(report_key(run_id), dict(record))
        if record.get("outcome") != RestoreRunOutcome.PLANNED_ONLY:
            state.put_json(LAST_REPORT_KEY, dict(record))
        deleted = state.delete_prefix(plans_prefix(run_id))
        logger.info("restore %s: %s (primary %s, as of %s)", run_id, record.get("outcome"),
                    record.get("primary"), record.get("as_of"))
        result: dict[str, Any] = {"ok": True, "key": report_key(run_id),
                                  "plans_deleted": deleted}
        if record.get("outcome") != RestoreRunOutcome.PLANNED_ONLY:
            try:
                custom_event(COMPLETED_EVENT, event_dimensions(record))
            except Exception as exc:  # telemetry must never fail a restore that happened
                logger.warning("restore %s: %s not emitted (%s)", run_id, COMPLETED_EVENT,
                               type(exc).__name__)
                result["event_error"] = type(exc).__name__
        return result


def event_dimensions(record: Mapping[str, Any]) -> dict[str, str | int]:
    """The ``kvdr.restore.completed`` custom event: names, the moment and counts only."""
    counts = record.get("counts") or {}
    dims: dict[str, str | int] = {
        "run_id": str(record.get("run_id")), "outcome": str(record.get("outcome")),
        "primary": str(record.get("primary")), "as_of": str(record.get("as_of")),
        "requested_by": str(record.get("requested_by") or "")[:200]}
    for key in ("done", "already", "failed", "cannot", "new"):
        dims[key] = int(counts.get(key, 0))
    return dims


def _add(a: Mapping[str, int], b: Mapping[str, int]) -> dict[str, int]:
    return {r: a.get(r, 0) + b.get(r, 0) for r in {*a, *b}}
