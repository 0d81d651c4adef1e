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
the event path (:mod:`kvdr.vault.version_history`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from kvdr.config.durations import format_duration
from kvdr.config.schema import ConflictPolicy, DeletionPolicy, KeyPolicy, Policies
from kvdr.config.schema import SoftDeletedTargetPolicy as SoftDeleted
from kvdr.vault.inventory import (
    Inventory,
    ItemKind,
    ItemProps,
    format_time,
    parse_time,
    sort_key,
    to_utc,
)
from kvdr.vault.links import LinkState, LinkTag, is_reserved_name


class SyncMode(StrEnum):
    SYNC = "sync"            # primary -> secondary, as configured
    RECONCILE = "reconcile"  # region about to become primary -> current primary: its originals
    DRAIN = "drain"          # current primary -> region about to become primary: primary wins


class PlanAction(StrEnum):
    CREATE = "create"
    UPDATE_VALUE = "update_value"
    UPDATE_ATTRIBUTES = "update_attributes"
    UNCHANGED = "unchanged"
    SKIP = "skip"
    CONFLICT = "conflict"
    # compare keyed fingerprints in an activity: equal -> align metadata (and confirm the link
    # when there is room); different -> write the value (update_value)
    VERIFY_FINGERPRINT = "verify_fingerprint"
    TARGET_ONLY = "target_only"
    DELETE_CANDIDATE = "delete_candidate"
    BLOCKED = "blocked"  # a deletion the breaker stopped


EXECUTABLE: frozenset[PlanAction] = frozenset({
    PlanAction.CREATE, PlanAction.UPDATE_VALUE, PlanAction.UPDATE_ATTRIBUTES,
    PlanAction.VERIFY_FINGERPRINT, PlanAction.DELETE_CANDIDATE})


class Reason:
    """Stable reason texts (reports group by them)."""

    BACKING_SECRET = "certificate backing secret: replicated with its certificate"
    BACKING_KEY = "certificate backing key: replicated with its certificate"
    NON_EXPORTABLE = "provision independently: non-exportable"
    DISABLED = "value cannot be read while disabled"
    DISABLED_ATTRIBUTES_ONLY = ("source version is disabled: its value cannot be read, so only "
                                "attributes are replicated")
    SOFT_DELETED_REPORT = ("name is soft-deleted in the target and "
                           "policies.soft_deleted_target is 'report'; recover or purge it there")
    SOFT_DELETED_RECOVER = "name is soft-deleted in the target: recover, then write"
    NO_ROOM = "no room for the link tag (15 tags): verified by keyed fingerprint"
    UNCONFIRMED_LINK = "link tag not confirmed (interrupted write?): verified by fingerprint"
    DRIFT = "target has a version kvdr did not write (drift)"
    DRIFT_OVERWRITTEN = "drift overwritten (policies.conflicts is 'primary-wins')"
    DRIFT_DISABLED = "target has a version kvdr did not write (drift); source is disabled"
    TARGET_IS_BACKING = "target name is a certificate's backing secret"
    KEY_POLICY = "provision independently: policies.keys is 'report'"
    KEY_SUBSCRIPTION = ("provision independently: different subscriptions (a key backup "
                        "restores only within its subscription)")
    KEY_GEOGRAPHY = ("provision independently: different geographies (a key backup restores "
                     "only within its geography)")
    KEY_EXISTS = ("provision independently: target already has a different key with this name "
                  "(restore needs the name absent)")
    KEY_SOFT_DELETED = ("provision independently: name is soft-deleted in the target (restore "
                        "needs the name absent)")
    KEY_RESTORE = "backup/restore"
    TARGET_ONLY_IGNORED = "not in source; deletions are not mirrored (policies.deletions)"
    TARGET_ONLY_NOT_OURS = "not in source and not written by kvdr; never deleted by mirroring"
    TARGET_ONLY_INCOMPLETE = "not in source, but the source inventory is incomplete"
    DRIFT_DRAINED = ("target had a version kvdr did not write: the primary's version was "
                     "written over it as a new version (drain: primary wins); the target's "
                     "version stays in its version history")
    RECONCILE_CONFLICT = ("changed in both regions: the current primary holds a version that "
                          "was not copied from here; nothing was written, choose a version by "
                          "hand")
    RECONCILE_DISABLED = ("source version is disabled: its value cannot be read, so reconcile "
                          "leaves the current primary as it is")
    RECONCILE_NO_ROOM = ("no room for the link tag: reconcile cannot tell which region changed "
                         "it; nothing was written, compare by hand")
    RECONCILE_REPLACED = ("the current primary replaced its copy of this version: nothing to "
                          "reconcile")
    RECONCILE_HISTORY_UNREAD = ("changed in the current primary, whose version history could "
                                "not be read to tell whether it held a copy of this version: "
                                "nothing was written, compare by hand")
    SUPERSEDED = ("the target's version had reached the primary, which has replaced it "
                  "since: updated (no drift)")
    DRAIN_SUPERSEDED = SUPERSEDED  # its first name, when only the drain checked for it


@dataclass(frozen=True)
class PlanItem:
    """One decision. ``source`` is the source's latest version (absent for target-only items);
    ``link`` the link tag to write with the value (None when there is no room);
    ``target_version`` what the planner saw in the target — activities check it before acting
    so that a retried or stale batch never writes twice."""

    kind: ItemKind
    name: str
    action: PlanAction
    reason: str | None = None
    source: ItemProps | None = None
    target_version: str | None = None
    link: LinkTag | None = None
    recover_first: bool = False
    drift: bool = False

    @property
    def key(self) -> str:
        return f"{self.kind}/{self.name.lower()}"

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"kind": str(self.kind), "name": self.name,
                                "action": str(self.action)}
        if self.reason:
            data["reason"] = self.reason
        if self.source is not None:
            data["source"] = self.source.to_dict()
        if self.target_version:
            data["target_version"] = self.target_version
        if self.link is not None:
            data["link"] = self.link.format()
        if self.recover_first:
            data["recover_first"] = True
        if self.drift:
            data["drift"] = True
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PlanItem:
        return cls(
            kind=ItemKind(data["kind"]), name=data["name"], action=PlanAction(data["action"]),
            reason=data.get("reason"),
            source=ItemProps.from_dict(data["source"]) if data.get("source") else None,
            target_version=data.get("target_version"),
            link=LinkTag.parse(data["link"]) if data.get("link") else None,
            recover_first=data.get("recover_first", False), drift=data.get("drift", False))


