"""The sync report: built from a plan, fed by batch results, merged, rendered; no values."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from kvdr.config.schema import DeletionPolicy, Policies
from kvdr.sync.model import PlanAction
from kvdr.sync.plan import plan_sync
from kvdr.sync.report import (
    MAX_LISTED,
    BatchResult,
    ItemNote,
    ItemOutcome,
    SyncReport,
    SyncStatus,
)
from kvdr.vault.inventory import Inventory, ItemKind, ItemProps
from kvdr.vault.links import LinkTag

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
S, C, K = ItemKind.SECRET, ItemKind.CERTIFICATE, ItemKind.KEY


def sample_plan(target: str = "westus", policies: Policies | None = None):
    source = [ItemProps(S, "a", "v1"), ItemProps(S, "b", "v1"),
              ItemProps(S, "dis", "v1", enabled=False), ItemProps(S, "drift", "v1"),
              ItemProps(C, "nx", "v1", exportable=False), ItemProps(K, "k", "k1")]
    tgt = [ItemProps(S, "drift", "w1"),
           ItemProps(S, "gone", "w1", link=LinkTag("eastus", "v0", 1, "w1"))]
    return plan_sync(Inventory.of("eastus", source), Inventory.of(target, tgt),
                     source_region="eastus", target_region=target,
                     policies=policies or Policies(), same_subscription=False,
                     same_geography=True, now=T0)


def test_report_starts_from_the_plan_with_skips_and_conflicts_listed():
    report = SyncReport.start(sample_plan(), dry_run=False, started_at=T0)
    assert report.count("skip") == 3 and report.count("skip", "key") == 1
    assert report.count("conflict") == 1 and report.count("target_only") == 1
    assert report.count("create") == 0  # nothing executed yet
    reasons = {n.name: n.reason for n in report.skipped}
    assert reasons["nx"] == "provision independently: non-exportable"
    assert reasons["k"].startswith("provision independently: different subscriptions")
    assert [n.name for n in report.conflicts] == ["drift"]
    assert report.status == SyncStatus.RUNNING


def test_dry_run_report_counts_what_would_be_done():
    report = SyncReport.start(sample_plan(), dry_run=True, started_at=T0).finish(T0)
    assert report.dry_run and report.count(PlanAction.CREATE, S) == 2
    assert "dry run: nothing written" in report.render_text()


def test_batch_results_add_counts_failures_with_codes_and_calls():
    report = SyncReport.start(sample_plan(), dry_run=False, started_at=T0)
    batch = BatchResult(
        outcomes=(ItemOutcome(S, "a", PlanAction.CREATE),
                  ItemOutcome(S, "b", PlanAction.CREATE, ok=False, code="vault.forbidden",
                              message="403 from westus")),
        calls={"westus": 3, "eastus": 2})
    report = report.add_batch(BatchResult.from_dict(json.loads(json.dumps(batch.to_dict()))))
    report = report.add_calls({"eastus": 4}).finish(T0 + timedelta(seconds=12.5))
    assert batch.to_dict()["ok"] is False
    assert report.count("create", S) == 1 and report.failed_count == 1
    assert [(f.name, f.code) for f in report.failures] == [("b", "vault.forbidden")]
    assert report.calls == {"westus": 3, "eastus": 6}
    assert report.duration_seconds == 12.5
    assert report.status == SyncStatus.PARTIAL


def test_all_failures_and_nothing_done_is_failed_and_clean_runs_succeed():
    empty = plan_sync(Inventory.of("eastus", [ItemProps(S, "a", "v1")]), Inventory.of("westus"),
                      source_region="eastus", target_region="westus", policies=Policies(),
                      same_subscription=True, same_geography=True, now=T0)
    start = SyncReport.start(empty, dry_run=False, started_at=T0)
    failed = start.add_batch(BatchResult((ItemOutcome(S, "a", PlanAction.CREATE, ok=False,
                                                      code="vault.throttled"),)))
    assert failed.finish(T0).status == SyncStatus.FAILED
    done = start.add_batch(BatchResult((ItemOutcome(S, "a", PlanAction.CREATE),)))
    assert done.finish(T0).status == SyncStatus.SUCCEEDED


def test_blocked_deletions_make_the_run_partial_and_are_listed():
    policies = Policies(deletions=DeletionPolicy.MIRROR, deletion_grace_period=timedelta(0),
                        deletion_breaker_max_items=0)
    report = SyncReport.start(sample_plan(policies=policies), dry_run=False,
                              started_at=T0).finish(T0)
    assert report.blocked_reasons and report.status == SyncStatus.PARTIAL
    assert report.count("blocked") == 1
    assert "blocked: deletion breaker tripped" in report.render_text()


def test_reports_of_two_targets_merge():
    east_west = SyncReport.start(sample_plan("westus"), dry_run=False, started_at=T0)
    east_central = SyncReport.start(sample_plan("centralus"), dry_run=False,
                                    started_at=T0 - timedelta(seconds=5))
    merged = east_west.add_calls({"westus": 1}).merge(
        east_central.add_calls({"centralus": 2}).finish(T0 + timedelta(seconds=9)))
    assert merged.target_regions == ("westus", "centralus")
    assert merged.count("skip") == 6
    assert merged.started_at == T0 - timedelta(seconds=5)
    assert merged.duration_seconds == 14
    assert merged.calls == {"westus": 1, "centralus": 2}


def test_lists_are_capped_but_counts_stay_complete():
    many = [ItemProps(S, f"s{i:04}", "v1", enabled=False) for i in range(MAX_LISTED + 50)]
    plan = plan_sync(Inventory.of("eastus", many), Inventory.of("westus"),
                     source_region="eastus", target_region="westus", policies=Policies(),
                     same_subscription=True, same_geography=True, now=T0)
    report = SyncReport.start(plan, dry_run=False, started_at=T0)
    assert len(report.skipped) == MAX_LISTED and report.omitted == 50
    assert report.count("skip") == MAX_LISTED + 50
    assert "(50 more entries not listed)" in report.finish(T0).render_text()


def test_report_round_trips_through_json():
    report = (SyncReport.start(sample_plan(), dry_run=False, started_at=T0)
              .add_batch(BatchResult((ItemOutcome(S, "a", PlanAction.CREATE, ok=False,
                                                  code="x", message="m"),), {"westus": 1}))
              .finish(T0 + timedelta(seconds=1)))
    data = json.loads(json.dumps(report.to_dict()))
    assert data["status"] == "failed"  # the only executed item failed
    assert SyncReport.from_dict(data) == report


def test_render_text_shows_counts_per_kind_and_reasons():
    text = (SyncReport.start(sample_plan(), dry_run=False, started_at=T0)
            .add_calls({"eastus": 3}).finish(T0 + timedelta(seconds=2)).render_text())
    assert text.splitlines()[0] == "sync eastus -> westus: succeeded in 2.0s"
    assert "calls: eastus=3" in text
    assert "certificate nx: provision independently: non-exportable" in text


def test_overwritten_drift_is_listed_merged_round_tripped_and_rendered():
    note = ItemNote(S, "drift", "drift overwritten")
    first = SyncReport.start(sample_plan(), dry_run=False, started_at=T0).add_overwritten([note])
    second = SyncReport.start(sample_plan(), dry_run=False, started_at=T0).add_overwritten(
        [ItemNote(S, "other", "drift overwritten")])
    merged = first.merge(second).finish(T0 + timedelta(seconds=1))
    assert [n.name for n in merged.overwritten] == ["drift", "other"]
    data = json.loads(json.dumps(merged.to_dict()))
    assert data["overwritten"][0] == {"kind": "secret", "name": "drift",
                                      "reason": "drift overwritten"}
    assert SyncReport.from_dict(data) == merged
    assert "  overwritten:\n    secret drift: drift overwritten" in merged.render_text()
