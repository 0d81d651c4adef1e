"""The copier: executes plan items against two vaults, values read and written inside.

Mutation discipline (decision 5): for every item, check the target first, write once, confirm,
verify. Writes that create a version (set secret, import certificate, restore key) are sent
without the SDK's automatic retry, because azure-core re-sends some of them after an ambiguous
failure; kvdr retries them itself, re-reading the target after each failure to learn whether
the write landed. Running a batch twice therefore writes nothing new.

Values never leave this module: outcomes carry names, actions and error codes; messages are
built from kvdr's own texts, never from an exception's or the service's text.

Versions are compared as version tokens (see :func:`kvdr.vault.session.version_token`): the list
APIs do not return version ids.
"""

from __future__ import annotations

import base64
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, TypeVar

from azure.keyvault.certificates import CertificatePolicy
from azure.keyvault.secrets import KeyVaultSecret, SecretProperties

from kvdr.config.schema import Config, Policies, SoftDeletedTargetPolicy
from kvdr.errors import KvdrError, VaultError
from kvdr.sync.history import history_checks
from kvdr.sync.model import EXECUTABLE, PlanAction, PlanItem, Reason, SyncPlan
from kvdr.sync.plan import plan_sync
from kvdr.sync.report import BatchResult, ItemOutcome
from kvdr.topology.record import TopologyRecord
from kvdr.topology.store import FENCED_CODE
from kvdr.vault.fingerprint import fingerprint, fingerprints_match
from kvdr.vault.inventory import Inventory, ItemKind, ItemProps, item_key
from kvdr.vault.links import LinkState, LinkTag, has_room_for_link, tags_with_link
from kvdr.vault.session import (
    VaultSession,
    props_from_certificate,
    props_from_key,
    props_from_secret,
    version_token,
)
from kvdr.vault.version_history import settle_history

__all__ = ["OutcomeCode", "execute_items", "sync_item"]

log = logging.getLogger(__name__)

T = TypeVar("T")

PFX_CONTENT_TYPE = "application/x-pkcs12"
PEM_CONTENT_TYPE = "application/x-pem-file"
_RETRYABLE = frozenset({"vault.throttled", "vault.unavailable", "vault.unreachable"})


class OutcomeCode:
    """Codes on failed outcomes that are kvdr's own (vault errors carry ``vault.*`` codes)."""

    TARGET_CHANGED = "replicate.target_changed"
    SOURCE_GONE = "replicate.source_gone"
    SOURCE_DISABLED = "replicate.source_disabled"
    SOFT_DELETED = "replicate.soft_deleted_target"
    VERIFY_FAILED = "replicate.verify_failed"
    TOO_MANY_TAGS = "replicate.too_many_tags"
    INTERNAL = "replicate.internal"


class _Fail(KvdrError):
    """An item-level failure with a kvdr code (caught per item)."""

    default_code = OutcomeCode.INTERNAL


