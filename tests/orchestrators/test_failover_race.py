"""The failover runbook against a rival: another region's runbook switched at the same epoch
while this one waited in its settle step. The one rule picks the winner; the loser ends
``lost_race`` having handed nothing over, the winner writes its record over the rival's."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from kvdr.failover.request import FailoverKind, FailoverRequest
from kvdr.status import build_status
from kvdr.topology.record import TopologyRecord
from kvdr.topology.store import read_topology, write_topology
from support.sync import WITH_EUROPE, SyncEnv

SETTLE = 2.0  # long enough to plant the rival while the runbook waits


@pytest.fixture
def three(sync_env_factory) -> SyncEnv:
    env = sync_env_factory(WITH_EUROPE)
    assert env.sync()["status"] == "succeeded"
    return env


def wait_for_phase(env: SyncEnv, iid: str, phase: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = env.engine.get_status(iid)
        custom = status.custom_status if status else None
        if isinstance(custom, dict) and custom.get("phase") == phase:
            return
        time.sleep(0.02)
    raise AssertionError(f"{iid} never reached phase {phase}")


def race(env: SyncEnv, rival_offset: timedelta) -> dict[str, Any]:
    """An unplanned failover to west; once it waits in its settle step, europe's runbook
    'rival' writes its own record at the same epoch to europe and east (its switch)."""
    req = FailoverRequest(kind=FailoverKind.UNPLANNED, target="west", reason="outage",
                          requested_by="pytest", settle_seconds=SETTLE)
    iid = env.engine.start_new("failover", req.to_dict(),
                               instance_id=f"failover-{uuid.uuid4().hex[:8]}")
    wait_for_phase(env, iid, "settle")
    ours = read_topology(env.runtime.session("west"))
    assert ours is not None and ours.epoch == 2
    rival = TopologyRecord("europe", 2, ours.changed_at + rival_offset, "alert", "outage",
                           "rival")
    for region in ("europe", "east"):
        write_topology(env.runtime.session(region), rival)
    return env.engine.result(iid, timeout=120)


def held(env: SyncEnv) -> dict[str, tuple[str, int, str | None]]:
    found = {}
    for region in env.config.region_names:
        record = read_topology(env.runtime.session(region))
        assert record is not None
        found[region] = (record.primary, record.epoch, record.runbook_id)
    return found


def test_the_runbook_that_switched_later_loses_the_race_and_hands_nothing_over(
        three: SyncEnv) -> None:
    report = race(three, timedelta(seconds=-30))  # the rival switched first
    assert report["outcome"] == "lost_race" and report["error"] is None
    assert report["lost_to"]["runbook_id"] == "rival"
    assert ("lost the race to runbook rival (primary europe at epoch 2); nothing switched by "
            "this runbook") in report["messages"]
    assert report["renewal"] is None and "handover" not in report["timings"]
    assert report["fenced"] == []
    # the loser's settle wrote the winner over its own record: every vault agrees
    assert held(three) == {r: ("europe", 2, "rival") for r in ("east", "west", "europe")}
    status = build_status(three.runtime)
    assert (status.primary, status.epoch) == ("europe", 2)
    assert not status.topology["split_brain"]


def test_the_runbook_that_switched_first_wins_and_writes_its_record_over_the_rival(
        three: SyncEnv) -> None:
    report = race(three, timedelta(seconds=30))  # the rival switched later
    assert report["outcome"] == "completed"
    assert any(m.startswith("won a race at epoch 2: the rival record(s) of runbook rival "
                            "(primary europe) were replaced in ") for m in report["messages"])
    winner = report["run_id"]
    assert held(three) == {r: ("west", 2, winner) for r in ("east", "west", "europe")}
    assert report["renewal"]["ok"] is True
    assert report["lost_to"] is None


def test_a_planned_failover_whose_drain_a_rival_switch_fenced_loses_the_race(
        three: SyncEnv, monkeypatch: pytest.MonkeyPatch) -> None:
    """europe's runbook switches (epoch 2) just before this run's first drain batch: every
    batch is refused by the fence; the run says it lost to that runbook, not 'fix the items'."""
    from activities.sync.activities import SyncActivities
    from kvdr.sync.model import SyncMode

    with three.emu.secret_client("east") as east:
        for i in range(3):
            east.set_secret(f"late-{i}", f"late-value-{i}")
    rival = TopologyRecord("europe", 2, datetime.now(UTC), "alert", "outage", "rival")
    original = SyncActivities.execute_batch

    def rival_switches_first(self: SyncActivities, request: Any) -> Any:
        if request.mode is SyncMode.DRAIN:
            for region in ("europe", "west", "east"):
                write_topology(three.runtime.session(region), rival)
        return original(self, request)

    monkeypatch.setattr(SyncActivities, "execute_batch", rival_switches_first)
    req = FailoverRequest(kind=FailoverKind.PLANNED, target="west", reason="maintenance",
                          requested_by="pytest")
    report = three.engine.result(three.engine.start_new(
        "failover", req.to_dict(), instance_id=f"failover-{uuid.uuid4().hex[:8]}"), timeout=120)

    assert report["outcome"] == "lost_race" and report["error"] is None
    assert report["lost_to"]["runbook_id"] == "rival"
    assert "the drain step was fenced: another runbook changed the topology during it" \
        in report["messages"]
    assert held(three) == {r: ("europe", 2, "rival") for r in ("east", "west", "europe")}
    with three.emu.secret_client("west") as west:
        assert not [p for p in west.list_properties_of_secrets() if p.name.startswith("late-")]
