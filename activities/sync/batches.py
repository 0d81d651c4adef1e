"""Execute one stored batch (fenced by the epoch it was planned at), or fail it for good."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from activities.blueprint import bp
from activities.sync.sessions import open_sessions
from activities.sync.store import batch_key, load_batch
from kvdr.errors import KvdrError
from kvdr.services import Runtime, get_runtime
from kvdr.sync.contracts import BATCH_FAILED_CODE, BatchRequest, ExecutedBatch, FailBatchRequest
from kvdr.sync.model import EXECUTABLE, PlanAction, PlanItem
from kvdr.sync.replicate import execute_items
from kvdr.sync.report import MAX_LISTED, BatchResult, ItemNote, ItemOutcome
from kvdr.topology.store import FENCED_CODE, fenced_message, newer_record
from kvdr.vault.session import VaultSession

logger = logging.getLogger(__name__)


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
    items = load_batch(runtime, request)
    if items is None:
        raise KvdrError(f"batch {request.batch} of run {request.run_id} for {request.target} "
                        "is not in the state store; re-run the full sync",
                        code="sync.batch_missing")
    with open_sessions(runtime, request.source, request.target) as (src, tgt):
        try:
            result = _fenced(tgt, request, items) or execute_items(
                src, tgt, items, policies=runtime.config.policies,
                fingerprint_key=runtime.fingerprint_key)
        except KvdrError as exc:
            result = _all_failed(items, exc.code, exc.message)
        calls = {request.source: src.calls, request.target: tgt.calls}
    _record_skips(runtime, request, items, result)
    return items, BatchResult(result.outcomes, calls)


def _fenced(target: VaultSession, request: BatchRequest, items: Sequence[PlanItem]
            ) -> BatchResult | None:
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


def skipped_notes(result: BatchResult) -> list[ItemNote]:
    """The copier's skips with their reasons (``ItemOutcome.to_dict`` keeps no message for a
    successful outcome, so the envelope carries them alongside)."""
    return [ItemNote(o.kind, o.name, o.message or "skipped")
            for o in result.outcomes if o.ok and o.action == PlanAction.SKIP][:MAX_LISTED]


def overwritten_notes(items: Sequence[PlanItem], result: BatchResult) -> list[ItemNote]:
    """Drift the batch wrote over (planned as a drift overwrite, and the target now holds the
    source's version; a retried batch finds it done and still lists it)."""
    drift = {(i.kind, i.name.lower()): i for i in items
             if i.drift and i.action == PlanAction.UPDATE_VALUE}
    notes = [ItemNote(o.kind, o.name, drift[(o.kind, o.name.lower())].reason or "drift "
                      "overwritten") for o in result.outcomes
             if o.ok and o.action != PlanAction.SKIP and (o.kind, o.name.lower()) in drift]
    return notes[:MAX_LISTED]


@bp.activity_trigger(input_name="request")
def sync_execute_batch(request: dict[str, Any]) -> dict[str, Any]:
    items, result = _execute(get_runtime(), BatchRequest.from_dict(request))
    return ExecutedBatch(result, tuple(skipped_notes(result)),
                         tuple(overwritten_notes(items, result))).to_dict()


def fail_batch(runtime: Runtime, request: BatchRequest, message: str) -> BatchResult:
    """The envelope of a batch whose activity failed for good: every item failed."""
    items = load_batch(runtime, request) or []
    return _all_failed(items, BATCH_FAILED_CODE, message)


@bp.activity_trigger(input_name="request")
def sync_fail_batch(request: dict[str, Any]) -> dict[str, Any]:
    failed = FailBatchRequest.from_dict(request)
    return fail_batch(get_runtime(), failed.batch, failed.message).to_dict()
