"""The version-history checks' I/O: list versions, ask :func:`kvdr.sync.history.match_history`.

The planner is pure; what it cannot tell from two latest versions — whether the current
primary's version history shows that a version which looks like drift or a conflict had already
reached it (:func:`kvdr.sync.history.history_checks`) — is read here, by the full sync's plan
activity (every mode) and by the event path (only for the drift conflict it is about to
refuse). Each check costs one version listing of the region holding the history (properties
only, no value) and, when the copies found there name the origin's version id, one of the other
region too (the real ids behind the subject's version token); both are counted in the sessions'
calls.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from kvdr.errors import KvdrError
from kvdr.sync.history import HistoryCheck, HistoryMatch, match_history, resolve_history
from kvdr.sync.model import SyncPlan

log = logging.getLogger(__name__)

HISTORY_WORKERS = 8  # version listings in flight per pair (each paced like every call)


def answer(sessions: Mapping[str, Any], check: HistoryCheck) -> HistoryMatch:
    """Settle one check with the sessions of ``check.holder`` and ``check.origin``. A listing
    that fails is :attr:`HistoryMatch.UNREAD` (logged with its code), never an exception."""
    kind, name = check.item.kind, check.item.name
    try:
        history = sessions[check.holder].version_history(kind, name)
        if history is None:
            return HistoryMatch.NOT_COPIED  # gone since the inventory: the next run re-plans
        versions = [p for _, p in history]
        match = match_history(check.subject, versions, source_region=check.origin)
        if match == HistoryMatch.NEEDS_SOURCE_IDS:
            token = (check.subject.version or "").lower()
            ids = [vid for vid, p in sessions[check.origin].version_history(kind, name) or []
                   if vid and (p.version or "").lower() == token]
            match = match_history(check.subject, versions, source_region=check.origin,
                                  source_ids=ids)
        return match
    except KvdrError as exc:
        log.warning("%s %s: version history of %s not read: [%s]", kind, name, check.holder,
                    exc.code)
        return HistoryMatch.UNREAD


def settle_history(source: Any, target: Any, plan: SyncPlan,
                   checks: Sequence[HistoryCheck], *, workers: int = HISTORY_WORKERS
                   ) -> SyncPlan:
    """``plan`` with ``checks`` (some or all of ``history_checks(plan, …)``) answered from the
    vault sessions of its source and target and resolved
    (:func:`kvdr.sync.history.resolve_history`).
    Several checks run ``workers`` at a time."""
    if not checks:
        return plan
    sessions = {plan.source_region: source, plan.target_region: target}
    if len(checks) == 1 or workers <= 1:
        found = [answer(sessions, c) for c in checks]
    else:
        with ThreadPoolExecutor(min(workers, len(checks)),
                                thread_name_prefix="kvdr-history") as pool:
            found = list(pool.map(lambda c: answer(sessions, c), checks))
    outcomes = dict(zip((c.key for c in checks), found, strict=True))
    log.info("%s -> %s: %d planned items checked against the version history of the current "
             "primary: %d copies it replaced since, %d unread", plan.source_region,
             plan.target_region, len(checks), found.count(HistoryMatch.REPLACED),
             found.count(HistoryMatch.UNREAD))
    return resolve_history(plan, outcomes)
