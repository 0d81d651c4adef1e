"""The failover runbook through the engine and the emulator: plan, approval gate, drain,
switch (epoch + 1), verify, report — and the cases where it must change nothing."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import replace
from typing import Any

import pytest

from activities.failover import FailoverActivities
from emulator.eventgrid import build_event
from kvdr.events.handler import handle_payload, process_handler, reset_caches
from kvdr.events.model import EventStatus
from kvdr.failover.contracts import VerifyRequest, VerifyResult
from kvdr.failover.request import APPROVAL_EVENT, FailoverKind, FailoverRequest
from kvdr.services import Runtime
from kvdr.sync.model import Reason
from kvdr.topology.store import read_topology, write_topology
from kvdr.vault.session import VaultSession
from support.sync import WITH_EUROPE, SyncEnv
from support.telemetry import custom_events

SECRET_VALUE = "failover-test-value-7f3a9c"  # must never appear in outputs or status


def request(kind: FailoverKind = FailoverKind.PLANNED, target: str = "west",
            **fields: Any) -> FailoverRequest:
    return FailoverRequest(kind=kind, target=target, reason=fields.pop("reason", "test"),
                           requested_by=fields.pop("requested_by", "pytest"), **fields)


def start(env: SyncEnv, req: FailoverRequest) -> str:
    return env.engine.start_new("failover", req.to_dict(),
                                instance_id=f"failover-{uuid.uuid4().hex[:8]}")


def run(env: SyncEnv, req: FailoverRequest, timeout: float = 120) -> dict[str, Any]:
    return env.engine.result(start(env, req), timeout=timeout)


def records(env: SyncEnv) -> dict[str, tuple[str, int] | None]:
    found = {}
    for region in env.config.region_names:
        record = read_topology(env.runtime.session(region))
        found[region] = (record.primary, record.epoch) if record else None
    return found


def wait_for_phase(env: SyncEnv, iid: str, phase: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = env.engine.get_status(iid)
        custom = status.custom_status if status else None
        if isinstance(custom, dict) and custom.get("phase") == phase:
            return custom
        time.sleep(0.05)
    raise AssertionError(f"{iid} never reached phase {phase}")


@pytest.fixture
def synced(sync_env: SyncEnv) -> SyncEnv:
    """east primary at epoch 1, west in sync with one secret."""
    sync_env.emu.secret_client("east").set_secret("app-db-password", SECRET_VALUE)
    assert sync_env.sync()["status"] == "succeeded"
    return sync_env


def test_a_planned_failover_raises_the_epoch_by_one_and_every_vault_names_the_new_primary(
        synced: SyncEnv) -> None:
    report = run(synced, request())
    assert report["outcome"] == "completed"
    assert (report["source"], report["target"]) == ("east", "west")
    assert (report["epoch_before"], report["epoch_after"]) == (1, 2)
    assert records(synced) == {"east": ("west", 2), "west": ("west", 2)}
    assert sorted(report["fenced"]) == ["east", "west"]
    assert set(report["timings"]) >= {"assess", "reconcile", "drain", "switch", "verify"}
    assert report["rto_seconds"] is not None and report["within_rto"] is True
    assert report["rpo_exposure_seconds"] == 0.0


def test_a_planned_failover_drains_what_the_new_primary_has_not_received_yet(
        synced: SyncEnv) -> None:
    synced.emu.secret_client("east").set_secret("written-after-the-sync", SECRET_VALUE)
    report = run(synced, request())
    assert report["outcome"] == "completed"
    assert sum(report["steps"]["drain"]["counts"]["create"].values()) == 1
    copied = synced.emu.secret_client("west").get_secret("written-after-the-sync")
    assert copied.value == SECRET_VALUE


def test_the_runbook_output_status_and_stored_report_carry_no_secret_value(
        synced: SyncEnv) -> None:
    iid = start(synced, request())
    report = synced.engine.result(iid, timeout=120)
    status = synced.engine.get_status(iid, show_history=True)
    stored = synced.runtime.state.get_json(f"failover/reports/{report['run_id']}.json")
    for blob in (report, status.custom_status, stored, status.history):
        assert SECRET_VALUE not in json.dumps(blob, default=str)
    assert stored == report
    assert synced.runtime.state.get_json("failover/last-report.json") == report


def test_an_unplanned_failover_switches_to_the_survivor_while_the_primary_is_down(
        synced: SyncEnv) -> None:
    synced.emu.down("east")
    try:
        report = run(synced, request(FailoverKind.UNPLANNED), timeout=180)
    finally:
        synced.emu.up("east")
    assert report["outcome"] == "completed", report
    assert report["fenced"] == ["west"]
    assert "east" in report["unreached"]
    assert "reconcile" not in report["timings"] and "drain" not in report["timings"]
    assert report["rpo_basis"]  # the loss window is estimated and said
    # east still holds epoch 1: readers take the highest epoch, so west is primary
    assert records(synced) == {"east": ("east", 1), "west": ("west", 2)}


def test_a_planned_failover_is_blocked_when_the_primary_is_down(synced: SyncEnv) -> None:
    synced.emu.down("east")
    try:
        report = run(synced, request(), timeout=180)
    finally:
        synced.emu.up("east")
    assert report["outcome"] == "blocked"
    assert "unplanned" in " ".join(report["messages"])
    assert records(synced) == {"east": ("east", 1), "west": ("east", 1)}


def test_an_alert_about_a_vault_that_is_not_the_primary_changes_nothing(
        synced: SyncEnv) -> None:
    writes = synced.writes("east") + synced.writes("west")
    report = run(synced, request(FailoverKind.UNPLANNED, target="east",
                                 expected_primary="west", alert_id="alert-1"))
    assert report["outcome"] == "not_needed"
    assert synced.writes("east") + synced.writes("west") == writes


def test_failing_over_to_the_current_primary_is_not_needed(synced: SyncEnv) -> None:
    assert run(synced, request(target="east"))["outcome"] == "not_needed"


def test_a_request_made_at_an_older_epoch_is_blocked(synced: SyncEnv) -> None:
    assert run(synced, request())["outcome"] == "completed"  # now epoch 2
    report = run(synced, request(target="east", expected_epoch=1))
    assert report["outcome"] == "blocked"
    assert records(synced)["east"] == ("west", 2)


def test_a_dry_run_plans_and_writes_nothing(synced: SyncEnv) -> None:
    writes = synced.writes("east") + synced.writes("west")
    report = run(synced, request(dry_run=True))
    assert report["outcome"] == "planned_only"
    assert report["plan"]["steps"] == ["reconcile", "drain", "switch", "verify"]
    assert synced.writes("east") + synced.writes("west") == writes
    assert records(synced)["west"] == ("east", 1)


def test_the_approval_gate_waits_then_an_approval_lets_the_switch_happen(
        synced: SyncEnv) -> None:
    iid = start(synced, request(FailoverKind.UNPLANNED, approval_required=True))
    custom = wait_for_phase(synced, iid, "awaiting_approval")
    assert custom["plan"]["target"] == "west" and custom["approval_deadline"]
    assert records(synced)["west"] == ("east", 1)  # nothing switched while waiting
    synced.engine.raise_event(iid, APPROVAL_EVENT, {"approved": True, "by": "oncall@contoso"})
    report = synced.engine.result(iid, timeout=120)
    assert report["outcome"] == "completed"
    assert report["approval"]["approved"] is True
    assert report["approval"]["by"] == "oncall@contoso"
    assert "approval_wait" in report["timings"]
    assert records(synced)["west"] == ("west", 2)


def test_a_rejected_failover_changes_nothing(synced: SyncEnv) -> None:
    iid = start(synced, request(FailoverKind.UNPLANNED, approval_required=True))
    wait_for_phase(synced, iid, "awaiting_approval")
    synced.engine.raise_event(iid, APPROVAL_EVENT, {"approved": False, "by": "lead"})
    report = synced.engine.result(iid, timeout=60)
    assert report["outcome"] == "rejected"
    assert records(synced) == {"east": ("east", 1), "west": ("east", 1)}


def test_a_topology_change_during_the_approval_wait_blocks_the_switch(synced: SyncEnv) -> None:
    iid = start(synced, request(FailoverKind.UNPLANNED, approval_required=True))
    wait_for_phase(synced, iid, "awaiting_approval")
    other = run(synced, request(target="west"))  # another operator moved first
    assert other["outcome"] == "completed"
    synced.engine.raise_event(iid, APPROVAL_EVENT, {"approved": True, "by": "late"})
    report = synced.engine.result(iid, timeout=60)
    assert report["outcome"] in ("blocked", "not_needed")
    assert records(synced)["west"] == ("west", 2)  # not 3


def test_an_approval_that_never_comes_times_out_and_changes_nothing(synced: SyncEnv) -> None:
    import function_app
    from engine import Engine, ManualClock

    synced.engine.stop()
    clock = ManualClock()
    with Engine(function_app.app, synced.state_dir / "manual-clock", clock=clock) as engine:
        iid = engine.start_new("failover", request(
            FailoverKind.UNPLANNED, approval_required=True,
            approval_timeout_seconds=600).to_dict(), instance_id="failover-timeout")
        deadline = time.monotonic() + 60
        while (engine.get_status(iid).custom_status or {}).get("phase") != "awaiting_approval":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        clock.advance(601)
        report = engine.result(iid, timeout=60)
    assert report["outcome"] == "approval_timed_out"
    assert report["approval"]["approved"] is None
    assert records(synced)["west"] == ("east", 1)


def test_a_finished_failover_emits_its_custom_event_with_timings_and_no_value(
        synced: SyncEnv, events) -> None:
    report = run(synced, request())
    (event,) = custom_events(events, "kvdr.failover.completed", report["run_id"])
    assert event["outcome"] == "completed" and event["target"] == "west"
    assert event["epoch_after"] == 2 and event["rto_seconds"] == report["rto_seconds"]
    assert SECRET_VALUE not in json.dumps(event, default=str)


def _next_second() -> None:
    """Version tokens are creation seconds: keep hand-written versions apart from copies."""
    time.sleep(1.05 - (time.time() % 1.0))


def test_failback_after_an_outage_loses_nothing_and_reports_the_real_conflict(
        synced: SyncEnv) -> None:
    east, west = synced.emu.secret_client("east"), synced.emu.secret_client("west")
    east.set_secret("contested", "contested-v1")
    assert synced.sync()["status"] == "succeeded"
    _next_second()
    # written on east just before the outage, never replicated (the RPO window)
    east.set_secret("never-replicated", "east-only-value")
    east_contested = east.set_secret("contested", "contested-east-v2")
    synced.emu.down("east")
    try:
        assert run(synced, request(FailoverKind.UNPLANNED))["outcome"] == "completed"
        _next_second()
        west.set_secret("written-during-outage", "west-outage-value")
        west.set_secret("contested", "contested-west-v2")
        west.set_secret("app-db-password", "rotated-during-outage")  # only west changed it
    finally:
        synced.emu.up("east")
    _next_second()

    report = run(synced, request(FailoverKind.FAILBACK, target="east"))

    assert report["outcome"] == "completed", report
    assert (report["epoch_before"], report["epoch_after"]) == (2, 3)
    assert records(synced) == {"east": ("east", 3), "west": ("east", 3)}
    # what only the returning region held reached the survivor before the switch ...
    assert west.get_secret("never-replicated").value == "east-only-value"
    # ... and what was written during the outage reached the returning region
    assert east.get_secret("written-during-outage").value == "west-outage-value"
    assert east.get_secret("app-db-password").value == "rotated-during-outage"
    # both sides changed "contested": the primary's version wins, the other stays in history
    assert east.get_secret("contested").value == "contested-west-v2"
    kept = east.get_secret("contested", east_contested.properties.version)
    assert kept.value == "contested-east-v2"
    conflicts = [n["name"] for n in report["steps"]["reconcile"]["conflicts"]]
    overwritten = [n["name"] for n in report["steps"]["drain"]["overwritten"]]
    # a rotation made only on the survivor is no conflict: east's version reached west before
    assert conflicts == ["contested"] and overwritten == ["contested"]


def test_after_a_failback_the_primary_rotating_what_the_outage_wrote_replicates_as_no_drift(
        synced: SyncEnv) -> None:
    """West, primary during the outage, wrote items the failback drained into east; east, primary
    again, rotates them: west's versions are its own (no kvdr copies), but they had reached east,
    so the next sync and event copy the rotations — no conflict, no drift, no stall. A version
    west writes as secondary afterwards, which never reaches east, stays a conflict."""
    east, west = synced.emu.secret_client("east"), synced.emu.secret_client("west")
    east.set_secret("shared", "shared-v1")
    assert synced.sync()["status"] == "succeeded"
    synced.emu.down("east")
    try:
        assert run(synced, request(FailoverKind.UNPLANNED))["outcome"] == "completed"
        _next_second()  # the applications' versions come after the copies
        west.set_secret("written-during-outage", "west-outage-value")  # a west original
        west.set_secret("event-rotated", "west-outage-event-value")
        west.set_secret("app-db-password", "rotated-during-outage")  # rotated on west
    finally:
        synced.emu.up("east")
    _next_second()
    failback = run(synced, request(FailoverKind.FAILBACK, target="east"))
    assert failback["outcome"] == "completed", failback
    assert east.get_secret("written-during-outage").value == "west-outage-value"
    after_failback = synced.sync()
    assert after_failback["status"] == "succeeded" and after_failback["conflicts"] == []
    assert set(after_failback["counts"]) == {"unchanged"}

    _next_second()  # the rotations come after the drain's copies
    rotated = {n: f"{n}-east-rotated" for n in ("written-during-outage", "app-db-password",
                                                "event-rotated")}
    versions = {n: east.set_secret(n, v).properties.version for n, v in rotated.items()}
    west.set_secret("shared", "shared-west-stray")  # drift: never reaches east

    # the event path copies its rotation instead of refusing it as drift
    reset_caches()
    try:
        synced.emu.reset_stats("east")
        synced.emu.reset_stats("west")
        [outcome] = handle_payload(synced.runtime, [build_event(
            "east", synced.emu.url("east"), "secrets", "event-rotated",
            versions["event-rotated"])])
    finally:
        reset_caches()
    assert (outcome.status, outcome.targets) == (EventStatus.REPLICATED,
                                                 {"west": "update_value"})
    # secrets are read from their version lists: east's latest (the handler, sync_item) and
    # west's (sync_item, the copier's check before writing), 2 each; the history check adds one
    # listing of east and, as the copy there names west's version id, one of west
    assert {v: synced.emu.count(v, "GetSecretVersions", 200) for v in ("east", "west")} == \
        {"east": 3, "west": 3}

    report = synced.sync()

    assert report["counts"] == {"update_value": {"secret": 2}, "unchanged": {"secret": 1},
                                "conflict": {"secret": 1}}, report
    assert report["conflicts"] == [{"kind": "secret", "name": "shared", "reason": Reason.DRIFT}]
    assert report["overwritten"] == [] and report["drift"] == 1
    for name, value in rotated.items():
        copied = west.get_secret(name)
        assert copied.value == value
        assert copied.properties.tags["kvdr-source"].startswith("v1:east:")
    assert west.get_secret("shared").value == "shared-west-stray"  # the conflict: untouched

    # once copied, they are in sync: the version listings recur only for the real drift
    synced.emu.reset_stats("east")
    synced.emu.reset_stats("west")
    again = synced.sync()
    assert again["counts"] == {"unchanged": {"secret": 3}, "conflict": {"secret": 1}}
    assert {v: synced.emu.count(v, "GetSecretVersions", 200) for v in ("east", "west")} == \
        {"east": 1, "west": 0}


def test_two_runbooks_making_the_same_switch_leave_one_record_per_epoch(
        synced: SyncEnv) -> None:
    """The metric alert and the Resource Health alert of one outage can start two failovers
    that assess before either switches; the second adopts the first's record."""
    from datetime import UTC, datetime

    from activities.failover import FailoverActivities
    from kvdr.events.handler import process_handler
    from kvdr.failover.contracts import SwitchRequest
    from kvdr.topology.record import TopologyRecord

    def record(runbook: str) -> dict[str, Any]:
        return TopologyRecord("west", 2, datetime.now(UTC), "alert", "outage",
                              runbook).to_dict()

    switch = FailoverActivities(synced.runtime, process_handler()).switch
    first = switch(SwitchRequest("first", record("first"), 1, ("east",)))
    second = switch(SwitchRequest("second", record("second"), 1, ("east",)))
    assert first.ok and second.ok
    for region in ("east", "west"):
        held = read_topology(synced.runtime.session(region))
        assert (held.primary, held.epoch, held.runbook_id) == ("west", 2, "first")


