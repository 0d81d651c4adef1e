"""The engine: a dispatcher thread that runs orchestration episodes, an activity pool, timers.

An episode takes everything that arrived for one instance (activity results, fired timers,
raised events, sub-orchestration results, terminate/suspend/resume), appends it to the history
after an OrchestratorStarted event, invokes the orchestrator through the SDK's replay executor
with the whole history, replays the returned actions as the extension does (engine.replay),
and commits the episode to SQLite in one transaction before acting on it.
"""

from __future__ import annotations

import heapq
import itertools
import json
import logging
import threading
import uuid
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from azure.functions._durable_functions import df_dumps

from engine import history as h
from engine.clock import Clock, RealClock
from engine.errors import (
    EngineError,
    InstanceExists,
    InstanceNotFound,
    NonDeterminismError,
    OrchestrationFailed,
)
from engine.functions import FunctionIndex, index_app, run_activity, run_orchestrator
from engine.history import Event, EventType
from engine.records import InstanceStatus, RuntimeStatus
from engine.replay import ShimReplay
from engine.sdk_speedups import install as install_sdk_speedups
from engine.store import InstanceRow, Message, Store

log = logging.getLogger("engine")

_ACTIVE = (RuntimeStatus.PENDING, RuntimeStatus.RUNNING, RuntimeStatus.SUSPENDED,
           RuntimeStatus.CONTINUED_AS_NEW)


@dataclass
class _Item:
    """One thing delivered to an instance. Stored messages carry their row id; activity results
    and fired timers are volatile (regenerated from history after a restart)."""

    kind: str
    payload: dict[str, Any] = field(default_factory=dict)
    message_id: int | None = None
    execution_id: str | None = None


@dataclass
class _Live:
    row: InstanceRow
    events: list[Event]
    played_json: list[str]          # each event's JSON as sent once played (and as stored)
    parked: list[_Item] = field(default_factory=list)   # held while suspended


