"""The event path's lag figures: an event time far in the past or in the future is clamped and
flagged, and a clean full sync supersedes the lags of events handled before it started."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from kvdr.events.model import EventOutcome, EventStatus
from kvdr.events.stats import MAX_EVENT_AGE, STATS_KEY, record_begin, record_end
from kvdr.state.store import FileStateStore
from kvdr.status import LAST_REPORT_KEY, estimated_lag

NOW = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
RPO = 300


def _handled(stats: object, event_time: datetime, processed_at: datetime) -> dict:
    outcome = EventOutcome("e1", "Microsoft.KeyVault.SecretNewVersionCreated",
                           EventStatus.REPLICATED, vault="east", name="db-password",
                           version="v1", event_time=event_time, processed_at=processed_at,
                           seconds=0.2)
    return record_end(record_begin(stats), outcome)


def test_an_event_from_last_year_is_clamped_and_flagged_not_a_year_of_lag() -> None:
    stats = _handled(None, NOW - timedelta(days=400), NOW)
    assert stats["lag_seconds_max"] == MAX_EVENT_AGE.total_seconds()
    assert stats["lag_clamped"] == {"too_old": 1}
    assert stats["last_clamped"]["reason"] == "too_old"


def test_an_event_time_in_the_future_beyond_clock_skew_counts_as_no_lag_and_is_flagged() -> None:
    stats = _handled(None, NOW + timedelta(days=3), NOW)
    assert stats["lag_seconds_max"] == 0.0
    assert stats["lag_clamped"] == {"future": 1}


def test_an_ordinary_event_is_neither_clamped_nor_flagged() -> None:
    stats = _handled(None, NOW - timedelta(seconds=4), NOW)
    assert stats["lag_seconds_max"] == 4.0
    assert stats["lag_clamped"] == {}


def _state(tmp_path: Path, stats: dict, sync_started: datetime | None) -> FileStateStore:
    state = FileStateStore(tmp_path / "state")
    state.put_json(STATS_KEY, stats)
    if sync_started is not None:
        state.put_json(LAST_REPORT_KEY, {
            "run_id": "sync-1", "status": "succeeded", "target_regions": ["west"],
            "started_at": sync_started.isoformat(),
            "finished_at": (sync_started + timedelta(seconds=40)).isoformat(),
            "counts": {}, "errors": []})
    return state


def test_one_old_event_no_longer_pins_the_lag_over_rpo_after_a_clean_full_sync(
        tmp_path: Path) -> None:
    stats = _handled(None, NOW - timedelta(days=400), NOW - timedelta(minutes=30))
    stats = _handled(stats, NOW - timedelta(minutes=5, seconds=3), NOW - timedelta(minutes=5))
    before = estimated_lag(_state(tmp_path / "a", stats, None), "west", NOW)
    assert before[0] is not None and before[0] > RPO   # the old event still counts
    assert "clamped" in before[1]

    state = _state(tmp_path / "b", stats, NOW - timedelta(minutes=20))
    lag, basis = estimated_lag(state, "west", NOW)
    assert lag == 3.0           # only the event handled after the full sync started
    assert basis.startswith("event path")
    assert "clamped" not in basis


def test_a_clean_full_sync_after_every_recorded_event_leaves_no_event_lag(
        tmp_path: Path) -> None:
    stats = _handled(None, NOW - timedelta(days=400), NOW - timedelta(minutes=30))
    lag, basis = estimated_lag(_state(tmp_path, stats, NOW - timedelta(minutes=20)), "west",
                               NOW)
    assert lag == 0.0
    assert "full sync" in basis
