"""Index a DFApp the way the Functions host does, once, and invoke its functions the way the
Python worker does (the same converters, the same binding values)."""

from __future__ import annotations

import asyncio
import inspect
import json
import traceback
from dataclasses import dataclass, field
from typing import Any

from azure.functions import meta
from azure.functions.durable_functions import (
    ActivityTriggerConverter,
    OrchestrationTriggerConverter,
)

from engine.errors import FunctionNotFound


@dataclass
class HostedFunction:
    name: str
    trigger_type: str
    trigger_param: str
    func: Any
    trigger: Any
    bindings: list[Any] = field(default_factory=list)

    @property
    def client_param(self) -> str | None:
        for binding in self.bindings:
            if binding.type == "durableClient":
                return binding.name
        return None


class FunctionIndex:
    """Every function of one app, by trigger type. `app.get_functions()` may be called only
    once per app object, so an index is built once and shared (see `index_app`)."""

    def __init__(self, functions: list[Any]) -> None:
        self.all: dict[str, HostedFunction] = {}
        for fn in functions:
            trigger = fn.get_trigger()
            name = fn.get_function_name()
            # the Durable triggers may rename the function (orchestration=/activity=)
            name = getattr(trigger, "orchestration", None) or getattr(
                trigger, "activity", None) or name
            self.all[name] = HostedFunction(name, trigger.type, trigger.name,
                                            fn.get_user_function(), trigger,
                                            list(fn.get_bindings()))

    def of_type(self, trigger_type: str) -> dict[str, HostedFunction]:
        return {n: f for n, f in self.all.items() if f.trigger_type == trigger_type}

    def get(self, trigger_type: str, name: str) -> HostedFunction:
        found = self.all.get(name)
        if found is None or found.trigger_type != trigger_type:
            raise FunctionNotFound(trigger_type, name, list(self.of_type(trigger_type)))
        return found


_INDEXES: dict[int, tuple[Any, FunctionIndex]] = {}


def index_app(app: Any) -> FunctionIndex:
    """The index of `app`, built on first use (get_functions() cannot be called twice)."""
    cached = _INDEXES.get(id(app))
    if cached is None or cached[0] is not app:
        cached = (app, FunctionIndex(_functions_of(app)))
        _INDEXES[id(app)] = cached
    return cached[1]


def _functions_of(app: Any) -> list[Any]:
    if getattr(app, "functions_bindings", None):
        # Someone (a test, the worker) already indexed this app: a second get_functions()
        # reports every name as a duplicate, so take the same Function objects from the
        # builders it indexed (build() returns the builder's one Function).
        return [builder.build(app.auth_level) for builder in app._function_builders]
    return list(app.get_functions())


def run_orchestrator(fn: HostedFunction, body: str) -> str:
    """One orchestrator invocation, as the worker makes it; returns the SDK's JSON state.

    The SDK raises when the orchestrator raised; its message then ends with
    `$OutOfProcData$:` and the state JSON, which is returned instead."""
    context = OrchestrationTriggerConverter.decode(meta.Datum(type="json", value=body),
                                                   trigger_metadata=None)
    try:
        return fn.func(context)
    except Exception as exc:
        marker = "\n\n$OutOfProcData$:"
        text = str(exc)
        if marker in text:
            return text[text.index(marker) + len(marker):]
        return json.dumps({"isDone": False, "actions": [[]], "error": text or repr(exc)})


@dataclass
class ActivityResult:
    ok: bool
    result_json: str | None = None
    reason: str = ""
    details: str = ""


def run_activity(fn: HostedFunction, input_json: str | None) -> ActivityResult:
    """Run an activity with its input decoded by the SDK's activityTrigger converter and its
    return value encoded by the same converter, as the worker does."""
    try:
        value = ActivityTriggerConverter.decode(
            meta.Datum(type="json", value=input_json if input_json is not None else "null"),
            trigger_metadata=None)
        outcome = fn.func(**{fn.trigger_param: value})
        if inspect.isawaitable(outcome):
            outcome = asyncio.run(_await(outcome))
        encoded = ActivityTriggerConverter.encode(outcome, expected_type=None)
        return ActivityResult(True, encoded.value)
    except Exception as exc:
        return ActivityResult(False, reason=f"Activity function '{fn.name}' failed: "
                              f"{type(exc).__name__}: {exc}",
                              details="".join(traceback.format_exception(exc)))


async def _await(awaitable: Any) -> Any:
    return await awaitable
