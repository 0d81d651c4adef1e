"""Counters of the event path, kept in the state store under ``events/stats.json``.

Schema (the replication contract's, plus ``recent_lags``, ``notices`` and ``handler_seconds``)::

    {"received": n, "replicated": n, "ignored": {reason: n}, "failed": n,
     "last_event": {"type", "vault", "name", "version", "event_time", "processed_at",
                    "status", "reason"},
     "lag_seconds_p50": s, "lag_seconds_max": s, "pending": n,
     "recent_lags": [s, ...],          # the last RESERVOIR lags (event time -> handled)
     "handler_seconds_p50": s}

``pending`` counts events whose handling began and has not ended in any process (a crash
mid-event leaves it one too high until the next reset; it is a gauge, not an account). The
functions are pure ``old -> new`` updates for ``StateStore.update_json``. No value is ever
stored: names, versions, vault names and reasons only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kvdr.inventory import format_time

if TYPE_CHECKING:
    from kvdr.events import EventOutcome

STATS_KEY = "events/stats.json"
RESERVOIR = 200  # recent lags kept for the percentiles


def empty_stats() -> dict[str, Any]:
    return {"received": 0, "replicated": 0, "ignored": {}, "failed": 0, "last_event": None,
            "lag_seconds_p50": None, "lag_seconds_max": None, "pending": 0,
            "recent_lags": [], "recent_handler_seconds": [], "handler_seconds_p50": None}


def _base(old: Any) -> dict[str, Any]:
    stats = empty_stats()
    if isinstance(old, dict):
        stats.update(old)
        stats["ignored"] = dict(old.get("ignored") or {})
        stats["recent_lags"] = list(old.get("recent_lags") or [])
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
    from kvdr.events import EventStatus

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
    lag = outcome.lag_seconds
    if lag is not None and outcome.status == EventStatus.REPLICATED:
        stats["recent_lags"] = (stats["recent_lags"] + [round(lag, 4)])[-RESERVOIR:]
    stats["recent_handler_seconds"] = (stats["recent_handler_seconds"]
                                       + [round(outcome.seconds, 4)])[-RESERVOIR:]
    stats["lag_seconds_p50"] = percentile(stats["recent_lags"], 50)
    stats["lag_seconds_max"] = max(stats["recent_lags"], default=None)
    stats["handler_seconds_p50"] = percentile(stats["recent_handler_seconds"], 50)
    return stats
