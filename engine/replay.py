"""What the Durable extension does with the actions an out-of-proc orchestrator returns.

For replay schema V2/V3 the extension's OutOfProcOrchestrationShim awaits the actions one after
another (`foreach action: await InvokeAPIFromAction(action)`) inside a Durable Task Framework
replay. DTFx hands each scheduling call the next sequence number and matches it against the
history; completions resume whatever awaits them. This module replays that: it re-runs the shim
over the whole history with small deterministic futures, which gives every action the sequence
number the SDK expects, finds the actions that are new in this episode, and detects
non-determinism exactly where DTFx does (a scheduled event whose id or name no longer matches).
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from dateutil.parser import isoparse

from engine import history as h
from engine.errors import EngineError, NonDeterminismError
from engine.history import Event, EventType

# actionType numbers of the out-of-proc protocol (AsyncActionType in the extension).
CALL_ACTIVITY = 0
CALL_ACTIVITY_WITH_RETRY = 1
CALL_SUB_ORCHESTRATOR = 2
CALL_SUB_ORCHESTRATOR_WITH_RETRY = 3
CONTINUE_AS_NEW = 4
CREATE_TIMER = 5
WAIT_FOR_EXTERNAL_EVENT = 6
CALL_ENTITY = 7
CALL_HTTP = 8
SIGNAL_ENTITY = 9
WHEN_ANY = 11
WHEN_ALL = 12

_COMPLETIONS = {
    EventType.TASK_COMPLETED: ("TaskScheduledId", True),
    EventType.TASK_FAILED: ("TaskScheduledId", False),
    EventType.SUB_ORCHESTRATION_INSTANCE_COMPLETED: ("TaskScheduledId", True),
    EventType.SUB_ORCHESTRATION_INSTANCE_FAILED: ("TaskScheduledId", False),
    EventType.TIMER_FIRED: ("TimerId", True),
}
_SCHEDULING = {EventType.TASK_SCHEDULED: "an activity task",
               EventType.TIMER_CREATED: "a durable timer",
               EventType.SUB_ORCHESTRATION_INSTANCE_CREATED: "a sub-orchestration"}


@dataclass
class ReplayOutcome:
    """What an episode's actions ask the engine to do now."""

    new_events: list[Event] = field(default_factory=list)
    canceled_timers: set[int] = field(default_factory=set)
    continue_as_new_input: str | None = None
    continued_as_new: bool = False


class _Future:
    __slots__ = ("callbacks", "done", "event", "ok")

    def __init__(self) -> None:
        self.done = False
        self.ok = True
        self.event: Event | None = None
        self.callbacks: list[Callable[[_Future], None]] = []

    def resolve(self, ok: bool, event: Event | None) -> None:
        if self.done:
            return
        self.done, self.ok, self.event = True, ok, event
        callbacks, self.callbacks = self.callbacks, []
        for callback in callbacks:
            callback(self)

    def then(self, callback: Callable[[_Future], None]) -> None:
        if self.done:
            callback(self)
        else:
            self.callbacks.append(callback)


Coroutine = Generator[_Future, _Future, Any]


