"""Copying keys: backup and restore (keys are not exportable), only when the target lacks the
name and both vaults share subscription and geography; a restored copy keeps the source's
version, so it is recognised and only its attributes are aligned.

A restore brings the source's rotation policy along: a copy's is disarmed at once (decision 9,
:func:`_own_rotation`), so that it never rotates on its own."""

from __future__ import annotations

from azure.keyvault.keys import KeyVaultKey

from kvdr.errors import VaultError
from kvdr.renewal.ledger import armed_form, read_entry
from kvdr.renewal.ownership import disarm_item, read_policy, write_policy
from kvdr.sync.copier import (
    CopyContext,
    ItemSkipped,
    check_target_version,
    checked_write,
    user_tags_fit,
)
from kvdr.sync.model import PlanAction, PlanItem, Reason
from kvdr.vault.inventory import ItemKind, ItemProps
from kvdr.vault.links import LinkState, LinkTag, has_room_for_link
from kvdr.vault.session import props_from_key, version_token


def _target_key(ctx: CopyContext, name: str) -> KeyVaultKey | None:
    t = ctx.target
    return t.call_or_none(f"get key '{name}'", t.keys.get_key, name)


def _align_key(ctx: CopyContext, name: str, key: KeyVaultKey, source: ItemProps,
               link: LinkTag | None) -> bool:
    current = props_from_key(key.properties)
    want_link = link.confirmed(current.version) if link is not None and current.version else None
    if want_link is None and current.link_state == LinkState.CONFIRMED and \
            has_room_for_link(source.tags):
        want_link = current.link
    if (current.enabled, current.not_before, current.expires, dict(current.tags),
            current.link) == (source.enabled, source.not_before, source.expires,
                              dict(source.tags), want_link):
        return False
    t = ctx.target
    t.call(f"update key '{name}'", t.keys.update_key_properties, name, key.properties.version,
           enabled=source.enabled, not_before=source.not_before, expires_on=source.expires,
           tags=user_tags_fit(source.tags, want_link))
    return True


def _own_rotation(ctx: CopyContext, name: str) -> None:
    """After a restore: the target's rotation policy follows the source's armed form (its own
    policy, or its ledger's when it holds the disarmed form of that). A copy gets the disarmed
    form, the armed one kept in its ledger; the primary (reconcile) the armed form."""
    s, t = ctx.source, ctx.target
    source = read_policy(s, ItemKind.KEY, name)
    if source is None:
        return  # the source's key went away since the backup: the next sync sees it
    armed = armed_form(source.renewal, read_entry(s, ItemKind.KEY, name))
    if ctx.target_is_primary:
        current = read_policy(t, ItemKind.KEY, name)
        if current is not None and not current.renewal.same_as(armed):
            write_policy(t, ItemKind.KEY, name, armed)
        return
    held = read_entry(t, ItemKind.KEY, name)
    disarm_item(t, ItemKind.KEY, name, armed, epoch=ctx.epoch,
                ledger={held.key: held} if held is not None else {})


def copy_key(ctx: CopyContext, item: PlanItem) -> PlanAction:
    s, t = ctx.source, ctx.target
    source = item.source
    assert source is not None
    if item.action == PlanAction.UPDATE_ATTRIBUTES:
        key = _target_key(ctx, item.name)
        check_target_version(item, None if key is None
                             else version_token(key.properties.created_on))
        changed = _align_key(ctx, item.name, key, source, item.link)
        return PlanAction.UPDATE_ATTRIBUTES if changed else PlanAction.UNCHANGED
    if source.managed:
        raise ItemSkipped("certificate backing key: replicated with its certificate")
    if item.action != PlanAction.CREATE:
        raise ItemSkipped(Reason.KEY_EXISTS)

    existing = _target_key(ctx, item.name)
    if existing is not None:
        if version_token(existing.properties.created_on) == source.version:
            # our restore, and a retry: the first attempt may have stopped before the disarm
            _own_rotation(ctx, item.name)
            changed = _align_key(ctx, item.name, existing, source, item.link)
            return PlanAction.UPDATE_ATTRIBUTES if changed else PlanAction.UNCHANGED
        raise ItemSkipped(Reason.KEY_EXISTS)

    # a backup is a POST, which the SDK does not send again after a dropped connection; it
    # changes nothing, so it is simply asked again (nothing can have "landed")
    blob = checked_write(ctx, s, f"back up key '{item.name}'",
                         lambda: s.keys.backup_key(item.name), lambda: None)

    def write() -> KeyVaultKey:
        return t.keys.restore_key_backup(blob, retry_total=0)

    def landed() -> KeyVaultKey | None:
        return _target_key(ctx, item.name)

    try:
        restored = checked_write(ctx, t, f"restore key '{item.name}'", write, landed)
    except VaultError as exc:
        if exc.code == "vault.conflict":
            raise ItemSkipped(Reason.KEY_EXISTS) from None
        if exc.code == "vault.deleted_but_recoverable":
            raise ItemSkipped(Reason.KEY_SOFT_DELETED) from None
        raise
    key = _target_key(ctx, item.name) or restored
    _own_rotation(ctx, item.name)
    _align_key(ctx, item.name, key, source, item.link)
    return PlanAction.CREATE
