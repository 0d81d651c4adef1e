"""The restore planner: what to do for every item in scope so that the primary holds again what
it held at TIME. :func:`plan_restore` is pure (the decision over :class:`RestoreReads`);
:func:`build_plan` reads (value-free, :mod:`kvdr.restore.reads`) and asks it.

| the item in the primary | action |
| --- | --- |
| latest created at or before TIME, attributes not updated since | untouched (counted) |
| ... attributes updated after TIME | cannot: the old ones are unknown |
| latest created after TIME, with a version current at TIME (V) | roll_back to V |
| ... the latest already restores V (*) | unchanged |
| ... V disabled, a certificate not exportable, or a key | cannot |
| soft-deleted after TIME, latest created at or before TIME | recover |
| soft-deleted after TIME, latest created after TIME | recover_and_roll_back |
| soft-deleted at or before TIME | not listed: absent then and now |
| absent, or no version at or before TIME; a secondary's copy proves it (**) | from_secondary |
| ... the primary already holds that copy (*) | unchanged |
| no version at or before TIME, no copy proves it | report_new (disable_new if asked) |
| absent, no copy proves it | not listed |

(*) its confirmed restore mark (:mod:`kvdr.restore.marks`) names it; a certificate: the same
thumbprint (and enabled state and user tags, for a roll back). (**) a confirmed link tag names
an origin version created at or before TIME; the latest such copy of any secondary wins.

Keys are never written: any change is reported (``cannot``, or ``report_new``). A purged item
cannot be told from one deleted and purged before TIME: when a secondary still holds a copy of a
version older than TIME, the plan brings it back; narrow the scope with name globs if that is
not wanted. The service dates versions to the second: a version created in TIME's own second
counts as created before it.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping
from datetime import datetime

from kvdr.restore.marks import mark_of, without_mark
from kvdr.restore.model import RestoreAction, RestoreItem, RestorePlan, RestoreScope
from kvdr.restore.reads import (
    DeletedRecord,
    RestoreReads,
    VersionRecord,
    latest_record,
    read_deleted,
    read_histories,
    token_time,
    version_at,
)
from kvdr.vault.inventory import Inventory, ItemKind, ItemProps, format_time, item_key
from kvdr.vault.links import LinkState
from kvdr.vault.session import VaultSession

log = logging.getLogger(__name__)

A = RestoreAction
KEYS_CANNOT = "keys cannot go back (their material cannot be exported or written)"


def _t(value: datetime | None) -> str:
    return format_time(value) or "an unknown time"


def in_scope(scope: RestoreScope, p: ItemProps) -> bool:
    return scope.matches(p.kind, p.name) and not p.managed


def history_wanted(items: Mapping[str, ItemProps] | tuple[ItemProps, ...], scope: RestoreScope,
                   as_of: datetime) -> list[tuple[ItemKind, str]]:
    """The primary's items whose version list the plan needs: latest created after TIME."""
    values = items.values() if isinstance(items, Mapping) else items
    return [(p.kind, p.name) for p in values if in_scope(scope, p)
            and (token_time(p.version) or as_of) > as_of]


def _reaches_back(reads: RestoreReads, key: str, as_of: datetime) -> bool:
    return version_at(reads.histories.get(key, ()), as_of) is not None


def copies_wanted(reads: RestoreReads, scope: RestoreScope, as_of: datetime
                  ) -> dict[str, list[tuple[ItemKind, str]]]:
    """Per secondary region, the items whose version list there the plan needs: secrets and
    certificates the primary lacks (neither live nor soft-deleted), or whose primary history
    does not reach back to TIME."""
    present = {p.key: p for p in reads.items if in_scope(scope, p)}
    deleted = {d.key for d in reads.deleted}
    wanted: dict[str, list[tuple[ItemKind, str]]] = {}
    for region, inventory in sorted(reads.others.items()):
        for p in inventory.items:
            if p.kind == ItemKind.KEY or not in_scope(scope, p) or p.key in deleted:
                continue
            if p.key in present and (p.key not in reads.histories
                                     or _reaches_back(reads, p.key, as_of)):
                continue
            wanted.setdefault(region, []).append((p.kind, p.name))
    return wanted


# --- the decision ---------------------------------------------------------------------------


