"""The full-sync activities: read the topology, plan a pair, execute a batch, verify a pair,
save the report. Each may run twice (decision 5) and returns an envelope, never a value.

Plans never cross the orchestration boundary: the planner's executable items are written to the
state store as batches (``plans/{run_id}/{target}/batch-{n:05d}.json``) and the orchestrator
only learns how many there are. Each activity opens its own vault sessions (sharing the
process's pacers), so the calls it reports are exactly the calls it made.

Fencing (decision 1): a batch reads the target vault's topology record once, before any write;
when its epoch is above the epoch the batch was planned at, a failover or failback happened in
between and the batch writes nothing (every item fails with ``topology.fenced``).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from activities.blueprint import bp
from kvdr.errors import KvdrError, VaultUnavailableError
from kvdr.services import Runtime, get_runtime
from kvdr.sync.history import history_checks
from kvdr.sync.model import EXECUTABLE, PlanAction, PlanItem, Reason, SyncMode, SyncPlan
from kvdr.sync.plan import plan_sync
from kvdr.sync.report import MAX_LISTED, BatchResult, ItemNote, ItemOutcome, SyncReport
from kvdr.topology.store import FENCED_CODE, fenced_message, newer_record
from kvdr.vault.inventory import Inventory, ItemKind, format_time, parse_time
from kvdr.vault.version_history import settle_history

logger = logging.getLogger(__name__)

LAST_REPORT_KEY = "sync/last-report.json"
LAST_DRY_RUN_KEY = "sync/last-dry-run.json"
UNVERIFIED_CODE = "sync.unverified"
BATCH_FAILED_CODE = "sync.batch_failed"


def plans_prefix(run_id: str, target: str | None = None) -> str:
    return f"plans/{run_id}/" + (f"{target}/" if target else "")


def batch_key(run_id: str, target: str, n: int) -> str:
    return f"{plans_prefix(run_id, target)}batch-{n:05d}.json"


def missing_since_key(target: str) -> str:
    return f"sync/missing-since/{target}.json"


def _error(exc: BaseException) -> dict[str, Any]:
    if isinstance(exc, KvdrError):
        return exc.to_dict()
    return {"code": "sync.error", "message": f"{type(exc).__name__}: {exc}"}


@contextmanager
def _sessions(runtime: Runtime, *regions: str, probe: bool = False) -> Iterator[list[Any]]:
    """Fresh sessions; ``probe`` ones give up within seconds on a vault that does not answer
    (:meth:`Runtime.open_session`), as the failover's and the drill's reads do."""
    with ExitStack() as stack:
        opened = []
        for region in regions:
            session = runtime.open_session(region, probe=probe)
            stack.callback(session.close)
            opened.append(session)
        yield opened


# --- topology -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class TopologyRequest:
    targets: tuple[str, ...] | None = None
    dry_run: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"targets": list(self.targets) if self.targets is not None else None,
                "dry_run": self.dry_run}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TopologyRequest:
        targets = data.get("targets")
        return cls(tuple(targets) if targets is not None else None, bool(data.get("dry_run")))


@dataclass(frozen=True)
class SyncTopology:
    """Who copies to whom in this run. ``ok`` False: ``error`` says why nothing may run."""

    ok: bool
    primary: str = ""
    epoch: int = 0
    targets: tuple[str, ...] = ()
    calls: Mapping[str, int] = field(default_factory=dict)
    error: Mapping[str, Any] | None = None
    max_parallel: int = 4  # pacing.max_parallel, read here so orchestrators stay I/O-free

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"ok": self.ok, "primary": self.primary, "epoch": self.epoch,
                                "targets": list(self.targets), "calls": dict(self.calls),
                                "max_parallel": self.max_parallel}
        if self.error:
            data["error"] = dict(self.error)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SyncTopology:
        return cls(bool(data["ok"]), data.get("primary", ""), data.get("epoch", 0),
                   tuple(data.get("targets", ())), dict(data.get("calls", {})),
                   data.get("error"), int(data.get("max_parallel", 4)))


def read_sync_topology(runtime: Runtime, request: TopologyRequest) -> SyncTopology:
    """The primary (copy source), the epoch and the targets. A dry run never bootstraps the
    topology record (it would write to the vaults): it assumes the initial one."""
    from kvdr.topology.record import assess_topology, initial_record
    from kvdr.topology.store import current_topology, read_topology

    config = runtime.config
    # one small read per vault: a dead one must not hold the run for a full backoff schedule
    with _sessions(runtime, *config.region_names, probe=True) as opened:
        sessions = dict(zip(config.region_names, opened, strict=True))
        try:
            if request.dry_run:
                records = {}
                for name, session in sessions.items():
                    try:
                        records[name] = read_topology(session)
                    except KvdrError as exc:
                        logger.warning("dry run: cannot read the topology of %s: %s", name, exc)
                        records[name] = None
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
            return SyncTopology(False, error=exc.to_dict(),
                                calls={n: s.calls for n, s in sessions.items()})
        calls = {n: s.calls for n, s in sessions.items()}
    runtime.suspect(unanswered)  # the pair plans probe these first (dead_vault)
    if view.split_brain:
        rivals = ", ".join(r.primary for r in view.rivals)
        return SyncTopology(False, calls=calls, error={
            "code": "topology.split_brain",
            "message": f"split brain: {view.current.primary} and {rivals} are both primary at "
                       f"epoch {view.current.epoch}; no sync runs until an operator resolves "
                       "it (run a failover to the intended primary)"})
    primary = view.current.primary
    others = [r.name for r in config.others(primary)]
    if request.targets is not None:
        wrong = [t for t in request.targets if t not in others]
        if wrong:
            return SyncTopology(False, primary, view.current.epoch, calls=calls, error={
                "code": "runbook.bad_target",
                "message": f"{', '.join(wrong)} cannot be a target: the primary is {primary} "
                           f"and the targets are {', '.join(others)}"})
        others = [t for t in others if t in request.targets]
    return SyncTopology(True, primary, view.current.epoch, tuple(others), calls,
                        max_parallel=config.pacing.max_parallel)


@bp.activity_trigger(input_name="request")
def sync_read_topology(request: dict[str, Any]) -> dict[str, Any]:
    return read_sync_topology(get_runtime(), TopologyRequest.from_dict(request)).to_dict()


# --- plan ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PairPlanRequest:
    run_id: str
    source: str
    target: str
    dry_run: bool
    epoch: int
    started_at: str
    mode: SyncMode = SyncMode.SYNC

    def to_dict(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "source": self.source, "target": self.target,
                "dry_run": self.dry_run, "epoch": self.epoch, "started_at": self.started_at,
                "mode": str(self.mode)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PairPlanRequest:
        return cls(data["run_id"], data["source"], data["target"], bool(data["dry_run"]),
                   int(data["epoch"]), data["started_at"],
                   SyncMode(data.get("mode", SyncMode.SYNC)))


@dataclass(frozen=True)
class PairPlanSummary:
    """What the orchestrator learns of a plan: counts, never items. ``report`` is the
    ``SyncReport.start`` of the plan (skips, conflicts, unchanged counts, list calls)."""

    ok: bool
    source: str
    target: str
    batches: int = 0
    items_total: int = 0
    batch_size: int = 0
    target_items: int = 0
    drift: int = 0
    report: Mapping[str, Any] | None = None
    error: Mapping[str, Any] | None = None

    def batch_items(self, n: int) -> int:
        return max(0, min(self.batch_size, self.items_total - n * self.batch_size))

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "ok": self.ok, "source": self.source, "target": self.target,
            "batches": self.batches, "items_total": self.items_total,
            "batch_size": self.batch_size, "target_items": self.target_items,
            "drift": self.drift, "report": dict(self.report) if self.report else None}
        if self.error:
            data["error"] = dict(self.error)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PairPlanSummary:
        return cls(bool(data["ok"]), data["source"], data["target"], data.get("batches", 0),
                   data.get("items_total", 0), data.get("batch_size", 0),
                   data.get("target_items", 0), data.get("drift", 0), data.get("report"),
                   data.get("error"))


def _inventories(source: Any, target: Any) -> tuple[Inventory, Inventory]:
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


def check_history(source: Any, target: Any, plan: SyncPlan, target_inv: Inventory
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
    from kvdr.topology.store import read_topology

    error = None
    with _sessions(runtime, *regions, probe=True) as probes:
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
    with _sessions(runtime, request.source, request.target) as (src, tgt):
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


# --- execute ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BatchRequest:
    """One stored batch to execute. ``epoch`` is the topology epoch the plan was made at (the
    fence: a target holding a higher one refuses the batch)."""

    run_id: str
    source: str
    target: str
    batch: int
    epoch: int

    def to_dict(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "source": self.source, "target": self.target,
                "batch": self.batch, "epoch": self.epoch}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BatchRequest:
        return cls(data["run_id"], data["source"], data["target"], int(data["batch"]),
                   int(data["epoch"]))


def load_batch(runtime: Runtime, request: BatchRequest) -> list[PlanItem] | None:
    raw = runtime.state.get_json(batch_key(request.run_id, request.target, request.batch))
    return None if raw is None else [PlanItem.from_dict(i) for i in raw]


def _all_failed(items: Sequence[PlanItem], code: str, message: str,
                calls: Mapping[str, int] | None = None) -> BatchResult:
    return BatchResult(tuple(ItemOutcome(i.kind, i.name, i.action, ok=False, code=code,
                                         message=message) for i in items), dict(calls or {}))


def execute_batch(runtime: Runtime, request: BatchRequest) -> BatchResult:
    """Execute one stored batch. ``execute_items`` checks before it acts, so a retried or
    re-delivered batch writes nothing new. A vault error that stops the whole batch comes back
    as a failure of every item (with its code), not as an exception."""
    return _execute(runtime, request)[1]


def _execute(runtime: Runtime, request: BatchRequest) -> tuple[list[PlanItem], BatchResult]:
    from kvdr.sync.replicate import execute_items

    items = load_batch(runtime, request)
    if items is None:
        raise KvdrError(f"batch {request.batch} of run {request.run_id} for {request.target} "
                        "is not in the state store; re-run the full sync",
                        code="sync.batch_missing")
    with _sessions(runtime, request.source, request.target) as (src, tgt):
        try:
            result = _fenced(tgt, request, items) or execute_items(
                src, tgt, items, policies=runtime.config.policies,
                fingerprint_key=runtime.fingerprint_key)
        except KvdrError as exc:
            result = _all_failed(items, exc.code, exc.message)
        calls = {request.source: src.calls, request.target: tgt.calls}
    _record_skips(runtime, request, items, result)
    return items, BatchResult(result.outcomes, calls)


def _fenced(target: Any, request: BatchRequest, items: Sequence[PlanItem]) -> BatchResult | None:
    """One read of the target's topology record: every item failed (nothing written) when a
    failover/failback raised the epoch after the plan was made; None when the batch may run."""
    newer = newer_record(target, request.epoch)
    if newer is None:
        return None
    logger.warning("full sync %s: batch %d to %s fenced: epoch %d there, planned at %d",
                   request.run_id, request.batch, request.target, newer.epoch, request.epoch)
    return _all_failed(items, FENCED_CODE, fenced_message(request.target, newer, request.epoch))


def _record_skips(runtime: Runtime, request: BatchRequest, items: Sequence[PlanItem],
                  result: BatchResult) -> None:
    """Items the copier skipped (what the lists could not tell, e.g. a non-exportable
    certificate) are rewritten as skips in the stored batch: verification leaves them out and
    a re-delivered batch skips them again."""
    skips = {(o.kind, o.name.lower()): o.message for o in result.outcomes
             if o.ok and o.action == PlanAction.SKIP}
    if not skips:
        return
    rewritten = [replace(i, action=PlanAction.SKIP, reason=skips[(i.kind, i.name.lower())]
                         or i.reason) if (i.kind, i.name.lower()) in skips
                 and i.action in EXECUTABLE else i for i in items]
    runtime.state.put_json(batch_key(request.run_id, request.target, request.batch),
                           [i.to_dict() for i in rewritten])


def skipped_notes(result: BatchResult) -> list[dict[str, Any]]:
    """The copier's skips with their reasons (``ItemOutcome.to_dict`` keeps no message for a
    successful outcome, so the envelope carries them alongside)."""
    return [ItemNote(o.kind, o.name, o.message or "skipped").to_dict()
            for o in result.outcomes if o.ok and o.action == PlanAction.SKIP][:MAX_LISTED]


def overwritten_notes(items: Sequence[PlanItem], result: BatchResult) -> list[dict[str, Any]]:
    """Drift the batch wrote over (planned as a drift overwrite, and the target now holds the
    source's version; a retried batch finds it done and still lists it)."""
    drift = {(i.kind, i.name.lower()): i for i in items
             if i.drift and i.action == PlanAction.UPDATE_VALUE}
    notes = [ItemNote(o.kind, o.name, drift[(o.kind, o.name.lower())].reason or "drift "
                      "overwritten").to_dict() for o in result.outcomes
             if o.ok and o.action != PlanAction.SKIP and (o.kind, o.name.lower()) in drift]
    return notes[:MAX_LISTED]


@bp.activity_trigger(input_name="request")
def sync_execute_batch(request: dict[str, Any]) -> dict[str, Any]:
    items, result = _execute(get_runtime(), BatchRequest.from_dict(request))
    return {**result.to_dict(), "skipped": skipped_notes(result),
            "overwritten": overwritten_notes(items, result)}


def fail_batch(runtime: Runtime, request: BatchRequest, message: str) -> BatchResult:
    """The envelope of a batch whose activity failed for good: every item failed."""
    items = load_batch(runtime, request) or []
    return _all_failed(items, BATCH_FAILED_CODE, message)


@bp.activity_trigger(input_name="request")
def sync_fail_batch(request: dict[str, Any]) -> dict[str, Any]:
    return fail_batch(get_runtime(), BatchRequest.from_dict(request),
                      str(request.get("message") or "the batch activity failed")).to_dict()


# --- verify -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VerifyRequest:
    run_id: str
    source: str
    target: str
    batches: int
    epoch: int
    target_items: int = 0
    mode: SyncMode = SyncMode.SYNC

    def to_dict(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "source": self.source, "target": self.target,
                "batches": self.batches, "epoch": self.epoch,
                "target_items": self.target_items, "mode": str(self.mode)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> VerifyRequest:
        return cls(data["run_id"], data["source"], data["target"], int(data["batches"]),
                   int(data["epoch"]), int(data.get("target_items", 0)),
                   SyncMode(data.get("mode", SyncMode.SYNC)))


@dataclass(frozen=True)
class VerifyResult:
    """Items the run executed that are still not in sync (``unverified``, capped) and the
    calls verifying cost."""

    ok: bool
    checked: int = 0
    unverified: tuple[ItemNote, ...] = ()
    unverified_count: int = 0
    calls: Mapping[str, int] = field(default_factory=dict)
    error: Mapping[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"ok": self.ok, "checked": self.checked,
                                "unverified": [n.to_dict() for n in self.unverified],
                                "unverified_count": self.unverified_count,
                                "calls": dict(self.calls)}
        if self.error:
            data["error"] = dict(self.error)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> VerifyResult:
        return cls(bool(data["ok"]), data.get("checked", 0),
                   tuple(ItemNote.from_dict(n) for n in data.get("unverified", ())),
                   data.get("unverified_count", 0), dict(data.get("calls", {})),
                   data.get("error"))


def _unverified(runtime: Runtime, request: VerifyRequest, planned: Sequence[PlanItem],
                target_now: Inventory) -> list[ItemNote]:
    """Re-plan the executed items against the target as it is now: whatever is still
    executable did not take (except link-less items, which only a fingerprint can verify)."""
    present = target_now.by_key()
    notes: list[ItemNote] = []
    deletions = [i for i in planned if i.action == PlanAction.DELETE_CANDIDATE]
    notes += [ItemNote(i.kind, i.name, "still present after the soft-delete")
              for i in deletions if i.key in present]
    copies = [i for i in planned if i.source is not None]
    source_inv = Inventory(request.source, tuple(i.source for i in copies))  # type: ignore[misc]
    keys = {i.key for i in copies}
    target_inv = Inventory(request.target, tuple(p for p in target_now.items if p.key in keys),
                           deleted=target_now.deleted)
    plan = make_plan(runtime, source_inv, target_inv, source=request.source,
                     target=request.target, epoch=request.epoch, now=datetime.now(UTC),
                     mode=request.mode)
    for item in plan.items:
        if item.action not in EXECUTABLE or item.action == PlanAction.DELETE_CANDIDATE:
            continue
        if item.action == PlanAction.VERIFY_FINGERPRINT and item.reason == Reason.NO_ROOM:
            continue  # verified by fingerprint when it was executed
        notes.append(ItemNote(item.kind, item.name,
                              f"not in sync after the run (would still {item.action})"))
    return notes


def verify_pair(runtime: Runtime, request: VerifyRequest) -> VerifyResult:
    planned: list[PlanItem] = []
    for n in range(request.batches):
        planned += [i for i in load_batch(runtime, BatchRequest(
            request.run_id, request.source, request.target, n, request.epoch)) or []
            if i.action in EXECUTABLE]
    if not planned:
        return VerifyResult(True)
    with _sessions(runtime, request.target) as (tgt,):
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
            return VerifyResult(False, error=exc.to_dict(), calls={request.target: tgt.calls})
        calls = {request.target: tgt.calls}
    notes = _unverified(runtime, request, planned, target_now)
    return VerifyResult(True, checked=len(planned), unverified=tuple(notes[:MAX_LISTED]),
                        unverified_count=len(notes), calls=calls)


@bp.activity_trigger(input_name="request")
def sync_verify_pair(request: dict[str, Any]) -> dict[str, Any]:
    return verify_pair(get_runtime(), VerifyRequest.from_dict(request)).to_dict()


# --- save ---------------------------------------------------------------------------------------


def save_report(runtime: Runtime, record: Mapping[str, Any]) -> dict[str, Any]:
    """Keep the report as the last sync status (a dry run as the last dry run, so it never
    hides the state of the last real sync) and delete the run's plans."""
    key = LAST_DRY_RUN_KEY if record.get("dry_run") else LAST_REPORT_KEY
    runtime.state.put_json(key, dict(record))
    run_id = record.get("run_id")
    deleted = runtime.state.delete_prefix(plans_prefix(run_id)) if run_id else 0
    return {"ok": True, "key": key, "plans_deleted": deleted}


@bp.activity_trigger(input_name="record")
def sync_save_report(record: dict[str, Any]) -> dict[str, Any]:
    return save_report(get_runtime(), record)