class Engine:
    """Runs the orchestrations of one DFApp, checkpointed under `state_dir`.

    Use as a context manager (or call `start()`/`stop()`); on start every instance that was
    running when the previous process stopped or died resumes from its last checkpoint."""

    def __init__(self, app: Any, state_dir: Path | str, *, clock: Clock | None = None,
                 max_activity_concurrency: int = 8, task_hub: str = "kvdr") -> None:
        install_sdk_speedups()
        self.functions: FunctionIndex = index_app(app)
        self.state_dir = Path(state_dir)
        self.clock: Clock = clock or RealClock()
        self.task_hub = task_hub
        self.store = Store(self.state_dir)
        self._max_activities = max_activity_concurrency
        self._pool: ThreadPoolExecutor | None = None
        self._cond = threading.Condition()
        self._changed = threading.Condition()
        self._pending: dict[str, list[_Item]] = {}
        self._timers: list[tuple[datetime, int, str, str, int, str]] = []
        self._timer_seq = itertools.count()
        self._canceled_timers: set[tuple[str, str, int]] = set()
        self._live: dict[str, _Live] = {}
        self._thread: threading.Thread | None = None
        self._stopping = False
        self.episodes = 0
        self.clock.subscribe(self._wake)

    # -- lifecycle -------------------------------------------------------------------------
    def __enter__(self) -> Engine:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stopping = False
        self._pool = ThreadPoolExecutor(self._max_activities, thread_name_prefix="activity")
        self._recover()
        self._thread = threading.Thread(target=self._dispatch_loop, name="orchestrations",
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop dispatching; running instances stay checkpointed and resume on the next start.
        Activities still running are abandoned and run again then (at-least-once)."""
        if self._thread is None:
            return
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        self._thread.join()
        self._thread = None
        assert self._pool is not None
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._pool = None
        self._live.clear()
        self.store.close()
        self.store = Store(self.state_dir)

    # -- the client API --------------------------------------------------------------------
    def start_new(self, name: str, input: Any = None, instance_id: str | None = None, *,
                  input_json: str | None = None) -> str:
        """Schedule orchestrator `name`; returns its instance id. `input` is any JSON-able value
        (or pass its JSON text as `input_json`). An id already running raises InstanceExists;
        an id that finished is started afresh, as the extension does."""
        self.functions.get("orchestrationTrigger", name)
        if input_json is None and input is not None:
            input_json = df_dumps(input)
        return self._create(name, instance_id or uuid.uuid4().hex, input_json)

    def get_status(self, instance_id: str, *, show_history: bool = False,
                   show_history_output: bool = False) -> InstanceStatus | None:
        row = self.store.get_instance(instance_id)
        if row is None:
            return None
        status = _status(row)
        if show_history:
            status.history = [h.for_display(e, with_output=show_history_output)
                              for e in self.store.load_history_events(instance_id)]
        return status

    def list_instances(self, statuses: Iterable[RuntimeStatus] | None = None,
                       created_from: datetime | None = None, created_to: datetime | None = None,
                       prefix: str | None = None) -> list[InstanceStatus]:
        rows = self.store.list_instances(statuses)
        return [_status(r) for r in rows
                if (created_from is None or r.created >= created_from)
                and (created_to is None or r.created <= created_to)
                and (prefix is None or r.id.startswith(prefix))]

    def wait_for_completion(self, instance_id: str, timeout: float = 60.0) -> InstanceStatus:
        """Block until the instance is Completed, Failed or Terminated; returns its status.
        Raises TimeoutError after `timeout` real seconds."""
        import time

        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                status = self.get_status(instance_id)
                if status is None:
                    raise InstanceNotFound(instance_id)
                if status.runtime_status.is_terminal:
                    return status
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"instance {instance_id!r} is still "
                                       f"{status.runtime_status} after {timeout} s")
                self._changed.wait(min(left, 0.5))

    def result(self, instance_id: str, timeout: float = 60.0) -> Any:
        """The output of a completed instance; OrchestrationFailed if it failed or ended."""
        status = self.wait_for_completion(instance_id, timeout)
        if status.runtime_status is not RuntimeStatus.COMPLETED:
            raise OrchestrationFailed(f"instance {instance_id!r} ended "
                                      f"{status.runtime_status}: {status.output}")
        return status.output

    def raise_event(self, instance_id: str, name: str, data: Any = None, *,
                    data_json: str | None = None) -> None:
        if data_json is None:
            data_json = df_dumps(data)
        self._send(instance_id, "event", {"name": name, "input": data_json})

    def _send_checked(self, instance_id: str) -> bool:
        """True if the instance exists and can still receive messages."""
        row = self.store.get_instance(instance_id)
        if row is None:
            raise InstanceNotFound(instance_id)
        return not row.status.is_terminal

    def terminate(self, instance_id: str, reason: str = "") -> bool:
        """Terminate a running instance; False when it had already finished."""
        return self._send(instance_id, "terminate", {"reason": reason})

    def suspend(self, instance_id: str, reason: str = "") -> bool:
        return self._send(instance_id, "suspend", {"reason": reason})

    def resume(self, instance_id: str, reason: str = "") -> bool:
        return self._send(instance_id, "resume", {"reason": reason})

    def purge(self, instance_id: str) -> bool:
        """Delete an instance's history and status; True if it existed."""
        self._live.pop(instance_id, None)
        gone = self.store.purge(instance_id)
        self._notify_changed()
        return gone

    # -- producing work --------------------------------------------------------------------
    def _create(self, name: str, instance_id: str, input_json: str | None,
                parent: tuple[str, int] | None = None, db: Any = None) -> str:
        now = self.clock.now()
        row = InstanceRow(instance_id, name, uuid.uuid4().hex, RuntimeStatus.PENDING,
                          input_json, None, None, parent[0] if parent else None,
                          parent[1] if parent else None, now, now)
        message = Message(instance_id, "start", {})

        def write(conn: Any) -> None:
            existing = conn.execute("SELECT status FROM instances WHERE id = ?",
                                    (instance_id,)).fetchone()
            if existing and RuntimeStatus(existing[0]) in _ACTIVE:
                raise InstanceExists(instance_id)
            Store.clear_history(conn, instance_id)
            Store.put_instance(conn, row)
            Store.add_message(conn, message)

        if db is not None:
            write(db)
            return instance_id
        with self.store.transaction() as conn:
            write(conn)
        self._enqueue(instance_id, _Item("start", {}, message.id))
        self._notify_changed()
        return instance_id

    def _send(self, instance_id: str, kind: str, payload: dict[str, Any]) -> bool:
        row = self.store.get_instance(instance_id)
        if row is None:
            raise InstanceNotFound(instance_id)
        if row.status.is_terminal:
            return False
        message = Message(instance_id, kind, payload)
        with self.store.transaction() as db:
            Store.add_message(db, message)
        self._enqueue(instance_id, _Item(kind, payload, message.id))
        return True

    def _enqueue(self, instance_id: str, item: _Item) -> None:
        with self._cond:
            self._pending.setdefault(instance_id, []).append(item)
            self._cond.notify_all()

    def _wake(self) -> None:
        with self._cond:
            self._cond.notify_all()

    def _notify_changed(self) -> None:
        with self._changed:
            self._changed.notify_all()

    def _arm_timer(self, instance_id: str, execution_id: str, timer_id: int,
                   fire_at_text: str) -> None:
        fire_at = h.parse_timestamp(fire_at_text)
        with self._cond:
            heapq.heappush(self._timers, (fire_at, next(self._timer_seq), instance_id,
                                          execution_id, timer_id, fire_at_text))
            self._cond.notify_all()

    def _dispatch_activity(self, instance_id: str, execution_id: str, event: Event) -> None:
        assert self._pool is not None
        task_id, name, input_json = event["EventId"], event["Name"], event.get("Input")

        def run() -> None:
            try:
                fn = self.functions.get("activityTrigger", name)
                outcome = run_activity(fn, input_json)
            except EngineError as exc:
                outcome = None
                failed = h.task_failed(self.clock.now(), task_id, str(exc), "")
            if outcome is not None:
                now = self.clock.now()
                failed = (h.task_completed(now, task_id, outcome.result_json) if outcome.ok
                          else h.task_failed(now, task_id, outcome.reason, outcome.details))
            self._enqueue(instance_id, _Item("volatile", {"event": failed},
                                             execution_id=execution_id))

        self._pool.submit(run)

    # -- recovery --------------------------------------------------------------------------
    def _recover(self) -> None:
        for message in self.store.load_messages():
            self._enqueue(message.instance_id,
                          _Item(message.kind, message.payload, message.id))
        for row in self.store.list_instances(_ACTIVE):
            events = self.store.load_history_events(row.id)
            self._resume_outstanding(row, events)

    def _resume_outstanding(self, row: InstanceRow, events: list[Event]) -> None:
        """Re-dispatch activities scheduled but not completed; re-arm timers not fired."""
        done = {e.get("TaskScheduledId") for e in events
                if e["EventType"] in (EventType.TASK_COMPLETED, EventType.TASK_FAILED)}
        fired = {e.get("TimerId") for e in events if e["EventType"] == EventType.TIMER_FIRED}
        for event in events:
            if event["EventType"] == EventType.TASK_SCHEDULED and event["EventId"] not in done:
                log.info("re-running activity %s #%s of %s (in flight when the engine "
                         "stopped)", event["Name"], event["EventId"], row.id)
                self._dispatch_activity(row.id, row.execution_id, event)
            elif event["EventType"] == EventType.TIMER_CREATED and event["EventId"] not in fired:
                self._arm_timer(row.id, row.execution_id, event["EventId"], event["FireAt"])

    # -- the dispatcher --------------------------------------------------------------------
    def _dispatch_loop(self) -> None:
        while True:
            with self._cond:
                while True:
                    if self._stopping:
                        return
                    self._fire_due_timers()
                    if self._pending:
                        batch, self._pending = self._pending, {}
                        break
                    wait = 1.0
                    if self._timers:
                        wait = min(wait, self.clock.seconds_until(self._timers[0][0]))
                    self._cond.wait(wait)
            for instance_id, items in batch.items():
                try:
                    self._episode(instance_id, items)
                except Exception:  # an engine bug must not stop every other instance
                    log.exception("episode of %s failed", instance_id)
            self._notify_changed()

    def _fire_due_timers(self) -> None:
        now = self.clock.now()
        while self._timers and self._timers[0][0] <= now:
            _, _, instance_id, execution_id, timer_id, fire_at = heapq.heappop(self._timers)
            if (instance_id, execution_id, timer_id) in self._canceled_timers:
                continue
            event = h.timer_fired(now, timer_id, fire_at)
            self._pending.setdefault(instance_id, []).append(
                _Item("volatile", {"event": event}, execution_id=execution_id))

    def _load(self, instance_id: str) -> _Live | None:
        live = self._live.get(instance_id)
        if live is None or self.store.get_instance(instance_id) is None:
            row = self.store.get_instance(instance_id)
            if row is None:
                return None
            texts = self.store.load_history(instance_id)
            live = _Live(row, [json.loads(t) for t in texts], texts)
            self._live[instance_id] = live
        return live

    def _episode(self, instance_id: str, items: list[_Item]) -> None:
        live = self._load(instance_id)
        stored_ids = [i.message_id for i in items if i.message_id is not None]
        if live is None or live.row.status.is_terminal:
            if stored_ids:
                with self.store.transaction() as db:
                    Store.delete_messages(db, stored_ids)
            return
        row = live.row
        items = [i for i in items if i.execution_id in (None, row.execution_id)]
        now = self.clock.now()
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
                with self.store.transaction() as db:
                    Store.delete_messages(db, stored_ids)
            return
        self._run_orchestrator(live, new_events, stored_ids, now)

    def _run_orchestrator(self, live: _Live, new_events: list[Event], stored_ids: list[int],
                          now: datetime) -> None:
        row = live.row
        fn = self.functions.get("orchestrationTrigger", row.name)
        self.episodes += 1
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
            outcome = ShimReplay(all_events, flat, lambda n: _sub_id(row.id, row.execution_id,
                                                                    n)).run()
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
            self._canceled_timers.add((row.id, row.execution_id, timer_id))
        for event in scheduled:
            if event["EventType"] == EventType.TASK_SCHEDULED:
                self._dispatch_activity(row.id, row.execution_id, event)
            elif (event["EventType"] == EventType.TIMER_CREATED
                  and event["EventId"] not in outcome.canceled_timers):
                    self._arm_timer(row.id, row.execution_id, event["EventId"],
                                    event["FireAt"])
        for child_id, message_id in child_messages.items():
            self._enqueue(child_id, _Item("start", {}, message_id))

    def _commit(self, live: _Live, new_events: list[Event], stored_ids: list[int], *,
                finished: bool = False, children: Iterable[Event] = ()) -> dict[str, int]:
        """Checkpoint an episode; returns the start message of each child it created."""
        row = live.row
        row.updated = self.clock.now()
        child_messages: dict[str, int] = {}
        for event in new_events:
            event["IsPlayed"] = True
        parent_message: Message | None = None
        if finished and row.parent_id is not None:
            parent_message = self._parent_result(row)
        with self.store.transaction() as db:
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
            self._enqueue(parent_message.instance_id,
                          _Item(parent_message.kind, parent_message.payload,
                                parent_message.id))
        if finished:
            self._live.pop(row.id, None)
        return child_messages

    def _create_child(self, db: Any, parent: InstanceRow, event: Event) -> int:
        child_id = event["InstanceId"]
        now = self.clock.now()
        existing = db.execute("SELECT status FROM instances WHERE id = ?",
                              (child_id,)).fetchone()
        if existing and RuntimeStatus(existing[0]) in _ACTIVE:
            raise InstanceExists(child_id)
        self.functions.get("orchestrationTrigger", event["Name"])
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
        now = self.clock.now()
        if row.status is RuntimeStatus.COMPLETED:
            event = h.sub_orchestration_completed(now, row.parent_task_id, row.output)
        else:
            reason = json.loads(row.output) if row.output else str(row.status)
            event = h.sub_orchestration_failed(now, row.parent_task_id, str(reason),
                                               f"sub-orchestration {row.id} {row.status}")
        return Message(row.parent_id, "sub_result", {"event": event})

    def _continue_as_new(self, live: _Live, input_json: str | None,
                         stored_ids: list[int]) -> None:
        row = live.row
        row.input = input_json
        row.execution_id = uuid.uuid4().hex
        row.status = RuntimeStatus.RUNNING
        row.updated = self.clock.now()
        message = Message(row.id, "start", {})
        with self.store.transaction() as db:
            Store.clear_history(db, row.id)
            Store.put_instance(db, row)
            Store.delete_messages(db, stored_ids)
            Store.add_message(db, message)
        live.events.clear()
        live.played_json.clear()
        self._enqueue(row.id, _Item("start", {}, message.id))


def _sub_id(parent_id: str, execution_id: str, task_id: int) -> str:
    # deterministic across replays, like the extension's NewGuid-based child ids
    return uuid.uuid5(uuid.NAMESPACE_OID, f"{parent_id}:{execution_id}:{task_id}").hex


def _status(row: InstanceRow) -> InstanceStatus:
    return InstanceStatus(row.id, row.name, row.status, row.created, row.updated, row.input,
                          row.output, row.custom_status, row.parent_id)