def plan_restore(reads: RestoreReads, *, as_of: datetime, scope: RestoreScope, epoch: int,
                 disable_new: bool = False) -> RestorePlan:
    """The plan over ``reads`` (pure). ``disable_new``: new items are planned ``disable_new``
    instead of ``report_new`` (keys are only ever reported)."""
    items: list[RestoreItem] = []
    untouched: Counter[str] = Counter()
    seen: set[str] = set()
    for p in reads.items:
        if not in_scope(scope, p):
            continue
        seen.add(p.key)
        planned = _plan_present(p, reads, as_of, disable_new)
        if planned is None:
            untouched[str(p.kind)] += 1
        else:
            items.append(planned)
    for d in reads.deleted:
        if not in_scope(scope, d.props) or d.key in seen:
            continue
        seen.add(d.key)
        planned = _plan_deleted(d, as_of)
        if planned is not None:
            items.append(planned)
    for _region, inventory in sorted(reads.others.items()):
        for p in inventory.items:
            if not in_scope(scope, p) or p.key in seen:
                continue
            seen.add(p.key)
            planned = _from_copies(p.kind, p.name, reads, as_of, latest=None,
                                   disable_new=disable_new)
            if planned is not None:
                items.append(planned)
    return RestorePlan(as_of=as_of, primary=reads.primary, epoch=epoch, scope=scope,
                       items=tuple(items), complete=reads.complete and not reads.unread,
                       untouched=dict(untouched))


def _item(p: ItemProps, action: RestoreAction, reason: str, *,
          record: VersionRecord | None = None, created: datetime | None = None,
          region: str | None = None) -> RestoreItem:
    return RestoreItem(kind=p.kind, name=p.name, action=action,
                       version=record.id if record is not None else None,
                       created=created or (record.created if record is not None else None),
                       source_region=region, reason=reason)


def _plan_present(p: ItemProps, reads: RestoreReads, as_of: datetime, disable_new: bool
                  ) -> RestoreItem | None:
    created = token_time(p.version)
    if created is None or created <= as_of:
        if p.updated_on is not None and p.updated_on > as_of:
            return _item(p, A.CANNOT, f"its attributes (enabled, dates, tags) were changed at "
                         f"{_t(p.updated_on)}, after TIME, on the version current then: kvdr "
                         "cannot know the old ones; check them by hand")
        return None
    unread = reads.unread.get((reads.primary, p.key))
    if unread is not None or p.key not in reads.histories:
        return _item(p, A.CANNOT, f"its version history was not read: {unread or 'not listed'}")
    history = reads.histories[p.key]
    then = version_at(history, as_of)
    latest = latest_record(history)
    if then is None or latest is None:
        return _from_copies(p.kind, p.name, reads, as_of, latest=latest,
                            disable_new=disable_new)
    if p.kind == ItemKind.KEY:
        return _item(p, A.CANNOT, f"a new version was created at {_t(created)}, after TIME "
                     f"(version {then.id} was current then): {KEYS_CANNOT}; rotate it by hand "
                     "if the new version is bad", record=then)
    if _holds(latest, then, None):
        return _item(p, A.UNCHANGED, f"already restored: its latest version restores version "
                     f"{then.id}, current at TIME", record=then)
    if not then.props.enabled:
        return _item(p, A.CANNOT, f"version {then.id}, current at TIME, is disabled: its value "
                     "cannot be read; enable that version and run the restore again",
                     record=then)
    if reads.exportable.get((reads.primary, p.key)) is False:
        return _item(p, A.CANNOT, "the certificate is not exportable: it cannot be re-imported; "
                     "provision it again", record=then)
    note = ""
    if then.props.updated_on is not None and then.props.updated_on > as_of:
        note = ("; its attributes were changed after TIME, so it comes back with the ones it "
                "has now")
    return _item(p, A.ROLL_BACK, f"changed at {_t(created)}, after TIME: version {then.id} "
                 f"(created {_t(then.created)}) becomes the latest again{note}", record=then)


