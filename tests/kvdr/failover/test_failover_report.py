"""The failover report's RTO: measured from the alert's fired time only when that time is
plausible; an alert time far in the past or in the future is clamped, flagged and explained."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from kvdr.failover.report import FailoverOutcome, FailoverReport

STARTED = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


def _completed(fired_at: datetime | None, seconds: float = 30.0) -> FailoverReport:
    report = FailoverReport("failover-alert-1", "unplanned", "west", "alert:rule", "outage",
                            STARTED, fired_at=fired_at, rto_objective_seconds=900)
    return report.finish(FailoverOutcome.COMPLETED, STARTED + timedelta(seconds=seconds))


def test_the_rto_is_measured_from_a_plausible_alert_fired_time() -> None:
    report = _completed(STARTED - timedelta(seconds=60))
    assert report.rto_seconds == 90.0
    data = report.to_dict()
    assert data["rto_clamped"] is False and data["rto_basis"] == "alert fired"


def test_an_alert_fired_last_year_does_not_make_the_rto_millions_of_seconds() -> None:
    report = _completed(STARTED - timedelta(days=400))
    assert report.rto_seconds == 30.0          # from the runbook's start instead
    assert report.within_rto is True
    data = report.to_dict()
    assert data["rto_clamped"] is True and data["rto_seconds"] == 30.0
    assert "runbook start" in data["rto_basis"]
    text = report.render_text()
    assert "fired" in text and "ignored" in text
    assert report.event_dimensions()["rto_seconds"] == 30.0


def test_an_alert_fired_in_the_future_beyond_clock_skew_is_clamped_to_the_start() -> None:
    report = _completed(STARTED + timedelta(days=2))
    assert report.rto_seconds == 30.0          # not negative
    assert report.to_dict()["rto_clamped"] is True


def test_an_alert_a_little_ahead_of_the_start_is_clock_skew_and_not_flagged() -> None:
    report = _completed(STARTED + timedelta(seconds=20))
    assert report.rto_seconds == 30.0          # never before the runbook itself started
    assert report.to_dict()["rto_clamped"] is False


def test_a_report_read_back_keeps_the_clamp() -> None:
    report = _completed(STARTED - timedelta(days=400))
    again = FailoverReport.from_dict(report.to_dict())
    assert again.rto_seconds == 30.0 and again.to_dict()["rto_clamped"] is True


def test_a_step_that_stopped_with_an_error_reads_failed_not_its_item_status() -> None:
    # a drain refused before writing (vault.permission_denied) has no failed item: its sync
    # report says "succeeded", but the step did not run
    refused = {"code": "vault.permission_denied", "message": "lacks the role"}
    report = replace(FailoverReport("failover-1", "planned", "west", "cli", "test", STARTED),
                     source="east", outcome=FailoverOutcome.FAILED, error=refused,
                     steps={"reconcile": {"status": "succeeded"},
                            "drain": {"status": "succeeded", "error": refused}})
    text = report.render_text()
    assert "  reconcile: succeeded" in text
    assert "  drain: failed" in text and "drain: succeeded" not in text
