"""History events in the JSON shape the Durable extension sends to out-of-proc workers.

The extension serialises Durable Task Framework `HistoryEvent`s with Newtonsoft defaults:
PascalCase fields, `EventType` as an integer, `EventId` -1 for events that complete something and
the task's sequence number for events that schedule something, `IsPlayed` true for events from
earlier episodes. Payload fields (`Input`, `Result`) hold JSON text.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from azure.durable_functions.models.history.HistoryEventType import HistoryEventType as EventType

# The replay protocol the current extension bundle (4.x, Durable extension 2.13+/3.x) negotiates
# with the Python SDK: it sends upperSchemaVersion=V2 (1) for SDKs 1.1.0-1.1.3 and
# upperSchemaVersionNew=V3 (2); SDK 1.7 then answers with schemaVersion 2, a flat action list,
# and splits timers longer than maximumShortTimerDuration (Azure Storage defaults below).
UPPER_SCHEMA_VERSION = 1
UPPER_SCHEMA_VERSION_NEW = 2
PINNED_SCHEMA_VERSION = UPPER_SCHEMA_VERSION_NEW
MAXIMUM_SHORT_TIMER_DURATION = "6.00:00:00"
LONG_RUNNING_TIMER_INTERVAL = "3.00:00:00"
DEFAULT_HTTP_ASYNC_SLEEP_MS = 30000

# Runtime status numbers DTFx writes into ExecutionCompleted.OrchestrationStatus.
ORCHESTRATION_STATUS_COMPLETED = 1
ORCHESTRATION_STATUS_FAILED = 3

Event = dict[str, Any]

__all__ = ["Event", "EventType"]


def timestamp(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_timestamp(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def _event(kind: EventType, when: datetime, event_id: int = -1, **fields: Any) -> Event:
    return {"EventType": int(kind), "EventId": event_id, "IsPlayed": False,
            "Timestamp": timestamp(when), **fields}


def orchestrator_started(when: datetime) -> Event:
    return _event(EventType.ORCHESTRATOR_STARTED, when)


def orchestrator_completed(when: datetime) -> Event:
    return _event(EventType.ORCHESTRATOR_COMPLETED, when)


def execution_started(when: datetime, instance_id: str, execution_id: str, name: str,
                      input_json: str | None, parent: dict[str, Any] | None = None) -> Event:
    # DTFx stores the orchestration input as the JSON serialisation of the JSON text the worker
    # gave it (the Python SDK's inputs are JSON strings); the worker gets it back via "input".
    return _event(EventType.EXECUTION_STARTED, when,
                  OrchestrationInstance={"InstanceId": instance_id, "ExecutionId": execution_id},
                  ParentInstance=parent, Name=name, Version="",
                  Input=None if input_json is None else json.dumps(input_json), Tags=None)


def execution_completed(when: datetime, result_json: str | None, failed: bool = False,
                        details: str | None = None) -> Event:
    status = ORCHESTRATION_STATUS_FAILED if failed else ORCHESTRATION_STATUS_COMPLETED
    return _event(EventType.EXECUTION_COMPLETED, when, OrchestrationStatus=status,
                  Result=result_json, FailureDetails=details)


def execution_terminated(when: datetime, reason: str | None) -> Event:
    return _event(EventType.EXECUTION_TERMINATED, when, Input=json.dumps(reason))


def execution_suspended(when: datetime, reason: str | None) -> Event:
    return _event(EventType.EXECUTION_SUSPENDED, when, Reason=reason)


def execution_resumed(when: datetime, reason: str | None) -> Event:
    return _event(EventType.EXECUTION_RESUMED, when, Reason=reason)


def continue_as_new(when: datetime, input_json: str | None) -> Event:
    return _event(EventType.CONTINUE_AS_NEW, when, Result=input_json)


def task_scheduled(when: datetime, task_id: int, name: str, input_json: str | None) -> Event:
    return _event(EventType.TASK_SCHEDULED, when, task_id, Name=name, Version="",
                  Input=input_json)


def task_completed(when: datetime, task_id: int, result_json: str | None) -> Event:
    return _event(EventType.TASK_COMPLETED, when, TaskScheduledId=task_id, Result=result_json)


def task_failed(when: datetime, task_id: int, reason: str, details: str) -> Event:
    return _event(EventType.TASK_FAILED, when, TaskScheduledId=task_id, Reason=reason,
                  Details=details)


def timer_created(when: datetime, timer_id: int, fire_at: datetime) -> Event:
    return _event(EventType.TIMER_CREATED, when, timer_id, FireAt=timestamp(fire_at))


def timer_fired(when: datetime, timer_id: int, fire_at: str) -> Event:
    return _event(EventType.TIMER_FIRED, when, TimerId=timer_id, FireAt=fire_at)


def event_raised(when: datetime, name: str, input_json: str | None) -> Event:
    return _event(EventType.EVENT_RAISED, when, Name=name, Input=input_json)


def sub_orchestration_created(when: datetime, task_id: int, name: str, instance_id: str,
                              input_json: str | None) -> Event:
    return _event(EventType.SUB_ORCHESTRATION_INSTANCE_CREATED, when, task_id, Name=name,
                  Version="", InstanceId=instance_id, Input=input_json)


def sub_orchestration_completed(when: datetime, task_id: int, result_json: str | None) -> Event:
    return _event(EventType.SUB_ORCHESTRATION_INSTANCE_COMPLETED, when, TaskScheduledId=task_id,
                  Result=result_json)


def sub_orchestration_failed(when: datetime, task_id: int, reason: str, details: str) -> Event:
    return _event(EventType.SUB_ORCHESTRATION_INSTANCE_FAILED, when, TaskScheduledId=task_id,
                  Reason=reason, Details=details)


def for_display(event: Event, *, with_output: bool) -> dict[str, Any]:
    """An event as the status API's `historyEvents` shows it: EventType as its name."""
    shown = {k: v for k, v in event.items() if k not in ("IsPlayed",)}
    shown["EventType"] = EventType(event["EventType"]).name.title().replace("_", "")
    if not with_output:
        for key in ("Result", "Input"):
            shown.pop(key, None)
    return shown
