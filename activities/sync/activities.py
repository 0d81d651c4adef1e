"""The full-sync activity family: one object holding the services it is handed, one method per
activity (registered by :mod:`activities.functions`)."""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from activities.services import SyncServices, calls_of, open_sessions
from activities.sync.batches import (
    all_failed,
    fenced,
    overwritten_notes,
    record_skips,
    skipped_notes,
)
from activities.sync.plan import check_history, inventories, make_plan, write_refused
from activities.sync.renewal import align_renewal_chunk
from activities.sync.store import (
    LAST_DRY_RUN_KEY,
    LAST_REPORT_KEY,
    batch_key,
    load_batch,
    missing_since_key,
    plans_prefix,
    renewal_inputs_key,
    rotation_inputs_key,
)
from activities.sync.verify import unverified
from kvdr.errors import KvdrError, VaultUnavailableError
from kvdr.renewal.align import RenewalInputs
from kvdr.rotation.scan import ScanInputs
from kvdr.sync.contracts import (
    BATCH_FAILED_CODE,
    BatchRequest,
    ExecutedBatch,
    FailBatchRequest,
    PairPlanRequest,
    PairPlanSummary,
    RenewalRequest,
    RenewalResult,
    SyncTopology,
    TopologyRequest,
    VerifyRequest,
    VerifyResult,
)
from kvdr.sync.model import EXECUTABLE, PlanItem, SyncMode
from kvdr.sync.replicate import execute_items
from kvdr.sync.report import MAX_LISTED, BatchResult, SyncReport
from kvdr.topology.reading import read_records, read_topology
from kvdr.topology.record import assess_topology, initial_record
from kvdr.topology.store import current_topology
from kvdr.vault.inventory import Inventory, ItemKind, format_time, parse_time

logger = logging.getLogger(__name__)