class _Skip(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class _Ctx:
    source: VaultSession
    target: VaultSession
    policies: Policies
    key: bytes


# --- the batch ----------------------------------------------------------------------------------


def execute_items(source: VaultSession, target: VaultSession, items: Sequence[PlanItem], *,
                  policies: Policies, fingerprint_key: bytes) -> BatchResult:
    """Execute every executable plan item (others are returned as they were planned). Values
    are read and written inside; an exception for one item never aborts the batch."""
    before = {source.region: source.calls, target.region: target.calls}
    ctx = _Ctx(source, target, policies, fingerprint_key)
    outcomes: list[ItemOutcome] = []
    for item in items:
        outcomes.append(_execute_one(ctx, item))
    calls = {source.region: source.calls - before[source.region]}
    calls[target.region] = target.calls - before[target.region]
    return BatchResult(outcomes=tuple(outcomes), calls=calls)


def _execute_one(ctx: _Ctx, item: PlanItem) -> ItemOutcome:
    def outcome(action: PlanAction, *, ok: bool = True, code: str | None = None,
                message: str | None = None) -> ItemOutcome:
        return ItemOutcome(item.kind, item.name, action, ok, code, message)

    if item.action not in EXECUTABLE:
        return outcome(item.action, message=item.reason)
    try:
        if item.action == PlanAction.DELETE_CANDIDATE:
            return outcome(_delete(ctx, item))
        handler = {ItemKind.SECRET: _secret, ItemKind.CERTIFICATE: _certificate,
                   ItemKind.KEY: _key}[item.kind]
        return outcome(handler(ctx, item))
    except _Skip as skip:
        return outcome(PlanAction.SKIP, message=skip.reason)
    except KvdrError as exc:  # VaultError and our own failures: code + kvdr's sentence
        log.warning("%s %s to %s: %s failed [%s]", item.kind, item.name, ctx.target.region,
                    item.action, exc.code)
        return outcome(item.action, ok=False, code=exc.code, message=exc.message)
    except Exception as exc:  # never abort the batch; never echo an unknown message
        log.exception("%s %s to %s: unexpected %s", item.kind, item.name, ctx.target.region,
                      type(exc).__name__)
        return outcome(item.action, ok=False, code=OutcomeCode.INTERNAL,
                       message=f"unexpected {type(exc).__name__} while executing "
                               f"{item.action}; see the activity log")


def _checked_write(ctx: _Ctx, session: VaultSession, what: str, write: Callable[[], T],
                   landed: Callable[[], T | None]) -> T:
    """Send a version-creating write without SDK retries; after a retryable failure, ask
    ``landed`` whether it happened anyway (ambiguous writes), else wait and send it again."""
    delays = session.retry_backoff
    attempt = 0
    while True:
        try:
            return session.call(what, write)
        except VaultError as exc:
            if exc.code not in _RETRYABLE or attempt >= len(delays):
                raise
            if exc.code != "vault.throttled":
                done = landed()
                if done is not None:
                    return done
            time.sleep(max(exc.retry_after or 0.0, delays[attempt]))
            attempt += 1


def _recover(ctx: _Ctx, item: PlanItem) -> None:
    """Recover the soft-deleted target name, or refuse per policy."""
    if ctx.policies.soft_deleted_target != SoftDeletedTargetPolicy.RECOVER:
        raise _Fail(Reason.SOFT_DELETED_REPORT, code=OutcomeCode.SOFT_DELETED)
    t = ctx.target
    begin = {ItemKind.SECRET: t.secrets.begin_recover_deleted_secret,
             ItemKind.CERTIFICATE: t.certificates.begin_recover_deleted_certificate,
             ItemKind.KEY: t.keys.begin_recover_deleted_key}[item.kind]
    with t.mapped(f"recover deleted {item.kind} '{item.name}'"):
        begin(item.name).wait()
    log.info("%s %s: recovered the soft-deleted name in %s before writing", item.kind,
             item.name, t.region)


def _same_metadata(a: ItemProps, b: ItemProps) -> bool:
    if a.kind == ItemKind.CERTIFICATE:
        return (a.enabled, dict(a.tags)) == (b.enabled, dict(b.tags))
    return ((a.content_type if a.kind == ItemKind.SECRET else None, a.enabled, a.not_before,
             a.expires, dict(a.tags))
            == (b.content_type if b.kind == ItemKind.SECRET else None, b.enabled, b.not_before,
                b.expires, dict(b.tags)))


def _link_of_copy(read: ItemProps, read_id: str | None, source_region: str,
                  planned: LinkTag | None) -> LinkTag | None:
    """The pending link for a copy of what was actually read (the plan's link when the source
    did not move on), with the real version id ``read_id`` of what was read as origin id. None
    when the plan has no link (no room)."""
    if planned is None or not read.version or not read.has_room_for_link:
        return None
    if read.link is not None and read.link_state == LinkState.CONFIRMED:
        return LinkTag(read.link.origin_region, read.link.origin_version, planned.epoch,
                       origin_id=read.link.origin_id)
    return LinkTag(source_region, read.version, planned.epoch, origin_id=read_id)


def _user_tags_fit(tags: Mapping[str, str], link: LinkTag | None) -> dict[str, str]:
    try:
        return tags_with_link(tags, link)
    except ValueError:
        raise _Fail("the item has more tags than the service allows (15)",
                    code=OutcomeCode.TOO_MANY_TAGS) from None


# --- secrets ------------------------------------------------------------------------------------


def _secret(ctx: _Ctx, item: PlanItem) -> PlanAction:
    if item.action == PlanAction.UPDATE_ATTRIBUTES:
        return _secret_attributes(ctx, item)
    if item.action == PlanAction.VERIFY_FINGERPRINT:
        return _secret_verify(ctx, item)
    return _secret_write(ctx, item)


def _read_source_secret(ctx: _Ctx, item: PlanItem) -> KeyVaultSecret:
    s = ctx.source
    try:
        return s.call(f"read secret '{item.name}'", s.secrets.get_secret, item.name)
    except VaultError as exc:
        if exc.code == "vault.forbidden":
            raise _Fail(f"{Reason.DISABLED}; its attributes are replicated by the next sync",
                        code=OutcomeCode.SOURCE_DISABLED) from None
        if exc.code == "vault.not_found":
            raise _Fail("the source item no longer exists; the next sync re-plans it",
                        code=OutcomeCode.SOURCE_GONE) from None
        raise


def _read_target_value(ctx: _Ctx, name: str, version: str | None) -> str | None:
    t = ctx.target
    try:
        return t.call(f"read secret '{name}'", t.secrets.get_secret, name, version).value
    except VaultError as exc:
        if exc.code in ("vault.forbidden", "vault.not_found"):
            return None
        raise


def _confirm_secret(ctx: _Ctx, name: str, target_latest: SecretProperties,
                    metadata: ItemProps | None, link: LinkTag | None) -> bool:
    """Make the target's latest version carry ``metadata`` (the source's, when given) and the
    confirmed ``link``; no new version. True when an update was needed."""
    current = props_from_secret(target_latest)
    want_tags = dict(metadata.tags) if metadata is not None else dict(current.tags)
    want_link = link.confirmed(current.version) if link is not None and current.version else None
    if want_link is None and current.link is not None and has_room_for_link(want_tags):
        want_link = current.link  # never drop a link kvdr wrote
    wanted = ItemProps.from_service(
        ItemKind.SECRET, name, tags=_user_tags_fit(want_tags, want_link),
        version=current.version,
        content_type=metadata.content_type if metadata else current.content_type,
        enabled=metadata.enabled if metadata else current.enabled,
        not_before=metadata.not_before if metadata else current.not_before,
        expires=metadata.expires if metadata else current.expires)
    if _same_metadata(current, wanted) and current.link == wanted.link:
        return False
    t = ctx.target
    t.call(f"update secret '{name}'", t.secrets.update_secret_properties, name,
           target_latest.version, content_type=wanted.content_type, enabled=wanted.enabled,
           not_before=wanted.not_before, expires_on=wanted.expires,
           tags=tags_with_link(wanted.tags, wanted.link))
    return True


def _secret_write(ctx: _Ctx, item: PlanItem, *, verified_different: bool = False
                  ) -> PlanAction:
    """CREATE / UPDATE_VALUE (and a verify whose fingerprints differ)."""
    t = ctx.target
    secret = _read_source_secret(ctx, item)
    read = props_from_secret(secret.properties)
    link = _link_of_copy(read, secret.properties.version, ctx.source.region, item.link)
    action = PlanAction.UPDATE_VALUE if item.action != PlanAction.CREATE else PlanAction.CREATE

    # check first: is this content already there (a retried batch, an interrupted write)?
    latest = t.latest_secret_properties(item.name)
    recovered = False
    if latest is None and item.recover_first:
        _recover(ctx, item)
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
        raise _Fail("the target changed after the plan was made; nothing was written, the "
                    "next sync re-plans it", code=OutcomeCode.TARGET_CHANGED)

    tags = _user_tags_fit(read.tags, link)

    def write() -> KeyVaultSecret:
        return t.secrets.set_secret(item.name, secret.value, content_type=read.content_type,
                                    enabled=read.enabled, not_before=read.not_before,
                                    expires_on=read.expires, tags=tags, retry_total=0)

    def landed() -> SecretProperties | None:
        now = t.latest_secret_properties(item.name)
        if now is None or link is None:
            return None
        p = props_from_secret(now)
        if p.link == link and (latest is None or now.version != latest.version):
            return now
        return None

    try:
        written = _checked_write(ctx, t, f"set secret '{item.name}'", write, landed)
    except VaultError as exc:
        if exc.code != "vault.deleted_but_recoverable":
            raise
        _recover(ctx, item)
        written = _checked_write(ctx, t, f"set secret '{item.name}'", write, landed)
    new_props: SecretProperties = getattr(written, "properties", written)
    if link is not None:
        _confirm_secret(ctx, item.name, new_props, read, link)
    return action


def _values_match(ctx: _Ctx, name: str, source_value: str | None, target_version: str | None
                  ) -> bool:
    """Compare keyed fingerprints of the source value and the target's version (in here)."""
    target_value = _read_target_value(ctx, name, target_version)
    if source_value is None or target_value is None:
        return False
    context = item_key(ItemKind.SECRET, name)
    return fingerprints_match(fingerprint(ctx.key, source_value, context=context),
                              fingerprint(ctx.key, target_value, context=context))


def _secret_verify(ctx: _Ctx, item: PlanItem) -> PlanAction:
    t = ctx.target
    secret = _read_source_secret(ctx, item)
    read = props_from_secret(secret.properties)
    latest = t.latest_secret_properties(item.name)
    if latest is None:
        return _secret_write(ctx, item)
    if not _values_match(ctx, item.name, secret.value, latest.version):
        _secret_write(ctx, item, verified_different=True)
        return PlanAction.UPDATE_VALUE
    link = _link_of_copy(read, secret.properties.version, ctx.source.region, item.link)
    changed = _confirm_secret(ctx, item.name, latest, read, link)
    return PlanAction.UPDATE_ATTRIBUTES if changed else PlanAction.UNCHANGED


def _secret_attributes(ctx: _Ctx, item: PlanItem) -> PlanAction:
    latest = ctx.target.latest_secret_properties(item.name)
    _check_target_version(item, None if latest is None else version_token(latest.created_on))
    assert latest is not None and item.source is not None
    changed = _confirm_secret(ctx, item.name, latest, item.source, item.link)
    return PlanAction.UPDATE_ATTRIBUTES if changed else PlanAction.UNCHANGED


def _check_target_version(item: PlanItem, current: str | None) -> None:
    if current is None or (item.target_version and current != item.target_version):
        raise _Fail("the target changed after the plan was made; nothing was written, the "
                    "next sync re-plans it", code=OutcomeCode.TARGET_CHANGED)


# --- certificates -------------------------------------------------------------------------------


def _has_private_key(value: str, content_type: str | None) -> bool:
    if (content_type or "").lower() == PEM_CONTENT_TYPE:
        return "PRIVATE KEY-----" in value
    from cryptography.hazmat.primitives.serialization import pkcs12
    try:
        key, _cert, _more = pkcs12.load_key_and_certificates(base64.b64decode(value), None)
    except ValueError:
        return False
    return key is not None


def _target_certificate(ctx: _Ctx, name: str) -> Any | None:
    t = ctx.target
    return t.call_or_none(f"get certificate '{name}'", t.certificates.get_certificate, name)


def _align_certificate(ctx: _Ctx, name: str, cert: Any, source: ItemProps,
                       link: LinkTag | None) -> bool:
    current = props_from_certificate(cert.properties)
    want_link = link.confirmed(current.version) if link is not None and current.version else None
    if want_link is None and current.link_state == LinkState.CONFIRMED and \
            has_room_for_link(source.tags):
        want_link = current.link
    if current.enabled == source.enabled and dict(current.tags) == dict(source.tags) \
            and current.link == want_link:
        return False
    t = ctx.target
    t.call(f"update certificate '{name}'", t.certificates.update_certificate_properties, name,
           cert.properties.version, enabled=source.enabled,
           tags=_user_tags_fit(source.tags, want_link))
    return True


def _certificate(ctx: _Ctx, item: PlanItem) -> PlanAction:
    s, t = ctx.source, ctx.target
    if item.action == PlanAction.UPDATE_ATTRIBUTES:
        cert = _target_certificate(ctx, item.name)
        _check_target_version(item, None if cert is None
                              else version_token(cert.properties.created_on))
        assert item.source is not None
        changed = _align_certificate(ctx, item.name, cert, item.source, item.link)
        return PlanAction.UPDATE_ATTRIBUTES if changed else PlanAction.UNCHANGED

    policy: CertificatePolicy = s.call(f"get certificate policy '{item.name}'",
                                       s.certificates.get_certificate_policy, item.name)
    if policy.exportable is False:
        raise _Skip(Reason.NON_EXPORTABLE)
    source_cert = s.call(f"get certificate '{item.name}'", s.certificates.get_certificate,
                         item.name)
    read = props_from_certificate(source_cert.properties, exportable=policy.exportable)
    link = _link_of_copy(read, source_cert.properties.version, s.region, item.link)

    existing = _target_certificate(ctx, item.name)
    if existing is None and item.recover_first:
        _recover(ctx, item)
        existing = _target_certificate(ctx, item.name)
    if existing is not None and read.thumbprint and \
            props_from_certificate(existing.properties).thumbprint == read.thumbprint:
        changed = _align_certificate(ctx, item.name, existing, read, link)
        return PlanAction.UPDATE_ATTRIBUTES if changed else PlanAction.UNCHANGED

    try:
        backing = s.call(f"export certificate '{item.name}'", s.secrets.get_secret, item.name,
                         source_cert.properties.version)
    except VaultError as exc:
        if exc.code == "vault.forbidden":
            raise _Fail(f"{Reason.DISABLED}; its attributes are replicated by the next sync",
                        code=OutcomeCode.SOURCE_DISABLED) from None
        raise
    content_type = (backing.properties.content_type or PFX_CONTENT_TYPE).lower()
    if not backing.value or not _has_private_key(backing.value, content_type):
        raise _Skip(Reason.NON_EXPORTABLE)
    data = (backing.value.encode("utf-8") if content_type == PEM_CONTENT_TYPE
            else base64.b64decode(backing.value))
    tags = _user_tags_fit(read.tags, link)

    def write() -> Any:
        return t.certificates.import_certificate(item.name, data, policy=policy,
                                                 enabled=read.enabled, tags=tags, retry_total=0)

    def landed() -> Any | None:
        now = _target_certificate(ctx, item.name)
        if now is not None and props_from_certificate(now.properties).thumbprint == \
                read.thumbprint:
            return now
        return None

    action = PlanAction.CREATE if existing is None else PlanAction.UPDATE_VALUE
    try:
        imported = _checked_write(ctx, t, f"import certificate '{item.name}'", write, landed)
    except VaultError as exc:
        if exc.code != "vault.deleted_but_recoverable":
            raise
        _recover(ctx, item)
        imported = _checked_write(ctx, t, f"import certificate '{item.name}'", write, landed)
    got = props_from_certificate(imported.properties)
    if not read.thumbprint or got.thumbprint != read.thumbprint:
        raise _Fail("the imported certificate's thumbprint differs from the source's; check "
                    "the target certificate", code=OutcomeCode.VERIFY_FAILED)
    _align_certificate(ctx, item.name, imported, read, link)
    return action


# --- keys ---------------------------------------------------------------------------------------


def _target_key(ctx: _Ctx, name: str) -> Any | None:
    t = ctx.target
    return t.call_or_none(f"get key '{name}'", t.keys.get_key, name)


def _align_key(ctx: _Ctx, name: str, key: Any, source: ItemProps, link: LinkTag | None
               ) -> bool:
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
           tags=_user_tags_fit(source.tags, want_link))
    return True


