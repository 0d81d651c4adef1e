"""A small DFApp exercising every engine feature (imported by the engine tests)."""

from __future__ import annotations

import json
import os
import threading
from collections import Counter
from datetime import timedelta
from pathlib import Path

import azure.durable_functions as df
import azure.functions as func

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)

CALLS: Counter[str] = Counter()
_lock = threading.Lock()
NONDETERMINISTIC_NAME = {"value": "say_hello"}


def _record(name: str) -> None:
    with _lock:
        CALLS[name] += 1


@app.activity_trigger(input_name="name")
def say_hello(name: str) -> str:
    _record(f"say_hello:{name}")
    return f"Hello {name}!"


@app.activity_trigger(input_name="payload")
def say_goodbye(payload: str) -> str:
    return f"Goodbye {payload}!"


@app.activity_trigger(input_name="n")
def double(n: int) -> int:
    return n * 2


@app.activity_trigger(input_name="n")
async def async_square(n: int) -> int:
    return n * n


@app.activity_trigger(input_name="key")
def flaky(key: str) -> str:
    """Fails on its first two calls per key."""
    _record(f"flaky:{key}")
    if CALLS[f"flaky:{key}"] <= 2:
        raise RuntimeError(f"transient failure {CALLS[f'flaky:{key}']}")
    return "recovered"


@app.activity_trigger(input_name="reason")
def always_fails(reason: str) -> None:
    raise ValueError(reason)


@app.activity_trigger(input_name="spec")
def write_marker(spec: dict) -> str:
    """Writes one marker file per run (the kill -9 test counts them), optionally blocking until
    a release file exists."""
    directory = Path(spec["dir"])
    run = len(list(directory.glob(f"{spec['step']}.*.run"))) + 1
    (directory / f"{spec['step']}.{run}.{os.getpid()}.run").write_text("ran")
    release = spec.get("wait_for")
    if release:
        import time

        deadline = time.monotonic() + 60
        while not (directory / release).exists() and time.monotonic() < deadline:
            time.sleep(0.02)
    return spec["step"]


@app.orchestration_trigger(context_name="context")
def hello_sequence(context: df.DurableOrchestrationContext):
    cities = context.get_input() or ["Tokyo", "Seattle", "London"]
    results = []
    for city in cities:
        results.append((yield context.call_activity("say_hello", city)))
    return results


@app.orchestration_trigger(context_name="context")
def fan_out_fan_in(context: df.DurableOrchestrationContext):
    count = context.get_input()
    doubled = yield context.task_all([context.call_activity("double", i) for i in range(count)])
    squared = yield context.call_activity("async_square", sum(doubled))
    return {"sum": sum(doubled), "square": squared}


@app.orchestration_trigger(context_name="context")
def with_retry(context: df.DurableOrchestrationContext):
    options = df.RetryOptions(first_retry_interval_in_milliseconds=5000,
                              max_number_of_attempts=context.get_input()["attempts"])
    return (yield context.call_activity_with_retry("flaky", options, context.get_input()["key"]))


@app.orchestration_trigger(context_name="context")
def failing(context: df.DurableOrchestrationContext):
    try:
        yield context.call_activity("always_fails", "boom")
    except Exception as exc:
        context.set_custom_status({"caught": str(exc).splitlines()[0]})
    yield context.call_activity("always_fails", "unrecoverable")
    return "unreachable"


@app.orchestration_trigger(context_name="context")
def sleeper(context: df.DurableOrchestrationContext):
    fire_at = context.current_utc_datetime + timedelta(hours=context.get_input())
    yield context.create_timer(fire_at)
    return context.current_utc_datetime.isoformat()


@app.orchestration_trigger(context_name="context")
def approval(context: df.DurableOrchestrationContext):
    context.set_custom_status("waiting for approval")
    timeout = context.create_timer(context.current_utc_datetime + timedelta(minutes=30))
    approved = context.wait_for_external_event("Approval")
    winner = yield context.task_any([approved, timeout])
    if winner == approved:
        timeout.cancel()
        context.set_custom_status("approved")
        return {"approved": approved.result}
    context.set_custom_status("timed out")
    return {"approved": None}


