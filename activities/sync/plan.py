"""Plan a pair: inventory both vaults, plan, settle what version history tells, and store
the executable batches; the orchestrator learns counts only (:class:`PairPlanSummary`)."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from activities.blueprint import bp
from activities.sync.sessions import open_sessions
from activities.sync.store import batch_key, missing_since_key, plans_prefix
from kvdr.errors import KvdrError, VaultUnavailableError
from kvdr.services import Runtime, get_runtime
from kvdr.sync.contracts import PairPlanRequest, PairPlanSummary
from kvdr.sync.history import history_checks
from kvdr.sync.model import SyncMode, SyncPlan
from kvdr.sync.plan import plan_sync
from kvdr.sync.report import SyncReport
from kvdr.topology.store import read_topology
from kvdr.vault.inventory import Inventory, format_time, parse_time
from kvdr.vault.session import VaultSession
from kvdr.vault.version_history import settle_history

logger = logging.getLogger(__name__)


def _inventories(source: VaultSession, target: VaultSession) -> tuple[Inventory, Inventory]:
    """Both inventories, concurrently (each is list calls only, per kind concurrently)."""
    with ThreadPoolExecutor(2, thread_name_prefix="inventory") as pool:
        src = pool.submit(source.inventory)
        tgt = pool.submit(target.inventory)
        return src.result(), tgt.result()


def _first_seen(runtime: Runtime, target: str) -> dict[str, datetime]:
    raw = runtime.state.get_json(missing_since_key(target)) or {}
    return {k: t for k, v in raw.items() if (t := parse_time(v)) is not None}


def make_plan(runtime: Runtime, source_inv: Inventory, target_inv: Inventory, *, source: str,
              target: str, epoch: int, now: datetime,
              mode: SyncMode = SyncMode.SYNC) -> SyncPlan:
    config = runtime.config
    return plan_sync(source_inv, target_inv, source_region=source, target_region=target,
                     policies=config.policies,
                     same_subscription=config.same_subscription(source, target),
                     same_geography=config.same_geography(source, target),
                     now=now, first_seen_missing=_first_seen(runtime, target), epoch=epoch,
                     mode=mode)


def check_history(source: VaultSession, target: VaultSession, plan: SyncPlan, target_inv: Inventory
                  ) -> SyncPlan:
    """Right after planning, in every mode: settle what the current primary's version history
    can tell (:func:`kvdr.sync.history.history_checks`, read by
    :func:`kvdr.vault.version_history.settle_history`).
    Each check costs one version listing of the region holding the history (properties only,
    no value) and, when the copies found there name the origin's version id, one of the other
    region too (the real ids behind the subject's version token); all are counted in the
    sessions' calls. Only candidates are checked, so a run without drift or conflicts lists no
    versions.

    * Reconcile: a conflict whose target (the current primary) held a kvdr copy of the source's
      latest and moved on becomes a skip; one whose history cannot be read stays a conflict,
      saying so.
    * Sync and drain: drift (a sync conflict, a primary-wins or drain overwrite) whose source
      (the current primary) held a kvdr copy of the target's latest and moved on is a plain
      update of the value, no drift (not a conflict, not listed as overwritten); one whose
      history cannot be read stays drift, as planned.

    (:func:`kvdr.sync.history.resolve_history`.)"""
    return settle_history(source, target, plan, history_checks(plan, target_inv))


def dead_vault(runtime: Runtime, *regions: str) -> tuple[dict[str, Any] | None, dict[str, int]]:
    """Before a pair's inventory (six lists, each retried for 31 s on a vault that does not
    answer): one read of each of these vaults' topology record through a probe session (the
    pair asks only for those the run's topology read got no record from, so a healthy run
    pays nothing). Returns the error of the first vault that did not answer (None when all
    did) and the calls made."""
    error = None
    with open_sessions(runtime, *regions, probe=True) as probes:
        for region, session in zip(regions, probes, strict=True):
            try:
                read_topology(session)
            except VaultUnavailableError as exc:  # 5xx after the retries, or unreachable
                error = {"code": exc.code, "message": f"{region}'s vault did not answer, so "
                         f"the pair was not synced: {exc.message}"}
                break
            except KvdrError:  # it answered: the inventory reports anything else
                continue
        calls = {region: s.calls for region, s in zip(regions, probes, strict=True)}
    return error, calls


def plan_pair(runtime: Runtime, request: PairPlanRequest) -> PairPlanSummary:
    """Inventory both vaults, plan (then settle what the current primary's version history
    tells of the plan's conflicts and drift: :func:`check_history`), store the executable batches
    (unless a dry run) and the planner's ``missing_since``; return counts and the start
    report, whose calls include every call made here."""
    started_at = parse_time(request.started_at) or datetime.now(UTC)
    dead, probe_calls = dead_vault(runtime, *(r for r in (request.source, request.target)
                                              if runtime.is_suspect(r)))
    if dead is not None:
        return PairPlanSummary(False, request.source, request.target, error=dead,
                               report=SyncReport(request.source, (request.target,), started_at,
                                                 request.dry_run).add_calls(probe_calls)
                               .to_dict())
    with open_sessions(runtime, request.source, request.target) as (src, tgt):
        try:
            source_inv, target_inv = _inventories(src, tgt)
        except KvdrError as exc:
            return PairPlanSummary(False, request.source, request.target, error=exc.to_dict(),
                                   report=SyncReport(request.source, (request.target,),
                                                     started_at, request.dry_run)
                                   .add_calls(probe_calls)
                                   .add_calls({request.source: src.calls,
                                               request.target: tgt.calls}).to_dict())
        plan = make_plan(runtime, source_inv, target_inv, source=request.source,
                         target=request.target, epoch=request.epoch, now=datetime.now(UTC),
                         mode=request.mode)
        plan = check_history(src, tgt, plan, target_inv)
        calls = {request.source: src.calls, request.target: tgt.calls}
    size = runtime.config.pacing.batch_size
    batches = plan.batches(size)
    if not request.dry_run:
        # stale batches of an earlier attempt of this run must not be executed
        runtime.state.delete_prefix(plans_prefix(request.run_id, request.target))
        for n, batch in enumerate(batches):
            runtime.state.put_json(batch_key(request.run_id, request.target, n),
                                   [item.to_dict() for item in batch])
        if request.mode != SyncMode.RECONCILE:  # reconcile tracks no deletions: keep them
            runtime.state.put_json(missing_since_key(request.target),
                                   {k: format_time(v) for k, v in plan.missing_since.items()})
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


@bp.activity_trigger(input_name="request")
def sync_plan_pair(request: dict[str, Any]) -> dict[str, Any]:
    return plan_pair(get_runtime(), PairPlanRequest.from_dict(request)).to_dict()
