"""The event path's data: Key Vault item events (schema-neutral), what one delivery held, and the
outcome of handling one event. Pure values: parsing is :mod:`kvdr.events.parse`, handling
:mod:`kvdr.events.handler`, counting :mod:`kvdr.events.stats` (all three import this, never the
other way round)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from kvdr.vault.inventory import ItemKind, format_time, parse_time

EVENT_TYPE_PREFIX = "Microsoft.KeyVault."
VALIDATION_EVENT_TYPE = "Microsoft.EventGrid.SubscriptionValidationEvent"


class EventChange(StrEnum):
    NEW_VERSION = "NewVersionCreated"
    NEAR_EXPIRY = "NearExpiry"
    EXPIRED = "Expired"


class EventStatus(StrEnum):
    REPLICATED = "replicated"
    IGNORED = "ignored"
    FAILED = "failed"


class IgnoreReason(StrEnum):
    """Why an event wrote nothing (stable; ``events/stats.json`` counts by these)."""

    UNSUPPORTED = "unsupported-type"
    UNKNOWN_VAULT = "unknown-vault"
    NEAR_EXPIRY = "near-expiry"
    EXPIRED = "expired"
    RESERVED = "reserved"
    NON_PRIMARY = "non-primary"
    DELETED = "deleted"
    BACKING_OBJECT = "backing-object"
    STALE = "stale"
    SELF_WRITTEN = "self-written"
    DUPLICATE = "duplicate"
    NOT_COPIED = "not-copied"
    MALFORMED = "malformed"
    ROTATION_DUE = "rotation-due"  # an expiry event of the primary: one message published
    ANNOUNCED = "announced"        # an expiry event for an expiry announced already


_TYPE_KIND = {"Secret": ItemKind.SECRET, "Key": ItemKind.KEY, "Certificate": ItemKind.CERTIFICATE}


def event_type_name(kind: ItemKind | str, change: EventChange | str) -> str:
    """``(secret, NewVersionCreated)`` -> ``Microsoft.KeyVault.SecretNewVersionCreated``."""
    return f"{EVENT_TYPE_PREFIX}{str(ItemKind(kind)).capitalize()}{EventChange(change)}"


def split_event_type(event_type: str) -> tuple[ItemKind, EventChange] | None:
    """The kind and change of a Key Vault item event type; None for any other type."""
    if not isinstance(event_type, str) or not event_type.startswith(EVENT_TYPE_PREFIX):
        return None
    rest = event_type[len(EVENT_TYPE_PREFIX):]
    for prefix, kind in _TYPE_KIND.items():
        if rest.startswith(prefix):
            try:
                return kind, EventChange(rest[len(prefix):])
            except ValueError:
                return None
    return None


@dataclass(frozen=True)
class VaultEvent:
    """One Key Vault item event, schema-neutral. ``object_id`` is the data's ``Id`` (the
    version's URL); ``not_before``/``expires`` are the data's NBF/EXP (Unix seconds)."""

    id: str
    kind: ItemKind
    change: EventChange
    vault_name: str
    name: str
    version: str
    topic: str = ""
    subject: str = ""
    event_time: datetime | None = None
    object_id: str | None = None
    not_before: int | None = None
    expires: int | None = None

    @property
    def event_type(self) -> str:
        return event_type_name(self.kind, self.change)

    def describe(self) -> str:
        return f"{self.event_type} {self.vault_name}/{self.kind}/{self.name}/{self.version}"

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"id": self.id, "kind": str(self.kind),
                                "change": str(self.change), "vault_name": self.vault_name,
                                "name": self.name, "version": self.version}
        for key in ("topic", "subject", "object_id", "not_before", "expires"):
            if getattr(self, key):
                data[key] = getattr(self, key)
        if self.event_time is not None:
            data["event_time"] = format_time(self.event_time)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> VaultEvent:
        return cls(id=data["id"], kind=ItemKind(data["kind"]), change=EventChange(data["change"]),
                   vault_name=data["vault_name"], name=data["name"], version=data["version"],
                   topic=data.get("topic", ""), subject=data.get("subject", ""),
                   event_time=parse_time(data.get("event_time")),
                   object_id=data.get("object_id"), not_before=data.get("not_before"),
                   expires=data.get("expires"))


@dataclass(frozen=True)
class OtherEvent:
    """An event kvdr does not act on (another type, e.g. ``VaultAccessPolicyChanged``)."""

    id: str
    event_type: str
    reason: IgnoreReason = IgnoreReason.UNSUPPORTED


@dataclass(frozen=True)
class Delivery:
    """What one webhook POST / queue message held. ``validation_code`` is set for the
    subscription validation handshake (answer ``{"validationResponse": code}``)."""

    events: tuple[VaultEvent, ...] = ()
    others: tuple[OtherEvent, ...] = ()
    validation_code: str | None = None



@dataclass(frozen=True)
class EventOutcome:
    """What handling one event did. ``targets`` maps a target region to what happened there
    (a plan action, or ``failed``). Never carries a value."""

    event_id: str
    event_type: str
    status: EventStatus
    reason: IgnoreReason | None = None
    vault: str = ""
    region: str | None = None
    name: str = ""
    version: str = ""
    targets: Mapping[str, str] = field(default_factory=dict)
    error: Mapping[str, str] | None = None
    event_time: datetime | None = None
    processed_at: datetime | None = None
    seconds: float = 0.0  # handler time (what kvdr added)

    @property
    def wrote(self) -> bool:
        return self.status == EventStatus.REPLICATED

    @property
    def lag_seconds(self) -> float | None:
        if self.event_time is None or self.processed_at is None:
            return None
        return max(0.0, (self.processed_at - self.event_time).total_seconds())

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"event_id": self.event_id, "event_type": self.event_type,
                                "status": str(self.status), "vault": self.vault,
                                "name": self.name, "version": self.version,
                                "seconds": round(self.seconds, 6)}
        if self.reason is not None:
            data["reason"] = str(self.reason)
        if self.region is not None:
            data["region"] = self.region
        if self.targets:
            data["targets"] = dict(self.targets)
        if self.error is not None:
            data["error"] = dict(self.error)
        if self.event_time is not None:
            data["event_time"] = format_time(self.event_time)
        if self.processed_at is not None:
            data["processed_at"] = format_time(self.processed_at)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EventOutcome:
        return cls(event_id=data["event_id"], event_type=data["event_type"],
                   status=EventStatus(data["status"]),
                   reason=IgnoreReason(data["reason"]) if data.get("reason") else None,
                   vault=data.get("vault", ""), region=data.get("region"),
                   name=data.get("name", ""), version=data.get("version", ""),
                   targets=dict(data.get("targets", {})), error=data.get("error"),
                   event_time=parse_time(data.get("event_time")),
                   processed_at=parse_time(data.get("processed_at")),
                   seconds=data.get("seconds", 0.0))