@dataclass(frozen=True)
class SyncPlan:
    """The ordered plan for one source -> target pair. ``missing_since`` maps the key of every
    item currently missing from the source (when deletions are mirrored) to when it was first
    seen missing: persist it and pass it back as ``first_seen_missing`` next run."""

    source_region: str
    target_region: str
    planned_at: datetime
    items: tuple[PlanItem, ...] = ()
    epoch: int = 0
    missing_since: Mapping[str, datetime] = field(default_factory=dict)
    target_item_count: int = 0
    blocked_reason: str | None = None

    @property
    def executable(self) -> tuple[PlanItem, ...]:
        return tuple(i for i in self.items if i.action in EXECUTABLE)

    def batches(self, size: int) -> list[tuple[PlanItem, ...]]:
        """The executable items in order, ``size`` at a time (one activity each)."""
        if size < 1:
            raise ValueError("batch size must be at least 1")
        work = self.executable
        return [work[i:i + size] for i in range(0, len(work), size)]

    def counts(self) -> dict[str, dict[str, int]]:
        """``{action: {kind: n}}`` for every action present."""
        counts: dict[str, dict[str, int]] = {}
        for item in self.items:
            per_kind = counts.setdefault(str(item.action), {})
            per_kind[str(item.kind)] = per_kind.get(str(item.kind), 0) + 1
        return counts

    def of_action(self, action: PlanAction) -> tuple[PlanItem, ...]:
        return tuple(i for i in self.items if i.action == action)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "source_region": self.source_region, "target_region": self.target_region,
            "planned_at": format_time(self.planned_at), "epoch": self.epoch,
            "target_item_count": self.target_item_count,
            "items": [i.to_dict() for i in self.items],
            "missing_since": {k: format_time(v) for k, v in sorted(self.missing_since.items())},
        }
        if self.blocked_reason:
            data["blocked_reason"] = self.blocked_reason
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SyncPlan:
        return cls(
            source_region=data["source_region"], target_region=data["target_region"],
            planned_at=parse_time(data["planned_at"]),  # type: ignore[arg-type]
            items=tuple(PlanItem.from_dict(i) for i in data.get("items", ())),
            epoch=data.get("epoch", 0),
            missing_since={k: parse_time(v) for k, v in data.get("missing_since", {}).items()},
            target_item_count=data.get("target_item_count", 0),
            blocked_reason=data.get("blocked_reason"))


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


