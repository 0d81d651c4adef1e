"""The restore report: built from the plan, batch outcomes merged (failures listed first, the
list capped), the run's outcome from the counts, round trip, and the text the CLI shows."""

from __future__ import annotations

from datetime import UTC, datetime

from kvdr.restore.model import RestoreAction, RestoreItem, RestorePlan
from kvdr.restore.outcome import RestoreCode, RestoreOutcome
from kvdr.restore.report import (
    LAST_REPORT_KEY,
    MAX_LISTED,
    RestoreReport,
    RestoreRunOutcome,
    report_key,
)
from kvdr.vault.inventory import ItemKind

S, C = ItemKind.SECRET, ItemKind.CERTIFICATE
A = RestoreAction
T = datetime(2025, 3, 1, 2, 0, tzinfo=UTC)
NOW = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)


def _plan() -> RestorePlan:
    return RestorePlan(as_of=T, primary="east", epoch=3, items=(
        RestoreItem(S, "a", A.ROLL_BACK, "v1"),
        RestoreItem(S, "b", A.RECOVER),
        RestoreItem(C, "c", A.CANNOT, reason="the certificate is not exportable"),
        RestoreItem(S, "n", A.REPORT_NEW, reason="created after TIME"),
        RestoreItem(S, "u", A.UNCHANGED)), untouched={"secret": 7})


def _report(**kw) -> RestoreReport:
    return RestoreReport.from_plan(_plan(), run_id="run-1", requested_by="ops",
                                   reason="bad rotation", started=T, **kw)


def test_the_report_starts_from_the_plan_with_what_is_not_executed_listed():
    report = _report()
    assert report.plan_counts["unchanged"] == {"secret": 8}
    assert (report.cannot, report.new, report.done, report.failed) == (1, 1, 0, 0)
    assert [(o.name, o.action) for o in report.outcomes] == [("c", A.CANNOT), ("n", A.REPORT_NEW)]
    assert "not exportable" in report.outcomes[0].done
    disabling = _report(disable_new=True)
    assert [o.name for o in disabling.outcomes] == ["c"]  # "n" is executed: disabled


def test_merged_outcomes_count_and_list_failures_first():
    report = _report().merge([
        RestoreOutcome(S, "a", A.ROLL_BACK, done="restored version v1 as version v7",
                       source="v1", wrote=True),
        RestoreOutcome(S, "b", A.RECOVER, ok=False, code=RestoreCode.CHANGED,
                       message="purged since the plan")])
    report = report.merge([RestoreOutcome(S, "z", A.UNCHANGED, done="already restored")])
    assert (report.done, report.already, report.failed) == (1, 1, 1)
    assert [o.name for o in report.outcomes] == ["b", "c", "a", "n", "z"]
    finished = report.finish(NOW)
    assert finished.outcome == RestoreRunOutcome.PARTIAL and finished.finished == NOW
    assert RestoreReport.from_dict(finished.to_dict()) == finished


def test_the_outcome_follows_the_counts():
    ok = _report().merge([RestoreOutcome(S, "a", A.ROLL_BACK, wrote=True)]).finish(NOW)
    assert ok.outcome == RestoreRunOutcome.SUCCEEDED
    failed = _report().merge([RestoreOutcome(S, "a", A.ROLL_BACK, ok=False,
                                             code=RestoreCode.SOURCE_GONE)]).finish(NOW)
    assert failed.outcome == RestoreRunOutcome.FAILED
    assert _report(dry_run=True).finish(NOW).outcome == RestoreRunOutcome.PLANNED_ONLY
    fenced = _report().finish(NOW, RestoreRunOutcome.FENCED)
    assert fenced.outcome == "fenced"


def test_the_list_is_capped_and_the_rest_counted():
    many = [RestoreOutcome(S, f"s{i:04d}", A.ROLL_BACK, wrote=True) for i in range(MAX_LISTED)]
    report = _report().merge(many[:150]).merge(many[150:]).merge(
        [RestoreOutcome(S, "late-failure", A.ROLL_BACK, ok=False, code=RestoreCode.INTERNAL)])
    assert len(report.outcomes) == MAX_LISTED
    assert report.omitted == MAX_LISTED + 2 + 1 - MAX_LISTED
    assert report.outcomes[0].name == "late-failure"  # failures are never the ones dropped
    assert report.done == MAX_LISTED and report.failed == 1


def test_the_text_names_items_versions_and_codes():
    report = _report().merge([
        RestoreOutcome(S, "a", A.ROLL_BACK, done="restored version v1 as version v7",
                       wrote=True),
        RestoreOutcome(S, "b", A.RECOVER, ok=False, code=RestoreCode.CHANGED,
                       message="purged since the plan")]).finish(NOW)
    text = report.render_text()
    assert text.splitlines()[0] == ("restore run-1: partial — primary east (epoch 3), as of "
                                    "2025-03-01T02:00:00Z")
    assert "requested by ops: bad rotation" in text
    assert "restored 1, already restored 0, failed 1, cannot restore 1, new since then 1" in text
    assert "secret b: recover: FAILED [restore.changed] purged since the plan" in text
    assert "secret a: roll_back: restored version v1 as version v7" in text


def test_reports_are_kept_under_restore():
    assert LAST_REPORT_KEY == "restore/last-report.json"
    assert report_key("run-1") == "restore/reports/run-1.json"