class SyncActivities:
    """Read the topology, plan a pair, align its renewal, execute or fail a batch, verify a
    pair, save the report (:mod:`activities.sync`)."""

    def __init__(self, services: SyncServices) -> None:
        self._services = services

    # --- topology -------------------------------------------------------------------------------

    def read_topology(self, request: TopologyRequest) -> SyncTopology:
        """The primary (copy source), the epoch and the targets. A dry run never bootstraps the
        topology record (it would write to the vaults): it assumes the initial one."""
        config = self._services.config
        # one small read per vault: a dead one must not hold the run for a full backoff schedule
        with open_sessions(self._services, config.region_names, probe=True) as sessions:
            try:
                if request.dry_run:
                    records = read_records(sessions).records()  # the one rule
                    unanswered = [n for n, r in records.items() if r is None]
                    if any(records.values()):
                        view = assess_topology(records)
                    else:
                        view = assess_topology({config.topology.initial_primary: initial_record(
                            config.topology.initial_primary, changed_at=datetime.now(UTC))})
                else:
                    view = current_topology(config, sessions)
                    unanswered = list(view.missing_regions)
            except KvdrError as exc:
                return SyncTopology(False, error=exc.to_dict(), calls=calls_of(sessions))
            calls = calls_of(sessions)
        self._services.suspect(unanswered)  # the pair plans probe these first (_dead_vault)
        if view.split_brain:
            rivals = ", ".join(r.primary for r in view.rivals)
            return SyncTopology(False, calls=calls, error={
                "code": "topology.split_brain",
                "message": f"split brain: {view.current.primary} and {rivals} are both primary "
                           f"at epoch {view.current.epoch}; no sync runs until an operator "
                           "resolves it (run a failover to the intended primary)"})
        primary = view.current.primary
        others = [r.name for r in config.others(primary)]
        if request.targets is not None:
            wrong = [t for t in request.targets if t not in others]
            if wrong:
                return SyncTopology(False, primary, view.current.epoch, calls=calls, error={
                    "code": "runbook.bad_target",
                    "message": f"{', '.join(wrong)} cannot be a target: the primary is "
                               f"{primary} and the targets are {', '.join(others)}"})
            others = [t for t in others if t in request.targets]
        return SyncTopology(True, primary, view.current.epoch, tuple(others), calls,
                            max_parallel=config.pacing.max_parallel)

    # --- plan -----------------------------------------------------------------------------------

    def _dead_vault(self, regions: list[str]) -> tuple[dict[str, str] | None, dict[str, int]]:
        """Before a pair's inventory (six lists, each retried for 31 s on a vault that does not
        answer): one read of each of these vaults' topology record through a probe session (the
        pair asks only for those the run's topology read got no record from, so a healthy run
        pays nothing). Returns the error of the first vault that did not answer (None when all
        did) and the calls made."""
        error = None
        with open_sessions(self._services, regions, probe=True) as probes:
            for region, session in probes.items():
                try:
                    read_topology(session)
                except VaultUnavailableError as exc:  # 5xx after the retries, or unreachable
                    error = {"code": exc.code, "message": f"{region}'s vault did not answer, "
                             f"so the pair was not synced: {exc.message}"}
                    break
                except KvdrError:  # it answered: the inventory reports anything else
                    continue
            calls = calls_of(probes)
        return error, calls

    def plan_pair(self, request: PairPlanRequest) -> PairPlanSummary:
        """Inventory both vaults, plan (then settle what the current primary's version history
        tells of the plan's conflicts and drift: :func:`~activities.sync.plan.check_history`),
        store the executable batches (unless a dry run) and the planner's ``missing_since``;
        return counts and the start report, whose calls include every call made here."""
        services = self._services
        started_at = parse_time(request.started_at) or datetime.now(UTC)
        dead, probe_calls = self._dead_vault([r for r in (request.source, request.target)
                                              if services.is_suspect(r)])
        if dead is not None:
            return PairPlanSummary(False, request.source, request.target, error=dead,
                                   report=SyncReport(request.source, (request.target,),
                                                     started_at, request.dry_run)
                                   .add_calls(probe_calls).to_dict())
        with open_sessions(services, (request.source, request.target)) as sessions:
            src, tgt = sessions[request.source], sessions[request.target]
            try:
                source_inv, target_inv = inventories(src, tgt)
            except KvdrError as exc:
                return PairPlanSummary(False, request.source, request.target,
                                       error=exc.to_dict(),
                                       report=SyncReport(request.source, (request.target,),
                                                         started_at, request.dry_run)
                                       .add_calls(probe_calls)
                                       .add_calls(calls_of(sessions)).to_dict())
            plan = make_plan(services.config, services.state, source_inv, target_inv,
                             source=request.source, target=request.target, epoch=request.epoch,
                             now=datetime.now(UTC), mode=request.mode)
            plan = check_history(src, tgt, plan, target_inv)
            refused = None if request.dry_run else write_refused(tgt, plan)
            calls = calls_of(sessions)
        if refused is not None:  # nothing stored: no batch, no renewal step, no record
            return PairPlanSummary(False, request.source, request.target, error=refused,
                                   report=SyncReport(request.source, (request.target,),
                                                     started_at, request.dry_run)
                                   .add_calls(probe_calls).add_calls(calls).to_dict())
        size = services.config.pacing.batch_size
        batches = plan.batches(size)
        if not request.dry_run:
            # stale batches of an earlier attempt of this run must not be executed
            services.state.delete_prefix(plans_prefix(request.run_id, request.target))
            for n, batch in enumerate(batches):
                services.state.put_json(batch_key(request.run_id, request.target, n),
                                        [item.to_dict() for item in batch])
            if request.mode != SyncMode.RECONCILE:  # reconcile tracks no deletions: keep them
                services.state.put_json(missing_since_key(request.target),
                                        {k: format_time(v)
                                         for k, v in plan.missing_since.items()})
        if not request.dry_run:  # (a dry run stores nothing; its renewal step lists)
            # the renewal step's items and ledgers, from these inventories: no second listing
            primary_inv, secondary_inv = ((target_inv, source_inv) if request.mode ==
                                          SyncMode.RECONCILE else (source_inv, target_inv))
            services.state.put_json(renewal_inputs_key(request.run_id, request.target),
                                    RenewalInputs.of(primary_inv, secondary_inv).to_dict())
            if request.mode == SyncMode.SYNC and services.config.rotation.queue:
                # and the rotation scan's, from the primary's (every pair's is the same)
                services.state.put_json(rotation_inputs_key(request.run_id),
                                        ScanInputs.of(source_inv, started_at).to_dict())
        report = SyncReport.start(plan, dry_run=request.dry_run, started_at=started_at)
        report = report.add_calls(probe_calls).add_calls(calls)
        drift = sum(1 for item in plan.items if item.drift)
        logger.info("full sync %s (%s): plan %s -> %s: %d items, %d executable in %d batches, "
                    "%d drift", request.run_id, request.mode, request.source, request.target,
                    len(plan.items), len(plan.executable), len(batches), drift)
        return PairPlanSummary(True, request.source, request.target, batches=len(batches),
                               items_total=len(plan.executable), batch_size=size,
                               target_items=plan.target_item_count, drift=drift,
                               report=report.to_dict())

    # --- renewal --------------------------------------------------------------------------------

    def align_renewal(self, request: RenewalRequest) -> RenewalResult:
        """One chunk of the pair's renewal step, before its batches: the secondary's copies
        stop renewing before anything is copied (:mod:`activities.sync.renewal`)."""
        return align_renewal_chunk(self._services, request)

    # --- batches --------------------------------------------------------------------------------

    def execute_batch(self, request: BatchRequest) -> ExecutedBatch:
        """Execute one stored batch. ``execute_items`` checks before it acts, so a retried or
        re-delivered batch writes nothing new. A vault error that stops the whole batch comes
        back as a failure of every item (with its code), not as an exception."""
        services = self._services
        items = load_batch(services.state, request)
        if items is None:
            raise KvdrError(f"batch {request.batch} of run {request.run_id} for "
                            f"{request.target} is not in the state store; re-run the full sync",
                            code="sync.batch_missing")
        with open_sessions(services, (request.source, request.target)) as sessions:
            src, tgt = sessions[request.source], sessions[request.target]
            try:
                result = fenced(tgt, request, items) or execute_items(
                    src, tgt, items, policies=services.config.policies,
                    fingerprint_key=services.fingerprint_key, mode=request.mode,
                    epoch=request.epoch)
            except KvdrError as exc:
                result = all_failed(items, exc.code, exc.message)
            calls = calls_of(sessions)
        record_skips(services.state, request, items, result)
        result = BatchResult(result.outcomes, calls)
        return ExecutedBatch(result, tuple(skipped_notes(result)),
                             tuple(overwritten_notes(items, result)))

    def fail_batch(self, request: FailBatchRequest) -> BatchResult:
        """The envelope of a batch whose activity failed for good: every item failed."""
        items = load_batch(self._services.state, request.batch) or []
        return all_failed(items, BATCH_FAILED_CODE, request.message)

    # --- verify ---------------------------------------------------------------------------------

    def verify_pair(self, request: VerifyRequest) -> VerifyResult:
        """What the run's batches executed that the target still does not hold."""
        services = self._services
        planned: list[PlanItem] = []
        for n in range(request.batches):
            planned += [i for i in load_batch(services.state, BatchRequest(
                request.run_id, request.source, request.target, n, request.epoch)) or []
                if i.action in EXECUTABLE]
        if not planned:
            return VerifyResult(True)
        with open_sessions(services, (request.target,)) as sessions:
            tgt = sessions[request.target]
            try:
                # one get per item, or the list calls of the kinds involved: whichever is fewer
                kinds = sorted({i.kind for i in planned}, key=list(ItemKind).index)
                list_calls = max(1, math.ceil(request.target_items / 25)) * len(kinds)
                if len(planned) <= list_calls:
                    found = [tgt.item(i.kind, i.name) for i in planned]
                    target_now = Inventory(request.target, tuple({p.key: p for p in found
                                                                  if p is not None}.values()))
                else:
                    target_now = tgt.inventory(kinds)
            except KvdrError as exc:
                return VerifyResult(False, error=exc.to_dict(), calls=calls_of(sessions))
            calls = calls_of(sessions)
        notes = unverified(services.config, services.state, request, planned, target_now)
        return VerifyResult(True, checked=len(planned), unverified=tuple(notes[:MAX_LISTED]),
                            unverified_count=len(notes), calls=calls)

    # --- report ---------------------------------------------------------------------------------

    def save_report(self, record: Mapping[str, Any]) -> dict[str, Any]:
        """Keep the report as the last sync status (a dry run as the last dry run, so it never
        hides the state of the last real sync) and delete the run's plans."""
        state = self._services.state
        key = LAST_DRY_RUN_KEY if record.get("dry_run") else LAST_REPORT_KEY
        state.put_json(key, dict(record))
        run_id = record.get("run_id")
        deleted = state.delete_prefix(plans_prefix(run_id)) if run_id else 0
        return {"ok": True, "key": key, "plans_deleted": deleted}
