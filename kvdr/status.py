"""Replication status per vault pair — the questions HashiCorp Vault's replication status and
AWS's ReplicationStatus answer: who is primary at which epoch, when the last full sync ran and
what it found, what the event path last did, and how far behind a secondary may be.

Built from three sources, read only (a status request never writes): the topology records in
the vaults (the highest epoch wins), the last full-sync report (``sync/last-report.json``) and
the event path's counters (``events/stats.json``) in the state store.

The last drill, failover and restore (``restore/last-report.json``: outcome, the moment, counts)
are shown from their reports; a restore's outcome is information, never a problem by itself.

Renewal (decision 9) is shown from what the last sync and the last failover recorded — the
sync's renewal step per secondary (issuers missing or different, keys whose versions diverged,
items it could not disarm or arm) and the failover's hand-over. Status never reads a policy
itself: it stays a few cheap calls. A record written before renewal existed shows nothing.

``estimated_lag_seconds`` is an upper bound on how stale a secondary may be: the event path's
worst recent lag while it is healthy (events flowing, none failed or stuck), otherwise the age
of the last successful full sync — the backstop that catches whatever events missed.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from contextlib import ExitStack, closing
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from kvdr.drill.report import LAST_REPORT_KEY as DRILL_REPORT_KEY
from kvdr.errors import KvdrError
from kvdr.events.stats import lag_after
from kvdr.failover.handover import handover_summary
from kvdr.failover.report import LAST_REPORT_KEY as FAILOVER_REPORT_KEY
from kvdr.restore.report import LAST_REPORT_KEY as RESTORE_REPORT_KEY
from kvdr.services import Runtime
from kvdr.state.store import StateStore
from kvdr.status_renewal import renewal_lines, renewal_of, renewal_problems
from kvdr.topology.reading import read_records
from kvdr.topology.record import assess_topology
from kvdr.vault.inventory import format_time, parse_time

logger = logging.getLogger(__name__)

LAST_REPORT_KEY = "sync/last-report.json"
EVENT_STATS_KEY = "events/stats.json"


@dataclass(frozen=True)
class PairStatus:
    source: str
    target: str
    primary: str
    epoch: int
    last_full_sync: Mapping[str, Any] | None
    last_event: Mapping[str, Any] | None
    events_pending: int
    events_failed: int
    estimated_lag_seconds: float | None
    lag_basis: str
    within_rpo: bool | None
    renewal: Mapping[str, Any] | None = None  # the last sync's renewal step for this pair

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "target": self.target, "primary": self.primary,
                "epoch": self.epoch, "last_full_sync": self.last_full_sync,
                "last_event": self.last_event, "events_pending": self.events_pending,
                "events_failed": self.events_failed,
                "estimated_lag_seconds": self.estimated_lag_seconds,
                "lag_basis": self.lag_basis, "within_rpo": self.within_rpo,
                "renewal": dict(self.renewal) if self.renewal is not None else None}


@dataclass(frozen=True)
class ReplicationStatus:
    generated_at: datetime
    primary: str | None
    epoch: int | None
    pairs: tuple[PairStatus, ...] = ()
    topology: Mapping[str, Any] | None = None   # split brain, stale/missing regions
    rpo_seconds: int = 0
    problems: tuple[str, ...] = ()
    events: Mapping[str, Any] = field(default_factory=dict)
    last_drill: Mapping[str, Any] | None = None
    last_failover: Mapping[str, Any] | None = None
    last_restore: Mapping[str, Any] | None = None  # informational: never a problem by itself

    def to_dict(self) -> dict[str, Any]:
        return {"generated_at": format_time(self.generated_at), "primary": self.primary,
                "epoch": self.epoch, "rpo_seconds": self.rpo_seconds,
                "pairs": [p.to_dict() for p in self.pairs], "topology": self.topology,
                "events": dict(self.events), "last_drill": self.last_drill,
                "last_failover": self.last_failover, "last_restore": self.last_restore,
                "problems": list(self.problems)}

    @property
    def healthy(self) -> bool:
        """Every vault answered, the records agree, every pair is within its RPO: nothing in
        ``problems`` (``kvdr status`` exits non-zero otherwise)."""
        return not self.problems

    def render_text(self) -> str:
        lines = [f"primary {self.primary or '?'} at epoch {self.epoch if self.epoch else '?'}"
                 f" (RPO {self.rpo_seconds}s)"]
        for p in self.pairs:
            sync = p.last_full_sync or {}
            when = sync.get("finished_at") or "never"
            lag = ("unknown" if p.estimated_lag_seconds is None
                   else f"{p.estimated_lag_seconds:.0f}s ({p.lag_basis})")
            last_event = (p.last_event or {}).get("processed_at") or "none"
            lines.append(
                f"  {p.source} -> {p.target}: last full sync {when} "
                f"[{sync.get('status', '-')}, drift {sync.get('drift', 0)}, "
                f"failed {sync.get('failed', 0)}]; last event {last_event}; "
                f"events pending {p.events_pending}, failed {p.events_failed}; "
                f"estimated lag {lag}"
                + ("" if p.within_rpo in (None, True) else "  ** over RPO **"))
            if p.renewal is not None:
                lines += [f"    {line}" for line in renewal_lines(p.renewal)]
        if self.last_drill:
            d = self.last_drill
            # a failed drill may have measured nothing: show only the figures it has
            figures = [f"{label} {d[key]:.0f}s" for label, key in
                       (("RPO", "rpo_seconds"), ("RTO", "rto_seconds"))
                       if isinstance(d.get(key), int | float)]
            if d.get("failed_checks"):
                figures.append("failed checks: " + ", ".join(d["failed_checks"]))
            if d.get("warnings"):
                figures.append("warnings: " + ", ".join(d["warnings"]))
            lines.append(f"  last drill {d.get('finished_at') or '?'}: {d.get('result')}"
                         + (f" ({'; '.join(figures)})" if figures else ""))
        if self.last_failover:
            f = self.last_failover
            lines.append(f"  last {f.get('kind')} {f.get('finished_at') or '?'}: "
                         f"{f.get('outcome')} ({f.get('source')} -> {f.get('target')}, epoch "
                         f"{f.get('epoch_after') or f.get('epoch_before')})")
            if f.get("renewal"):
                lines.append(f"    renewal hand-over: {handover_summary(f['renewal'])}")
        if self.last_restore:
            r, counts = self.last_restore, self.last_restore.get("counts") or {}
            lines.append(f"  last restore {r.get('finished') or '?'}: {r.get('outcome')} "
                         f"({r.get('primary')} as of {r.get('as_of')}; restored "
                         f"{counts.get('done', 0)}, already {counts.get('already', 0)}, failed "
                         f"{counts.get('failed', 0)}, cannot {counts.get('cannot', 0)}, new "
                         f"{counts.get('new', 0)})")
        lines += [f"  problem: {problem}" for problem in self.problems]
        return "\n".join(lines)


def _summary_of(report: Mapping[str, Any] | None, target: str) -> dict[str, Any] | None:
    """What status shows of the last full sync for one target."""
    if not report:
        return None
    targets = report.get("target_regions") or []
    errors = [e for e in report.get("errors", []) if e.get("target") in (target, None)]
    if target not in targets and not errors:
        return None
    counts = report.get("counts", {})
    failed = sum(counts.get("failed", {}).values())
    status = report.get("status")
    if errors and target not in targets:
        status = "failed"
    return {"run_id": report.get("run_id"), "started_at": report.get("started_at"),
            "finished_at": report.get("finished_at"), "status": status,
            "drift": report.get("drift", 0), "failed": failed,
            "conflicts": sum(counts.get("conflict", {}).values()),
            "errors": errors, "dry_run": report.get("dry_run", False)}


def _lag(now: datetime, sync: Mapping[str, Any] | None, events: Mapping[str, Any]
         ) -> tuple[float | None, str]:
    healthy = (events.get("received", 0) > 0 and not events.get("failed")
               and not events.get("pending") and events.get("lag_seconds_max") is not None)
    if healthy:
        # a clean full sync copied whatever earlier events missed: their lags are history
        clean = bool(sync and sync.get("status") == "succeeded" and not sync.get("dry_run"))
        lag, note = lag_after(events, parse_time(sync.get("started_at")) if clean and sync
                              else None)
        if lag is not None:
            return lag, "event path" + (f" ({note})" if note else "")
    if sync and sync.get("status") == "succeeded" and sync.get("finished_at"):
        finished = parse_time(sync["finished_at"])
        if finished is not None:
            return max(0.0, (now - finished).total_seconds()), "since last full sync"
    return None, "no successful full sync yet"


def estimated_lag(state: StateStore, target: str, now: datetime) -> tuple[float | None, str]:
    """How stale ``target`` may be (seconds, and on what basis), from the state store alone:
    no vault call, so a failover can ask it while the primary's vault is down."""
    try:
        report = state.get_json(LAST_REPORT_KEY)
        events = state.get_json(EVENT_STATS_KEY) or {}
    except Exception as exc:  # best effort: a failover must not stop for its estimate
        logger.warning("lag estimate: state store unreadable (%s)", type(exc).__name__)
        return None, "state store unreadable"
    return _lag(now, _summary_of(report, target), events)


