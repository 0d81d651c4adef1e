"""Rotation markers: which expiry of an item has been announced, kept where the next primary
will see it.

After a message is enqueued, kvdr writes a marker: one reserved secret per item,
``kvdr-rotation-{s|c|k}-<hash of the name>`` (:mod:`kvdr.vault.reserved`, the renewal ledger's
shape), whose **tags** say what was announced — to the primary, and best effort to every other
vault it can reach (the scan repairs the copies a dead vault missed). Before publishing, kvdr
checks the primary's marker, from a list call or the marker's version list (never a value read):
a marker for the same expiry means this expiry was announced, by this primary or an earlier one.

| tag | value |
| --- | --- |
| ``kvdr-record`` | ``rotation`` |
| ``kvdr-kind`` | ``secret``, ``certificate`` or ``key`` |
| ``kvdr-name`` | the item's name |
| ``kvdr-expires`` | the announced expiry (ISO 8601, UTC, whole seconds) |
| ``kvdr-message`` | the message id (:func:`kvdr.rotation.message.message_id`) |
| ``kvdr-epoch`` | the topology epoch it was announced at (diagnostics) |

A marker holds the latest announced expiry only: a new version with a new expiry is announced
when it comes due, and its marker replaces the old one (a new version of the marker secret).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from kvdr.rotation.message import expiry_seconds, message_id
from kvdr.vault.inventory import ItemKind, format_time, parse_time
from kvdr.vault.reserved import list_records, record_name, record_tags, write_record
from kvdr.vault.session import VaultSession

MARKER_PREFIX = "kvdr-rotation-"
RECORD_TAG = ("kvdr-record", "rotation")

MarkerKey = tuple[ItemKind, str]


def marker_name(kind: ItemKind | str, name: str) -> str:
    return record_name(MARKER_PREFIX, kind, name)


@dataclass(frozen=True)
class Marker:
    kind: ItemKind
    name: str
    expires: datetime
    epoch: int = 0

    @property
    def key(self) -> MarkerKey:
        return (ItemKind(self.kind), self.name.lower())

    @property
    def secret_name(self) -> str:
        return marker_name(self.kind, self.name)

    @property
    def message_id(self) -> str:
        return message_id(self.kind, self.name, self.expires)

    def announces(self, expires: datetime | None) -> bool:
        """Whether this marker says ``expires`` was announced (to the second)."""
        return expires is not None and expiry_seconds(expires) == expiry_seconds(self.expires)

    def tags(self) -> dict[str, str]:
        return {RECORD_TAG[0]: RECORD_TAG[1], "kvdr-kind": str(self.kind),
                "kvdr-name": self.name, "kvdr-expires": format_time(
                    self.expires.replace(microsecond=0)) or "",
                "kvdr-message": self.message_id, "kvdr-epoch": str(self.epoch)}

    @classmethod
    def from_tags(cls, tags: Mapping[str, str] | None) -> Marker | None:
        """The marker these tags hold; None when they are not a (valid) marker."""
        tags = tags or {}
        if tags.get(RECORD_TAG[0]) != RECORD_TAG[1]:
            return None
        try:
            expires = parse_time(tags["kvdr-expires"])
            if expires is None:
                return None
            return cls(ItemKind(tags["kvdr-kind"]), tags["kvdr-name"], expires,
                       int(tags.get("kvdr-epoch") or 0))
        except (KeyError, ValueError):
            return None


def read_markers(session: VaultSession) -> dict[MarkerKey, Marker]:
    """Every valid marker of this vault (one paged list of its secrets)."""
    found: dict[MarkerKey, Marker] = {}
    for props in list_records(session, MARKER_PREFIX, "list the rotation markers"):
        marker = Marker.from_tags(props.tags)
        if marker is not None and marker.secret_name == (props.name or "").lower():
            found[marker.key] = marker
    return found


def markers_in(listed: Mapping[str, Mapping[str, str]]) -> dict[MarkerKey, Marker]:
    """The valid markers among already listed secrets (``{name: tags}``): the scan lists the
    primary's secrets once, for its items and its markers alike."""
    found: dict[MarkerKey, Marker] = {}
    for name, tags in listed.items():
        marker = Marker.from_tags(tags)
        if marker is not None and marker.secret_name == name.lower():
            found[marker.key] = marker
    return found


def read_marker(session: VaultSession, kind: ItemKind, name: str) -> Marker | None:
    """One item's marker, from its version list (no value read); None when there is none."""
    tags = record_tags(session, marker_name(kind, name),
                       f"list versions of the rotation marker of {kind} '{name}'")
    marker = Marker.from_tags(tags)
    return marker if marker is not None and marker.key == (ItemKind(kind), name.lower()) \
        else None


def write_marker(session: VaultSession, marker: Marker) -> None:
    write_record(session, marker.secret_name, marker.tags(),
                 f"write the rotation marker of {marker.kind} '{marker.name}'")