def _key(ctx: _Ctx, item: PlanItem) -> PlanAction:
    s, t = ctx.source, ctx.target
    source = item.source
    assert source is not None
    if item.action == PlanAction.UPDATE_ATTRIBUTES:
        key = _target_key(ctx, item.name)
        _check_target_version(item, None if key is None
                              else version_token(key.properties.created_on))
        changed = _align_key(ctx, item.name, key, source, item.link)
        return PlanAction.UPDATE_ATTRIBUTES if changed else PlanAction.UNCHANGED
    if source.managed:
        raise _Skip("certificate backing key: replicated with its certificate")
    if item.action != PlanAction.CREATE:
        raise _Skip(Reason.KEY_EXISTS)

    existing = _target_key(ctx, item.name)
    if existing is not None:
        if version_token(existing.properties.created_on) == source.version:
            changed = _align_key(ctx, item.name, existing, source, item.link)  # our restore
            return PlanAction.UPDATE_ATTRIBUTES if changed else PlanAction.UNCHANGED
        raise _Skip(Reason.KEY_EXISTS)

    blob = s.call(f"back up key '{item.name}'", s.keys.backup_key, item.name)

    def write() -> Any:
        return t.keys.restore_key_backup(blob, retry_total=0)

    def landed() -> Any | None:
        return _target_key(ctx, item.name)

    try:
        restored = _checked_write(ctx, t, f"restore key '{item.name}'", write, landed)
    except VaultError as exc:
        if exc.code == "vault.conflict":
            raise _Skip(Reason.KEY_EXISTS) from None
        if exc.code == "vault.deleted_but_recoverable":
            raise _Skip(Reason.KEY_SOFT_DELETED) from None
        raise
    key = _target_key(ctx, item.name) or restored
    _align_key(ctx, item.name, key, source, item.link)
    return PlanAction.CREATE


