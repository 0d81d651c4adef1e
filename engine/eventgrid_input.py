"""Reading an Event Grid delivery in the local host: the whole batch is checked against the
Event Grid schema (or CloudEvents 1.0) before any function runs, so a delivery that can never
succeed is a 400 (Event Grid dead-letters it) instead of a 500 (retried for 24 hours)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import azure.functions as func
from dateutil.parser import isoparse

MALFORMED = "eventgrid.malformed"
VALIDATION_EVENT_TYPE = "Microsoft.EventGrid.SubscriptionValidationEvent"
PUBLIC_CLOUD_ORIGIN = "eventgrid.azure.net"


class MalformedDelivery(Exception):
    """A delivery that is not a batch of well-formed events (HTTP 400 ``eventgrid.malformed``)."""

    code = MALFORMED


@dataclass(frozen=True)
class Delivery:
    """A checked delivery: its events, or the validation handshake's code."""

    events: tuple[dict[str, Any], ...] = ()
    validation_code: str | None = None


def parse_delivery(body: bytes, *, validation_header: bool = False) -> Delivery:
    """``body`` as a JSON array of events (or one event object), every event checked."""
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        raise MalformedDelivery("the body is not JSON; expected a JSON array of events") from None
    events = payload if isinstance(payload, list) else [payload]
    if not events:
        raise MalformedDelivery("the delivery holds no events (an empty array)")
    for i, event in enumerate(events):
        if not isinstance(event, dict):
            raise MalformedDelivery(f"event [{i}] is a JSON {_json_type(event)}, not an object")
        if validation_header or event.get("eventType") == VALIDATION_EVENT_TYPE:
            return Delivery(validation_code=_validation_code(event))
        check_event(event, f"event [{i}]")
    return Delivery(events=tuple(events))


def check_event(event: Any, where: str = "the event") -> None:
    """Raise :class:`MalformedDelivery` unless ``event`` has the schema's required fields:
    Event Grid (``id, eventType, subject, eventTime`` strings, ``data`` an object) or
    CloudEvents 1.0 (``id, source, type`` strings, ``time`` optional)."""
    if not isinstance(event, dict):
        raise MalformedDelivery(f"{where} is a JSON {_json_type(event)}, not an object")
    if "specversion" in event:
        if event["specversion"] != "1.0":
            raise MalformedDelivery(f"{where}: CloudEvents specversion must be \"1.0\"")
        for name in ("id", "source", "type"):
            _require_text(event, name, where)
        _optional_time(event, "time", where)
        return
    for name in ("id", "eventType"):
        _require_text(event, name, where)
    if not isinstance(event.get("subject"), str):
        raise MalformedDelivery(f"{where}: 'subject' must be a string")
    if not isinstance(event.get("eventTime"), str):
        raise MalformedDelivery(f"{where}: 'eventTime' is required (an ISO 8601 time)")
    _optional_time(event, "eventTime", where)
    if event.get("data") is not None and not isinstance(event["data"], dict):
        raise MalformedDelivery(f"{where}: 'data' must be a JSON object, not a "
                                f"{_json_type(event['data'])}")


def grid_event(event: dict[str, Any]) -> func.EventGridEvent:
    """What the worker hands an ``EventGridEvent`` parameter (``event`` passed
    :func:`check_event`)."""
    if "specversion" in event:  # CloudEvents 1.0 schema
        return func.EventGridEvent(
            id=event["id"], data=event.get("data"), topic=event.get("source", ""),
            subject=event.get("subject", ""), event_type=event["type"],
            event_time=_when(event.get("time")), data_version=event.get("dataversion", ""))
    return func.EventGridEvent(
        id=event["id"], data=event.get("data"), topic=event.get("topic", ""),
        subject=event["subject"], event_type=event["eventType"],
        event_time=_when(event.get("eventTime")), data_version=event.get("dataVersion", ""))


def allowed_origin(request_origin: str | None) -> str:
    """The CloudEvents abuse-protection answer: the sender's origin, as the Functions host
    answers it (Event Grid's public cloud when the request names none)."""
    return (request_origin or "").strip() or PUBLIC_CLOUD_ORIGIN


def _validation_code(event: dict[str, Any]) -> str:
    data = event.get("data")
    code = data.get("validationCode") if isinstance(data, dict) else None
    if not isinstance(code, str) or not code:
        raise MalformedDelivery("a subscription validation event needs data.validationCode")
    return code


def _require_text(event: dict[str, Any], name: str, where: str) -> None:
    if not isinstance(event.get(name), str) or not event[name]:
        raise MalformedDelivery(f"{where}: '{name}' is required (a non-empty string)")


def _optional_time(event: dict[str, Any], name: str, where: str) -> None:
    value = event.get(name)
    if value is None:
        return
    try:
        if not isinstance(value, str):
            raise ValueError(value)
        _when(value)
    except (ValueError, OverflowError):
        raise MalformedDelivery(f"{where}: '{name}' {value!r:.60} is not an ISO 8601 time"
                                ) from None


def _when(text: str | None) -> datetime | None:
    if not text:
        return None
    when = isoparse(text)
    if when.tzinfo is not None:
        when.astimezone(UTC)  # OverflowError for a time outside years 1-9999 once in UTC
    return when


def _json_type(value: Any) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean",
            type(None): "null"}.get(type(value), "number")