def _holds(latest: VersionRecord | None, source: VersionRecord, region: str | None) -> bool:
    """Whether ``latest`` (the primary's) already is a restore of ``source`` (of ``region``;
    None: the primary's own version): its confirmed mark names it, or, for a certificate, it
    has the same certificate (thumbprint), enabled state and user tags."""
    if latest is None:
        return False
    if latest.id and source.id and latest.id.lower() == source.id.lower() and region is None:
        return True
    mark = mark_of(latest.props.tags)
    if mark is not None and source.id and mark.names(source.id, region) and \
            mark.confirmed_for(latest.id):
        return True
    if latest.props.kind != ItemKind.CERTIFICATE or not source.props.thumbprint:
        return False
    return (latest.props.thumbprint == source.props.thumbprint
            and latest.props.enabled == source.props.enabled
            and without_mark(latest.props.tags) == without_mark(source.props.tags))


def _plan_deleted(d: DeletedRecord, as_of: datetime) -> RestoreItem | None:
    p = d.props
    if d.deleted_on is None:
        return _item(p, A.CANNOT, "soft-deleted at a time the vault did not say: recover it by "
                     "hand if it existed at TIME")
    if d.deleted_on <= as_of:
        return None
    created = token_time(p.version)
    when = f"soft-deleted at {_t(d.deleted_on)}, after TIME"
    if p.kind == ItemKind.KEY:
        return _item(p, A.CANNOT, f"{when}: keys are only reported; recover it by hand (`az "
                     f"keyvault key recover --name {p.name}`), nothing of it is lost")
    if created is not None and created <= as_of:
        note = ("; its attributes were changed after TIME and stay as they are"
                if p.updated_on is not None and p.updated_on > as_of else "")
        return _item(p, A.RECOVER, f"{when}: recover it{note}", created=created)
    return RestoreItem(kind=p.kind, name=p.name, action=A.RECOVER_AND_ROLL_BACK, until=as_of,
                       reason=f"{when}, and its latest version was created at {_t(created)}, "
                       "after TIME: recover it, then roll back to the version current at TIME "
                       "(read after the recovery)")


def _best_copy(kind: ItemKind, name: str, reads: RestoreReads, as_of: datetime
               ) -> tuple[str, VersionRecord, datetime] | None:
    """The secondaries' copy whose confirmed link names the latest origin version created at
    or before TIME: (region, the copy's version, the origin's creation time)."""
    key = item_key(kind, name)
    best: tuple[str, VersionRecord, datetime] | None = None
    for region, inventory in sorted(reads.others.items()):
        if kind == ItemKind.KEY:
            p = inventory.get(kind, name)
            records: tuple[VersionRecord, ...] = (VersionRecord(None, p),) if p else ()
        else:
            records = reads.copies.get((region, key), ())
        for record in records:
            link = record.props.link
            if link is None or record.props.link_state != LinkState.CONFIRMED:
                continue
            origin = token_time(link.origin_version)
            if origin is None or origin > as_of:
                continue
            if best is None or (origin, record.order) > (best[2], best[1].order):
                best = (region, record, origin)
    return best


def _from_copies(kind: ItemKind, name: str, reads: RestoreReads, as_of: datetime, *,
                 latest: VersionRecord | None, disable_new: bool) -> RestoreItem | None:
    """An item with no version at TIME in the primary (``latest``: its latest there, None when
    absent): a secondary's proven copy, a new item, or nothing."""
    key = item_key(kind, name)
    subject = latest.props if latest is not None else ItemProps(kind=kind, name=name)
    unread = sorted(f"{region}: {v}" for (region, k), v in reads.unread.items()
                    if k in (key, "*") and region != reads.primary)
    if unread:
        return _item(subject, A.CANNOT, f"no version at TIME here, and the copies in the "
                     f"secondaries were not all read: {'; '.join(unread)}")
    gone = reads.missing_since.get(key) if latest is None else None
    if gone is not None and gone <= as_of:
        return None  # a full sync saw it missing from the primary already before TIME
    best = _best_copy(kind, name, reads, as_of)
    if best is None:
        if latest is None:
            return None  # only in a secondary, with no proof it was in the primary at TIME
        if disable_new and kind != ItemKind.KEY and latest.props.enabled:
            return _item(subject, A.DISABLE_NEW, f"created at {_t(latest.created)}, after "
                         "TIME: disabled (never deleted)")
        state = "" if latest.props.enabled else " (disabled)"
        return _item(subject, A.REPORT_NEW, f"created at {_t(latest.created)}, after TIME"
                     f"{state}: reported, never deleted")
    region, copy, origin = best
    where = (f"gone from the primary, not even soft-deleted (purged after TIME: a full sync "
             f"first saw it missing at {_t(gone)})" if gone is not None else
             "gone from the primary, not even soft-deleted (purged after TIME; or deleted and "
             "purged before it, which kvdr cannot tell apart without a full sync's record of "
             "when it went missing: narrow the names if so)"
             if latest is None else
             f"its history here starts at {_t(latest.created)}, after TIME (purged and "
             "created again?)")
    what = f"the copy in {region} of the version created at {_t(origin)}"
    if kind == ItemKind.KEY:
        return _item(subject, A.CANNOT, f"{where}; {region} holds a copy: {KEYS_CANNOT}; "
                     "restore it by hand (backup/restore)", record=copy, created=origin,
                     region=region)
    if _holds(latest, copy, region):
        return _item(subject, A.UNCHANGED, f"already restored from {what}", record=copy,
                     created=origin, region=region)
    if not copy.props.enabled:
        return _item(subject, A.CANNOT, f"{where}; {what} is disabled: its value cannot be "
                     "read", record=copy, created=origin, region=region)
    if reads.exportable.get((region, key)) is False:
        return _item(subject, A.CANNOT, f"{where}; the certificate in {region} is not "
                     "exportable", record=copy, created=origin, region=region)
    return _item(subject, A.FROM_SECONDARY, f"{where}: restore {what}", record=copy,
                 created=origin, region=region)


