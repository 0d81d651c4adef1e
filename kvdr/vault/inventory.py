"""Value-free descriptions of vault items, as the list APIs return them.

Batches of these cross activity boundaries, so the JSON form is small: fields at their default
are left out. Names are matched case-insensitively (vault object names are), via ``key``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from kvdr.vault.links import LinkState, LinkTag, has_room_for_link, split_tags


class ItemKind(StrEnum):
    SECRET = "secret"
    CERTIFICATE = "certificate"
    KEY = "key"


KIND_ORDER: dict[ItemKind, int] = {kind: i for i, kind in enumerate(ItemKind)}


def item_key(kind: ItemKind | str, name: str) -> str:
    """The identity of an item across vaults: ``"secret/db-password"`` (lower case)."""
    return f"{ItemKind(kind)}/{name.lower()}"


def sort_key(kind: ItemKind | str, name: str) -> tuple[int, str, str]:
    return (KIND_ORDER[ItemKind(kind)], name.lower(), name)


def to_utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def format_time(value: datetime | None) -> str | None:
    value = to_utc(value)
    return value.isoformat().replace("+00:00", "Z") if value else None


def parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    return to_utc(datetime.fromisoformat(value.replace("Z", "+00:00")))


@dataclass(frozen=True)
class ItemProps:
    """The latest version of one item. ``tags`` are the user's tags (the link tag is parsed
    into ``link``). ``managed`` marks a certificate's backing secret/key; ``exportable`` and
    ``thumbprint`` apply to certificates (None: unknown); ``key_type`` to keys."""

    kind: ItemKind
    name: str
    version: str | None = None
    enabled: bool = True
    content_type: str | None = None
    not_before: datetime | None = None
    expires: datetime | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    managed: bool = False
    exportable: bool | None = None
    key_type: str | None = None
    thumbprint: str | None = None
    updated_on: datetime | None = None
    link: LinkTag | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", ItemKind(self.kind))
        object.__setattr__(self, "tags", dict(sorted(dict(self.tags).items())))
        for name in ("not_before", "expires", "updated_on"):
            object.__setattr__(self, name, to_utc(getattr(self, name)))

    @classmethod
    def from_service(cls, kind: ItemKind | str, name: str, *,
                     tags: Mapping[str, str] | None = None, **attrs: Any) -> ItemProps:
        """Build from what a list call returns: ``tags`` as the service holds them (the link
        tag, if any, is split out)."""
        user_tags, link = split_tags(tags)
        return cls(kind=ItemKind(kind), name=name, tags=user_tags, link=link, **attrs)

    @property
    def key(self) -> str:
        return item_key(self.kind, self.name)

    @property
    def link_state(self) -> LinkState:
        return LinkState.NONE if self.link is None else self.link.state_for(self.version)

    @property
    def has_room_for_link(self) -> bool:
        return has_room_for_link(self.tags)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"kind": str(self.kind), "name": self.name}
        if self.version is not None:
            data["version"] = self.version
        if not self.enabled:
            data["enabled"] = False
        for name in ("content_type", "key_type", "thumbprint"):
            if getattr(self, name) is not None:
                data[name] = getattr(self, name)
        for name in ("not_before", "expires", "updated_on"):
            if getattr(self, name) is not None:
                data[name] = format_time(getattr(self, name))
        if self.tags:
            data["tags"] = dict(self.tags)
        if self.managed:
            data["managed"] = True
        if self.exportable is not None:
            data["exportable"] = self.exportable
        if self.link is not None:
            data["link"] = self.link.format()
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ItemProps:
        return cls(
            kind=ItemKind(data["kind"]),
            name=data["name"],
            version=data.get("version"),
            enabled=data.get("enabled", True),
            content_type=data.get("content_type"),
            not_before=parse_time(data.get("not_before")),
            expires=parse_time(data.get("expires")),
            tags=data.get("tags") or {},
            managed=data.get("managed", False),
            exportable=data.get("exportable"),
            key_type=data.get("key_type"),
            thumbprint=data.get("thumbprint"),
            updated_on=parse_time(data.get("updated_on")),
            link=LinkTag.parse(data["link"]) if data.get("link") else None,
        )


@dataclass(frozen=True)
class Inventory:
    """What one vault holds: latest version per item, plus the names held soft-deleted
    (``deleted``: item keys). ``complete`` is False when any list call failed part-way; a
    planner never derives deletions from an incomplete source inventory."""

    region: str
    items: tuple[ItemProps, ...] = ()
    deleted: frozenset[str] = frozenset()
    complete: bool = True

    def __post_init__(self) -> None:
        items = tuple(sorted(self.items, key=lambda p: sort_key(p.kind, p.name)))
        keys = [p.key for p in items]
        if len(keys) != len(set(keys)):
            dupes = sorted({k for k in keys if keys.count(k) > 1})
            raise ValueError(f"inventory of {self.region} lists {', '.join(dupes)} twice")
        object.__setattr__(self, "items", items)
        object.__setattr__(self, "deleted", frozenset(k.lower() for k in self.deleted))

    def by_key(self) -> dict[str, ItemProps]:
        return {p.key: p for p in self.items}

    def of_kind(self, kind: ItemKind | str) -> tuple[ItemProps, ...]:
        return tuple(p for p in self.items if p.kind == ItemKind(kind))

    def get(self, kind: ItemKind | str, name: str) -> ItemProps | None:
        key = item_key(kind, name)
        return next((p for p in self.items if p.key == key), None)

    def merge(self, other: Inventory) -> Inventory:
        """Combine partial inventories of the same vault (e.g. one per kind or page run)."""
        if other.region != self.region:
            raise ValueError(f"cannot merge inventories of {self.region} and {other.region}")
        return Inventory(self.region, (*self.items, *other.items), self.deleted | other.deleted,
                         self.complete and other.complete)

    def counts(self) -> dict[str, int]:
        counts = {str(kind): 0 for kind in ItemKind}
        for p in self.items:
            counts[str(p.kind)] += 1
        return counts

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"region": self.region,
                                "items": [p.to_dict() for p in self.items]}
        if self.deleted:
            data["deleted"] = sorted(self.deleted)
        if not self.complete:
            data["complete"] = False
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Inventory:
        return cls(region=data["region"],
                   items=tuple(ItemProps.from_dict(p) for p in data.get("items", ())),
                   deleted=frozenset(data.get("deleted", ())),
                   complete=data.get("complete", True))

    @classmethod
    def of(cls, region: str, items: Iterable[ItemProps] = (), **kwargs: Any) -> Inventory:
        return cls(region=region, items=tuple(items), **kwargs)
