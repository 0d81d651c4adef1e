"""What the current primary's version history tells: which plan items need a look at a version
history (:func:`history_checks`), what one history shows (:func:`match_history`) and the plan
those answers make (:func:`resolve_history`). Pure: the listings are I/O, read by the plan
activity and, for a conflict it would refuse, the event path (:mod:`kvdr.sync.version_history`).
See :mod:`kvdr.sync.plan` for when each mode asks."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from enum import StrEnum

from kvdr.sync.model import PlanAction, PlanItem, Reason, SyncPlan, content_origin, copy_link
from kvdr.vault.inventory import Inventory, ItemKind, ItemProps
from kvdr.vault.links import LinkState

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
    origin = content_origin(s, source_region)
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
                               drift=False, link=copy_link(item.source, plan.source_region,
                                                            plan.epoch))
            return replace(item, reason=Reason.SUPERSEDED, drift=False)
        return item

    return replace(plan, items=tuple(settled(i) for i in plan.items))
