"""`Engine.recovered`: what was unfinished when the engine started, as the checkpoints stood.

The crashes suite (issue 13) caught `kvdr failover` killed while its last activity (save the
report) ran: the rerun's engine resumed the instance as it started, the activity and the closing
episode took a few milliseconds, and the CLI, which then listed the unfinished instances, found
none, started a second runbook and printed its ``not_needed`` report instead of the completed
one it had promised to resume. A listing taken after the start cannot tell "finished just now,
by this recovery" from "finished before"; the snapshot taken before anything resumed can.
"""

from __future__ import annotations

from pathlib import Path

from engine import Engine, ManualClock, RuntimeStatus
from engine.records import ACTIVE_STATUSES
from support import sample_app
from support.polling import eventually


def _interrupted_run(state: Path, markers: Path) -> str:
    """A `markers` run stopped while its second activity runs (as a killed process leaves it):
    the instance is checkpointed Running with that activity scheduled and not completed."""
    with Engine(sample_app.app, state, clock=ManualClock()) as first:
        instance = first.start_new("markers", {"dir": str(markers), "block_on": "release"},
                                   instance_id="interrupted")
        eventually(lambda: list(markers.glob("two.*.run")), timeout=30)
    (markers / "release").write_text("go")  # the re-run activity returns at once
    return instance


def test_an_instance_that_finishes_during_recovery_is_still_reported_as_recovered(
        tmp_path: Path) -> None:
    markers = tmp_path / "markers"
    markers.mkdir()
    state = tmp_path / "state"
    instance = _interrupted_run(state, markers)

    with Engine(sample_app.app, state, clock=ManualClock()) as second:
        done = second.wait_for_completion(instance, 30)
        active_now = [s.instance_id for s in second.list_instances(ACTIVE_STATUSES)]
        recovered = second.recovered

    assert done.runtime_status is RuntimeStatus.COMPLETED
    assert done.output == ["one", "two", "three"]
    assert active_now == []  # why a caller cannot rely on the listing after the start
    assert [(s.instance_id, s.name, s.runtime_status) for s in recovered] == [
        (instance, "markers", RuntimeStatus.RUNNING)]
    assert recovered[0].input == {"dir": str(markers), "block_on": "release"}


def test_an_engine_started_on_finished_instances_recovered_nothing(tmp_path: Path) -> None:
    with Engine(sample_app.app, tmp_path, clock=ManualClock()) as first:
        first.result(first.start_new("hello_sequence", instance_id="done"), 30)
        assert first.recovered == ()  # nothing was there when it started
    with Engine(sample_app.app, tmp_path, clock=ManualClock()) as second:
        assert second.recovered == ()
        assert second.get_status("done").runtime_status is RuntimeStatus.COMPLETED