# --- reading and planning -------------------------------------------------------------------


def build_plan(primary: VaultSession, others: Mapping[str, VaultSession], *, as_of: datetime,
               scope: RestoreScope, epoch: int, disable_new: bool = False,
               missing_since: Mapping[str, datetime] | None = None,
               unreached: Mapping[str, str] | None = None) -> RestorePlan:
    """Read (value-free) and plan. The primary's inventory must be read (its error is
    raised); every other failed read is named in the plan, which is then incomplete.
    ``missing_since``: item key -> when a full sync first saw it missing from the primary
    (kept in the state store), which tells a purge after TIME from one before it.
    ``unreached``: secondaries that did not answer (region -> code): their copies are unknown,
    so an item missing from the primary is not called new."""
    kinds = tuple(scope.kinds)
    inventory = primary.inventory(kinds, include_deleted=False)
    deleted, unread = read_deleted(primary, kinds)
    complete = inventory.complete
    if not complete:
        unread[(primary.region, "*")] = "the inventory stopped part-way"
    for region, code in (unreached or {}).items():
        unread[(region, "*")] = f"[{code}] the vault did not answer"
    others_inv: dict[str, Inventory] = {}
    for region, session in sorted(others.items()):
        try:
            others_inv[region] = session.inventory(kinds, include_deleted=False)
        except Exception as exc:  # any failure: this region's copies are unknown
            code = getattr(exc, "code", type(exc).__name__)
            log.warning("restore plan: inventory of %s not read: [%s]", region, code)
            unread[(region, "*")] = f"[{code}] the inventory was not read"
            continue
        if not others_inv[region].complete:
            unread[(region, "*")] = "the inventory stopped part-way"
    found = read_histories(primary, history_wanted(inventory.items, scope, as_of))
    reads = RestoreReads(primary=primary.region, items=inventory.items, deleted=deleted,
                         histories=found.histories, others=others_inv,
                         exportable=dict(found.exportable), unread={**unread, **found.unread})
    copies: dict[tuple[str, str], tuple[VersionRecord, ...]] = {}
    exportable = dict(reads.exportable)
    more_unread = dict(reads.unread)
    for region, wanted in copies_wanted(reads, scope, as_of).items():
        there = read_histories(others[region], wanted)
        copies.update({(region, k): v for k, v in there.histories.items()})
        exportable.update(there.exportable)
        more_unread.update(there.unread)
    reads = RestoreReads(primary=reads.primary, items=reads.items, deleted=reads.deleted,
                         histories=reads.histories, others=reads.others, copies=copies,
                         exportable=exportable, unread=more_unread,
                         complete=complete and not more_unread,
                         missing_since=dict(missing_since or {}))
    plan = plan_restore(reads, as_of=as_of, scope=scope, epoch=epoch, disable_new=disable_new)
    log.info("restore plan for %s as of %s: %s%s", primary.region, format_time(as_of),
             plan.counts(), "" if plan.complete else " (incomplete)")
    return plan