# --- what the current primary's version history tells (read by the plan activity and, for a
# conflict it would refuse, the event path: kvdr.vault.version_history) ---------------------


HISTORY_CHECKED: frozenset[str] = frozenset({Reason.RECONCILE_CONFLICT,
                                             Reason.RECONCILE_NO_ROOM})


# drift the source's version history may explain, by planned action: a sync conflict, a sync
# primary-wins overwrite, a drain overwrite (a disabled source over drift is not: its value
# could not be copied either way)
DRIFT_CHECKED: Mapping[PlanAction, frozenset[str]] = {
    PlanAction.CONFLICT: frozenset({Reason.DRIFT}),
    PlanAction.UPDATE_VALUE: frozenset({Reason.DRIFT_OVERWRITTEN, Reason.DRIFT_DRAINED})}


class HistoryMatch(StrEnum):
    REPLACED = "replaced"      # an older version of the holder is a kvdr copy of the subject
    NOT_COPIED = "not_copied"  # none is: a real conflict (reconcile) or real drift (sync, drain)
    NEEDS_SOURCE_IDS = "needs_source_ids"  # copies name the origin's version id: list the
    #                                        origin's versions and ask again with source_ids
    UNREAD = "unread"          # the activity could not list the holder's versions


@dataclass(frozen=True)
class HistoryCheck:
    """One question for the plan activity: does ``holder``'s version history hold a confirmed
    kvdr copy of ``subject``, the latest version of ``item`` in the region ``origin``? (Ask
    :func:`match_history` with ``source_region=origin``; the ids it may need are ``origin``'s.)

    Reconcile: the subject is the source's latest, the holder the target (the current primary).
    Sync and drain: the subject is the target's latest, the holder the source (the current
    primary)."""

    item: PlanItem
    subject: ItemProps
    origin: str
    holder: str

    @property
    def key(self) -> str:
        return self.item.key


def _reconcile_checked(item: PlanItem) -> bool:
    """A reconcile conflict the target's version history may explain."""
    return (item.action == PlanAction.CONFLICT and item.reason in HISTORY_CHECKED
            and item.kind != ItemKind.KEY and item.source is not None
            and bool(item.source.version) and item.source.has_room_for_link)


def _drift_checked(item: PlanItem) -> bool:
    """Drift (:data:`DRIFT_CHECKED`; secrets and certificates, a key is never drift) that the
    source's version history may show was no divergence."""
    return (item.drift and item.reason in DRIFT_CHECKED.get(item.action, frozenset())
            and item.kind != ItemKind.KEY and item.source is not None
            and bool(item.target_version))