@app.orchestration_trigger(context_name="context")
def two_events(context: df.DurableOrchestrationContext):
    first = yield context.wait_for_external_event("Step")
    second = yield context.wait_for_external_event("Step")
    return [first, second]


@app.orchestration_trigger(context_name="context")
def parent(context: df.DurableOrchestrationContext):
    children = [context.call_sub_orchestrator("hello_sequence", [city]) for city in
                context.get_input()]
    results = yield context.task_all(children)
    named = yield context.call_sub_orchestrator("hello_sequence", ["Oslo"],
                                                f"{context.instance_id}-named")
    return [r[0] for r in results] + named


@app.orchestration_trigger(context_name="context")
def parent_of_failure(context: df.DurableOrchestrationContext):
    try:
        yield context.call_sub_orchestrator("failing")
    except Exception as exc:
        return f"child failed: {'unrecoverable' in str(exc)}"


@app.orchestration_trigger(context_name="context")
def counter(context: df.DurableOrchestrationContext):
    value = context.get_input()
    value = yield context.call_activity("double", value)
    if value < 100:
        context.continue_as_new(value)
        return None
    return value


@app.orchestration_trigger(context_name="context")
def nondeterministic(context: df.DurableOrchestrationContext):
    yield context.call_activity(NONDETERMINISTIC_NAME["value"], "x")
    yield context.wait_for_external_event("Continue")
    return "done"


@app.orchestration_trigger(context_name="context")
def markers(context: df.DurableOrchestrationContext):
    spec = context.get_input()
    done = []
    for step in ("one", "two", "three"):
        wait_for = spec.get("block_on") if step == "two" else None
        done.append((yield context.call_activity(
            "write_marker", {"dir": spec["dir"], "step": step, "wait_for": wait_for})))
    return done


@app.orchestration_trigger(context_name="context")
def noop_fan_out(context: df.DurableOrchestrationContext):
    yield context.task_all([context.call_activity("noop", i) for i in range(context.get_input())])
    return "ok"


@app.orchestration_trigger(context_name="context")
def noop_chain(context: df.DurableOrchestrationContext):
    for i in range(context.get_input()):
        yield context.call_activity("noop", i)
    return "ok"


@app.activity_trigger(input_name="i")
def noop(i: int) -> int:
    return i


@app.route(route="orchestrators/{name}", methods=["POST"])
@app.durable_client_input(client_name="client")
async def http_start(req: func.HttpRequest, client: df.DurableOrchestrationClient):
    body = req.get_body()
    instance_id = await client.start_new(req.route_params["name"], None,
                                         json.loads(body) if body else None)
    return client.create_check_status_response(req, instance_id)


@app.route(route="status/{instance_id}", methods=["GET"])
@app.durable_client_input(client_name="client")
async def http_status(req: func.HttpRequest, client: df.DurableOrchestrationClient):
    status = await client.get_status(req.route_params["instance_id"])
    if not status:
        return func.HttpResponse("not found", status_code=404)
    return func.HttpResponse(json.dumps(status.to_json()), mimetype="application/json")


@app.route(route="echo", methods=["GET", "POST"], auth_level=func.AuthLevel.FUNCTION)
def echo(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(json.dumps({"method": req.method, "query": dict(req.params),
                                         "body": req.get_body().decode()}),
                             status_code=201, headers={"X-Echo": "yes"},
                             mimetype="application/json")


TIMER_FIRES: list[bool] = []
GRID_EVENTS: list[dict] = []


@app.timer_trigger(schedule="0 0 3 * * *", arg_name="timer", run_on_startup=False)
def nightly(timer: func.TimerRequest) -> None:
    TIMER_FIRES.append(timer.past_due)


@app.event_grid_trigger(arg_name="event")
def on_grid_event(event: func.EventGridEvent) -> None:
    GRID_EVENTS.append({"id": event.id, "type": event.event_type, "subject": event.subject,
                        "data": event.get_json()})