class ShimReplay:
    """Replays one episode: `run(history, actions, sub_instance_id)` → ReplayOutcome."""

    def __init__(self, history: list[Event], actions: list[dict[str, Any]],
                 sub_instance_id: Callable[[int], str]) -> None:
        self._history = history
        self._actions = actions
        self._sub_instance_id = sub_instance_id
        self._scheduled: dict[int, Event] = {}
        for event in history:
            if event["EventType"] in _SCHEDULING:
                self._scheduled[event["EventId"]] = event
        self._claimed: set[int] = set()
        self._next_id = 0
        self._now: datetime | None = None
        self._waiting: dict[int, _Future] = {}
        self._early: dict[int, tuple[bool, Event]] = {}
        self._event_waiters: dict[str, deque[_Future]] = defaultdict(deque)
        self._event_buffer: dict[str, deque[Event]] = defaultdict(deque)
        self._outcome = ReplayOutcome()

    # -- the driver ------------------------------------------------------------------------
    def run(self) -> ReplayOutcome:
        for event in self._history:
            kind = event["EventType"]
            if kind == EventType.EXECUTION_STARTED:
                self._spawn(self._shim())   # DTFx starts the orchestration here
            elif kind == EventType.ORCHESTRATOR_STARTED:
                self._now = h.parse_timestamp(event["Timestamp"])
            elif kind in _COMPLETIONS:
                key, ok = _COMPLETIONS[EventType(kind)]
                self._complete(event[key], ok, event)
            elif kind == EventType.EVENT_RAISED:
                waiters = self._event_waiters[event["Name"]]
                if waiters:
                    waiters.popleft().resolve(True, event)
                else:
                    self._event_buffer[event["Name"]].append(event)
        unclaimed = sorted(set(self._scheduled) - self._claimed)
        if unclaimed:
            old = self._scheduled[unclaimed[0]]
            raise NonDeterminismError(
                "Non-Deterministic workflow detected: A previous execution of this orchestration "
                f"scheduled {_SCHEDULING[EventType(old['EventType'])]} with sequence ID "
                f"{unclaimed[0]}{_named(old)}, but the current replay execution hasn't (yet?) "
                "scheduled this task. Was a change made to the orchestrator code after this "
                "instance had already started running?")
        self._outcome.new_events.sort(key=lambda e: e["EventId"])
        return self._outcome

    def _spawn(self, coroutine: Coroutine) -> _Future:
        result = _Future()

        def step(value: _Future | None) -> None:
            try:
                awaited = coroutine.send(value) if value is not None else next(coroutine)
            except StopIteration as stop:
                outcome: _Future = stop.value
                result.resolve(outcome.ok if outcome else True,
                               outcome.event if outcome else None)
                return
            awaited.then(step)

        step(None)
        return result

    def _complete(self, task_id: int, ok: bool, event: Event) -> None:
        future = self._waiting.pop(task_id, None)
        if future is None:
            self._early[task_id] = (ok, event)
        else:
            future.resolve(ok, event)

    # -- the extension's shim --------------------------------------------------------------
    def _shim(self) -> Coroutine:
        for action in self._actions:
            yield self._invoke(action)
        return None

    def _invoke(self, action: dict[str, Any]) -> _Future:
        kind = action.get("actionType")
        if kind == CALL_ACTIVITY:
            return self._schedule(EventType.TASK_SCHEDULED, action)
        if kind == CREATE_TIMER:
            return self._schedule(EventType.TIMER_CREATED, action)
        if kind == CALL_SUB_ORCHESTRATOR:
            return self._schedule(EventType.SUB_ORCHESTRATION_INSTANCE_CREATED, action)
        if kind == CALL_ACTIVITY_WITH_RETRY:
            return self._spawn(self._with_retry(EventType.TASK_SCHEDULED, action))
        if kind == CALL_SUB_ORCHESTRATOR_WITH_RETRY:
            return self._spawn(
                self._with_retry(EventType.SUB_ORCHESTRATION_INSTANCE_CREATED, action))
        if kind == WAIT_FOR_EXTERNAL_EVENT:
            future = _Future()
            name = action["externalEventName"]
            if self._event_buffer[name]:
                future.resolve(True, self._event_buffer[name].popleft())
            else:
                self._event_waiters[name].append(future)
            return future
        if kind == WHEN_ALL:
            return _when_all([self._invoke(a) for a in action.get("compoundActions") or []])
        if kind == WHEN_ANY:
            return _when_any([self._invoke(a) for a in action.get("compoundActions") or []])
        if kind == CONTINUE_AS_NEW:
            self._outcome.continued_as_new = True
            self._outcome.continue_as_new_input = action.get("input")
            done = _Future()
            done.resolve(True, None)
            return done
        names = {CALL_ENTITY: "call_entity", SIGNAL_ENTITY: "signal_entity",
                 CALL_HTTP: "call_http"}
        raise EngineError(f"the local engine does not support {names.get(kind, kind)!r} "
                          "actions; run this orchestration on Azure Functions")

    def _with_retry(self, kind: EventType, action: dict[str, Any]) -> Coroutine:
        # DTFx's RetryInterceptor: after every failed attempt, a timer of the retry interval
        # (the SDK sends no backoff, so the coefficient is 1) - including after the last one,
        # which the SDK waits for before it reports the failure.
        options = action.get("retryOptions") or {}
        attempts = max(1, int(options.get("maxNumberOfAttempts", 1)))
        interval = timedelta(milliseconds=int(options.get("firstRetryIntervalInMilliseconds", 0)))
        last: _Future | None = None
        for _ in range(attempts):
            outcome = yield self._schedule(kind, action)
            if outcome.ok:
                return outcome
            last = outcome
            assert self._now is not None
            yield self._schedule(EventType.TIMER_CREATED, {"fireAt": self._now + interval})
        return last

    def _schedule(self, kind: EventType, action: dict[str, Any]) -> _Future:
        task_id = self._next_id
        self._next_id += 1
        name = action.get("functionName")
        old = self._scheduled.get(task_id)
        if old is not None:
            if old["EventType"] != kind or (name is not None and old.get("Name") != name):
                raise NonDeterminismError(
                    "Non-Deterministic workflow detected: A previous execution of this "
                    f"orchestration scheduled {_SCHEDULING[EventType(old['EventType'])]} with "
                    f"sequence number {task_id}{_named(old)}, but the current orchestration "
                    f"replay instead scheduled {_SCHEDULING[kind]}"
                    f"{f' named {name!r}' if name else ''} with the same sequence number.")
            self._claimed.add(task_id)
        else:
            self._outcome.new_events.append(self._new_event(kind, task_id, action))
        if kind == EventType.TIMER_CREATED and action.get("isCanceled"):
            self._outcome.canceled_timers.add(task_id)
        future = _Future()
        early = self._early.pop(task_id, None)
        if early is not None:
            future.resolve(*early)
        else:
            self._waiting[task_id] = future
        return future

    def _new_event(self, kind: EventType, task_id: int, action: dict[str, Any]) -> Event:
        assert self._now is not None
        if kind == EventType.TASK_SCHEDULED:
            return h.task_scheduled(self._now, task_id, action["functionName"],
                                    action.get("input"))
        if kind == EventType.TIMER_CREATED:
            fire_at = action["fireAt"]
            if isinstance(fire_at, str):
                fire_at = _parse_fire_at(fire_at)
            return h.timer_created(self._now, task_id, fire_at)
        return h.sub_orchestration_created(
            self._now, task_id, action["functionName"],
            action.get("instanceId") or self._sub_instance_id(task_id), action.get("input"))


def _named(event: Event) -> str:
    return f" and name {event['Name']!r}" if event.get("Name") else ""


def _parse_fire_at(text: str) -> datetime:
    value = isoparse(text)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _when_all(children: list[_Future]) -> _Future:
    # C#'s Task.WhenAll completes once every child has (faulted or not).
    combined = _Future()
    remaining = [len(children)]
    failed: list[_Future] = []

    def on_child(child: _Future) -> None:
        remaining[0] -= 1
        if not child.ok:
            failed.append(child)
        if remaining[0] == 0:
            combined.resolve(not failed, failed[0].event if failed else None)

    if not children:
        combined.resolve(True, None)
    for child in children:
        child.then(on_child)
    return combined


def _when_any(children: list[_Future]) -> _Future:
    combined = _Future()
    for child in children:
        child.then(lambda c: combined.resolve(True, c.event))
    if not children:
        combined.resolve(True, None)
    return combined
