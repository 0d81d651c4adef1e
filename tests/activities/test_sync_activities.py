"""The full-sync activities called directly, as a retry or a re-delivery would call them."""

from __future__ import annotations

from activities.sync import SyncActivities
from activities.sync.store import batch_key
from kvdr.sync.contracts import BatchRequest, PairPlanRequest, TopologyRequest
from support.sync import SyncEnv


def _plan(env: SyncEnv, run_id: str = "run-1", *, dry_run: bool = False):
    activities = SyncActivities(env.runtime)
    topo = activities.read_topology(TopologyRequest(dry_run=dry_run))
    assert topo.ok, topo
    return activities.plan_pair(PairPlanRequest(run_id, topo.primary, "west", dry_run,
                                               topo.epoch, "2026-01-01T00:00:00Z"))


def test_running_a_batch_twice_creates_no_extra_version(sync_env: SyncEnv) -> None:
    east = sync_env.emu.secret_client("east")
    for i in range(3):
        east.set_secret(f"twice-{i}", f"twice-value-{i}")
    summary = _plan(sync_env)
    assert summary.batches == 1 and summary.items_total == 3
    sync_env.emu.reset_stats("west")  # planning bootstrapped the topology record

    activities = SyncActivities(sync_env.runtime)
    first = activities.execute_batch(BatchRequest("run-1", "east", "west", 0, epoch=1)).result
    again = activities.execute_batch(BatchRequest("run-1", "east", "west", 0, epoch=1)).result

    assert all(o.ok for o in (*first.outcomes, *again.outcomes))
    west = sync_env.emu.secret_client("west")
    for i in range(3):
        assert len(list(west.list_properties_of_secret_versions(f"twice-{i}"))) == 1
    assert {str(o.action) for o in again.outcomes} <= {"unchanged", "update_attributes"}
    assert sync_env.emu.count("west", "SetSecret", 200) == 3


def test_planning_stores_batches_and_returns_counts_only(sync_env: SyncEnv) -> None:
    east = sync_env.emu.secret_client("east")
    for i in range(4):
        east.set_secret(f"counted-{i}", f"counted-value-{i}")
    summary = _plan(sync_env, "run-2")

    stored = sync_env.runtime.state.get_json(batch_key("run-2", "west", 0))
    assert [i["name"] for i in stored] == [f"counted-{i}" for i in range(4)]
    data = summary.to_dict()
    assert "items" not in data and "counted-value-0" not in str(data)
    assert data["report"]["calls"]["east"] > 0


def test_a_dry_run_plan_stores_no_batch_and_bootstraps_no_topology(sync_env: SyncEnv) -> None:
    sync_env.emu.secret_client("east").set_secret("dry-one", "dry-value")
    sync_env.emu.reset_stats("east")
    sync_env.emu.reset_stats("west")
    summary = _plan(sync_env, "run-3", dry_run=True)

    assert summary.items_total == 1
    assert sync_env.runtime.state.list_keys("plans/") == []
    assert sync_env.writes("east") == 0 and sync_env.writes("west") == 0


def test_saving_a_report_deletes_the_runs_plans(sync_env: SyncEnv) -> None:
    sync_env.emu.secret_client("east").set_secret("saved-one", "saved-value")
    _plan(sync_env, "run-4")
    assert sync_env.runtime.state.list_keys("plans/run-4/")
    SyncActivities(sync_env.runtime).save_report(
        {"run_id": "run-4", "dry_run": False, "status": "succeeded"})
    assert sync_env.runtime.state.list_keys("plans/run-4/") == []
    assert sync_env.runtime.state.get_json("sync/last-report.json")["run_id"] == "run-4"