# --- deletions ----------------------------------------------------------------------------------


def _delete(ctx: _Ctx, item: PlanItem) -> PlanAction:
    """Soft-delete the target item if it is still the version the plan saw. Never purges."""
    t = ctx.target
    current = t.item(item.kind, item.name)
    if current is None:
        return PlanAction.UNCHANGED  # already gone (a retried batch)
    _check_target_version(item, current.version)
    begin = {ItemKind.SECRET: t.secrets.begin_delete_secret,
             ItemKind.CERTIFICATE: t.certificates.begin_delete_certificate,
             ItemKind.KEY: t.keys.begin_delete_key}[item.kind]
    with t.mapped(f"delete {item.kind} '{item.name}'"):
        begin(item.name).wait()
    return PlanAction.DELETE_CANDIDATE


# --- the event path -----------------------------------------------------------------------------


def _recheck_same_second(item: PlanItem, target: ItemProps | None, version: str | None
                         ) -> PlanItem:
    """An event names the real version id; the plan compared version tokens (creation
    seconds). When the target is a kvdr copy of another origin id, a second version created in
    the same second may be missing: let the copier check (it writes only if the origin read now
    differs from the target's)."""
    if (version is None or target is None or item.kind != ItemKind.SECRET
            or item.action not in (PlanAction.UNCHANGED, PlanAction.UPDATE_ATTRIBUTES)
            or item.source is None or not item.source.version):
        return item
    link = target.link
    if link is None or link.origin_id is None or link.origin_id.lower() == version.lower():
        return item
    planned = LinkTag(link.origin_region, item.source.version, link.epoch) \
        if item.source.link is None else item.source.link
    return replace(item, action=PlanAction.UPDATE_VALUE, link=LinkTag(
        planned.origin_region, planned.origin_version, link.epoch))


