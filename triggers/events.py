"""Event Grid entry points: Key Vault change hints, replicated directly (no orchestration).

- ``event_grid_sync``: Event Grid pushes to the function (public mode). The Functions host
  answers the subscription validation handshake itself.
- ``event_queue_sync``: Event Grid writes each event to the storage queue ``kvdr-events``
  (private mode: Event Grid cannot push into a private endpoint); the app reads the queue.
  host.json sets ``messageEncoding: none``, so a message arrives as written, plain JSON or
  base64 of it, and :func:`kvdr.events.parse.decode_body` reads both.

Both run :func:`kvdr.events.handler.handle_event` in the trigger. Why not an orchestration: the
copy is one idempotent item (check, then act), Event Grid and the queue already retry and
dead-letter, and measured locally an orchestration adds latency and history writes for nothing
(docs/events.md, bench/event_lag.py). An ignorable event returns normally; a failure raises, so
Event Grid (30 attempts in 24 h) or the queue (10 dequeues, then ``kvdr-events-poison``; the
number is host.json's ``maxDequeueCount``) retries. A malformed event can never succeed: it is
logged (one line, no traceback) and dropped, never raised.
"""

from __future__ import annotations

import logging
from typing import Any

import azure.functions as func

from kvdr.events.handler import handle_payload
from kvdr.events.parse import EventError
from kvdr.services import get_runtime
from triggers.blueprint import bp

log = logging.getLogger("kvdr.triggers.events")


def grid_event_to_dict(event: func.EventGridEvent) -> dict[str, Any]:
    """The Event Grid schema form of what the Functions worker hands the trigger."""
    when = event.event_time
    return {"id": event.id, "topic": event.topic, "subject": event.subject,
            "eventType": event.event_type,
            "eventTime": when.isoformat().replace("+00:00", "Z") if when else None,
            "data": event.get_json(), "dataVersion": event.data_version}


@bp.event_grid_trigger(arg_name="event")
def event_grid_sync(event: func.EventGridEvent) -> None:
    try:
        payload = grid_event_to_dict(event)
    except ValueError as exc:
        log.error("dropped an unreadable Event Grid event %s: %s", event.id, exc)
        return
    _handle(payload, f"Event Grid event {event.id}")


@bp.queue_trigger(arg_name="msg", queue_name="kvdr-events", connection="KvdrEventsQueue")
def event_queue_sync(msg: func.QueueMessage) -> None:
    _handle(msg.get_body(), f"queue message {msg.id}")


def _handle(payload: Any, what: str) -> None:
    try:
        handle_payload(get_runtime(), payload)
    except EventError as exc:
        # malformed input never gets better by retrying: log it and let it go
        log.error("dropped %s: %s", what, exc)
