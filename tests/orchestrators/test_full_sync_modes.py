"""The full-sync pair in its failover modes, and fencing, through the engine and the emulator.

``full_sync_pair`` runs as the failover runbook calls it (a ``PairInput`` with ``mode``);
vaults are read and written with the SDK clients. ``east`` is the first primary; a "failover"
is a topology record at the next epoch, written as the runbook writes it.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pytest

from activities.sync import SyncActivities
from emulator.eventgrid import build_event
from kvdr.events.handler import handle_payload, reset_caches
from kvdr.events.model import EventStatus, IgnoreReason
from kvdr.sync.contracts import BatchRequest, PairInput, PairPlanRequest
from kvdr.sync.model import Reason, SyncMode
from kvdr.topology.record import TopologyRecord, next_epoch
from kvdr.topology.store import FENCED_CODE, current_topology, write_topology
from kvdr.vault.session import VaultSession
from support.sync import SyncEnv

BACKDATE_SECONDS = 30  # versions made before a step must not share a creation second with later


def run_pair(env: SyncEnv, source: str, target: str, mode: SyncMode, epoch: int
             ) -> dict[str, Any]:
    """``full_sync_pair`` as the failover runbook starts it; its PairResult."""
    run_id = f"{mode}-{uuid.uuid4().hex[:8]}"
    started = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    pair = PairInput(run_id, source, target, False, epoch, started, mode=mode)
    iid = env.engine.start_new("full_sync_pair", pair.to_dict(), instance_id=run_id)
    return env.engine.result(iid, timeout=120)


def reset_counts(env: SyncEnv) -> None:
    for vault in ("east", "west"):
        env.emu.reset_stats(vault)


def version_listings(env: SyncEnv) -> dict[str, int]:
    """Version listings each vault served since :func:`reset_counts` (the history checks)."""
    return {v: env.emu.count(v, "GetSecretVersions", 200) for v in ("east", "west")}


def session(env: SyncEnv, vault: str) -> VaultSession:
    return VaultSession(env.config, vault, credential=env.runtime.credential)


def topology(env: SyncEnv) -> TopologyRecord:
    """The record in force, bootstrapping it (epoch 1, east) the way a first sync does."""
    sessions = {v: session(env, v) for v in env.config.region_names}
    try:
        return current_topology(env.config, sessions).current
    finally:
        for s in sessions.values():
            s.close()


def fail_over(env: SyncEnv, to: str, vaults: Sequence[str] = ("east", "west")
              ) -> TopologyRecord:
    """Raise the epoch by one with ``to`` as primary, in ``vaults`` only (others unreachable)."""
    record = next_epoch(topology(env), to, changed_at=datetime.now(UTC), changed_by="test",
                        reason="test failover")
    for vault in vaults:
        with session(env, vault) as s:
            write_topology(s, record)
    return record


def backdate(env: SyncEnv, vault: str, *names: str) -> None:
    """Move every version of these secrets back in time (version tokens are creation seconds:
    a later version must not share its second with an earlier one)."""
    store = env.emu.store(vault)
    with store.lock:
        for name in names:
            for version in store.get("secrets", name).versions.values():
                for key in ("created", "updated"):
                    version.attributes[key] -= BACKDATE_SECONDS


def next_second() -> None:
    """Wait for the next wall-clock second: versions written one after the other must not share
    a creation second (the latest version is found by creation time, which the service gives
    in whole seconds)."""
    start = int(time.time())
    while int(time.time()) == start:
        time.sleep(0.02)


def versions(env: SyncEnv, vault: str, name: str) -> list[str]:
    with env.emu.secret_client(vault) as client:
        return sorted(p.version for p in client.list_properties_of_secret_versions(name))


def value(env: SyncEnv, vault: str, name: str, version: str | None = None) -> str:
    with env.emu.secret_client(vault) as client:
        return client.get_secret(name, version).value


def names_in(report: dict[str, Any]) -> set[str]:
    return {n["name"] for key in ("skipped", "conflicts", "overwritten", "failures")
            for n in report[key]}


def event(env: SyncEnv, name: str, version: str) -> dict[str, Any]:
    return build_event("east", env.emu.url("east"), "secrets", name, version)


# --- reconcile ----------------------------------------------------------------------------------


def test_reconcile_copies_source_originals_ignores_copies_and_reports_conflicts_unwritten(
        sync_env_factory) -> None:
    # primary-wins is configured: reconcile must still never write over a conflict
    env = sync_env_factory(sections={"policies": {"conflicts": "primary-wins"}})
    with env.emu.secret_client("east") as east:
        for name in ("shared", "both-changed", "east-newer"):
            east.set_secret(name, f"{name}-1")
    backdate(env, "east", "shared", "both-changed", "east-newer")
    assert env.sync()["status"] == "succeeded"  # east -> west at epoch 1

    # east fails; west becomes primary (epoch 2) and writes; a sync copies that to east
    failover = fail_over(env, "west")
    with env.emu.secret_client("west") as west:
        west.set_secret("from-west", "from-west-1")
    assert env.sync()["counts"]["create"] == {"secret": 1}  # west -> east: from-west
    with env.emu.secret_client("west") as west:
        west.set_secret("both-changed", "both-changed-west")
    # writes that reached east only (before it was cut off, or while it was isolated)
    with env.emu.secret_client("east") as east:
        east.set_secret("east-only", "east-only-1")
        east.set_secret("east-newer", "east-newer-2")
        east.set_secret("both-changed", "both-changed-east")
    west_conflict = versions(env, "west", "both-changed")
    west_copy = versions(env, "west", "from-west")

    # failback: east (about to become primary) -> west (the current primary)
    result = run_pair(env, "east", "west", SyncMode.RECONCILE, failover.epoch)

    report = result["report"]
    assert report["status"] == "succeeded", (report["counts"], report["failures"])
    assert report["counts"] == {"create": {"secret": 1}, "update_value": {"secret": 1},
                                "conflict": {"secret": 1}, "unchanged": {"secret": 1}}
    assert report["conflicts"] == [{"kind": "secret", "name": "both-changed",
                                    "reason": Reason.RECONCILE_CONFLICT}]
    assert "from-west" not in names_in(report)  # a copy from the target: silently left out
    assert value(env, "west", "east-only") == "east-only-1"
    assert value(env, "west", "east-newer") == "east-newer-2"
    with env.emu.secret_client("west") as west:
        link = west.get_secret("east-only").properties.tags["kvdr-source"]
    assert link.startswith("v1:east:") and f":{failover.epoch}:" in link
    # the conflict and the copy were not touched
    assert versions(env, "west", "both-changed") == west_conflict
    assert value(env, "west", "both-changed") == "both-changed-west"
    assert versions(env, "west", "from-west") == west_copy


def same_second(env: SyncEnv, vault: str, name: str, version: str, as_version: str) -> None:
    """Give ``version`` the creation (and update) second of ``as_version``: two versions whose
    version tokens cannot tell them apart."""
    store = env.emu.store(vault)
    with store.lock:
        versions_ = store.get("secrets", name).versions
        for key in ("created", "updated"):
            versions_[version].attributes[key] = versions_[as_version].attributes[key]


def test_reconcile_skips_an_item_only_the_current_primary_changed_and_writes_nothing(
        sync_env: SyncEnv) -> None:
    with sync_env.emu.secret_client("east") as east:
        for name in ("rotated-keeping-tags", "rotated-fresh"):
            east.set_secret(name, f"{name}-1", tags={"team": "payments"})
    backdate(sync_env, "east", "rotated-keeping-tags", "rotated-fresh")
    assert sync_env.sync()["status"] == "succeeded"  # west holds kvdr copies of east's v1
    failover = fail_over(sync_env, "west")
    next_second()  # the applications' versions come after the copies
    with sync_env.emu.secret_client("west") as west:  # east is down; the applications rotate
        tags = west.get_secret("rotated-keeping-tags").properties.tags
        assert tags["kvdr-source"].startswith("v1:east:")
        west.set_secret("rotated-keeping-tags", "west-2", tags=tags)  # a stale link now
        west.set_secret("rotated-fresh", "west-2")
    before = {n: versions(sync_env, "west", n) for n in ("rotated-keeping-tags", "rotated-fresh")}
    reset_counts(sync_env)

    # failback: east is back, with nothing new; reconcile it into west
    result = run_pair(sync_env, "east", "west", SyncMode.RECONCILE, failover.epoch)
    listings = version_listings(sync_env)

    report = result["report"]
    assert report["status"] == "succeeded", (report["counts"], report["failures"])
    assert report["counts"] == {"skip": {"secret": 2}}
    assert report["conflicts"] == []
    assert report["skipped"] == [
        {"kind": "secret", "name": n, "reason": Reason.RECONCILE_REPLACED}
        for n in ("rotated-fresh", "rotated-keeping-tags")]
    assert sync_env.writes("west") == 0
    assert {n: versions(sync_env, "west", n) for n in before} == before
    assert value(sync_env, "west", "rotated-fresh") == "west-2"
    # one version listing of the target per conflict candidate; the copies name east's
    # version id, so one of the source too (its ids behind the version token)
    assert listings == {"west": 2, "east": 2}
    assert report["calls"]["west"] >= 2 and report["calls"]["east"] >= 2


def test_reconcile_still_reports_a_conflict_when_both_regions_changed_and_writes_nothing(
        sync_env: SyncEnv) -> None:
    with sync_env.emu.secret_client("east") as east:
        for name in ("both-changed", "same-second"):
            east.set_secret(name, f"{name}-1")
    backdate(sync_env, "east", "both-changed", "same-second")
    assert sync_env.sync()["status"] == "succeeded"
    failover = fail_over(sync_env, "west")
    next_second()
    with sync_env.emu.secret_client("west") as west:
        for name in ("both-changed", "same-second"):
            west.set_secret(name, f"{name}-west")
    with sync_env.emu.secret_client("east") as east:  # written in east, never copied to west
        east.set_secret("both-changed", "both-changed-east")
        first = east.get_secret("same-second").properties.version
        later = east.set_secret("same-second", "same-second-east").properties.version
    # east's new version shares the creation second (so the version token) of the one west
    # copied: only the copy's origin id tells them apart
    same_second(sync_env, "east", "same-second", later, first)
    before = {n: versions(sync_env, "west", n) for n in ("both-changed", "same-second")}
    reset_counts(sync_env)

    result = run_pair(sync_env, "east", "west", SyncMode.RECONCILE, failover.epoch)
    listings = version_listings(sync_env)

    report = result["report"]
    assert report["status"] == "succeeded", (report["counts"], report["failures"])
    assert report["counts"] == {"conflict": {"secret": 2}}
    assert report["conflicts"] == [
        {"kind": "secret", "name": n, "reason": Reason.RECONCILE_CONFLICT}
        for n in ("both-changed", "same-second")]
    assert sync_env.writes("west") == 0
    assert {n: versions(sync_env, "west", n) for n in before} == before
    assert value(sync_env, "west", "same-second") == "same-second-west"
    # one listing of west per conflict; only the same-second item's copy matched by token,
    # so east's version ids were listed for it alone
    assert listings == {"west": 2, "east": 1}


# --- drain --------------------------------------------------------------------------------------


def test_drain_overwrites_a_diverged_target_keeping_its_version_and_lists_it(
        sync_env: SyncEnv) -> None:
    with sync_env.emu.secret_client("east") as east:
        east.set_secret("diverged", "primary-value")
        east.set_secret("in-sync", "in-sync-value")
    assert sync_env.sync()["status"] == "succeeded"
    next_second()
    with sync_env.emu.secret_client("west") as west:  # written outside kvdr: drift
        divergent = west.set_secret("diverged", "secondary-value").properties.version
    next_second()  # and the drain's version comes a second later again
    epoch = topology(sync_env).epoch

    # planned failover east -> west: drain the current primary into the new one
    result = run_pair(sync_env, "east", "west", SyncMode.DRAIN, epoch)

    report = result["report"]
    assert report["status"] == "succeeded", (report["counts"], report["failures"])
    assert report["counts"] == {"update_value": {"secret": 1}, "unchanged": {"secret": 1}}
    assert report["overwritten"] == [{"kind": "secret", "name": "diverged",
                                      "reason": Reason.DRIFT_DRAINED}]
    assert report["conflicts"] == [] and result["drift"] == 1
    assert value(sync_env, "west", "diverged") == "primary-value"
    assert divergent in versions(sync_env, "west", "diverged")  # nothing is lost
    assert len(versions(sync_env, "west", "diverged")) == 3
    assert value(sync_env, "west", "diverged", divergent) == "secondary-value"
    assert "secondary-value" not in str(result) and "primary-value" not in str(result)


def test_drain_writes_over_a_version_the_primary_already_had_without_calling_it_overwritten(
        sync_env: SyncEnv) -> None:
    with sync_env.emu.secret_client("east") as east:
        for name in ("rotated-on-survivor", "both-changed"):
            east.set_secret(name, f"{name}-1")
    backdate(sync_env, "east", "rotated-on-survivor", "both-changed")
    assert sync_env.sync()["status"] == "succeeded"  # west holds kvdr copies of east's v1
    failover = fail_over(sync_env, "west")
    next_second()  # the applications' versions come after the copies
    with sync_env.emu.secret_client("west") as west:  # east is down; the applications rotate
        for name in ("rotated-on-survivor", "both-changed"):
            west.set_secret(name, f"{name}-west")
    with sync_env.emu.secret_client("east") as east:  # written in east, never copied to west
        diverged = east.set_secret("both-changed", "both-changed-east").properties.version
    east_v1 = versions(sync_env, "east", "rotated-on-survivor")
    reset_counts(sync_env)

    # the drain's plan (a dry run: nothing written) reads the current primary's history ...
    planned = SyncActivities(sync_env.runtime).plan_pair(PairPlanRequest(
        "drain-plan", "west", "east", True, failover.epoch, "2026-01-01T00:00:00Z",
        mode=SyncMode.DRAIN))
    listings = version_listings(sync_env)
    requests = {v: sum(sum(by_status.values()) for by_status
                       in sync_env.emu.stats(v)["operations"].values()) for v in ("east", "west")}
    assert planned.ok and planned.drift == 1
    # one version listing of the primary per drift overwrite; the copy of east's v1 names
    # east's version id, so east's ids behind that token were listed too (for that item only)
    assert listings == {"west": 2, "east": 1}
    assert planned.report is not None and planned.report["calls"] == requests
    assert [n["name"] for n in planned.report["conflicts"]] == ["both-changed"]  # dry run
    next_second()  # and the drain's versions come a second later than east's own

    # failback: drain the current primary (west) into the returning region (east)
    result = run_pair(sync_env, "west", "east", SyncMode.DRAIN, failover.epoch)

    report = result["report"]
    assert report["status"] == "succeeded", (report["counts"], report["failures"])
    assert report["counts"] == {"update_value": {"secret": 2}}
    # both are written (primary wins) ...
    assert value(sync_env, "east", "rotated-on-survivor") == "rotated-on-survivor-west"
    assert value(sync_env, "east", "both-changed") == "both-changed-west"
    # ... but only the version that never reached west is reported as overwritten
    assert report["overwritten"] == [{"kind": "secret", "name": "both-changed",
                                      "reason": Reason.DRIFT_DRAINED}]
    assert report["conflicts"] == [] and result["drift"] == 1
    assert value(sync_env, "east", "both-changed", diverged) == "both-changed-east"
    assert set(east_v1) < set(versions(sync_env, "east", "rotated-on-survivor"))


# --- sync: drift the primary's version history explains ----------------------------------------


@pytest.mark.parametrize("conflicts", ["report", "primary-wins"])
def test_sync_copies_over_a_version_the_primary_had_and_replaced_but_keeps_real_drift(
        sync_env_factory, conflicts: str) -> None:
    env = sync_env_factory(sections={"policies": {"conflicts": conflicts}})
    names = ("superseded", "diverged", "older-copied")
    with env.emu.secret_client("east") as east:
        for name in names:
            east.set_secret(name, f"{name}-1")
    backdate(env, "east", *names)
    assert env.sync()["status"] == "succeeded"  # east -> west at epoch 1

    # west becomes primary and writes; a sync copies that to east
    fail_over(env, "west")
    next_second()
    with env.emu.secret_client("west") as west:
        west.set_secret("superseded", "superseded-west")
        west.set_secret("older-copied", "older-copied-west-1")
    # east's latest versions are its own (no kvdr copies) but west held copies of them: no drift
    to_east = env.sync()
    assert to_east["counts"] == {"update_value": {"secret": 2}, "unchanged": {"secret": 1}}
    assert (to_east["conflicts"], to_east["overwritten"], to_east["drift"]) == ([], [], 0)
    next_second()
    with env.emu.secret_client("west") as west:  # cut off before this reached east
        west.set_secret("older-copied", "older-copied-west-2")

    # east is primary again; it rotates what west wrote; west writes as a secondary (drift)
    back = fail_over(env, "east")
    next_second()
    with env.emu.secret_client("east") as east:
        east.set_secret("superseded", "superseded-east-2")
    with env.emu.secret_client("west") as west:
        west.set_secret("diverged", "diverged-west")
    reset_counts(env)

    planned = SyncActivities(env.runtime).plan_pair(PairPlanRequest(
        "sync-plan", "east", "west", True, back.epoch, "2026-01-01T00:00:00Z"))
    listings = version_listings(env)
    assert planned.ok and planned.drift == 2
    # one listing of the primary per drift item; the copy of west's superseded version names
    # its version id, so west's ids behind that token were listed too (for that item only)
    assert listings == {"east": 3, "west": 1}
    assert planned.report is not None
    assert [n["name"] for n in planned.report["conflicts"]] == ["diverged", "older-copied"]
    next_second()  # the sync's versions come a second after west's own

    report = env.sync()

    assert report["drift"] == 2
    assert value(env, "west", "superseded") == "superseded-east-2"
    if conflicts == "report":
        assert report["counts"] == {"update_value": {"secret": 1}, "conflict": {"secret": 2}}
        assert report["conflicts"] == [{"kind": "secret", "name": n, "reason": Reason.DRIFT}
                                       for n in ("diverged", "older-copied")]
        assert report["overwritten"] == []
        assert value(env, "west", "diverged") == "diverged-west"
        assert value(env, "west", "older-copied") == "older-copied-west-2"
    else:
        assert report["counts"] == {"update_value": {"secret": 3}}
        assert report["conflicts"] == []
        assert report["overwritten"] == [
            {"kind": "secret", "name": n, "reason": Reason.DRIFT_OVERWRITTEN}
            for n in ("diverged", "older-copied")]
        assert value(env, "west", "diverged") == "diverged-1"


# --- fencing ------------------------------------------------------------------------------------


def test_a_batch_planned_before_a_failover_writes_nothing_and_fails_fenced(
        sync_env: SyncEnv) -> None:
    with sync_env.emu.secret_client("east") as east:
        for i in range(3):
            east.set_secret(f"fenced-{i}", f"fenced-value-{i}")
    planned_at = topology(sync_env)
    summary = SyncActivities(sync_env.runtime).plan_pair(PairPlanRequest(
        "fence-run", "east", "west", False, planned_at.epoch, "2026-01-01T00:00:00Z"))
    assert summary.ok and summary.batches == 1
    fail_over(sync_env, "west", vaults=("west",))  # east is cut off: only west learns
    sync_env.emu.reset_stats("west")

    result = SyncActivities(sync_env.runtime).execute_batch(BatchRequest(
        "fence-run", "east", "west", 0, planned_at.epoch)).result

    assert [(o.ok, o.code) for o in result.outcomes] == [(False, FENCED_CODE)] * 3
    assert "a failover or failback happened" in (result.outcomes[0].message or "")
    assert sync_env.writes("west") == 0
    assert sync_env.emu.count("west", "GetSecret", 200) == 1  # one record read per batch


def test_a_pair_run_at_an_older_epoch_than_the_target_holds_writes_nothing(
        sync_env: SyncEnv) -> None:
    with sync_env.emu.secret_client("east") as east:
        for i in range(3):
            east.set_secret(f"late-{i}", f"late-value-{i}")
    stale = topology(sync_env)
    fail_over(sync_env, "west", vaults=("west",))
    sync_env.emu.reset_stats("west")

    result = run_pair(sync_env, "east", "west", SyncMode.SYNC, stale.epoch)

    report = result["report"]
    assert report["status"] == "failed"
    assert report["counts"] == {"failed": {"secret": 3}}
    assert {f["code"] for f in report["failures"]} == {FENCED_CODE}
    assert sync_env.writes("west") == 0
    with sync_env.emu.secret_client("west") as west:
        assert not [p for p in west.list_properties_of_secrets() if p.name.startswith("late-")]


# --- the event path -----------------------------------------------------------------------------


def test_the_event_path_does_not_copy_from_a_region_the_target_says_is_no_longer_primary(
        sync_env: SyncEnv) -> None:
    reset_caches()
    try:
        topology(sync_env)
        with sync_env.emu.secret_client("east") as east:
            first = east.set_secret("before-failover", "before").properties.version
        [outcome] = handle_payload(sync_env.runtime, [event(sync_env, "before-failover",
                                                            first)])
        assert outcome.status == EventStatus.REPLICATED  # the cache now holds east @ epoch 1

        fail_over(sync_env, "west", vaults=("west",))  # east never hears of it
        with sync_env.emu.secret_client("east") as east:
            late = east.set_secret("after-failover", "after").properties.version
        sync_env.emu.reset_stats("west")

        [outcome] = handle_payload(sync_env.runtime, [event(sync_env, "after-failover", late)])

        assert (outcome.status, outcome.reason) == (EventStatus.IGNORED,
                                                    IgnoreReason.NON_PRIMARY)
        assert outcome.targets == {"west": "fenced"}
        assert sync_env.writes("west") == 0
        with sync_env.emu.secret_client("west") as west:
            assert not [p for p in west.list_properties_of_secrets()
                        if p.name == "after-failover"]
    finally:
        reset_caches()


def test_the_event_path_still_copies_when_the_newer_record_names_the_source_primary(
        sync_env: SyncEnv) -> None:
    reset_caches()
    try:
        topology(sync_env)
        with sync_env.emu.secret_client("east") as east:
            first = east.set_secret("cached", "cached-value").properties.version
        handle_payload(sync_env.runtime, [event(sync_env, "cached", first)])  # east @ epoch 1
        fail_over(sync_env, "east", vaults=("west",))  # e.g. failed over and back: epoch 2
        with sync_env.emu.secret_client("east") as east:
            later = east.set_secret("after-epoch-2", "later-value").properties.version

        [outcome] = handle_payload(sync_env.runtime, [event(sync_env, "after-epoch-2", later)])

        assert outcome.status == EventStatus.REPLICATED and outcome.targets == {"west": "create"}
        assert value(sync_env, "west", "after-epoch-2") == "later-value"
    finally:
        reset_caches()
