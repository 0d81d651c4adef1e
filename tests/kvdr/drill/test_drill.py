"""The drill's judgement, pure: preflight verdicts, RPO from a plan, RTO from step times, and
the report (its result, round trip, text and event dimensions)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from kvdr.config.schema import ConflictPolicy, Policies
from kvdr.drill.checks import CheckName, CheckStatus, DrillCheck
from kvdr.drill.measure import PendingChanges, changed_at, pending_changes, rpo_check, rto_check
from kvdr.drill.preflight import preflight
from kvdr.drill.report import DrillReport, DrillResult
from kvdr.sync.plan import plan_sync
from kvdr.topology.reading import RecordRead
from kvdr.topology.record import TopologyRecord
from kvdr.vault.inventory import Inventory, ItemKind, ItemProps
from kvdr.vault.links import LinkTag

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
REGIONS = ("east", "west", "north")


def record(primary: str = "east", epoch: int = 2) -> TopologyRecord:
    return TopologyRecord(primary, epoch, NOW - timedelta(days=1), "ops", "test")


def reads(**overrides: RecordRead) -> dict[str, RecordRead]:
    base = {r: RecordRead(r, record()) for r in REGIONS}
    base.update(overrides)
    return base


def by_label(checks) -> dict[str, DrillCheck]:
    return {c.label: c for c in checks}


# --- preflight ----------------------------------------------------------------------------------


def test_a_healthy_topology_passes_preflight_and_measures_every_secondary() -> None:
    pre = preflight(REGIONS, reads())
    assert [c.name for c in pre.checks] == [CheckName.REACHABLE, CheckName.PRIMARY,
                                            CheckName.SPLIT_BRAIN, CheckName.RECORDS_CURRENT]
    assert all(c.passed for c in pre.checks)
    assert (pre.primary, pre.epoch) == ("east", 2)
    assert pre.targets == pre.measure_rpo == pre.measure_rto == ("west", "north")


def test_an_unreachable_secondary_fails_reachability_and_is_not_measured() -> None:
    pre = preflight(REGIONS, reads(west=RecordRead("west", error_code="vault.unreachable")))
    checks = by_label(pre.checks)
    assert checks["vaults_reachable"].status == CheckStatus.FAILED
    assert "west [vault.unreachable]" in checks["vaults_reachable"].message
    assert checks["rpo:west"].status == checks["rto:west"].status == CheckStatus.SKIPPED
    assert "could not run now" in checks["rto:west"].message
    assert pre.measure_rpo == pre.measure_rto == ("north",)


def test_an_unreachable_primary_still_rehearses_the_failover_but_cannot_measure_rpo() -> None:
    pre = preflight(REGIONS, reads(east=RecordRead("east", error_code="vault.unavailable")))
    assert pre.primary == "east"  # from the records the secondaries hold
    assert pre.measure_rpo == ()
    assert pre.measure_rto == ("west", "north")
    assert "pending changes cannot be listed" in by_label(pre.checks)["rpo:west"].message


def test_no_record_anywhere_means_no_primary_and_nothing_measured() -> None:
    pre = preflight(REGIONS, {r: RecordRead(r) for r in REGIONS}, targets=["west"])
    checks = by_label(pre.checks)
    assert checks["current_primary"].status == CheckStatus.FAILED
    assert "bootstraps" in checks["current_primary"].message
    assert pre.primary is None and pre.measure_rpo == pre.measure_rto == ()
    assert checks["rpo:west"].status == CheckStatus.SKIPPED


def test_split_brain_fails_and_stops_the_measurements() -> None:
    rival = RecordRead("west", record("west", 2))
    pre = preflight(REGIONS, reads(west=rival))
    check = by_label(pre.checks)["no_split_brain"]
    assert check.status == CheckStatus.FAILED and "split brain" in check.message
    assert pre.measure_rpo == pre.measure_rto == ()


def test_a_stale_missing_or_unreadable_record_fails_records_current() -> None:
    pre = preflight(REGIONS, reads(west=RecordRead("west", record("east", 1)),
                                   north=RecordRead("north", unreadable=True)))
    check = by_label(pre.checks)["records_current"]
    assert check.status == CheckStatus.FAILED
    assert "west holds epoch 1" in check.message and "north holds an unreadable" in check.message
    assert check.counts == {"stale": 2}
    missing = preflight(REGIONS, reads(north=RecordRead("north")))
    assert "north holds no record" in by_label(missing.checks)["records_current"].message


def test_targets_limit_the_secondaries_and_the_primary_is_no_target() -> None:
    assert preflight(REGIONS, reads(), targets=["north"]).measure_rto == ("north",)
    pre = preflight(REGIONS, reads(), targets=["east", "north"])
    check = by_label(pre.checks)["targets"]
    assert check.status == CheckStatus.FAILED and "the primary is east" in check.message
    assert pre.targets == ("north",)


# --- RPO ----------------------------------------------------------------------------------------


def secret(name: str, *, updated: datetime | None = None, link: LinkTag | None = None,
           tags: dict[str, str] | None = None, enabled: bool = True) -> ItemProps:
    created = updated or NOW - timedelta(hours=5)
    return ItemProps(ItemKind.SECRET, name, version=f"c{int(created.timestamp())}",
                     updated_on=updated, link=link, tags=tags or {}, enabled=enabled)


def plan(source: list[ItemProps], target: list[ItemProps], **policies):
    return plan_sync(Inventory("east", tuple(source)), Inventory("west", tuple(target)),
                     source_region="east", target_region="west",
                     policies=Policies(**policies), same_subscription=True,
                     same_geography=True, now=NOW)


def copy_of(s: ItemProps) -> ItemProps:
    version = "c1700000000"
    return ItemProps(ItemKind.SECRET, s.name, version=version, updated_on=s.updated_on,
                     link=LinkTag("east", s.version or "", 1, version), tags=s.tags)


def test_pending_changes_count_what_the_sync_would_copy_and_date_the_oldest() -> None:
    in_sync = secret("in-sync", updated=NOW - timedelta(days=3))
    old = secret("old", updated=NOW - timedelta(hours=2))
    new = secret("new", updated=NOW - timedelta(minutes=5))
    drifted = secret("drifted", updated=NOW - timedelta(days=9))
    target_drift = ItemProps(ItemKind.SECRET, "drifted", version="c1600000000")
    disabled = secret("disabled", updated=NOW - timedelta(days=9), enabled=False)
    changes = pending_changes(plan([in_sync, old, new, drifted, disabled],
                                   [copy_of(in_sync), target_drift]))
    assert changes.pending == 2
    assert changes.oldest_change_at == NOW - timedelta(hours=2)
    assert changes.counts() == {"pending": 2, "conflicts": 1, "deletions": 0,
                                "unverifiable": 0, "not_replicated": 1}


def test_a_change_without_an_updated_time_is_dated_by_its_version_token() -> None:
    props = ItemProps(ItemKind.SECRET, "s", version=f"c{int(NOW.timestamp())}")
    assert changed_at(props) == NOW
    assert changed_at(ItemProps(ItemKind.SECRET, "s", version="v1")) is None


def test_rpo_is_zero_in_sync_within_or_over_the_objective() -> None:
    in_sync = rpo_check("west", PendingChanges(conflicts=1), now=NOW, objective=3600)
    assert in_sync.passed and in_sync.measured_seconds == 0.0
    assert "1 conflicts" in in_sync.message
    within = rpo_check("west", PendingChanges(3, NOW - timedelta(minutes=10)), now=NOW,
                       objective=3600)
    assert within.passed and within.measured_seconds == 600.0
    over = rpo_check("west", PendingChanges(3, NOW - timedelta(hours=2)), now=NOW,
                     objective=3600)
    assert over.status == CheckStatus.FAILED and over.measured_seconds == 7200.0
    assert "3 pending changes" in over.message and "> objective 3600 s" in over.message
    assert over.counts["pending"] == 3


def test_pending_changes_of_unknown_age_cannot_pass() -> None:
    check = rpo_check("west", PendingChanges(2, None, undated=2), now=NOW, objective=3600)
    assert check.status == CheckStatus.FAILED and "cannot be bounded" in check.message


# --- RTO ----------------------------------------------------------------------------------------


def test_rto_is_the_sum_of_the_rehearsed_steps() -> None:
    steps = {"read_topology": 0.5, "write_probe": 0.25, "read_back": 0.25}
    check = rto_check("west", steps, objective=900)
    assert check.passed and check.measured_seconds == 1.0 and check.steps == steps
    slow = rto_check("west", {"read_topology": 600.0, "write_probe": 400.0}, objective=900)
    assert slow.status == CheckStatus.FAILED and "> objective 900 s" in slow.message
    failed = rto_check("west", {"read_topology": 0.1}, objective=900,
                       error={"code": "vault.forbidden", "message": "no write access"})
    assert failed.status == CheckStatus.FAILED and failed.code == "vault.forbidden"
    assert failed.measured_seconds is None


# --- report -------------------------------------------------------------------------------------


def report(*checks: DrillCheck) -> DrillReport:
    return DrillReport("drill-1", NOW, ("east", "west"), 3600, 900, "east", 2, ("west",),
                       checks, {"east": 4}).finish(NOW + timedelta(seconds=3))


PASS_RPO = rpo_check("west", PendingChanges(), now=NOW, objective=3600)
PASS_RTO = rto_check("west", {"read_topology": 0.2, "write_probe": 0.1}, objective=900)


def test_a_drill_passes_only_when_every_check_passed() -> None:
    assert report(PASS_RPO, PASS_RTO).result == DrillResult.PASSED
    skipped = DrillCheck(CheckName.RTO, CheckStatus.SKIPPED, "not measured", "west")
    assert report(PASS_RPO, skipped).result == DrillResult.FAILED
    assert report().result == DrillResult.FAILED  # nothing proven


def test_the_report_round_trips_and_renders_without_values() -> None:
    done = report(PASS_RPO, PASS_RTO).add_calls({"east": 2, "west": 5})
    data = done.to_dict()
    assert data["result"] == "passed" and data["duration_seconds"] == 3.0
    assert data["measured"] == {"rpo_seconds": 0.0, "rto_seconds": 0.3, "pending_changes": 0}
    assert data["objectives"] == {"rpo_seconds": 3600, "rto_seconds": 900}
    assert data["calls"] == {"east": 6, "west": 5}
    assert DrillReport.from_dict(data) == done
    text = done.render_text()
    assert text.startswith("drill drill-1: PASSED") and "[passed] rto:west" in text


def test_event_dimensions_are_text_and_numbers_naming_the_failed_checks() -> None:
    over = rpo_check("west", PendingChanges(4, NOW - timedelta(hours=3)), now=NOW,
                     objective=3600)
    dims = report(over, PASS_RTO).event_dimensions()
    assert dims["result"] == "failed" and dims["failed_checks"] == "rpo:west"
    assert dims["pending_changes"] == 4 and dims["rpo_measured_seconds"] == 10800.0
    assert dims["regions"] == "east,west" and dims["run_id"] == "drill-1"
    assert all(isinstance(v, str | int | float) and not isinstance(v, bool)
               for v in dims.values())
    unknown = DrillReport("drill-2", NOW).event_dimensions()
    assert "primary" not in unknown and unknown["result"] == "failed"


@pytest.mark.parametrize("policy", [ConflictPolicy.PRIMARY_WINS])
def test_drift_the_sync_would_overwrite_is_a_pending_change(policy) -> None:
    drifted = secret("drifted", updated=NOW - timedelta(minutes=1))
    target = ItemProps(ItemKind.SECRET, "drifted", version="c1600000000")
    changes = pending_changes(plan([drifted], [target], conflicts=policy))
    assert (changes.pending, changes.conflicts) == (1, 0)
