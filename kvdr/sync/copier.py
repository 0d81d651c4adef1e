"""What every copier shares: the context of one copy, item-level failures and skips, the
check-then-write loop for version-creating writes, recovering a soft-deleted target name, and
the tags and link a copy carries. The copiers per kind (:mod:`kvdr.sync.copy_secrets`,
:mod:`kvdr.sync.copy_certificates`, :mod:`kvdr.sync.copy_keys`, :mod:`kvdr.sync.copy_deletes`)
build on it; :mod:`kvdr.sync.replicate` runs them."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar

from kvdr.config.schema import Policies, SoftDeletedTargetPolicy
from kvdr.errors import KvdrError, VaultError
from kvdr.sync.model import PlanItem, Reason
from kvdr.vault.inventory import ItemKind, ItemProps
from kvdr.vault.links import LinkState, LinkTag, tags_with_link
from kvdr.vault.session import VaultSession

log = logging.getLogger("kvdr.sync.replicate")  # one logger for the copier, as before the split

T = TypeVar("T")

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


class ItemFailed(KvdrError):
    """An item-level failure with a kvdr code (caught per item)."""

    default_code = OutcomeCode.INTERNAL


class ItemSkipped(Exception):
    """The item is not copied, for ``reason`` (its outcome is a skip, not a failure)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class CopyContext:
    """The two vaults of one copy, the policies and the fingerprint key; whether the target is
    the primary (a reconcile copies the old primary's writes into it: what it copies keeps
    renewing there) or a copy that never renews (decision 9: a sync, a drain, the event path);
    and the topology epoch the work runs at (the renewal ledger entries it writes carry it)."""

    source: VaultSession
    target: VaultSession
    policies: Policies
    key: bytes
    target_is_primary: bool = False
    epoch: int = 0


def checked_write(ctx: CopyContext, session: VaultSession, what: str, write: Callable[[], T],
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


def recover_target(ctx: CopyContext, item: PlanItem) -> None:
    """Recover the soft-deleted target name, or refuse per policy."""
    if ctx.policies.soft_deleted_target != SoftDeletedTargetPolicy.RECOVER:
        raise ItemFailed(Reason.SOFT_DELETED_REPORT, code=OutcomeCode.SOFT_DELETED)
    t = ctx.target
    begin = {ItemKind.SECRET: t.secrets.begin_recover_deleted_secret,
             ItemKind.CERTIFICATE: t.certificates.begin_recover_deleted_certificate,
             ItemKind.KEY: t.keys.begin_recover_deleted_key}[item.kind]
    with t.mapped(f"recover deleted {item.kind} '{item.name}'"):
        begin(item.name).wait()
    log.info("%s %s: recovered the soft-deleted name in %s before writing", item.kind,
             item.name, t.region)


def same_metadata(a: ItemProps, b: ItemProps) -> bool:
    if a.kind == ItemKind.CERTIFICATE:
        return (a.enabled, dict(a.tags)) == (b.enabled, dict(b.tags))
    return ((a.content_type if a.kind == ItemKind.SECRET else None, a.enabled, a.not_before,
             a.expires, dict(a.tags))
            == (b.content_type if b.kind == ItemKind.SECRET else None, b.enabled, b.not_before,
                b.expires, dict(b.tags)))


def link_of_copy(read: ItemProps, read_id: str | None, source_region: str,
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


def user_tags_fit(tags: Mapping[str, str], link: LinkTag | None) -> dict[str, str]:
    try:
        return tags_with_link(tags, link)
    except ValueError:
        raise ItemFailed("the item has more tags than the service allows (15)",
                         code=OutcomeCode.TOO_MANY_TAGS) from None


def check_target_version(item: PlanItem, current: str | None) -> None:
    if current is None or (item.target_version and current != item.target_version):
        raise ItemFailed("the target changed after the plan was made; nothing was written, the "
                         "next sync re-plans it", code=OutcomeCode.TARGET_CHANGED)