def history_checks(plan: SyncPlan, target: Inventory | None = None
                   ) -> tuple[HistoryCheck, ...]:
    """The plan items another region's version history may settle, each with its question.

    * Reconcile conflicts (:attr:`Reason.RECONCILE_CONFLICT`, :attr:`Reason.RECONCILE_NO_ROOM`;
      secrets and certificates) whose source latest has room for the link (a copy of one
      without room carries no link, so no history could show it): is the source's latest in
      the target's history? Other conflicts (a backing secret in the way) are not checked.
    * Drift (secrets and certificates): sync conflicts (:attr:`Reason.DRIFT`), sync primary-wins
      overwrites (:attr:`Reason.DRIFT_OVERWRITTEN`) and drain overwrites
      (:attr:`Reason.DRIFT_DRAINED`): is the target's latest — found in ``target``, the
      inventory the plan was made from, and with room for the link — in the source's history?
      Without ``target``, none.
    """
    latest = target.by_key() if target is not None else {}
    checks: list[HistoryCheck] = []
    for item in plan.items:
        if _reconcile_checked(item):
            assert item.source is not None
            checks.append(HistoryCheck(item, item.source, plan.source_region,
                                       plan.target_region))
        elif _drift_checked(item):
            t = latest.get(item.key)
            if t is not None and t.version == item.target_version and t.has_room_for_link:
                checks.append(HistoryCheck(item, t, plan.target_region, plan.source_region))
    return tuple(checks)


def match_history(s: ItemProps, history: Iterable[ItemProps], *, source_region: str,
                  source_ids: Iterable[str] | None = None) -> HistoryMatch:
    """Whether one of the holder's versions (``history``: their list properties, the latest
    included) is a kvdr copy of ``s``, the latest version in ``source_region`` (the subject of
    a :class:`HistoryCheck`; in sync and drain, the target's latest): a *confirmed* link (a
    link that a rotation copied onto a later version is stale and proves nothing) naming the
    origin of ``s`` (``s`` itself, or the origin its confirmed link names) by version token.

    Tokens are creation seconds: a token may also be another version created in the same
    second. What settles it: for certificates with known thumbprints, equal thumbprints; else
    the copy's origin id, compared with ``s``'s confirmed link's origin id or, for an original,
    with ``source_ids`` — the real ids of *every* version in ``source_region`` carrying ``s``'s
    token (the listing cannot tell which of them is the latest, so each must have been copied).
    When those are needed and not given, :attr:`HistoryMatch.NEEDS_SOURCE_IDS`. A copy whose
    link has no origin id (an older link), or an origin whose id is unknown, matches by token:
    the limit full sync always has."""
    origin = _origin(s, source_region)
    if origin[0] != source_region or not origin[1]:
        return HistoryMatch.NOT_COPIED
    thumbprint = (s.thumbprint or "").lower() if s.kind == ItemKind.CERTIFICATE else ""
    copied_ids: set[str] = set()
    for v in history:
        link = v.link
        if link is None or v.link_state != LinkState.CONFIRMED or link.origin != origin:
            continue
        if thumbprint and v.thumbprint:
            if v.thumbprint.lower() == thumbprint:
                return HistoryMatch.REPLACED
            continue  # the same token, other content
        if link.origin_id is None:
            return HistoryMatch.REPLACED
        copied_ids.add(link.origin_id.lower())
    if not copied_ids:
        return HistoryMatch.NOT_COPIED
    if s.link is not None and s.link_state == LinkState.CONFIRMED:
        if s.link.origin_id is None:
            return HistoryMatch.REPLACED
        wanted = {s.link.origin_id.lower()}
    elif source_ids is None:
        return HistoryMatch.NEEDS_SOURCE_IDS
    else:
        wanted = {i.lower() for i in source_ids}
    return HistoryMatch.REPLACED if wanted and wanted <= copied_ids else HistoryMatch.NOT_COPIED


