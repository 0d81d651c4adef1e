"""Verify a pair after its batches ran: what the run executed that is still not in sync."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from activities.blueprint import bp
from activities.sync.plan import make_plan
from activities.sync.sessions import open_sessions
from activities.sync.store import load_batch
from kvdr.errors import KvdrError
from kvdr.services import Runtime, get_runtime
from kvdr.sync.contracts import BatchRequest, VerifyRequest, VerifyResult
from kvdr.sync.model import EXECUTABLE, PlanAction, PlanItem, Reason
from kvdr.sync.report import MAX_LISTED, ItemNote
from kvdr.vault.inventory import Inventory, ItemKind


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
    with open_sessions(runtime, request.target) as (tgt,):
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