def test_a_switch_refuses_when_another_runbook_chose_a_different_primary(
        sync_env_factory) -> None:
    from datetime import UTC, datetime

    from activities.failover import FailoverActivities
    from kvdr.events.handler import process_handler
    from kvdr.failover.contracts import SwitchRequest
    from kvdr.topology.record import TopologyRecord

    env = sync_env_factory(WITH_EUROPE)
    env.sync()
    to_europe = TopologyRecord("europe", 2, datetime.now(UTC), "op", "a", "r1").to_dict()
    to_west = TopologyRecord("west", 2, datetime.now(UTC), "op", "b", "r2").to_dict()
    switch = FailoverActivities(env.runtime, process_handler()).switch
    assert switch(SwitchRequest("r1", to_europe, 1, ("east", "west"))).ok
    refused = switch(SwitchRequest("r2", to_west, 1, ("east", "europe")))
    assert not refused.ok and refused.error["code"] == "topology.changed"
    assert read_topology(env.runtime.session("west")).primary == "europe"


def test_status_shows_the_last_failover_and_the_last_drill(synced: SyncEnv) -> None:
    from kvdr.status import build_status

    failover = run(synced, request())
    drill = synced.engine.result(synced.engine.start_new("drill", {}, instance_id="drill-s"),
                                 timeout=120)
    status = build_status(synced.runtime)
    assert status.primary == "west" and status.epoch == 2
    assert status.last_failover["run_id"] == failover["run_id"]
    assert status.last_failover["outcome"] == "completed"
    assert status.last_drill["run_id"] == drill["run_id"]
    text = status.render_text()
    assert "last planned" in text and "completed (east -> west, epoch 2)" in text
    # the hand-over ran (nothing to hand over: no certificate or key) and status shows it
    assert status.last_failover["renewal"]["ok"] is True
    assert "renewal hand-over: west armed 0; east disarmed 0" in text
    assert f"last drill {drill['finished_at']}: {drill['result']}" in text
    assert SECRET_VALUE not in json.dumps(status.to_dict(), default=str)


