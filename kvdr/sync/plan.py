"""The pure sync planner: two inventories, the policies and the time in; an ordered plan out.

No I/O and no values: every decision is made from list-API properties (decision 4). "Skip",
"conflict", "target-only" and "blocked" are plan items, not exceptions. Deletions pass the
breaker before anything may execute them.

Decision table (secrets and certificates; S = source latest, T = target latest):

| situation | action |
| --- | --- |
| S is a certificate's backing secret or key (``managed``) | skip |
| S is a non-exportable certificate | skip: provision independently |
| T missing, S disabled | skip: value cannot be read while disabled |
| T missing, name soft-deleted in target | create after recover, or skip (policy) |
| T missing | create |
| same content (same origin via links, or same thumbprint) | unchanged / update_attributes |
| S disabled, T a kvdr copy of another version | update_attributes only |
| T's link is pending (unconfirmed) for S's content | verify_fingerprint |
| T has no link and S or T has no room for one | verify_fingerprint |
| T is a kvdr copy of another version | update_value |
| T was written outside kvdr (drift) | conflict, or update_value when conflicts=primary-wins |
| ... but the source's history holds a confirmed kvdr copy of T | update_value, no drift (below) |

Keys: create (backup/restore) only when the target lacks the name, both vaults share
subscription and geography and the key policy allows it; a target key with the same version
(a restored copy) is unchanged/update_attributes; any other existing key is skipped.

Items only in the target: target_only, or delete_candidate when deletions are mirrored, the
item is a kvdr copy (or conflicts=primary-wins), the source inventory is complete and the grace
period since first seen missing has passed.

Modes (:class:`SyncMode`, used by failover and failback; the mode overrides the conflict policy
here and nowhere else, see :func:`_drift_overwritten`):

* ``sync``: the table above. The plan activity (and the event path, for the conflict it is
  about to refuse) then reads the *source's* (the primary's) version history of each drift item
  (a conflict, or a primary-wins overwrite): when an older source version is a confirmed kvdr
  copy of the target's latest, that version had reached the primary, which only moved on from
  it (typically: written in the target region while it was primary, drained back by a failback,
  then rotated in the primary) — no drift: the item becomes a plain ``update_value``
  (:attr:`Reason.SUPERSEDED`, ``drift`` False, not a conflict, not listed as overwritten).
* ``reconcile``: the source is about to become primary, the target is the current primary. Only
  items whose source latest is original to the source are planned (no link, a stale link, or a
  link whose origin is the source); copies from elsewhere are left out (nothing new in them),
  and so are target-only items (nothing is deleted). T missing -> create; T a kvdr copy of an
  older source version -> update_value; T linked to S -> unchanged; anything else (T written
  independently, or copied from a third region) -> conflict, never written whatever
  ``policies.conflicts`` says. The plan activity then reads the target's version history of
  each such conflict (I/O, so not here): when an older target version is a confirmed kvdr copy
  of the source's latest, the target only moved on from it and the item becomes a skip
  (:func:`history_checks`, :func:`match_history`, :func:`resolve_history`).
* ``drain``: the source is the current primary, the target about to become primary. As
  ``sync``, but drift is always overwritten (primary wins): the target gets the source's
  version as a new version, so its own stays in its version history. The plan activity then
  reads the *source's* version history of each such overwrite (roles swapped), as in ``sync``:
  when an older source version is a confirmed kvdr copy of the target's latest, that version
  had reached the primary, which only moved on from it; the item is still written, but it is no
  drift (:attr:`Reason.SUPERSEDED`, ``drift`` False: the report does not list it as
  overwritten).

The history checks share :func:`history_checks`, :func:`match_history` and
:func:`resolve_history`; the version listings are I/O, so they happen in the plan activity and
the event path (:mod:`kvdr.sync.version_history`). They live in :mod:`kvdr.sync.history`, the
plan's building blocks in :mod:`kvdr.sync.model`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from kvdr.config.durations import format_duration
from kvdr.config.schema import ConflictPolicy, DeletionPolicy, KeyPolicy, Policies
from kvdr.config.schema import SoftDeletedTargetPolicy as SoftDeleted
from kvdr.sync.model import (
    PlanAction,
    PlanItem,
    Reason,
    SyncMode,
    SyncPlan,
    content_origin,
    copy_link,
)
from kvdr.vault.inventory import Inventory, ItemKind, ItemProps, format_time, sort_key, to_utc
from kvdr.vault.links import LinkState, LinkTag, is_reserved_name


@dataclass(frozen=True)
class _Context:
    source_region: str
    target_region: str
    policies: Policies
    same_subscription: bool
    same_geography: bool
    epoch: int
    target_deleted: frozenset[str]
    mode: SyncMode = SyncMode.SYNC


def plan_sync(source: Inventory, target: Inventory, *, source_region: str, target_region: str,
              policies: Policies, same_subscription: bool, same_geography: bool,
              now: datetime, first_seen_missing: Mapping[str, datetime] | None = None,
              epoch: int = 0, mode: SyncMode = SyncMode.SYNC) -> SyncPlan:
    """Plan one direction of a full sync in ``mode``. Deterministic: items are ordered by kind,
    then name. The deletion breaker of ``policies`` is applied before the plan is returned."""
    now = to_utc(now)  # type: ignore[assignment]
    mode = SyncMode(mode)
    ctx = _Context(source_region, target_region, policies, same_subscription, same_geography,
                   epoch, target.deleted, mode)
    src = {p.key: p for p in source.items if not is_reserved_name(p.name)}
    tgt = {p.key: p for p in target.items if not is_reserved_name(p.name)}
    first_seen = {k: to_utc(v) for k, v in (first_seen_missing or {}).items()}

    items: list[PlanItem] = []
    missing_since: dict[str, datetime] = {}
    def order(key: str) -> tuple[int, str, str]:
        p = src.get(key) or tgt[key]
        return sort_key(p.kind, p.name)

    for key in sorted(src.keys() | tgt.keys(), key=order):
        s, t = src.get(key), tgt.get(key)
        if mode == SyncMode.RECONCILE:
            if s is not None and _original_to(s, source_region):
                items.append(_plan_key(s, t, ctx) if s.kind == ItemKind.KEY
                             else _plan_reconcile(s, t, ctx))
            continue  # copies from elsewhere hold nothing new; nothing is ever deleted
        if s is not None:
            items.append(_plan_key(s, t, ctx) if s.kind == ItemKind.KEY
                         else _plan_content(s, t, ctx))
            continue
        assert t is not None
        if t.managed:
            continue  # a backing secret/key goes with its certificate
        item, since = _plan_target_only(t, ctx, source.complete, first_seen.get(key), now)
        items.append(item)
        if since is not None:
            missing_since[key] = since

    counted = [t for t in tgt.values() if not t.managed]
    plan = SyncPlan(source_region=source_region, target_region=target_region, planned_at=now,
                    items=tuple(items), epoch=epoch, missing_since=missing_since,
                    target_item_count=len(counted))
    return apply_deletion_breaker(plan, policies.deletion_breaker_max_items,
                                  policies.deletion_breaker_max_percent)


def apply_deletion_breaker(plan: SyncPlan, max_items: int, max_percent: float) -> SyncPlan:
    """Block every deletion of the plan when there are more than ``max_items`` of them or they
    are more than ``max_percent`` % of the target's items. Blocked deletions become ``blocked``
    items and the plan carries ``blocked_reason``; the rest of the plan still executes."""
    deletes = plan.of_action(PlanAction.DELETE_CANDIDATE)
    if not deletes:
        return plan
    count = len(deletes)
    percent = 100.0 if plan.target_item_count <= 0 else 100.0 * count / plan.target_item_count
    problems = []
    if count > max_items:
        problems.append(f"{count} deletions exceed the limit of {max_items} items")
    if percent > max_percent and not math.isclose(percent, max_percent):
        problems.append(f"{percent:.1f}% of the target's {plan.target_item_count} items "
                        f"exceeds the limit of {max_percent:g}%")
    if not problems:
        return plan
    reason = ("deletion breaker tripped: " + "; ".join(problems)
              + "; no deletion was made — check the source vault, then raise the limits or "
              "delete by hand")
    items = tuple(replace(i, action=PlanAction.BLOCKED, reason=reason)
                  if i.action == PlanAction.DELETE_CANDIDATE else i for i in plan.items)
    return replace(plan, items=items, blocked_reason=reason)


# --- decisions ----------------------------------------------------------------------------------


def _item(s: ItemProps, action: PlanAction, reason: str | None = None,
          t: ItemProps | None = None, **kwargs: Any) -> PlanItem:
    return PlanItem(kind=s.kind, name=s.name, action=action, reason=reason, source=s,
                    target_version=t.version if t else None, **kwargs)


def _link_for_copy(s: ItemProps, ctx: _Context) -> LinkTag | None:
    """The (pending) link to write on a copy of ``s``: its origin and the current epoch. None
    when there is no room for it."""
    return copy_link(s, ctx.source_region, ctx.epoch)


def _kept_link(s: ItemProps, t: ItemProps) -> LinkTag | None:
    """The link an attributes-only update keeps on the target (it replaces all tags)."""
    if t.link is not None and t.link_state == LinkState.CONFIRMED and s.has_room_for_link:
        return t.link
    return None


def _metadata(p: ItemProps) -> tuple[Any, ...]:
    if p.kind == ItemKind.CERTIFICATE:
        # validity comes from the certificate itself and content type from its policy
        return (p.enabled, tuple(p.tags.items()))
    if p.kind == ItemKind.KEY:
        return (p.enabled, p.not_before, p.expires, tuple(p.tags.items()))
    return (p.content_type, p.enabled, p.not_before, p.expires, tuple(p.tags.items()))


def _in_sync_or_attributes(s: ItemProps, t: ItemProps, ctx: _Context) -> PlanItem:
    # reconcile leaves the current primary's metadata alone: the drain that follows aligns it
    if ctx.mode == SyncMode.RECONCILE or _metadata(s) == _metadata(t):
        return _item(s, PlanAction.UNCHANGED, t=t)
    return _item(s, PlanAction.UPDATE_ATTRIBUTES, t=t, link=_kept_link(s, t))


def _settled_content(s: ItemProps, t: ItemProps | None, ctx: _Context) -> PlanItem | None:
    """What every content mode decides alike: backing secrets and non-exportable certificates
    are skipped, a missing target is created, a backing secret in the target is a conflict,
    and equal content is in sync (or an attribute update). None: the mode decides."""
    if s.kind == ItemKind.SECRET and s.managed:
        return _item(s, PlanAction.SKIP, Reason.BACKING_SECRET, t=t)
    if s.kind == ItemKind.CERTIFICATE and s.exportable is False:
        return _item(s, PlanAction.SKIP, Reason.NON_EXPORTABLE, t=t)
    if t is None:
        return _plan_create(s, ctx)
    if t.kind == ItemKind.SECRET and t.managed:
        return _item(s, PlanAction.CONFLICT, Reason.TARGET_IS_BACKING, t=t)
    if _same_content(s, t, ctx):
        return _in_sync_or_attributes(s, t, ctx)
    return None


def _plan_content(s: ItemProps, t: ItemProps | None, ctx: _Context) -> PlanItem:
    """Secrets and certificates: copied by value (set secret / export-import)."""
    settled = _settled_content(s, t, ctx)
    if settled is not None:
        return settled
    assert t is not None  # a missing target is settled: created

    t_state = t.link_state
    if not s.enabled:
        if t_state in (LinkState.CONFIRMED, LinkState.PENDING):
            return _item(s, PlanAction.UPDATE_ATTRIBUTES, Reason.DISABLED_ATTRIBUTES_ONLY, t=t,
                         link=_kept_link(s, t))
        return _item(s, PlanAction.CONFLICT, Reason.DRIFT_DISABLED, t=t, drift=True)

    certificate_known = (s.kind == ItemKind.CERTIFICATE and bool(s.thumbprint)
                         and bool(t.thumbprint))
    if not certificate_known:
        if t_state == LinkState.PENDING and t.link is not None \
                and t.link.origin == content_origin(s, ctx.source_region):
            return _item(s, PlanAction.VERIFY_FINGERPRINT, Reason.UNCONFIRMED_LINK, t=t,
                         link=_link_for_copy(s, ctx))
        if t_state == LinkState.NONE and (not s.has_room_for_link or not t.has_room_for_link):
            return _item(s, PlanAction.VERIFY_FINGERPRINT, Reason.NO_ROOM, t=t,
                         link=_link_for_copy(s, ctx))

    if t_state in (LinkState.CONFIRMED, LinkState.PENDING) or (
            certificate_known and not t.has_room_for_link and t_state == LinkState.NONE):
        # a kvdr copy of another version (or a link-less certificate copy): refresh it
        reason = None if s.has_room_for_link else Reason.NO_ROOM
        return _item(s, PlanAction.UPDATE_VALUE, reason, t=t, link=_link_for_copy(s, ctx))
    overwrite = _drift_overwritten(ctx)
    if overwrite is not None:
        return _item(s, PlanAction.UPDATE_VALUE, overwrite, t=t, link=_link_for_copy(s, ctx),
                     drift=True)
    return _item(s, PlanAction.CONFLICT, Reason.DRIFT, t=t, drift=True)


def _drift_overwritten(ctx: _Context) -> str | None:
    """The one place where the mode overrides ``policies.conflicts``: the reason drift is
    overwritten with, or None when it is reported as a conflict."""
    if ctx.mode == SyncMode.DRAIN:
        return Reason.DRIFT_DRAINED
    if ctx.mode == SyncMode.SYNC and ctx.policies.conflicts == ConflictPolicy.PRIMARY_WINS:
        return Reason.DRIFT_OVERWRITTEN
    return None  # reconcile never writes over the current primary


def _original_to(p: ItemProps, region: str) -> bool:
    """Whether this version was written in ``region`` itself, not copied there by kvdr: no link,
    a stale link (tags copied onto a new version), or a link whose origin is ``region``."""
    if p.link is None or p.link_state == LinkState.STALE:
        return True
    return p.link.origin_region == region


def _plan_reconcile(s: ItemProps, t: ItemProps | None, ctx: _Context) -> PlanItem:
    """Secrets and certificates in reconcile mode (``s`` is original to the source): copy what
    only the source wrote; anything the target changed since is a conflict, never written."""
    settled = _settled_content(s, t, ctx)
    if settled is not None:
        return settled
    assert t is not None  # a missing target is settled: created
    copied_from_source = (t.link is not None and t.link.origin_region == ctx.source_region
                          and t.link_state in (LinkState.CONFIRMED, LinkState.PENDING))
    if not copied_from_source:
        no_room = t.link is None and not (s.has_room_for_link and t.has_room_for_link)
        reason = Reason.RECONCILE_NO_ROOM if no_room else Reason.RECONCILE_CONFLICT
        return _item(s, PlanAction.CONFLICT, reason, t=t)
    if not s.enabled:
        return _item(s, PlanAction.SKIP, Reason.RECONCILE_DISABLED, t=t)
    if t.link_state == LinkState.PENDING and t.link is not None \
            and t.link.origin == content_origin(s, ctx.source_region):
        return _item(s, PlanAction.VERIFY_FINGERPRINT, Reason.UNCONFIRMED_LINK, t=t,
                     link=_link_for_copy(s, ctx))
    return _item(s, PlanAction.UPDATE_VALUE, t=t, link=_link_for_copy(s, ctx))


def _same_content(s: ItemProps, t: ItemProps, ctx: _Context) -> bool:
    if s.kind == ItemKind.CERTIFICATE and s.thumbprint and t.thumbprint:
        return s.thumbprint.lower() == t.thumbprint.lower()
    return content_origin(s, ctx.source_region) == content_origin(t, ctx.target_region)


def _plan_create(s: ItemProps, ctx: _Context) -> PlanItem:
    if not s.enabled:
        return _item(s, PlanAction.SKIP, Reason.DISABLED)
    recover = s.key in ctx.target_deleted
    if recover and ctx.policies.soft_deleted_target == SoftDeleted.REPORT:
        return _item(s, PlanAction.SKIP, Reason.SOFT_DELETED_REPORT)
    reason = Reason.SOFT_DELETED_RECOVER if recover else (
        None if s.has_room_for_link else Reason.NO_ROOM)
    return _item(s, PlanAction.CREATE, reason, link=_link_for_copy(s, ctx),
                 recover_first=recover)


def _plan_key(s: ItemProps, t: ItemProps | None, ctx: _Context) -> PlanItem:
    """Keys: non-exportable, so only backup/restore inside one subscription and geography."""
    if s.managed:
        return _item(s, PlanAction.SKIP, Reason.BACKING_KEY, t=t)
    if t is None:
        if s.key in ctx.target_deleted:
            return _item(s, PlanAction.SKIP, Reason.KEY_SOFT_DELETED)
        if ctx.policies.keys == KeyPolicy.REPORT:
            return _item(s, PlanAction.SKIP, Reason.KEY_POLICY)
        if not ctx.same_subscription:
            return _item(s, PlanAction.SKIP, Reason.KEY_SUBSCRIPTION)
        if not ctx.same_geography:
            return _item(s, PlanAction.SKIP, Reason.KEY_GEOGRAPHY)
        return _item(s, PlanAction.CREATE, Reason.KEY_RESTORE, link=_link_for_copy(s, ctx))
    same_version = (s.version or "").lower() == (t.version or "").lower() and bool(s.version)
    if same_version or _same_content(s, t, ctx):
        return _in_sync_or_attributes(s, t, ctx)
    return _item(s, PlanAction.SKIP, Reason.KEY_EXISTS, t=t)


def _plan_target_only(t: ItemProps, ctx: _Context, source_complete: bool,
                      first_seen: datetime | None, now: datetime
                      ) -> tuple[PlanItem, datetime | None]:
    def target_only(reason: str) -> PlanItem:
        return PlanItem(kind=t.kind, name=t.name, action=PlanAction.TARGET_ONLY, reason=reason,
                        target_version=t.version)

    policies = ctx.policies
    if policies.deletions != DeletionPolicy.MIRROR:
        return target_only(Reason.TARGET_ONLY_IGNORED), None
    if not source_complete:
        return target_only(Reason.TARGET_ONLY_INCOMPLETE), first_seen
    ours = t.link is not None and t.link_state != LinkState.STALE
    if not ours and policies.conflicts != ConflictPolicy.PRIMARY_WINS:
        return target_only(Reason.TARGET_ONLY_NOT_OURS), None
    since = first_seen or now
    due = since + policies.deletion_grace_period
    if now >= due:
        return PlanItem(kind=t.kind, name=t.name, action=PlanAction.DELETE_CANDIDATE,
                        reason=f"missing from the source since {format_time(since)}",
                        target_version=t.version), since
    return target_only(f"missing from the source since {format_time(since)}; soft-delete due "
                       f"after {format_time(due)} (grace "
                       f"{format_duration(policies.deletion_grace_period)})"), since
