"""The restore activity family against the emulator (through the runtime it is handed): the
plan stores only the batches that write and a retried plan replaces them; a batch is fenced by
the primary's record (epoch or primary changed) before any write; a batch given up touches no
vault; the report is kept (a dry run never replaces the last one) with its custom event."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from activities.restore import COMPLETED_EVENT, RestoreActivities
from kvdr.restore.contracts import BatchRequest, PlanRequest, batch_key, plans_prefix
from kvdr.restore.model import RestoreScope
from kvdr.restore.report import LAST_REPORT_KEY, report_key
from kvdr.topology.record import TopologyRecord
from kvdr.topology.store import current_topology, write_topology
from kvdr.vault.inventory import format_time
from support.sync import SyncEnv
from support.telemetry import custom_events

GOOD, BAD = "activity-good-8e21", "activity-bad-13f0"


def damaged(env: SyncEnv, names: tuple[str, ...]) -> str:
    with env.emu.secret_client("east") as east:
        for name in names:
            east.set_secret(name, GOOD)
        env.emu.advance(2)
        at = format_time(env.emu.clock.now()) or ""
        env.emu.advance(2)
        for name in names:
            east.set_secret(name, BAD)
    env.emu.advance(2)
    return at


def family(env: SyncEnv) -> RestoreActivities:
    current_topology(env.config, env.runtime.sessions())
    return RestoreActivities(env.runtime)


def test_the_plan_stores_the_batches_that_write_and_a_retry_replaces_them(
        sync_env_factory) -> None:
    env = sync_env_factory(sections={"pacing": {"batch_size": 2}})
    activities = family(env)
    at = damaged(env, ("a-1", "a-2", "a-3"))
    with env.emu.secret_client("east") as east:
        east.set_secret("a-new", BAD)  # reported, never in a batch
    request = PlanRequest("plan-run", at, RestoreScope(names=("a-*",)).to_dict())
    env.runtime.state.put_json(batch_key("plan-run", 7), [])  # left by an earlier attempt

    summary = activities.plan(request)

    assert summary.ok and (summary.primary, summary.epoch) == ("east", 1)
    assert (summary.items, summary.batches) == (3, 2)
    state = env.runtime.state
    assert state.list_keys(plans_prefix("plan-run")) == [batch_key("plan-run", 0),
                                                         batch_key("plan-run", 1)]
    assert [i["name"] for i in state.get_json(batch_key("plan-run", 0))] == ["a-1", "a-2"]
    assert summary.preview == {"roll_back": ("secret a-1", "secret a-2", "secret a-3"),
                               "report_new": ("secret a-new",)}
    assert summary.report["counts"]["new"] == 1
    assert summary.calls["east"] > 0

    dry = activities.plan(PlanRequest("dry-run", at, request.scope, dry_run=True))
    assert dry.ok and dry.batches == 2 and state.list_keys(plans_prefix("dry-run")) == []


def test_a_batch_is_fenced_when_the_primarys_record_changed_and_writes_nothing(
        sync_env: SyncEnv) -> None:
    activities = family(sync_env)
    at = damaged(sync_env, ("f-1",))
    assert activities.plan(PlanRequest("fence-run", at, {"names": ["f-*"]})).items == 1
    # the same epoch naming another primary counts as a change too, as a higher epoch does
    for record in (TopologyRecord("west", 1, datetime.now(UTC), "pytest", "split"),
                   TopologyRecord("west", 2, datetime.now(UTC), "pytest", "failover")):
        write_topology(sync_env.runtime.session("east"), record)
        before = sync_env.writes("east")
        result = activities.execute_batch(BatchRequest("fence-run", 0, "east", 1))
        assert result.fenced is not None and result.fenced["code"] == "topology.fenced"
        assert [(o.name, o.ok, o.code) for o in result.outcomes] == [
            ("f-1", False, "topology.fenced")]
        assert f"epoch {record.epoch} (primary west)" in result.outcomes[0].message
        assert sync_env.writes("east") == before
    with sync_env.emu.secret_client("east") as east:
        assert east.get_secret("f-1").value == BAD


def test_a_batch_given_up_answers_its_items_without_a_vault_call(sync_env: SyncEnv) -> None:
    activities = family(sync_env)
    at = damaged(sync_env, ("g-1", "g-2"))
    activities.plan(PlanRequest("give-up-run", at, {"names": ["g-*"]}))
    calls = sync_env.emu.stats("east")["total"]

    result = activities.execute_batch(BatchRequest(
        "give-up-run", 0, "east", 1, give_up={"code": "restore.batch_failed", "message": "x"}))

    assert [(o.name, o.ok, o.code) for o in result.outcomes] == [
        ("g-1", False, "restore.batch_failed"), ("g-2", False, "restore.batch_failed")]
    assert sync_env.emu.stats("east")["total"] == calls

    missing = activities.execute_batch(BatchRequest("give-up-run", 9, "east", 1))
    assert [o.code for o in missing.outcomes] == ["restore.batch_missing"]


def test_the_report_is_kept_a_dry_run_never_replaces_the_last_and_an_event_is_sent(
        sync_env: SyncEnv, events) -> None:
    activities = family(sync_env)
    state = sync_env.runtime.state
    real = {"run_id": "real-run", "outcome": "succeeded", "primary": "east",
            "as_of": "2025-03-01T02:00:00Z", "counts": {"done": 3, "new": 1}}
    state.put_json(batch_key("real-run", 0), [])

    saved = activities.save_report(real)
    activities.save_report({**real, "run_id": "dry-run", "outcome": "planned_only"})

    assert saved["plans_deleted"] == 1 and state.list_keys(plans_prefix("real-run")) == []
    assert state.get_json(report_key("dry-run"))["outcome"] == "planned_only"
    assert state.get_json(LAST_REPORT_KEY)["run_id"] == "real-run"
    assert COMPLETED_EVENT == "kvdr.restore.completed"
    [event] = custom_events(events, COMPLETED_EVENT, "real-run")
    assert (event["outcome"], event["done"], event["new"], event["failed"]) == (
        "succeeded", 3, 1, 0)
    assert custom_events(events, COMPLETED_EVENT, "dry-run") == []


def test_the_plan_does_not_bring_back_what_the_full_sync_saw_purged_before_time(
        sync_env: SyncEnv) -> None:
    """The plan reads the full sync's first sightings of items missing from the primary: an
    item purged before TIME stays gone, one purged after it comes back from the copy."""
    activities = family(sync_env)
    with sync_env.emu.secret_client("east") as east:
        east.set_secret("gone-early", GOOD)
        east.set_secret("gone-late", GOOD)
    assert sync_env.sync()["status"] == "succeeded"  # west holds both copies
    sync_env.emu.advance(2)
    at = sync_env.emu.clock.now()
    with sync_env.emu.secret_client("east") as east:
        for name in ("gone-early", "gone-late"):
            east.begin_delete_secret(name).wait()
            east.purge_deleted_secret(name)
    # what the full sync keeps: gone-early missing since before TIME, gone-late since after
    sync_env.runtime.state.put_json("sync/missing-since/west.json", {
        "secret/gone-early": format_time(at.replace(microsecond=0) - timedelta(seconds=1)),
        "secret/gone-late": format_time(at.replace(microsecond=0) + timedelta(seconds=1))})

    summary = activities.plan(PlanRequest("purged-run", format_time(at) or "",
                                          RestoreScope(names=("gone-*",)).to_dict()))

    assert summary.ok
    assert summary.preview == {"from_secondary": ("secret gone-late",)}, summary.preview


def test_a_secondary_that_does_not_answer_makes_the_plan_incomplete(sync_env: SyncEnv) -> None:
    """Items only the silent secondary holds cannot even be named: the plan says it is
    incomplete instead of passing for a whole one."""
    activities = family(sync_env)
    with sync_env.emu.secret_client("east") as east:
        east.set_secret("purged-while-west-down", GOOD)
    assert sync_env.sync()["status"] == "succeeded"
    sync_env.emu.advance(2)
    at = format_time(sync_env.emu.clock.now()) or ""
    with sync_env.emu.secret_client("east") as east:
        east.begin_delete_secret("purged-while-west-down").wait()
        east.purge_deleted_secret("purged-while-west-down")
    sync_env.emu.down("west")
    try:
        summary = activities.plan(PlanRequest("unreached-run", at, RestoreScope(
            names=("purged-while-west-down",)).to_dict()))
    finally:
        sync_env.emu.up("west")
    assert summary.ok and summary.unreached == {"west": "vault.unreachable"}
    assert summary.preview == {}
    assert summary.report["complete"] is False