# ---- the verification reads the new primary's own record back ----------------------------------

def _verify(env: SyncEnv, target: str = "west", epoch: int = 2) -> VerifyResult:
    return FailoverActivities(env.runtime, process_handler()).verify(
        VerifyRequest("verify-test", target, epoch))


@pytest.fixture
def fast_sessions(monkeypatch: pytest.MonkeyPatch) -> None:
    """Vault sessions with a short retry backoff, so a vault that is down fails in ms."""
    def open_session(self: Runtime, region: str, *, probe: bool = False) -> VaultSession:
        self.config.region(region)
        return VaultSession(self.config, region, credential=self.credential,
                            pacers=self.pacers, retry_backoff=(0.02, 0.05))

    monkeypatch.setattr(Runtime, "open_session", open_session)


def test_the_verification_passes_when_every_vault_names_the_new_primary(synced: SyncEnv) -> None:
    assert run(synced, request())["outcome"] == "completed"
    verified = _verify(synced)
    assert verified.ok and verified.error is None and verified.unreached == {}


def test_the_verification_fails_when_the_new_primary_itself_holds_an_older_record(
        synced: SyncEnv) -> None:
    """east names west at epoch 2, so readers choose west: but west's own record still says
    east at epoch 1, and a switch whose new primary does not hold its record is not verified
    (it used to pass on the other vaults' records alone)."""
    held = read_topology(synced.runtime.session("east"))
    assert held is not None and (held.primary, held.epoch) == ("east", 1)
    write_topology(synced.runtime.session("east"),
                   replace(held, primary="west", epoch=2, runbook_id="verify-test"))
    verified = _verify(synced)
    assert not verified.ok
    assert verified.error["code"] == "topology.unverified"
    assert "west itself holds primary east at epoch 1" in verified.error["message"]


def test_the_verification_fails_when_the_new_primary_does_not_answer(
        synced: SyncEnv, fast_sessions: None) -> None:
    assert run(synced, request())["outcome"] == "completed"
    synced.emu.down("west")
    try:
        verified = _verify(synced)
    finally:
        synced.emu.up("west")
    assert not verified.ok
    assert verified.unreached == {"west": "vault.unreachable"}
    assert verified.error["code"] == "topology.unverified"
    assert "west's record could not be read back" in verified.error["message"]
    assert verified.calls["west"] > 1  # the new primary is asked through its retry schedule
