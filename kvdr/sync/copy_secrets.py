"""Copying secrets: create or update the value (check first, write once, confirm the link),
verify by keyed fingerprint when there is no link to compare, align attributes. Values are read
and written in here and never leave."""

from __future__ import annotations

from azure.keyvault.secrets import KeyVaultSecret, SecretProperties

from kvdr.errors import VaultError
from kvdr.sync.copier import (
    CopyContext,
    ItemFailed,
    OutcomeCode,
    check_target_version,
    checked_write,
    link_of_copy,
    recover_target,
    same_metadata,
    user_tags_fit,
)
from kvdr.sync.model import PlanAction, PlanItem, Reason
from kvdr.vault.fingerprint import fingerprint, fingerprints_match
from kvdr.vault.inventory import ItemKind, ItemProps, item_key
from kvdr.vault.links import LinkState, LinkTag, has_room_for_link, tags_with_link
from kvdr.vault.session import props_from_secret, version_token


def copy_secret(ctx: CopyContext, item: PlanItem) -> PlanAction:
    if item.action == PlanAction.UPDATE_ATTRIBUTES:
        return _secret_attributes(ctx, item)
    if item.action == PlanAction.VERIFY_FINGERPRINT:
        return _secret_verify(ctx, item)
    return _secret_write(ctx, item)


def _read_source_secret(ctx: CopyContext, item: PlanItem) -> KeyVaultSecret:
    s = ctx.source
    try:
        return s.call(f"read secret '{item.name}'", s.secrets.get_secret, item.name)
    except VaultError as exc:
        if exc.code == "vault.forbidden":
            raise ItemFailed(f"{Reason.DISABLED}; its attributes are replicated by the next sync",
                             code=OutcomeCode.SOURCE_DISABLED) from None
        if exc.code == "vault.not_found":
            raise ItemFailed("the source item no longer exists; the next sync re-plans it",
                             code=OutcomeCode.SOURCE_GONE) from None
        raise


def _read_target_value(ctx: CopyContext, name: str, version: str | None) -> str | None:
    t = ctx.target
    try:
        return t.call(f"read secret '{name}'", t.secrets.get_secret, name, version).value
    except VaultError as exc:
        if exc.code in ("vault.forbidden", "vault.not_found"):
            return None
        raise


def _confirm_secret(ctx: CopyContext, name: str, target_latest: SecretProperties,
                    metadata: ItemProps | None, link: LinkTag | None) -> bool:
    """Make the target's latest version carry ``metadata`` (the source's, when given) and the
    confirmed ``link``; no new version. True when an update was needed."""
    current = props_from_secret(target_latest)
    want_tags = dict(metadata.tags) if metadata is not None else dict(current.tags)
    want_link = link.confirmed(current.version) if link is not None and current.version else None
    if want_link is None and current.link is not None and has_room_for_link(want_tags):
        want_link = current.link  # never drop a link kvdr wrote
    wanted = ItemProps.from_service(
        ItemKind.SECRET, name, tags=user_tags_fit(want_tags, want_link),
        version=current.version,
        content_type=metadata.content_type if metadata else current.content_type,
        enabled=metadata.enabled if metadata else current.enabled,
        not_before=metadata.not_before if metadata else current.not_before,
        expires=metadata.expires if metadata else current.expires)
    if same_metadata(current, wanted) and current.link == wanted.link:
        return False
    t = ctx.target
    t.call(f"update secret '{name}'", t.secrets.update_secret_properties, name,
           target_latest.version, content_type=wanted.content_type, enabled=wanted.enabled,
           not_before=wanted.not_before, expires_on=wanted.expires,
           tags=tags_with_link(wanted.tags, wanted.link))
    return True


