"""Episodes: one orchestrator turn for one instance, checkpointed before it takes effect.

An episode takes everything that arrived for one instance (activity results, fired timers,
raised events, sub-orchestration results, terminate/suspend/resume), appends it to the history
after an OrchestratorStarted event, invokes the orchestrator through the SDK's replay executor
with the whole history, replays the returned actions as the extension does (engine.replay),
and commits the episode to SQLite in one transaction. Only then does it hand the engine what
the episode started (activities, timers, child instances, a parent's result) through
:class:`Scheduler`.
"""

from __future__ import annotations

import itertools
import json
import sqlite3
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from engine import history as h
from engine.clock import Clock
from engine.errors import EngineError, InstanceExists, NonDeterminismError
from engine.functions import FunctionIndex, run_orchestrator
from engine.history import Event, EventType
from engine.records import ACTIVE_STATUSES, RuntimeStatus
from engine.replay import ShimReplay
from engine.store import InstanceRow, Message, Store


@dataclass
class Item:
    """One thing delivered to an instance. Stored messages carry their row id; activity results
    and fired timers are volatile (regenerated from history after a restart)."""

    kind: str
    payload: dict[str, Any] = field(default_factory=dict)
    message_id: int | None = None
    execution_id: str | None = None


@dataclass
class Live:
    """An instance whose history is held in memory between episodes."""

    row: InstanceRow
    events: list[Event]
    played_json: list[str]          # each event's JSON as sent once played (and as stored)
    parked: list[Item] = field(default_factory=list)   # held while suspended


class Scheduler(Protocol):
    """What an episode needs from the engine: its store, clock and functions, and a way to
    start what the committed episode scheduled."""

    store: Store
    clock: Clock
    functions: FunctionIndex

    def enqueue(self, instance_id: str, item: Item) -> None: ...

    def dispatch_activity(self, instance_id: str, execution_id: str, event: Event) -> None: ...

    def arm_timer(self, instance_id: str, execution_id: str, timer_id: int,
                  fire_at_text: str) -> None: ...

    def cancel_timer(self, instance_id: str, execution_id: str, timer_id: int) -> None: ...