def build_status(runtime: Runtime, *, now: datetime | None = None) -> ReplicationStatus:
    """Read the topology (without bootstrapping it), the last report and the event counters."""
    now = now or datetime.now(UTC)
    config = runtime.config
    problems: list[str] = []
    # probe sessions: a vault that does not answer is reported within seconds
    with ExitStack() as stack:
        reads = read_records({name: stack.enter_context(closing(runtime.open_probe(name)))
                              for name in config.region_names})
    failed = reads.failed()  # unreachable and unreadable alike: no record that counts
    problems += [f"{name}: cannot read the topology record [{code}]"
                 for name, code in failed.items()]
    records = reads.records()
    unanswered = set(failed)
    try:
        view = assess_topology(records)
        primary, epoch = view.current.primary, view.current.epoch
        topology = {"split_brain": view.split_brain,
                    "stale_regions": list(view.stale_regions),
                    "missing_regions": list(view.missing_regions)}
        if view.split_brain:
            rivals = ", ".join(r.primary for r in view.rivals)
            problems.append(f"split brain: records for {primary} and {rivals} at epoch {epoch}; "
                            f"the rule picks {primary}, and the next sync, event or runbook "
                            "writes it over the rivals (no operator needed)")
        problems += [f"{name}: holds topology epoch {records[name].epoch}, older than epoch "
                     f"{epoch} (stale)" for name in view.stale_regions if records.get(name)]
        problems += [f"{name}: holds no topology record" for name in view.missing_regions
                     if name not in unanswered]
    except KvdrError as exc:
        primary, epoch, topology = config.topology.initial_primary, None, None
        problems.append(f"{exc.message} (assuming {primary}, the configured initial primary)")

    def read(key: str) -> Any:
        try:
            return runtime.state.get_json(key)
        except Exception as exc:  # the state store is optional for status: say so, go on
            problems.append(f"state store: cannot read {key} ({type(exc).__name__})")
            return None

    report = read(LAST_REPORT_KEY)
    events = read(EVENT_STATS_KEY) or {}
    pairs = []
    for region in config.others(primary):
        sync = _summary_of(report, region.name)
        renewal = renewal_of(report, region.name)
        lag, basis = _lag(now, sync, events)
        pairs.append(PairStatus(
            source=primary, target=region.name, primary=primary, epoch=epoch or 0,
            last_full_sync=sync, last_event=events.get("last_event"),
            events_pending=int(events.get("pending") or 0),
            events_failed=int(events.get("failed") or 0), estimated_lag_seconds=lag,
            lag_basis=basis,
            within_rpo=None if lag is None else lag <= config.objectives.rpo_seconds,
            renewal=renewal))
        problems += [f"{primary} -> {region.name}: {p}" for p in renewal_problems(renewal)]
        if lag is None:
            problems.append(f"{primary} -> {region.name}: lag unknown ({basis}), so not "
                            "known to be within the RPO")
        elif lag > config.objectives.rpo_seconds:
            problems.append(f"{primary} -> {region.name} is over its RPO: estimated lag "
                            f"{lag:.0f}s ({basis}) > {config.objectives.rpo_seconds}s")
    event_summary = {k: events.get(k) for k in ("received", "replicated", "ignored", "failed",
                                                 "pending", "lag_seconds_p50",
                                                 "lag_seconds_max", "lag_clamped")}
    drill = read(DRILL_REPORT_KEY)
    failover = read(FAILOVER_REPORT_KEY)
    restore = read(RESTORE_REPORT_KEY)
    last_drill = None if not drill else {
        "run_id": drill.get("run_id"), "result": drill.get("result"),
        "finished_at": drill.get("finished_at"),
        "rpo_seconds": (drill.get("measured") or {}).get("rpo_seconds"),
        "rto_seconds": (drill.get("measured") or {}).get("rto_seconds"),
        "failed_checks": drill.get("failed_checks", []),
        "warnings": drill.get("warnings", [])}
    last_failover = None if not failover else {
        k: failover.get(k) for k in ("run_id", "kind", "outcome", "source", "target",
                                     "epoch_before", "epoch_after", "finished_at",
                                     "rto_seconds", "renewal")}
    last_restore = None if not restore else {
        k: restore.get(k) for k in ("run_id", "outcome", "as_of", "primary", "epoch",
                                    "started", "finished", "counts", "requested_by")}
    return ReplicationStatus(now, primary, epoch, tuple(pairs), topology,
                             config.objectives.rpo_seconds, tuple(problems), event_summary,
                             last_drill, last_failover, last_restore)
