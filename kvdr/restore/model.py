"""What a restore plan is made of: the scope, the actions, one planned item and the plan.

Pure values (no I/O, no secret value). A plan of thousands of items is stored in batches by the
runbook, so an item's JSON form leaves out every field at its default. Times are aware UTC
datetimes, compared with the service's created/updated/deleted times (whole seconds).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from fnmatch import fnmatchcase
from typing import Any

from kvdr.vault.inventory import ItemKind, format_time, parse_time, sort_key
from kvdr.vault.links import is_reserved_name


@dataclass(frozen=True)
class RestoreScope:
    """Which items a restore looks at: ``kinds``, and ``names`` as fnmatch globs matched
    case-insensitively (empty: every name). Reserved ``kvdr-*`` names and certificates'
    managed backing secrets and keys are never in scope (callers check ``managed``). Keys are
    in scope only to be reported: a key cannot go back."""

    kinds: tuple[ItemKind, ...] = tuple(ItemKind)
    names: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "kinds", tuple(ItemKind(k) for k in self.kinds))
        object.__setattr__(self, "names", tuple(self.names))

    def matches(self, kind: ItemKind | str, name: str) -> bool:
        if ItemKind(kind) not in self.kinds or is_reserved_name(name):
            return False
        lowered = name.lower()
        return not self.names or any(fnmatchcase(lowered, g.lower()) for g in self.names)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"kinds": [str(k) for k in self.kinds]}
        if self.names:
            data["names"] = list(self.names)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RestoreScope:
        kinds = data.get("kinds")
        return cls(kinds=tuple(ItemKind(k) for k in kinds) if kinds else tuple(ItemKind),
                   names=tuple(data.get("names") or ()))


class RestoreAction(StrEnum):
    ROLL_BACK = "roll_back"            # a new version with the version current at TIME
    RECOVER = "recover"                # soft-deleted after TIME: recover it
    RECOVER_AND_ROLL_BACK = "recover_and_roll_back"  # ... and its latest is after TIME
    FROM_SECONDARY = "from_secondary"  # gone from the primary: a secondary's proven copy
    REPORT_NEW = "report_new"          # created after TIME: reported, never deleted
    DISABLE_NEW = "disable_new"        # created after TIME: disabled (asked for), never deleted
    UNCHANGED = "unchanged"
    CANNOT = "cannot"                  # reported with the reason


WRITING: frozenset[RestoreAction] = frozenset({
    RestoreAction.ROLL_BACK, RestoreAction.RECOVER, RestoreAction.RECOVER_AND_ROLL_BACK,
    RestoreAction.FROM_SECONDARY, RestoreAction.DISABLE_NEW})
NEW: frozenset[RestoreAction] = frozenset({RestoreAction.REPORT_NEW, RestoreAction.DISABLE_NEW})


@dataclass(frozen=True)
class RestoreItem:
    """One planned item. ``version``: the service version id to restore (the primary's, or the
    secondary's copy in ``source_region``; None when it is only known after a recovery);
    ``created``: when the content restored was first created (for a copy: its origin version's
    creation time); ``reason``: a sentence for the report (never a value); ``until``: for
    ``recover_and_roll_back``, the moment whose current version is restored once the recovery
    shows the item's versions (None otherwise)."""

    kind: ItemKind
    name: str
    action: RestoreAction
    version: str | None = None
    created: datetime | None = None
    source_region: str | None = None
    reason: str = ""
    until: datetime | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", ItemKind(self.kind))
        object.__setattr__(self, "action", RestoreAction(self.action))

    @property
    def writes(self) -> bool:
        return self.action in WRITING

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"kind": str(self.kind), "name": self.name,
                                "action": str(self.action)}
        if self.version:
            data["version"] = self.version
        if self.created is not None:
            data["created"] = format_time(self.created)
        if self.source_region:
            data["source_region"] = self.source_region
        if self.reason:
            data["reason"] = self.reason
        if self.until is not None:
            data["until"] = format_time(self.until)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RestoreItem:
        return cls(kind=ItemKind(data["kind"]), name=data["name"],
                   action=RestoreAction(data["action"]), version=data.get("version"),
                   created=parse_time(data.get("created")),
                   source_region=data.get("source_region"), reason=data.get("reason", ""),
                   until=parse_time(data.get("until")))


@dataclass(frozen=True)
class RestorePlan:
    """Every item in scope that changed since ``as_of``, in kind/name order; items a restore
    already put back are listed as ``unchanged``. Items untouched since ``as_of`` are only
    counted (``untouched``: kind -> n), so a plan's size follows the damage, not the vault.
    ``complete`` is False when a read failed: the plan names the items it could not read, and
    items it never saw (a listing that stopped) are missing from it."""

    as_of: datetime
    primary: str
    epoch: int
    scope: RestoreScope = field(default_factory=RestoreScope)
    items: tuple[RestoreItem, ...] = ()
    complete: bool = True
    untouched: Mapping[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "items", tuple(sorted(
            self.items, key=lambda i: sort_key(i.kind, i.name))))
        object.__setattr__(self, "untouched", {str(ItemKind(k)): int(n)
                                               for k, n in self.untouched.items() if n})

    @property
    def executable(self) -> tuple[RestoreItem, ...]:
        """The items that write (a ``report_new`` item writes only when the run disables new
        items: pass ``disable_new`` to :func:`kvdr.restore.execute.restore_item`)."""
        return tuple(i for i in self.items if i.writes)

    def executable_with(self, disable_new: bool) -> tuple[RestoreItem, ...]:
        """:attr:`executable`, plus the ``report_new`` items when new items are disabled."""
        return tuple(i for i in self.items if i.writes or (
            disable_new and i.action == RestoreAction.REPORT_NEW
            and i.kind != ItemKind.KEY))

    def counts(self) -> dict[str, dict[str, int]]:
        """``{action: {kind: n}}`` for the actions present; ``unchanged`` includes the
        untouched items."""
        out: dict[str, dict[str, int]] = {}
        if self.untouched:
            out[str(RestoreAction.UNCHANGED)] = dict(self.untouched)
        for item in self.items:
            by_kind = out.setdefault(str(item.action), {})
            by_kind[str(item.kind)] = by_kind.get(str(item.kind), 0) + 1
        return out

    def of_action(self, *actions: RestoreAction) -> tuple[RestoreItem, ...]:
        return tuple(i for i in self.items if i.action in actions)

    def to_dict(self, *, with_items: bool = True) -> dict[str, Any]:
        data: dict[str, Any] = {"as_of": format_time(self.as_of), "primary": self.primary,
                                "epoch": self.epoch, "scope": self.scope.to_dict(),
                                "complete": self.complete, "counts": self.counts()}
        if self.untouched:
            data["untouched"] = dict(self.untouched)
        if with_items:
            data["items"] = [i.to_dict() for i in self.items]
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any],
                  items: Iterable[Mapping[str, Any]] | None = None) -> RestorePlan:
        """``items``: the items when they were stored apart from the plan (in batches)."""
        as_of = parse_time(data["as_of"])
        assert as_of is not None
        raw = items if items is not None else data.get("items", ())
        return cls(as_of=as_of, primary=data["primary"], epoch=int(data.get("epoch", 0)),
                   scope=RestoreScope.from_dict(data.get("scope") or {}),
                   items=tuple(RestoreItem.from_dict(i) for i in raw),
                   complete=data.get("complete", True),
                   untouched=data.get("untouched") or {})