def _settle_refused_drift(source: VaultSession, target: VaultSession, plan: SyncPlan,
                          target_inv: Inventory) -> SyncPlan:
    """A drift conflict the event is about to refuse: as full sync does, ask the primary's
    version history whether the target's latest had reached it (then it is no drift, and is
    copied as a plain update; :func:`kvdr.sync.history.resolve_history`). One version listing of the
    primary, plus one of the target when the copy found names an origin id — only for such a
    conflict; an item in sync, a copy to refresh or a primary-wins overwrite (written either
    way) costs none. A listing that fails leaves the conflict as it was."""
    checks = [c for c in history_checks(plan, target_inv)
              if c.item.action == PlanAction.CONFLICT]
    return settle_history(source, target, plan, checks)


Fence = Callable[[VaultSession], str | None]


def sync_item(config: Config, sessions: Mapping[str, VaultSession], topology: TopologyRecord,
              kind: ItemKind, name: str, *, fingerprint_key: bytes,
              version: str | None = None, fence: Fence | None = None
              ) -> dict[str, ItemOutcome]:
    """Replicate one item's latest state from the primary to every other region: read its
    properties everywhere, plan on one-item inventories, execute. ``{target region: outcome}``;
    an unreachable vault fails its own outcome(s), never the others. ``version`` is the real
    version id an event named (it tells apart versions created in the same second). A drift
    conflict is checked against the primary's version history first
    (:func:`_settle_refused_drift`): a target version that had reached the primary, which
    replaced it since, is no drift and is copied over.

    ``fence`` is asked once per target, only when something is about to be written there; a
    sentence back means "do not write" and the outcome is a ``skip`` with code
    ``topology.fenced`` (a failover happened since ``topology`` was read)."""
    kind = ItemKind(kind)
    primary = topology.primary
    source = sessions[primary]
    targets = [r for r in sessions if r != primary]
    try:
        s_props = source.item(kind, name)
    except VaultError as exc:
        return {r: ItemOutcome(kind, name, PlanAction.SKIP, False, exc.code, exc.message)
                for r in targets}
    now = datetime.now(UTC)
    outcomes: dict[str, ItemOutcome] = {}
    for region in targets:
        target = sessions[region]
        try:
            t_props = target.item(kind, name)
            deleted = (frozenset({item_key(kind, name)})
                       if t_props is None and target.is_deleted(kind, name) else frozenset())
        except VaultError as exc:
            outcomes[region] = ItemOutcome(kind, name, PlanAction.SKIP, False, exc.code,
                                           exc.message)
            continue
        target_inv = Inventory.of(region, [t_props] if t_props else [], deleted=deleted)
        plan = plan_sync(Inventory.of(primary, [s_props] if s_props else []), target_inv,
                         source_region=primary, target_region=region, policies=config.policies,
                         same_subscription=config.same_subscription(primary, region),
                         same_geography=config.same_geography(primary, region), now=now,
                         epoch=topology.epoch)
        plan = _settle_refused_drift(source, target, plan, target_inv)
        if not plan.items:
            outcomes[region] = ItemOutcome(kind, name, PlanAction.UNCHANGED,
                                           message="absent from both vaults")
            continue
        items = [_recheck_same_second(i, t_props, version) for i in plan.items]
        try:
            refused = _fence_refuses(fence, target, items)
        except KvdrError as exc:  # the record could not be read: never write blind
            outcomes[region] = ItemOutcome(kind, name, PlanAction.SKIP, False, exc.code,
                                           exc.message)
            continue
        if refused is not None:
            outcomes[region] = ItemOutcome(kind, name, PlanAction.SKIP, True, FENCED_CODE,
                                           refused)
            continue
        result = execute_items(source, target, items, policies=config.policies,
                               fingerprint_key=fingerprint_key)
        outcomes[region] = result.outcomes[0]
    return outcomes


def _fence_refuses(fence: Fence | None, target: VaultSession, items: Sequence[PlanItem]
                   ) -> str | None:
    """Ask the fence only before a write: an event that finds the target in sync costs no
    topology read."""
    if fence is None or not any(i.action in EXECUTABLE for i in items):
        return None
    return fence(target)