class EpisodeRunner:
    """Runs episodes for the engine's dispatcher thread (one at a time) and keeps each running
    instance's history in memory (`live`) so an episode does not reload it."""

    def __init__(self, engine: Scheduler) -> None:
        self.engine = engine
        self.live: dict[str, Live] = {}
        self.invocations = 0    # orchestrator invocations (bench/engine_overhead.py reads it)

    def forget(self, instance_id: str) -> None:
        self.live.pop(instance_id, None)

    def _load(self, instance_id: str) -> Live | None:
        store = self.engine.store
        live = self.live.get(instance_id)
        if live is None or store.get_instance(instance_id) is None:
            row = store.get_instance(instance_id)
            if row is None:
                return None
            texts = store.load_history(instance_id)
            live = Live(row, [json.loads(t) for t in texts], texts)
            self.live[instance_id] = live
        return live

    def run(self, instance_id: str, items: list[Item]) -> None:
        live = self._load(instance_id)
        stored_ids = [i.message_id for i in items if i.message_id is not None]
        if live is None or live.row.status.is_terminal:
            if stored_ids:
                with self.engine.store.transaction() as db:
                    Store.delete_messages(db, stored_ids)
            return
        row = live.row
        items = [i for i in items if i.execution_id in (None, row.execution_id)]
        now = self.engine.clock.now()
        new_events: list[Event] = [h.orchestrator_started(now)]
        started = False
        terminate = next((i for i in items if i.kind == "terminate"), None)
        if terminate is not None:
            new_events.append(h.execution_terminated(now, terminate.payload.get("reason")))
            row.status, row.output = RuntimeStatus.TERMINATED, json.dumps(
                terminate.payload.get("reason"))
            self._commit(live, [*new_events, h.orchestrator_completed(now)], stored_ids,
                         finished=True)
            return
        for item in items:
            if item.kind == "suspend" and row.status is not RuntimeStatus.SUSPENDED:
                row.status = RuntimeStatus.SUSPENDED
                new_events.append(h.execution_suspended(now, item.payload.get("reason")))
            elif item.kind == "resume" and row.status is RuntimeStatus.SUSPENDED:
                row.status = RuntimeStatus.RUNNING
                new_events.append(h.execution_resumed(now, item.payload.get("reason")))
                items = items + live.parked
                live.parked = []
        for item in items:
            if item.kind in ("suspend", "resume"):
                continue
            if row.status is RuntimeStatus.SUSPENDED:
                live.parked.append(item)
                if item.message_id is not None:
                    stored_ids.remove(item.message_id)   # stays stored until delivered
                continue
            if item.kind == "start":
                if not live.events:
                    started = True
                    parent = ({"OrchestrationInstance": {"InstanceId": row.parent_id}}
                              if row.parent_id else None)
                    new_events.append(h.execution_started(now, row.id, row.execution_id,
                                                          row.name, row.input, parent))
                    row.status = RuntimeStatus.RUNNING
            elif item.kind == "event":
                new_events.append(h.event_raised(now, item.payload["name"],
                                                 item.payload.get("input")))
            else:   # a completion: activity, timer, sub-orchestration
                new_events.append(item.payload["event"])
        replay_needed = any(e["EventType"] not in (
            EventType.ORCHESTRATOR_STARTED, EventType.EXECUTION_SUSPENDED,
            EventType.EXECUTION_RESUMED) for e in new_events) or started
        if row.status is RuntimeStatus.SUSPENDED or not replay_needed:
            if len(new_events) > 1:
                self._commit(live, [*new_events, h.orchestrator_completed(now)], stored_ids)
            elif stored_ids:
                with self.engine.store.transaction() as db:
                    Store.delete_messages(db, stored_ids)
            return
        self._run_orchestrator(live, new_events, stored_ids, now)

    def _run_orchestrator(self, live: Live, new_events: list[Event], stored_ids: list[int],
                          now: datetime) -> None:
        row = live.row
        fn = self.engine.functions.get("orchestrationTrigger", row.name)
        self.invocations += 1
        new_json = [json.dumps(e) for e in new_events]
        body = ('{"history":[' + ",".join(itertools.chain(live.played_json, new_json))
                + "],"
                + f'"input":{json.dumps(row.input)},"instanceId":{json.dumps(row.id)},'
                + f'"isReplaying":{json.dumps(bool(live.events))},'
                + f'"parentInstanceId":{json.dumps(row.parent_id)},'
                + f'"upperSchemaVersion":{h.UPPER_SCHEMA_VERSION},'
                + f'"upperSchemaVersionNew":{h.UPPER_SCHEMA_VERSION_NEW},'
                + f'"longRunningTimerIntervalDuration":"{h.LONG_RUNNING_TIMER_INTERVAL}",'
                + f'"maximumShortTimerDuration":"{h.MAXIMUM_SHORT_TIMER_DURATION}",'
                + f'"defaultHttpAsyncRequestSleepTimeMillseconds":{h.DEFAULT_HTTP_ASYNC_SLEEP_MS}'
                + "}")
        state = json.loads(run_orchestrator(fn, body))
        if "customStatus" in state:
            row.custom_status = json.dumps(state["customStatus"])
        actions = (state.get("actions") or [[]])
        flat = actions[0] if actions else []
        all_events = live.events + new_events
        error = state.get("error")
        try:
            outcome = ShimReplay(all_events, flat, lambda n: sub_instance_id(
                row.id, row.execution_id, n)).run()
        except NonDeterminismError as exc:
            error, outcome = str(exc), None
        except EngineError as exc:
            error, outcome = str(exc), None
        if error:
            message = f"Orchestrator function '{row.name}' failed: {error}"
            row.status, row.output = RuntimeStatus.FAILED, json.dumps(message)
            new_events.append(h.execution_completed(now, row.output, failed=True,
                                                    details=error))
            new_events.append(h.orchestrator_completed(now))
            self._commit(live, new_events, stored_ids, finished=True)
            return
        assert outcome is not None
        if state.get("isDone") and outcome.continued_as_new:
            new_events.append(h.continue_as_new(now, outcome.continue_as_new_input))
            self._continue_as_new(live, outcome.continue_as_new_input, stored_ids)
            return
        if state.get("isDone"):
            row.status = RuntimeStatus.COMPLETED
            row.output = json.dumps(state.get("output"))
            new_events.append(h.execution_completed(now, row.output))
            new_events.append(h.orchestrator_completed(now))
            self._commit(live, new_events, stored_ids, finished=True)
            return
        scheduled = outcome.new_events
        new_events.extend(scheduled)
        new_events.append(h.orchestrator_completed(now))
        children = [e for e in scheduled
                    if e["EventType"] == EventType.SUB_ORCHESTRATION_INSTANCE_CREATED]
        child_messages = self._commit(live, new_events, stored_ids, children=children)
        for timer_id in outcome.canceled_timers:
            self.engine.cancel_timer(row.id, row.execution_id, timer_id)
        for event in scheduled:
            if event["EventType"] == EventType.TASK_SCHEDULED:
                self.engine.dispatch_activity(row.id, row.execution_id, event)
            elif (event["EventType"] == EventType.TIMER_CREATED
                  and event["EventId"] not in outcome.canceled_timers):
                    self.engine.arm_timer(row.id, row.execution_id, event["EventId"],
                                          event["FireAt"])
        for child_id, message_id in child_messages.items():
            self.engine.enqueue(child_id, Item("start", {}, message_id))

    def _commit(self, live: Live, new_events: list[Event], stored_ids: list[int], *,
                finished: bool = False, children: Iterable[Event] = ()) -> dict[str, int]:
        """Checkpoint an episode; returns the start message of each child it created."""
        row = live.row
        row.updated = self.engine.clock.now()
        child_messages: dict[str, int] = {}
        for event in new_events:
            event["IsPlayed"] = True
        parent_message: Message | None = None
        if finished and row.parent_id is not None:
            parent_message = self._parent_result(row)
        with self.engine.store.transaction() as db:
            for child in children:
                child_messages[child["InstanceId"]] = self._create_child(db, row, child)
            played = [json.dumps(e) for e in new_events]
            Store.append_history(db, row.id, len(live.events), played)
            Store.put_instance(db, row)
            Store.delete_messages(db, stored_ids)
            if parent_message is not None:
                Store.add_message(db, parent_message)
        live.events.extend(new_events)
        live.played_json.extend(played)
        if parent_message is not None:
            self.engine.enqueue(parent_message.instance_id,
                                Item(parent_message.kind, parent_message.payload,
                                     parent_message.id))
        if finished:
            self.live.pop(row.id, None)
        return child_messages

    def _create_child(self, db: sqlite3.Connection, parent: InstanceRow, event: Event) -> int:
        child_id = event["InstanceId"]
        now = self.engine.clock.now()
        existing = db.execute("SELECT status FROM instances WHERE id = ?",
                              (child_id,)).fetchone()
        if existing and RuntimeStatus(existing[0]) in ACTIVE_STATUSES:
            raise InstanceExists(child_id)
        self.engine.functions.get("orchestrationTrigger", event["Name"])
        child = InstanceRow(child_id, event["Name"], uuid.uuid4().hex, RuntimeStatus.PENDING,
                            event.get("Input"), None, None, parent.id, event["EventId"], now,
                            now)
        Store.clear_history(db, child_id)
        Store.put_instance(db, child)
        message = Message(child_id, "start", {})
        Store.add_message(db, message)
        assert message.id is not None
        return message.id

    def _parent_result(self, row: InstanceRow) -> Message:
        assert row.parent_id is not None and row.parent_task_id is not None
        now = self.engine.clock.now()
        if row.status is RuntimeStatus.COMPLETED:
            event = h.sub_orchestration_completed(now, row.parent_task_id, row.output)
        else:
            reason = json.loads(row.output) if row.output else str(row.status)
            event = h.sub_orchestration_failed(now, row.parent_task_id, str(reason),
                                               f"sub-orchestration {row.id} {row.status}")
        return Message(row.parent_id, "sub_result", {"event": event})

    def _continue_as_new(self, live: Live, input_json: str | None,
                         stored_ids: list[int]) -> None:
        row = live.row
        row.input = input_json
        row.execution_id = uuid.uuid4().hex
        row.status = RuntimeStatus.RUNNING
        row.updated = self.engine.clock.now()
        message = Message(row.id, "start", {})
        with self.engine.store.transaction() as db:
            Store.clear_history(db, row.id)
            Store.put_instance(db, row)
            Store.delete_messages(db, stored_ids)
            Store.add_message(db, message)
        live.events.clear()
        live.played_json.clear()
        self.engine.enqueue(row.id, Item("start", {}, message.id))


def sub_instance_id(parent_id: str, execution_id: str, task_id: int) -> str:
    # deterministic across replays, like the extension's NewGuid-based child ids
    return uuid.uuid5(uuid.NAMESPACE_OID, f"{parent_id}:{execution_id}:{task_id}").hex
