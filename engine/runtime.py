"""The engine: the client API, a dispatcher thread that runs orchestration episodes
(engine.episodes), an activity pool, durable timers, and recovery after a restart."""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
import uuid
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

from azure.functions._durable_functions import df_dumps

from engine import history as h
from engine.clock import Clock, RealClock
from engine.episodes import EpisodeRunner, Item
from engine.errors import EngineError, InstanceExists, InstanceNotFound, OrchestrationFailed
from engine.functions import FunctionIndex, index_app, run_activity
from engine.history import Event, EventType
from engine.records import ACTIVE_STATUSES, InstanceStatus, RuntimeStatus
from engine.sdk_speedups import install as install_sdk_speedups
from engine.store import InstanceRow, Message, Store

log = logging.getLogger("engine")


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
        self._pending: dict[str, list[Item]] = {}
        self._timers: list[tuple[datetime, int, str, str, int, str]] = []
        self._timer_seq = itertools.count()
        self._canceled_timers: set[tuple[str, str, int]] = set()
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._episodes = EpisodeRunner(self)
        self._recovered: tuple[InstanceStatus, ...] = ()
        self.clock.subscribe(self._wake)

    @property
    def recovered(self) -> tuple[InstanceStatus, ...]:
        """The instances that were unfinished (Pending, Running, Suspended, ContinuedAsNew)
        when this engine last started, as their last checkpoint left them, before any resumed.

        A caller that must tell "resume the interrupted run" from "start a new one" reads this,
        not `list_instances`: a recovered instance resumes in the background as soon as the
        engine starts, and one killed near its end (its last activity re-run, one episode) can
        finish before the caller looks, when the listing no longer shows it unfinished."""
        return self._recovered

    @property
    def episodes(self) -> int:
        """Orchestrator invocations so far (bench/engine_overhead.py reads it)."""
        return self._episodes.invocations

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
        self._episodes.live.clear()
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
        self._episodes.forget(instance_id)
        gone = self.store.purge(instance_id)
        self._notify_changed()
        return gone

    # -- producing work --------------------------------------------------------------------
    def _create(self, name: str, instance_id: str, input_json: str | None) -> str:
        now = self.clock.now()
        row = InstanceRow(instance_id, name, uuid.uuid4().hex, RuntimeStatus.PENDING,
                          input_json, None, None, None, None, now, now)
        message = Message(instance_id, "start", {})
        with self.store.transaction() as db:
            existing = db.execute("SELECT status FROM instances WHERE id = ?",
                                  (instance_id,)).fetchone()
            if existing and RuntimeStatus(existing[0]) in ACTIVE_STATUSES:
                raise InstanceExists(instance_id)
            Store.clear_history(db, instance_id)
            Store.put_instance(db, row)
            Store.add_message(db, message)
        self.enqueue(instance_id, Item("start", {}, message.id))
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
        self.enqueue(instance_id, Item(kind, payload, message.id))
        return True

    # -- what episodes schedule (engine.episodes.Scheduler) -----------------------------------
    def enqueue(self, instance_id: str, item: Item) -> None:
        with self._cond:
            self._pending.setdefault(instance_id, []).append(item)
            self._cond.notify_all()

    def _wake(self) -> None:
        with self._cond:
            self._cond.notify_all()

    def _notify_changed(self) -> None:
        with self._changed:
            self._changed.notify_all()

    def arm_timer(self, instance_id: str, execution_id: str, timer_id: int,
                  fire_at_text: str) -> None:
        fire_at = h.parse_timestamp(fire_at_text)
        with self._cond:
            heapq.heappush(self._timers, (fire_at, next(self._timer_seq), instance_id,
                                          execution_id, timer_id, fire_at_text))
            self._cond.notify_all()

    def cancel_timer(self, instance_id: str, execution_id: str, timer_id: int) -> None:
        self._canceled_timers.add((instance_id, execution_id, timer_id))

    def dispatch_activity(self, instance_id: str, execution_id: str, event: Event) -> None:
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
            self.enqueue(instance_id, Item("volatile", {"event": failed},
                                           execution_id=execution_id))

        self._pool.submit(run)

    # -- recovery --------------------------------------------------------------------------
    def _recover(self) -> None:
        # read before anything is enqueued or dispatched: no episode can have changed a row yet
        unfinished = self.store.list_instances(ACTIVE_STATUSES)
        self._recovered = tuple(_status(row) for row in unfinished)
        for message in self.store.load_messages():
            self.enqueue(message.instance_id, Item(message.kind, message.payload, message.id))
        for row in unfinished:
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
                self.dispatch_activity(row.id, row.execution_id, event)
            elif event["EventType"] == EventType.TIMER_CREATED and event["EventId"] not in fired:
                self.arm_timer(row.id, row.execution_id, event["EventId"], event["FireAt"])

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
                    self._episodes.run(instance_id, items)
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
                Item("volatile", {"event": event}, execution_id=execution_id))


def _status(row: InstanceRow) -> InstanceStatus:
    return InstanceStatus(row.id, row.name, row.status, row.created, row.updated, row.input,
                          row.output, row.custom_status, row.parent_id)