def _secret_write(ctx: CopyContext, item: PlanItem, *, verified_different: bool = False
                  ) -> PlanAction:
    """CREATE / UPDATE_VALUE (and a verify whose fingerprints differ)."""
    t = ctx.target
    secret = _read_source_secret(ctx, item)
    read = props_from_secret(secret.properties)
    link = link_of_copy(read, secret.properties.version, ctx.source.region, item.link)
    action = PlanAction.UPDATE_VALUE if item.action != PlanAction.CREATE else PlanAction.CREATE

    # check first: is this content already there (a retried batch, an interrupted write)?
    latest = t.latest_secret_properties(item.name)
    recovered = False
    if latest is None and item.recover_first:
        recover_target(ctx, item)
        recovered = True
        latest = t.latest_secret_properties(item.name)
    if latest is not None and link is not None and not verified_different:
        current = props_from_secret(latest)
        if current.link is not None and current.link.same_origin(link):
            if current.link_state == LinkState.CONFIRMED:
                changed = _confirm_secret(ctx, item.name, latest, read, current.link)
                return PlanAction.UPDATE_ATTRIBUTES if changed else PlanAction.UNCHANGED
            if current.link_state == LinkState.PENDING and _values_match(
                    ctx, item.name, secret.value, latest.version):
                _confirm_secret(ctx, item.name, latest, read, link)
                return PlanAction.UPDATE_ATTRIBUTES
    if latest is not None and link is None and not verified_different and _values_match(
            ctx, item.name, secret.value, latest.version):  # no room for a link: by value
        changed = _confirm_secret(ctx, item.name, latest, read, None)
        return PlanAction.UPDATE_ATTRIBUTES if changed else PlanAction.UNCHANGED
    if latest is None:
        action = PlanAction.CREATE
    elif not recovered and (item.action == PlanAction.CREATE or (
            item.target_version and version_token(latest.created_on) != item.target_version)):
        raise ItemFailed("the target changed after the plan was made; nothing was written, the "
                         "next sync re-plans it", code=OutcomeCode.TARGET_CHANGED)

    tags = user_tags_fit(read.tags, link)

    def write() -> KeyVaultSecret:
        return t.secrets.set_secret(item.name, secret.value, content_type=read.content_type,
                                    enabled=read.enabled, not_before=read.not_before,
                                    expires_on=read.expires, tags=tags, retry_total=0)

    def landed() -> SecretProperties | None:
        now = t.latest_secret_properties(item.name)
        if now is None or (latest is not None and now.version == latest.version):
            return None
        if link is None:  # no room for a link: a new version holding the source's value
            return now if _values_match(ctx, item.name, secret.value, now.version) else None
        return now if props_from_secret(now).link == link else None

    try:
        written = checked_write(ctx, t, f"set secret '{item.name}'", write, landed)
    except VaultError as exc:
        if exc.code != "vault.deleted_but_recoverable":
            raise
        recover_target(ctx, item)
        written = checked_write(ctx, t, f"set secret '{item.name}'", write, landed)
    new_props: SecretProperties = getattr(written, "properties", written)
    if link is not None:
        _confirm_secret(ctx, item.name, new_props, read, link)
    return action


def _values_match(ctx: CopyContext, name: str, source_value: str | None, target_version: str | None
                  ) -> bool:
    """Compare keyed fingerprints of the source value and the target's version (in here)."""
    target_value = _read_target_value(ctx, name, target_version)
    if source_value is None or target_value is None:
        return False
    context = item_key(ItemKind.SECRET, name)
    return fingerprints_match(fingerprint(ctx.key, source_value, context=context),
                              fingerprint(ctx.key, target_value, context=context))


def _secret_verify(ctx: CopyContext, item: PlanItem) -> PlanAction:
    t = ctx.target
    secret = _read_source_secret(ctx, item)
    read = props_from_secret(secret.properties)
    latest = t.latest_secret_properties(item.name)
    if latest is None:
        return _secret_write(ctx, item)
    if not _values_match(ctx, item.name, secret.value, latest.version):
        _secret_write(ctx, item, verified_different=True)
        return PlanAction.UPDATE_VALUE
    link = link_of_copy(read, secret.properties.version, ctx.source.region, item.link)
    changed = _confirm_secret(ctx, item.name, latest, read, link)
    return PlanAction.UPDATE_ATTRIBUTES if changed else PlanAction.UNCHANGED


def _secret_attributes(ctx: CopyContext, item: PlanItem) -> PlanAction:
    latest = ctx.target.latest_secret_properties(item.name)
    check_target_version(item, None if latest is None else version_token(latest.created_on))
    assert latest is not None and item.source is not None
    changed = _confirm_secret(ctx, item.name, latest, item.source, item.link)
    return PlanAction.UPDATE_ATTRIBUTES if changed else PlanAction.UNCHANGED
