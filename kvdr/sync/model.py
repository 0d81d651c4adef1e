"""What a sync plan is made of: modes, actions, reasons, plan items and the plan, and the two
link rules the planner and the history checks share. Pure values (no I/O); the planner is
:mod:`kvdr.sync.plan`, the version-history checks :mod:`kvdr.sync.history`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from kvdr.vault.inventory import ItemKind, ItemProps, format_time, parse_time
from kvdr.vault.links import LinkState, LinkTag


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


def content_origin(p: ItemProps, region: str) -> tuple[str, str]:
    """Where this version's content first came from: its confirmed link, or itself."""
    if p.link is not None and p.link_state == LinkState.CONFIRMED:
        return p.link.origin
    return (region, (p.version or "").lower())


def copy_link(s: ItemProps, source_region: str, epoch: int) -> LinkTag | None:
    """The (pending) link a copy of ``s`` carries: where its content first came from and
    ``epoch``. None when there is no room for it."""
    if not s.has_room_for_link or not s.version:
        return None
    if s.link is not None and s.link_state == LinkState.CONFIRMED:
        return LinkTag(s.link.origin_region, s.link.origin_version, epoch)
    return LinkTag(source_region, s.version, epoch)
