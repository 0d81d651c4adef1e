"""Verifying a pair after its batches ran (:meth:`activities.sync.SyncActivities.verify_pair`):
what the run executed that is still not in sync."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from activities.sync.plan import make_plan
from kvdr.config.schema import Config
from kvdr.state.store import StateStore
from kvdr.sync.contracts import VerifyRequest
from kvdr.sync.model import EXECUTABLE, PlanAction, PlanItem, Reason
from kvdr.sync.report import ItemNote
from kvdr.vault.inventory import Inventory


def unverified(config: Config, state: StateStore, request: VerifyRequest,
               planned: Sequence[PlanItem], target_now: Inventory) -> list[ItemNote]:
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
    plan = make_plan(config, state, source_inv, target_inv, source=request.source,
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
