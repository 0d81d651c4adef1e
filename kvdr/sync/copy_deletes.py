"""Mirroring a deletion: soft-delete the target item (never purge), only if it is still the
version the plan saw."""

from __future__ import annotations

from kvdr.sync.copier import CopyContext, check_target_version
from kvdr.sync.model import PlanAction, PlanItem
from kvdr.vault.inventory import ItemKind


def delete_target(ctx: CopyContext, item: PlanItem) -> PlanAction:
    """Soft-delete the target item if it is still the version the plan saw. Never purges."""
    t = ctx.target
    current = t.item(item.kind, item.name)
    if current is None:
        return PlanAction.UNCHANGED  # already gone (a retried batch)
    check_target_version(item, current.version)
    begin = {ItemKind.SECRET: t.secrets.begin_delete_secret,
             ItemKind.CERTIFICATE: t.certificates.begin_delete_certificate,
             ItemKind.KEY: t.keys.begin_delete_key}[item.kind]
    with t.mapped(f"delete {item.kind} '{item.name}'"):
        begin(item.name).wait()
    return PlanAction.DELETE_CANDIDATE
