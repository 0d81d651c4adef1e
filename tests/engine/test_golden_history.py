"""The engine speaks the extension's out-of-proc protocol, pinned to the schema it negotiates."""

from __future__ import annotations

import json

from engine import history as h
from engine.functions import index_app, run_orchestrator
from engine.replay import ShimReplay
from support import sample_app

# What the Durable extension (bundle 4.x) sends the Python worker for `hello_sequence` after the
# first activity completed: DTFx history events (Newtonsoft, integer EventType), input as JSON
# text, upperSchemaVersion V2 and upperSchemaVersionNew V3, the Azure Storage timer limits.
GOLDEN_CONTEXT = """{
  "history": [
    {"EventType": 12, "EventId": -1, "IsPlayed": true, "Timestamp": "2030-01-01T00:00:00.000000Z"},
    {"OrchestrationInstance": {"InstanceId": "golden", "ExecutionId": "e1"}, "EventType": 0,
     "ParentInstance": null, "Name": "hello_sequence", "Version": "",
     "Input": "\\"[\\\\\\"Tokyo\\\\\\", \\\\\\"Seattle\\\\\\"]\\"", "Tags": null,
     "EventId": -1, "IsPlayed": true, "Timestamp": "2030-01-01T00:00:00.000000Z"},
    {"EventType": 4, "Name": "say_hello", "Version": "", "Input": "\\"Tokyo\\"", "EventId": 0,
     "IsPlayed": true, "Timestamp": "2030-01-01T00:00:00.000000Z"},
    {"EventType": 13, "EventId": -1, "IsPlayed": true, "Timestamp": "2030-01-01T00:00:00.000000Z"},
    {"EventType": 12, "EventId": -1, "IsPlayed": false, "Timestamp": "2030-01-01T00:00:01.000000Z"},
    {"EventType": 5, "TaskScheduledId": 0, "Result": "\\"Hello Tokyo!\\"", "EventId": -1,
     "IsPlayed": false, "Timestamp": "2030-01-01T00:00:01.000000Z"}
  ],
  "input": "[\\"Tokyo\\", \\"Seattle\\"]",
  "instanceId": "golden",
  "isReplaying": true,
  "parentInstanceId": null,
  "upperSchemaVersion": 1,
  "upperSchemaVersionNew": 2,
  "longRunningTimerIntervalDuration": "3.00:00:00",
  "maximumShortTimerDuration": "6.00:00:00",
  "defaultHttpAsyncRequestSleepTimeMillseconds": 30000
}"""


def _orchestrator(name: str):
    return index_app(sample_app.app).get("orchestrationTrigger", name)


def test_sdk_answers_the_golden_history_with_schema_v3_and_a_flat_action_list():
    state = json.loads(run_orchestrator(_orchestrator("hello_sequence"), GOLDEN_CONTEXT))
    assert state == {
        "isDone": False,
        "schemaVersion": h.PINNED_SCHEMA_VERSION,
        "actions": [[
            {"actionType": 0, "functionName": "say_hello", "input": '"Tokyo"'},
            {"actionType": 0, "functionName": "say_hello", "input": '"Seattle"'},
        ]],
    }
    assert h.PINNED_SCHEMA_VERSION == 2     # ReplaySchema.V3 in SDK 1.7


def test_the_extension_replay_schedules_only_the_new_action_with_the_next_sequence_id():
    context = json.loads(GOLDEN_CONTEXT)
    state = json.loads(run_orchestrator(_orchestrator("hello_sequence"), GOLDEN_CONTEXT))
    outcome = ShimReplay(context["history"], state["actions"][0], lambda n: f"sub{n}").run()
    assert [(e["EventType"], e["EventId"], e["Name"], e["Input"]) for e in outcome.new_events] \
        == [(h.EventType.TASK_SCHEDULED, 1, "say_hello", '"Seattle"')]


def test_the_golden_history_completes_with_the_orchestrator_output():
    context = json.loads(GOLDEN_CONTEXT)
    context["history"] += [
        {"EventType": 4, "Name": "say_hello", "Version": "", "Input": '"Seattle"', "EventId": 1,
         "IsPlayed": True, "Timestamp": "2030-01-01T00:00:01.000000Z"},
        {"EventType": 13, "EventId": -1, "IsPlayed": True,
         "Timestamp": "2030-01-01T00:00:01.000000Z"},
        {"EventType": 12, "EventId": -1, "IsPlayed": False,
         "Timestamp": "2030-01-01T00:00:02.000000Z"},
        {"EventType": 5, "TaskScheduledId": 1, "Result": '"Hello Seattle!"', "EventId": -1,
         "IsPlayed": False, "Timestamp": "2030-01-01T00:00:02.000000Z"},
    ]
    state = json.loads(run_orchestrator(_orchestrator("hello_sequence"), json.dumps(context)))
    assert state["isDone"] is True
    assert state["output"] == ["Hello Tokyo!", "Hello Seattle!"]


def test_engine_event_builders_produce_the_golden_shapes():
    golden = json.loads(GOLDEN_CONTEXT)["history"]
    when = h.parse_timestamp("2030-01-01T00:00:00.000000Z")
    built = [
        h.orchestrator_started(when),
        h.execution_started(when, "golden", "e1", "hello_sequence", '["Tokyo", "Seattle"]'),
        h.task_scheduled(when, 0, "say_hello", '"Tokyo"'),
        h.orchestrator_completed(when),
    ]
    for mine, theirs in zip(built, golden[:4], strict=True):
        assert mine == {**theirs, "IsPlayed": False}
