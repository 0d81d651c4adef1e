"""Parsing deliveries: Event Grid schema (an array, or one event) and CloudEvents 1.0, plain JSON
or base64 of JSON (a storage queue message), the subscription validation handshake, and which
configured region an event came from. Anything kvdr cannot read raises :class:`EventError`."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from kvdr.config.schema import Config, Region
from kvdr.errors import KvdrError
from kvdr.events.model import (
    VALIDATION_EVENT_TYPE,
    Delivery,
    OtherEvent,
    VaultEvent,
    split_event_type,
)
from kvdr.vault.inventory import ItemKind, parse_time


class EventError(KvdrError):
    """A delivery that is not a Key Vault event kvdr can read (code ``event.malformed``)."""

    default_code = "event.malformed"


_KINDS = {"secret": ItemKind.SECRET, "key": ItemKind.KEY, "certificate": ItemKind.CERTIFICATE}


def decode_body(body: bytes | str) -> Any:
    """A delivery body as JSON. Accepts plain JSON and base64 of JSON (a storage queue message
    written by Event Grid, when the Functions host has not decoded it)."""
    if isinstance(body, bytes):
        try:
            body = body.decode("utf-8")
        except UnicodeDecodeError:
            raise EventError("the delivery is not UTF-8 text; expected an Event Grid event "
                             "(JSON, or base64 of JSON)") from None
    text = body.strip().lstrip("\ufeff")
    if not text:
        raise EventError("the delivery is empty; expected an Event Grid event (JSON)")
    try:
        return _loads(text)
    except json.JSONDecodeError:
        pass
    try:
        return _loads(base64.b64decode(text, validate=True).decode("utf-8"))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise EventError("the delivery is neither JSON nor base64 of JSON; expected an Event "
                         "Grid event (Event Grid schema or CloudEvents 1.0)") from None


def _loads(text: str) -> Any:
    try:
        return json.loads(text)
    except RecursionError:  # json recurses per nesting level: "[[[[…" must not become a 500
        raise EventError("the delivery's JSON is nested too deeply to be an Event Grid "
                         "event") from None


def parse_delivery(payload: bytes | str | list[Any] | Mapping[str, Any]) -> Delivery:
    """Parse a webhook body or queue message: an Event Grid schema array (or one event), or a
    CloudEvents 1.0 event (or batch). Raises :class:`EventError` for anything else."""
    if isinstance(payload, bytes | str):
        payload = decode_body(payload)
    items = payload if isinstance(payload, list) else [payload]
    if not items:
        raise EventError("the delivery holds no events (an empty array)")
    events: list[VaultEvent] = []
    others: list[OtherEvent] = []
    for raw in items:
        if not isinstance(raw, Mapping):
            raise EventError(f"expected an event object, got {type(raw).__name__}")
        if _type_of(raw) == VALIDATION_EVENT_TYPE:
            data = raw.get("data")
            code = data.get("validationCode") if isinstance(data, Mapping) else None
            if not isinstance(code, str) or not code:
                raise EventError("subscription validation event without data.validationCode")
            return Delivery(validation_code=code)
        parsed = parse_event(raw)
        (events if isinstance(parsed, VaultEvent) else others).append(parsed)
    return Delivery(tuple(events), tuple(others))


def _type_of(raw: Mapping[str, Any]) -> Any:
    return raw.get("type") if "specversion" in raw else raw.get("eventType")


def parse_event(raw: Mapping[str, Any]) -> VaultEvent | OtherEvent:
    """One event in the Event Grid schema or CloudEvents 1.0. Key Vault item events become a
    :class:`VaultEvent`; other well-formed events an :class:`OtherEvent`; anything malformed
    raises :class:`EventError` naming the field."""
    if not isinstance(raw, Mapping):
        raise EventError(f"expected an event object, got {type(raw).__name__}")
    cloud = "specversion" in raw
    if cloud and str(raw.get("specversion")) != "1.0":
        raise EventError(f"CloudEvents specversion {raw.get('specversion')!r} is not supported "
                         "(expected 1.0)")
    type_field, time_field, topic_field = (("type", "time", "source") if cloud
                                           else ("eventType", "eventTime", "topic"))
    event_id = raw.get("id")
    event_type = raw.get(type_field)
    if not isinstance(event_id, str) or not event_id:
        raise EventError(f"event without an id (field 'id'); got keys {sorted(raw)}")
    if not isinstance(event_type, str) or not event_type:
        raise EventError(f"event {event_id}: no event type (field {type_field!r})")
    split = split_event_type(event_type)
    if split is None:
        return OtherEvent(event_id, event_type)
    kind, change = split
    data = raw.get("data")
    if isinstance(data, str):  # some transports double-encode data
        try:
            data = json.loads(data)
        except json.JSONDecodeError:
            data = None
    if not isinstance(data, Mapping):
        raise EventError(f"event {event_id} ({event_type}): 'data' must be an object with "
                         "VaultName, ObjectType, ObjectName and Version")
    data = {str(k).lower(): v for k, v in data.items()}  # Key Vault's casing is not stable
    name = data.get("objectname") or raw.get("subject")
    version = data.get("version")
    vault_name = data.get("vaultname") or _vault_from_resource_id(raw.get(topic_field))
    for what, value in (("ObjectName", name), ("Version", version), ("VaultName", vault_name)):
        if not isinstance(value, str) or not value:
            raise EventError(f"event {event_id} ({event_type}): data.{what} is missing")
    object_type = data.get("objecttype")
    if isinstance(object_type, str) and _KINDS.get(object_type.lower()) not in (None, kind):
        raise EventError(f"event {event_id}: ObjectType {object_type!r} contradicts "
                         f"event type {event_type}")
    return VaultEvent(
        id=event_id, kind=kind, change=change, vault_name=vault_name, name=name,
        version=version, topic=str(raw.get(topic_field) or ""),
        subject=str(raw.get("subject") or ""), event_time=_time(raw.get(time_field), event_id),
        object_id=data.get("id") if isinstance(data.get("id"), str) else None,
        not_before=_epoch(data.get("nbf")), expires=_epoch(data.get("exp")))


def _time(value: Any, event_id: str) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    try:
        text = str(value)
        # Event Grid writes 7 fractional digits; fromisoformat takes at most 6
        head, dot, frac = text.partition(".")
        if dot:
            digits = "".join(c for c in frac if c.isdigit())
            text = f"{head}.{digits[:6]}{frac[len(digits):]}"
        return parse_time(text)
    except (ValueError, OverflowError):  # OverflowError: a year-1/9999 time with an offset
        raise EventError(f"event {event_id}: event time {value!r} is not ISO 8601") from None


def _epoch(value: Any) -> int | None:
    if value is None or value == "" or isinstance(value, bool):
        return None
    try:
        return int(float(value))
    except (TypeError, ValueError, OverflowError):  # OverflowError: 1e400 (infinity)
        return None


def _vault_from_resource_id(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    parts = value.strip("/").split("/")
    lowered = [p.lower() for p in parts]
    if "vaults" in lowered:
        i = lowered.index("vaults")
        if i + 1 < len(parts):
            return parts[i + 1]
    return None


# --- vault -> region ----------------------------------------------------------------------------


def region_for_event(config: Config, event: VaultEvent) -> Region | None:
    """The configured region whose vault sent ``event``: by VaultName (the vault's name in its
    resource id), then the topic's resource id, then the host of the object ``Id`` URL."""
    names = {r.vault_name.lower(): r for r in config.regions}
    found = names.get(event.vault_name.lower())
    if found is not None:
        return found
    for region in config.regions:
        if event.topic and event.topic.strip("/").lower() == region.resource_id.strip(
                "/").lower():
            return region
    if event.object_id:
        netloc = urlsplit(event.object_id).netloc.lower()
        for region in config.regions:
            if netloc and urlsplit(region.vault_url).netloc.lower() == netloc:
                return region
    return None
