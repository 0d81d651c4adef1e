"""The parts of executing a stored batch (:meth:`activities.sync.SyncActivities.execute_batch`):
the fence by the epoch it was planned at, every item failed at once, the copier's skips written
back, and the notes its envelope carries."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import replace

from activities.sync.store import batch_key
from kvdr.state.store import StateStore
from kvdr.sync.contracts import BatchRequest
from kvdr.sync.model import EXECUTABLE, PlanAction, PlanItem
from kvdr.sync.report import MAX_LISTED, BatchResult, ItemNote, ItemOutcome
from kvdr.topology.store import FENCED_CODE, fenced_message, newer_record
from kvdr.vault.session import VaultSession

logger = logging.getLogger(__name__)


def all_failed(items: Sequence[PlanItem], code: str, message: str,
               calls: Mapping[str, int] | None = None) -> BatchResult:
    return BatchResult(tuple(ItemOutcome(i.kind, i.name, i.action, ok=False, code=code,
                                         message=message) for i in items), dict(calls or {}))


def fenced(target: VaultSession, request: BatchRequest, items: Sequence[PlanItem]
           ) -> BatchResult | None:
    """One read of the target's topology record: every item failed (nothing written) when a
    failover/failback raised the epoch after the plan was made; None when the batch may run."""
    newer = newer_record(target, request.epoch)
    if newer is None:
        return None
    logger.warning("full sync %s: batch %d to %s fenced: epoch %d there, planned at %d",
                   request.run_id, request.batch, request.target, newer.epoch, request.epoch)
    return all_failed(items, FENCED_CODE, fenced_message(request.target, newer, request.epoch))


def record_skips(state: StateStore, request: BatchRequest, items: Sequence[PlanItem],
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
    state.put_json(batch_key(request.run_id, request.target, request.batch),
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
