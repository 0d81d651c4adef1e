"""The "rotation due" message: what a rotation job reads from the queue.

One message per item per expiry. Its ``id`` is derived from what it announces — the item's kind,
its name (lower case: vault names are case-insensitive) and the expiry in Unix seconds — so every
publication of the same expiry, from any region, before or after a failover, carries the same id,
and a consumer dedupes by it. It names the item, never its value: kind, name, version, expiry,
the region (and vault URL) of the primary that holds it, the topology epoch, and why it is due.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from kvdr.vault.inventory import ItemKind, format_time, parse_time, to_utc

MESSAGE_TYPE = "kvdr.rotation.due"
SCHEMA_VERSION = 1


class DueReason(StrEnum):
    NEAR_EXPIRY = "near-expiry"  # expires within 30 days (Key Vault's NearExpiry offset)
    EXPIRED = "expired"          # already expired when announced


class Source(StrEnum):
    EVENT = "event"  # a NearExpiry/Expired event from the primary's vault
    SCAN = "scan"    # the scan at the end of a full sync (an event missed or lost)


def expiry_seconds(expires: datetime) -> int:
    """The expiry as whole Unix seconds: what Event Grid's ``EXP`` carries, and what the id and
    the markers compare (list calls and events agree to the second)."""
    return int(to_utc(expires).timestamp())  # type: ignore[union-attr]


def message_id(kind: ItemKind | str, name: str, expires: datetime) -> str:
    """``sha256("<kind>/<lower-case name>@<expiry unix seconds>")``, first 32 hex digits."""
    text = f"{ItemKind(kind)}/{name.lower()}@{expiry_seconds(expires)}"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


@dataclass(frozen=True)
class RotationMessage:
    """One announcement. ``version`` is the service's version id of the item's latest version
    (the one that expires), None when kvdr could not learn it."""

    kind: ItemKind
    name: str
    version: str | None
    expires: datetime
    region: str
    vault_url: str
    epoch: int
    reason: DueReason
    published_at: datetime
    source: Source = Source.SCAN

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", ItemKind(self.kind))
        object.__setattr__(self, "reason", DueReason(self.reason))
        object.__setattr__(self, "source", Source(self.source))
        # whole seconds: the expiry Key Vault keeps, and the one the id is made of
        object.__setattr__(self, "expires", to_utc(self.expires).replace(microsecond=0))
        object.__setattr__(self, "published_at", to_utc(self.published_at))

    @property
    def id(self) -> str:
        return message_id(self.kind, self.name, self.expires)

    def to_dict(self) -> dict[str, Any]:
        return {"type": MESSAGE_TYPE, "schema": SCHEMA_VERSION, "id": self.id,
                "kind": str(self.kind), "name": self.name, "version": self.version,
                "expires": format_time(self.expires), "region": self.region,
                "vault_url": self.vault_url, "epoch": self.epoch, "reason": str(self.reason),
                "source": str(self.source), "published_at": format_time(self.published_at)}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), separators=(",", ":"))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RotationMessage:
        """A message as read back from the queue; raises ValueError when it is not one, or when
        its id does not match what it announces."""
        if data.get("type") != MESSAGE_TYPE:
            raise ValueError(f"not a {MESSAGE_TYPE} message")
        try:
            message = cls(kind=ItemKind(data["kind"]), name=data["name"],
                          version=data.get("version"),
                          expires=parse_time(data["expires"]),  # type: ignore[arg-type]
                          region=data["region"], vault_url=data["vault_url"],
                          epoch=int(data["epoch"]), reason=DueReason(data["reason"]),
                          published_at=parse_time(data["published_at"]),  # type: ignore[arg-type]
                          source=Source(data.get("source", Source.SCAN)))
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"malformed {MESSAGE_TYPE} message ({exc!r})") from None
        if data.get("id") != message.id:
            raise ValueError("the message's id does not match the item and expiry it names")
        return message

    @classmethod
    def from_json(cls, text: str | bytes) -> RotationMessage:
        try:
            data = json.loads(text)
        except (TypeError, ValueError):
            raise ValueError("not JSON") from None
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        return cls.from_dict(data)
