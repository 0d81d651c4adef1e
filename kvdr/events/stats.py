"""Counters of the event path, kept in the state store under ``events/stats.json``.

Schema (the replication contract's, plus ``recent_lags``, ``notices`` and ``handler_seconds``)::

    {"received": n, "replicated": n, "ignored": {reason: n}, "failed": n,
     "last_event": {"type", "vault", "name", "version", "event_time", "processed_at",
                    "status", "reason"},
     "lag_seconds_p50": s, "lag_seconds_max": s, "pending": n,
     "recent_lags": [s, ...],          # the last RESERVOIR lags (event time -> handled)
     "recent_lag_times": [t, ...],     # when each of those events was handled
     "lag_clamped": {"too_old"|"future": n},
     "last_clamped": {"event_time", "processed_at", "reason"},
     "handler_seconds_p50": s}

An event time is the sender's clock: a lag over :data:`MAX_EVENT_AGE` (Event Grid retries for at
most 24 h, so an older event time is a replay or a wrong clock) is clamped to it, and an event
time in the future beyond :data:`CLOCK_SKEW` counts as no lag; both are counted in
``lag_clamped``. :func:`lag_after` lets a clean full sync supersede the lags of events handled
before it started: that sync copied whatever they had missed.

``pending`` counts events whose handling began and has not ended in any process (a crash
mid-event leaves it one too high until the next reset; it is a gauge, not an account). The
functions are pure ``old -> new`` updates for ``StateStore.update_json``. No value is ever
stored: names, versions, vault names and reasons only.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from kvdr.events.model import EventOutcome, EventStatus
from kvdr.vault.inventory import format_time, parse_time

STATS_KEY = "events/stats.json"
RESERVOIR = 200  # recent lags kept for the percentiles
MAX_EVENT_AGE = timedelta(hours=24)   # Event Grid's retry window
CLOCK_SKEW = timedelta(minutes=5)     # tolerated between the sender's clock and ours
TOO_OLD, FUTURE = "too_old", "future"


def empty_stats() -> dict[str, Any]:
    return {"received": 0, "replicated": 0, "ignored": {}, "failed": 0, "last_event": None,
            "lag_seconds_p50": None, "lag_seconds_max": None, "pending": 0,
            "recent_lags": [], "recent_lag_times": [], "recent_handler_seconds": [],
            "handler_seconds_p50": None, "lag_clamped": {}, "last_clamped": None}


def _base(old: Any) -> dict[str, Any]:
    stats = empty_stats()
    if isinstance(old, dict):
        stats.update(old)
        stats["ignored"] = dict(old.get("ignored") or {})
        stats["recent_lags"] = list(old.get("recent_lags") or [])
        stats["recent_lag_times"] = list(old.get("recent_lag_times") or [])
        stats["lag_clamped"] = dict(old.get("lag_clamped") or {})
        stats["recent_handler_seconds"] = list(old.get("recent_handler_seconds") or [])
    return stats


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100) of ``values``; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def record_begin(old: Any) -> dict[str, Any]:
    stats = _base(old)
    stats["received"] += 1
    stats["pending"] += 1
    return stats


def record_end(old: Any, outcome: EventOutcome) -> dict[str, Any]:
    stats = _base(old)
    stats["pending"] = max(0, stats["pending"] - 1)
    if outcome.status == EventStatus.REPLICATED:
        stats["replicated"] += 1
    elif outcome.status == EventStatus.FAILED:
        stats["failed"] += 1
    else:
        reason = str(outcome.reason or "unknown")
        stats["ignored"][reason] = stats["ignored"].get(reason, 0) + 1
    stats["last_event"] = {
        "type": outcome.event_type, "vault": outcome.vault, "name": outcome.name,
        "version": outcome.version, "event_time": format_time(outcome.event_time),
        "processed_at": format_time(outcome.processed_at), "status": str(outcome.status),
        "reason": str(outcome.reason) if outcome.reason else None}
    lag, clamped = measured_lag(outcome.event_time, outcome.processed_at)
    if clamped:
        stats["lag_clamped"][clamped] = stats["lag_clamped"].get(clamped, 0) + 1
        stats["last_clamped"] = {"event_time": format_time(outcome.event_time),
                                 "processed_at": format_time(outcome.processed_at),
                                 "reason": clamped}
    if lag is not None and outcome.status == EventStatus.REPLICATED:
        if len(stats["recent_lag_times"]) != len(stats["recent_lags"]):
            stats["recent_lags"] = []  # written before times were kept: start afresh
        stats["recent_lags"] = (stats["recent_lags"] + [round(lag, 4)])[-RESERVOIR:]
        stats["recent_lag_times"] = (stats["recent_lag_times"]
                                     + [format_time(outcome.processed_at)])[-RESERVOIR:]
    stats["recent_handler_seconds"] = (stats["recent_handler_seconds"]
                                       + [round(outcome.seconds, 4)])[-RESERVOIR:]
    stats["lag_seconds_p50"] = percentile(stats["recent_lags"], 50)
    stats["lag_seconds_max"] = max(stats["recent_lags"], default=None)
    stats["handler_seconds_p50"] = percentile(stats["recent_handler_seconds"], 50)
    return stats


def measured_lag(event_time: datetime | None, processed_at: datetime | None
                 ) -> tuple[float | None, str | None]:
    """The lag of one event (seconds) and why it was clamped (``too_old``, ``future``, None)."""
    if event_time is None or processed_at is None:
        return None, None
    seconds = (processed_at - event_time).total_seconds()
    if seconds > MAX_EVENT_AGE.total_seconds():
        return MAX_EVENT_AGE.total_seconds(), TOO_OLD
    if seconds < -CLOCK_SKEW.total_seconds():
        return 0.0, FUTURE
    return max(0.0, seconds), None


def lag_after(stats: Any, since: datetime | None) -> tuple[float | None, str]:
    """The worst recent lag among events handled at or after ``since`` (the start of the last
    clean full sync; None: every recent event counts), and a note on what it rests on."""
    lags = list(stats.get("recent_lags") or [])
    times = [parse_time(t) for t in stats.get("recent_lag_times") or []]
    if since is None or not times or len(times) != len(lags):  # before times were kept
        worst = stats.get("lag_seconds_max")
        kept_since = None
    else:
        kept = [lag for lag, t in zip(lags, times, strict=True) if t is not None and t >= since]
        if not kept:
            return 0.0, "no event handled since the last clean full sync started"
        worst, kept_since = max(kept), since
    notes = []
    last = stats.get("last_clamped") or {}
    clamped_at = parse_time(last.get("processed_at"))
    if last and (kept_since is None or (clamped_at is not None and clamped_at >= kept_since)):
        counts = ", ".join(f"{n} {reason.replace('_', ' ')}"
                           for reason, n in sorted((stats.get("lag_clamped") or {}).items()))
        notes.append(f"event times out of bounds clamped: {counts}; an event time over "
                     f"{MAX_EVENT_AGE.total_seconds():.0f} s old counts as that much lag, one "
                     "in the future as none")
    return (None if worst is None else float(worst)), "; ".join(notes)
