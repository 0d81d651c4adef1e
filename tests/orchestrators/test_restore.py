"""The restore runbook through the engine and the emulator: plan, approval gate, batches with at
most ``max_parallel`` in flight, ``continue_as_new``, the fence, the report — and the cases where
it must write nothing."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from typing import Any

import azure.durable_functions as df
import pytest

import orchestrators.restore
from activities.restore import RestoreActivities
from emulator.context import new_attributes
from emulator.store import Version, new_version
from emulator.testing import Emulator
from kvdr.restore.contracts import plans_prefix
from kvdr.restore.model import RestoreScope
from kvdr.restore.report import LAST_REPORT_KEY, report_key
from kvdr.restore.request import APPROVAL_EVENT, RestoreRequest
from kvdr.topology.record import TopologyRecord
from kvdr.topology.store import RECORD_TAG, TOPOLOGY_SECRET_CONTENT_TYPE, current_topology
from kvdr.vault.links import TOPOLOGY_SECRET_NAME
from support.sync import SyncEnv

GOOD, BAD = "restore-good-value-41ad", "restore-bad-value-9c0e"  # never in an output
NAMES = tuple(f"app-{i}" for i in range(6))


def request(as_of: datetime, **fields: Any) -> RestoreRequest:
    fields.setdefault("approval_required", False)
    return RestoreRequest(as_of=as_of, requested_by="pytest", reason="bad rotation job",
                          **fields)


def start(env: SyncEnv, req: RestoreRequest) -> str:
    iid = f"restore-{uuid.uuid4().hex[:8]}"
    return env.engine.start_new("restore", {**req.to_dict(), "run_id": iid}, instance_id=iid)


def run(env: SyncEnv, req: RestoreRequest, timeout: float = 120) -> dict[str, Any]:
    return env.engine.result(start(env, req), timeout=timeout)


def wait_for_phase(env: SyncEnv, iid: str, phase: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = env.engine.get_status(iid)
        custom = status.custom_status if status else None
        if isinstance(custom, dict) and custom.get("phase") == phase:
            return custom
        time.sleep(0.05)
    raise AssertionError(f"{iid} never reached phase {phase}")


def damaged(env: SyncEnv, names: tuple[str, ...] = NAMES) -> datetime:
    """``names`` written good, TIME, then every one overwritten bad; returns TIME."""
    with env.emu.secret_client("east") as east:
        for name in names:
            east.set_secret(name, f"{GOOD}-{name}", content_type="text/plain")
        env.emu.advance(2)
        at = env.emu.clock.now()
        env.emu.advance(2)
        for name in names:
            east.set_secret(name, f"{BAD}-{name}", content_type="application/x-bad")
    env.emu.advance(2)  # a restored version is never of the second of the bad one
    return at


def values(env: SyncEnv, names: tuple[str, ...] = NAMES) -> dict[str, str]:
    with env.emu.secret_client("east") as east:
        return {name: east.get_secret(name).value for name in names}


def versions(env: SyncEnv, name: str) -> int:
    with env.emu.secret_client("east") as east:
        return len(list(east.list_properties_of_secret_versions(name)))


@pytest.fixture
def env(sync_env_factory) -> SyncEnv:
    """east primary at epoch 1, two items per batch, two batches in flight."""
    env = sync_env_factory(sections={"pacing": {"batch_size": 2, "max_parallel": 2}})
    current_topology(env.config, env.runtime.sessions())
    return env


def test_a_restore_rolls_back_every_item_in_batches_reports_and_a_rerun_writes_nothing(
        env: SyncEnv) -> None:
    at = damaged(env)

    record = run(env, request(at))

    assert record["outcome"] == "succeeded", record
    assert (record["primary"], record["epoch"]) == ("east", 1)
    assert record["counts"]["done"] == len(NAMES) and record["counts"]["failed"] == 0
    assert record["plan_counts"]["roll_back"] == {"secret": len(NAMES)}
    assert values(env) == {name: f"{GOOD}-{name}" for name in NAMES}
    assert record["approval"]["required"] is False
    assert record["calls"]["east"] > 0
    # the report is kept, the stored batches are gone
    state = env.runtime.state
    assert state.get_json(report_key(record["run_id"]))["outcome"] == "succeeded"
    assert state.get_json(LAST_REPORT_KEY)["run_id"] == record["run_id"]
    assert state.list_keys(plans_prefix(record["run_id"])) == []
    text = str(record)
    assert GOOD not in text and BAD not in text

    before = env.writes("east")
    again = run(env, request(at))
    assert again["outcome"] == "succeeded"
    assert again["counts"]["done"] == 0
    assert again["plan_counts"]["unchanged"]["secret"] >= len(NAMES)
    assert env.writes("east") == before  # a rerun writes nothing
    assert all(versions(env, name) == 3 for name in NAMES)


def test_the_approval_gate_shows_a_small_plan_and_an_approval_restores(env: SyncEnv) -> None:
    at = damaged(env)
    iid = start(env, request(at, approval_required=True))

    custom = wait_for_phase(env, iid, "awaiting_approval")
    plan = custom["plan"]
    assert (plan["primary"], plan["epoch"], plan["items"], plan["batches"]) == ("east", 1, 6, 3)
    assert plan["counts"]["roll_back"] == {"secret": 6}
    assert plan["preview"]["roll_back"] == [f"secret {n}" for n in NAMES]
    assert custom["approval_deadline"]
    assert values(env) == {name: f"{BAD}-{name}" for name in NAMES}  # nothing written yet

    env.engine.raise_event(iid, APPROVAL_EVENT, {"approved": True, "by": "oncall"})
    record = env.engine.result(iid, timeout=120)
    assert record["outcome"] == "succeeded"
    assert (record["approval"]["approved"], record["approval"]["by"]) == (True, "oncall")
    assert values(env) == {name: f"{GOOD}-{name}" for name in NAMES}


def test_a_rejected_restore_writes_nothing_and_deletes_its_batches(env: SyncEnv) -> None:
    at = damaged(env)
    iid = start(env, request(at, approval_required=True))
    wait_for_phase(env, iid, "awaiting_approval")
    assert env.runtime.state.list_keys(plans_prefix(iid))  # the batches wait with it
    before = env.writes("east")

    env.engine.raise_event(iid, APPROVAL_EVENT, {"approved": False, "by": "oncall",
                                                 "comment": "wrong moment"})
    record = env.engine.result(iid, timeout=60)

    assert record["outcome"] == "rejected"
    assert record["approval"]["approved"] is False
    assert env.writes("east") == before
    assert env.runtime.state.list_keys(plans_prefix(iid)) == []


def test_a_dry_run_plans_writes_nothing_and_keeps_the_last_report(env: SyncEnv) -> None:
    at = damaged(env)
    real = run(env, request(at, scope=RestoreScope(names=("app-0",))))
    assert real["outcome"] == "succeeded"
    before = env.writes("east")

    record = run(env, request(at, dry_run=True))

    assert record["outcome"] == "planned_only" and record["dry_run"] is True
    assert record["plan_counts"]["roll_back"] == {"secret": 5}  # app-0 is restored already
    assert env.writes("east") == before
    assert env.runtime.state.list_keys(plans_prefix(record["run_id"])) == []
    assert env.runtime.state.get_json(LAST_REPORT_KEY)["run_id"] == real["run_id"]


def test_nothing_to_write_completes_without_asking(env: SyncEnv) -> None:
    with env.emu.secret_client("east") as east:
        east.set_secret("calm", GOOD)
    env.emu.advance(2)
    iid = start(env, request(env.emu.clock.now(), approval_required=True))
    record = env.engine.result(iid, timeout=60)  # no approval asked: nothing would be written
    assert record["outcome"] == "succeeded"
    assert any("nothing to write" in m for m in record["messages"])
    assert record["approval"] is None


def _inject_failover(emu: Emulator, vault: str) -> None:
    """What a failover to west leaves in ``vault``: the record at epoch 2 (written into the
    store directly: the caller is inside the vault's own write)."""
    record = TopologyRecord(primary="west", epoch=2, changed_at=datetime.now(UTC),
                            changed_by="pytest", reason="east outage")
    store = emu.store(vault)
    with store.lock:
        item = store.get("secrets", TOPOLOGY_SECRET_NAME)
        item.add(Version(new_version(), new_attributes({}), dict([RECORD_TAG]),
                         {"value": record.to_json(),
                          "contentType": TOPOLOGY_SECRET_CONTENT_TYPE}))
        store.put("secrets", item)


def test_a_failover_between_batches_fences_the_rest_and_the_report_says_what_was_done(
        sync_env_factory) -> None:
    # one batch at a time, two items each: the failover lands while the first batch writes
    env = sync_env_factory(sections={"pacing": {"batch_size": 2, "max_parallel": 1}})
    current_topology(env.config, env.runtime.sessions())
    at = damaged(env)
    fired: list[str] = []

    def failover_during_the_first_write(vault: str, kind: str, name: str, version: str) -> None:
        if not fired and kind == "secrets" and name in NAMES:
            fired.append(name)
            _inject_failover(env.emu, "east")

    env.emu.store("east").observers.append(failover_during_the_first_write)
    try:
        record = run(env, request(at))
    finally:
        env.emu.store("east").observers.remove(failover_during_the_first_write)

    assert record["outcome"] == "fenced", record
    # the first batch had passed its fence: both its items were restored, nothing after
    assert record["counts"]["done"] == 2 and record["counts"]["failed"] == 4
    restored = {n for n, v in values(env).items() if v.startswith(GOOD)}
    assert restored == set(NAMES[:2])
    fenced = [o for o in record["outcomes"] if not o["ok"]]
    assert {o["name"] for o in fenced} == set(NAMES[2:])
    assert {o["code"] for o in fenced} == {"topology.fenced"}
    assert "epoch 2" in fenced[0]["message"] and "run the restore again" in fenced[0]["message"]
    assert any("restored 2" in m and "not done 4" in m for m in record["messages"])


def test_a_long_restore_continues_as_new_without_losing_or_repeating_items(
        env: SyncEnv, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(orchestrators.restore, "MAX_BATCHES_PER_EXECUTION", 2)
    names = tuple(f"long-{i:02d}" for i in range(9))  # 5 batches -> 3 executions
    at = damaged(env, names)

    iid = start(env, request(at))
    record = env.engine.result(iid, timeout=120)

    assert record["outcome"] == "succeeded", record
    assert record["counts"]["done"] == 9
    assert values(env, names) == {n: f"{GOOD}-{n}" for n in names}
    assert all(versions(env, n) == 3 for n in names)
    status = env.engine.get_status(iid)
    assert status.input["carried"]["next_batch"] == 4  # the last execution started at batch 4
    assert status.input["carried"]["items_done"] == 8


def test_a_batch_that_fails_for_good_reports_its_items_and_the_others_are_restored(
        env: SyncEnv, monkeypatch: pytest.MonkeyPatch) -> None:
    at = damaged(env)
    real = RestoreActivities.execute_batch

    def broken(self, request):
        if request.batch == 1 and request.give_up is None:
            raise RuntimeError("the state store fell over")
        return real(self, request)

    monkeypatch.setattr(RestoreActivities, "execute_batch", broken)
    monkeypatch.setattr(orchestrators.restore, "RETRY", df.RetryOptions(
        first_retry_interval_in_milliseconds=10, max_number_of_attempts=2))

    record = run(env, request(at))

    assert record["outcome"] == "partial"
    assert (record["counts"]["done"], record["counts"]["failed"]) == (4, 2)
    failed = {o["name"]: o for o in record["outcomes"] if not o["ok"]}
    assert set(failed) == set(NAMES[2:4])
    assert {o["code"] for o in failed.values()} == {"restore.batch_failed"}
    assert "the state store fell over" in failed[NAMES[2]]["message"]


def test_a_primary_that_does_not_answer_fails_the_plan_with_a_report(env: SyncEnv) -> None:
    at = damaged(env)
    env.emu.down("east")
    try:
        record = run(env, request(at))
    finally:
        env.emu.up("east")
    assert record["outcome"] == "failed"
    assert record["error"]["code"] == "vault.unreachable"
    assert "primary east did not answer" in record["error"]["message"]
    assert values(env) == {name: f"{BAD}-{name}" for name in NAMES}


def test_nobody_approving_in_time_ends_the_run_with_nothing_written(env: SyncEnv) -> None:
    at = damaged(env)
    before = env.writes("east")
    record = run(env, request(at, approval_required=True, approval_timeout_seconds=1))
    assert record["outcome"] == "approval_timed_out"
    assert record["approval"]["required"] is True and record["approval"]["approved"] is None
    assert any("nobody approved within 1 s" in m for m in record["messages"])
    assert env.writes("east") == before
    assert values(env) == {name: f"{BAD}-{name}" for name in NAMES}
