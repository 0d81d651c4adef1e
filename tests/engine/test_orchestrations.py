"""Sample orchestrations run on the engine: every feature of the issue, on a manual clock."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from engine import Engine, ManualClock, RuntimeStatus
from engine.errors import FunctionNotFound, InstanceExists, InstanceNotFound
from support import sample_app
from support.polling import eventually


def test_activity_chain_returns_each_result_in_order(engine: Engine):
    instance = engine.start_new("hello_sequence", ["Tokyo", "Seattle", "London"])
    assert engine.result(instance, 30) == ["Hello Tokyo!", "Hello Seattle!", "Hello London!"]


def test_fan_out_fan_in_with_a_sync_and_an_async_activity(engine: Engine):
    instance = engine.start_new("fan_out_fan_in", 50)
    assert engine.result(instance, 30) == {"sum": 2450, "square": 2450 ** 2}


def test_history_holds_the_extension_event_types_in_order(engine: Engine):
    instance = engine.start_new("hello_sequence", ["Oslo"])
    engine.result(instance, 30)
    history = engine.get_status(instance, show_history=True, show_history_output=True).history
    assert [e["EventType"] for e in history] == [
        "OrchestratorStarted", "ExecutionStarted", "TaskScheduled", "OrchestratorCompleted",
        "OrchestratorStarted", "TaskCompleted", "ExecutionCompleted", "OrchestratorCompleted"]
    assert history[5]["Result"] == '"Hello Oslo!"'


def test_failed_activity_surfaces_as_exception_and_fails_the_orchestration(engine: Engine):
    instance = engine.start_new("failing")
    status = engine.wait_for_completion(instance, 30)
    assert status.runtime_status is RuntimeStatus.FAILED
    assert "ValueError: unrecoverable" in status.output
    assert status.custom_status == {
        "caught": "Activity function 'always_fails' failed: ValueError: boom "}


def test_retry_waits_the_interval_on_a_durable_timer_then_succeeds(engine: Engine,
                                                                   clock: ManualClock):
    instance = engine.start_new("with_retry", {"key": "r1", "attempts": 3})
    status = eventually(lambda: _terminal(engine, instance),
                        tick=lambda: clock.advance(timedelta(seconds=5)))
    assert status.runtime_status is RuntimeStatus.COMPLETED
    assert status.output == "recovered"
    assert sample_app.CALLS["flaky:r1"] == 3
    kinds = [e["EventType"] for e in engine.get_status(instance, show_history=True).history]
    assert kinds.count("TimerCreated") == 2 and kinds.count("TaskFailed") == 2


def test_retry_gives_up_after_max_attempts(engine: Engine, clock: ManualClock):
    instance = engine.start_new("with_retry", {"key": "r2", "attempts": 2})
    status = eventually(lambda: _terminal(engine, instance),
                        tick=lambda: clock.advance(timedelta(seconds=5)))
    assert status.runtime_status is RuntimeStatus.FAILED
    assert "transient failure 2" in status.output
    assert sample_app.CALLS["flaky:r2"] == 2


def test_durable_timer_fires_only_when_the_clock_reaches_it(engine: Engine, clock: ManualClock):
    start = clock.now()
    instance = engine.start_new("sleeper", 2)
    eventually(lambda: _has_event(engine, instance, "TimerCreated"))
    clock.advance(timedelta(hours=1))
    with pytest.raises(TimeoutError):
        engine.wait_for_completion(instance, 0.3)
    clock.advance(timedelta(hours=1))
    assert engine.result(instance, 30) == (start + timedelta(hours=2)).isoformat()


def test_external_event_wins_the_race_against_a_timeout(engine: Engine):
    instance = engine.start_new("approval")
    eventually(lambda: engine.get_status(instance).custom_status == "waiting for approval")
    engine.raise_event(instance, "Approval", {"by": "ops"})
    assert engine.result(instance, 30) == {"approved": {"by": "ops"}}
    assert engine.get_status(instance).custom_status == "approved"


def test_timeout_wins_the_race_when_no_event_arrives(engine: Engine, clock: ManualClock):
    instance = engine.start_new("approval")
    eventually(lambda: _has_event(engine, instance, "TimerCreated"))
    clock.advance(timedelta(minutes=31))
    assert engine.result(instance, 30) == {"approved": None}


def test_events_raised_before_anyone_waits_are_buffered_in_order(engine: Engine):
    instance = engine.start_new("two_events")
    engine.raise_event(instance, "Step", 1)
    engine.raise_event(instance, "Step", 2)
    assert engine.result(instance, 30) == [1, 2]


def test_sub_orchestrations_run_as_their_own_instances(engine: Engine):
    instance = engine.start_new("parent", ["A", "B"], instance_id="p1")
    assert engine.result(instance, 30) == ["Hello A!", "Hello B!", "Hello Oslo!"]
    named = engine.get_status("p1-named")
    assert named.runtime_status is RuntimeStatus.COMPLETED
    assert named.parent_instance_id == "p1"
    children = [s for s in engine.list_instances() if s.parent_instance_id == "p1"]
    assert len(children) == 3


def test_sub_orchestration_failure_reaches_the_parent_as_an_exception(engine: Engine):
    instance = engine.start_new("parent_of_failure")
    assert engine.result(instance, 30) == "child failed: True"


def test_continue_as_new_restarts_with_fresh_history(engine: Engine):
    instance = engine.start_new("counter", 1)
    assert engine.result(instance, 30) == 128
    history = engine.get_status(instance, show_history=True).history
    assert sum(e["EventType"] == "TaskScheduled" for e in history) == 1


def test_terminate_ends_a_waiting_instance(engine: Engine):
    instance = engine.start_new("two_events")
    eventually(lambda: engine.get_status(instance).runtime_status is RuntimeStatus.RUNNING)
    assert engine.terminate(instance, "operator said so")
    status = engine.wait_for_completion(instance, 30)
    assert status.runtime_status is RuntimeStatus.TERMINATED
    assert status.output == "operator said so"
    assert engine.terminate(instance, "again") is False


def test_suspended_instance_holds_events_until_resumed(engine: Engine):
    instance = engine.start_new("two_events")
    eventually(lambda: engine.get_status(instance).runtime_status is RuntimeStatus.RUNNING)
    engine.suspend(instance, "maintenance")
    eventually(lambda: engine.get_status(instance).runtime_status is RuntimeStatus.SUSPENDED)
    engine.raise_event(instance, "Step", "a")
    engine.raise_event(instance, "Step", "b")
    with pytest.raises(TimeoutError):
        engine.wait_for_completion(instance, 0.3)
    assert engine.get_status(instance).runtime_status is RuntimeStatus.SUSPENDED
    engine.resume(instance, "done")
    assert engine.result(instance, 30) == ["a", "b"]


def test_purge_deletes_history_and_status(engine: Engine):
    instance = engine.start_new("hello_sequence", ["X"])
    engine.result(instance, 30)
    assert engine.purge(instance)
    assert engine.get_status(instance) is None
    assert not engine.purge(instance)


def test_list_instances_filters_by_status(engine: Engine):
    done = engine.start_new("hello_sequence", ["X"])
    engine.result(done, 30)
    waiting = engine.start_new("two_events")
    eventually(lambda: engine.get_status(waiting).runtime_status is RuntimeStatus.RUNNING)
    running = engine.list_instances([RuntimeStatus.RUNNING])
    assert [s.instance_id for s in running] == [waiting]
    assert {s.instance_id for s in engine.list_instances()} == {done, waiting}


def test_client_errors_are_specific(engine: Engine):
    with pytest.raises(FunctionNotFound):
        engine.start_new("no_such_orchestrator")
    with pytest.raises(InstanceNotFound):
        engine.raise_event("missing", "E")
    engine.start_new("two_events", instance_id="same")
    with pytest.raises(InstanceExists):
        engine.start_new("two_events", instance_id="same")


def test_a_finished_instance_id_can_be_started_again(engine: Engine):
    engine.result(engine.start_new("hello_sequence", ["A"], instance_id="again"), 30)
    engine.start_new("hello_sequence", ["B"], instance_id="again")
    assert engine.result("again", 30) == ["Hello B!"]


def test_non_deterministic_orchestrator_fails_with_a_clear_error(engine: Engine):
    instance = engine.start_new("nondeterministic")
    eventually(lambda: _has_event(engine, instance, "TaskCompleted"))
    sample_app.NONDETERMINISTIC_NAME["value"] = "say_goodbye"
    try:
        engine.raise_event(instance, "Continue")
        status = engine.wait_for_completion(instance, 30)
    finally:
        sample_app.NONDETERMINISTIC_NAME["value"] = "say_hello"
    assert status.runtime_status is RuntimeStatus.FAILED
    assert "Non-Deterministic workflow detected" in status.output
    assert "'say_hello'" in status.output and "'say_goodbye'" in status.output


def test_activity_concurrency_is_bounded(tmp_path):
    # Each activity holds its worker until the pool has three running at once, so the peak
    # is reached however slowly the threads are scheduled; a fourth worker would push it
    # past three while the first three are still held.
    limit = 3
    active, peak = [0], [0]
    changed = threading.Condition()
    original = sample_app.double

    def probe(n):
        with changed:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
            changed.notify_all()
            reached = changed.wait_for(lambda: peak[0] >= limit, timeout=30)
            active[0] -= 1
        assert reached, "the pool never ran three activities at once"
        return n * 2

    with Engine(sample_app.app, tmp_path, clock=ManualClock(),
                max_activity_concurrency=limit) as engine:
        fn = engine.functions.get("activityTrigger", "double")
        fn.func = probe
        try:
            result = engine.result(engine.start_new("fan_out_fan_in", 30), 60)
        finally:
            fn.func = original
    assert result == {"sum": 870, "square": 870 ** 2}
    assert peak[0] == limit


def _terminal(engine: Engine, instance: str):
    status = engine.get_status(instance)
    return status if status.runtime_status.is_terminal else None


def _has_event(engine: Engine, instance: str, kind: str) -> bool:
    status = engine.get_status(instance, show_history=True)
    return any(e["EventType"] == kind for e in status.history or [])