def resolve_history(plan: SyncPlan, outcomes: Mapping[str, HistoryMatch]) -> SyncPlan:
    """The plan with the history checks settled (``outcomes`` by item key; an outcome for an
    item no check is about is ignored).

    Reconcile conflicts: REPLACED -> skip (:attr:`Reason.RECONCILE_REPLACED`: nothing is
    missing from the target, it moved on); UNREAD -> still a conflict,
    :attr:`Reason.RECONCILE_HISTORY_UNREAD`; otherwise as planned.

    Drift (sync conflicts, sync primary-wins and drain overwrites): REPLACED -> no drift, a
    plain update of the value (:attr:`Reason.SUPERSEDED`, ``drift`` False): an overwrite keeps
    its write, a conflict becomes the ``update_value`` it would have been over a kvdr copy (the
    link planned from the plan's source region and epoch); otherwise (UNREAD included) as
    planned: a conflict, or drift overwritten."""

    def settled(item: PlanItem) -> PlanItem:
        outcome = outcomes.get(item.key)
        if _reconcile_checked(item):
            if outcome == HistoryMatch.REPLACED:
                return replace(item, action=PlanAction.SKIP, reason=Reason.RECONCILE_REPLACED)
            if outcome == HistoryMatch.UNREAD:
                return replace(item, reason=Reason.RECONCILE_HISTORY_UNREAD)
        elif _drift_checked(item) and outcome == HistoryMatch.REPLACED:
            if item.action == PlanAction.CONFLICT:
                assert item.source is not None
                return replace(item, action=PlanAction.UPDATE_VALUE, reason=Reason.SUPERSEDED,
                               drift=False, link=_copy_link(item.source, plan.source_region,
                                                            plan.epoch))
            return replace(item, reason=Reason.SUPERSEDED, drift=False)
        return item

    return replace(plan, items=tuple(settled(i) for i in plan.items))


# --- decisions ----------------------------------------------------------------------------------


def _item(s: ItemProps, action: PlanAction, reason: str | None = None,
          t: ItemProps | None = None, **kwargs: Any) -> PlanItem:
    return PlanItem(kind=s.kind, name=s.name, action=action, reason=reason, source=s,
                    target_version=t.version if t else None, **kwargs)


def _origin(p: ItemProps, region: str) -> tuple[str, str]:
    """Where this version's content first came from: its confirmed link, or itself."""
    if p.link is not None and p.link_state == LinkState.CONFIRMED:
        return p.link.origin
    return (region, (p.version or "").lower())


def _link_for_copy(s: ItemProps, ctx: _Context) -> LinkTag | None:
    """The (pending) link to write on a copy of ``s``: its origin and the current epoch. None
    when there is no room for it."""
    return _copy_link(s, ctx.source_region, ctx.epoch)


def _copy_link(s: ItemProps, source_region: str, epoch: int) -> LinkTag | None:
    if not s.has_room_for_link or not s.version:
        return None
    if s.link is not None and s.link_state == LinkState.CONFIRMED:
        return LinkTag(s.link.origin_region, s.link.origin_version, epoch)
    return LinkTag(source_region, s.version, epoch)


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


def _plan_content(s: ItemProps, t: ItemProps | None, ctx: _Context) -> PlanItem:
    """Secrets and certificates: copied by value (set secret / export-import)."""
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
                and t.link.origin == _origin(s, ctx.source_region):
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
    copied_from_source = (t.link is not None and t.link.origin_region == ctx.source_region
                          and t.link_state in (LinkState.CONFIRMED, LinkState.PENDING))
    if not copied_from_source:
        no_room = t.link is None and not (s.has_room_for_link and t.has_room_for_link)
        reason = Reason.RECONCILE_NO_ROOM if no_room else Reason.RECONCILE_CONFLICT
        return _item(s, PlanAction.CONFLICT, reason, t=t)
    if not s.enabled:
        return _item(s, PlanAction.SKIP, Reason.RECONCILE_DISABLED, t=t)
    if t.link_state == LinkState.PENDING and t.link is not None \
            and t.link.origin == _origin(s, ctx.source_region):
        return _item(s, PlanAction.VERIFY_FINGERPRINT, Reason.UNCONFIRMED_LINK, t=t,
                     link=_link_for_copy(s, ctx))
    return _item(s, PlanAction.UPDATE_VALUE, t=t, link=_link_for_copy(s, ctx))


def _same_content(s: ItemProps, t: ItemProps, ctx: _Context) -> bool:
    if s.kind == ItemKind.CERTIFICATE and s.thumbprint and t.thumbprint:
        return s.thumbprint.lower() == t.thumbprint.lower()
    return _origin(s, ctx.source_region) == _origin(t, ctx.target_region)


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
