"""The failover/failback activity family: assess the vaults, switch the topology record, hand
renewal over to the new primary, verify the record, save the report. Each may run twice
(decision 5): the switch writes a record only where it is not already held, and refuses when
another runbook raised the epoch in the meantime; the hand-over compares, then writes only what
differs (:mod:`kvdr.renewal.ownership`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from activities.services import ActivityServices, calls_of, open_sessions
from activities.sync.store import plans_prefix
from kvdr.errors import KvdrError, TopologyError
from kvdr.events.handler import EventHandler
from kvdr.failover.contracts import (
    AssessRequest,
    AssessResult,
    HandOverRequest,
    HandOverResult,
    SaveReportRequest,
    SettleRequest,
    SettleResult,
    SwitchRequest,
    SwitchResult,
    VerifyRequest,
    VerifyResult,
)
from kvdr.failover.plan import Assessment
from kvdr.failover.report import (
    LAST_REPORT_KEY,
    FailoverReport,
    replaces_last_report,
    report_key,
)
from kvdr.renewal.ownership import hand_over as renewal_hand_over
from kvdr.status import estimated_lag
from kvdr.telemetry import custom_event
from kvdr.topology.reading import read_records
from kvdr.topology.record import TopologyRecord, assess_topology
from kvdr.topology.settle import settle_records
from kvdr.topology.store import read_topology, write_topology
from kvdr.vault.session import VaultSession

logger = logging.getLogger(__name__)

COMPLETED_EVENT = "kvdr.failover.completed"
UNVERIFIED_CODE = "topology.unverified"  # the error table's code for a switch not read back


def _read_all(sessions: Mapping[str, VaultSession]
              ) -> tuple[dict[str, TopologyRecord | None], dict[str, str]]:
    """Every vault's record under the one rule (:mod:`kvdr.topology.reading`); unreachable
    vaults are named with their error code."""
    reads = read_records(sessions)
    return reads.records(), reads.unreachable()


class FailoverActivities:
    """Assess, switch, verify, save the report. ``events`` is the event handler of this process:
    the switch makes it forget the topology it cached."""

    def __init__(self, services: ActivityServices, events: EventHandler) -> None:
        self._services = services
        self._events = events

    def assess(self, request: AssessRequest, *, now: datetime | None = None) -> AssessResult:
        config = self._services.config
        regions = config.region_names
        with open_sessions(self._services, regions, probe=True) as sessions:
            records, unreachable = _read_all(sessions)
            calls = calls_of(sessions)
        lag, basis = estimated_lag(self._services.state, request.target,
                                   now or datetime.now(UTC))
        assessment = Assessment({r: rec.to_dict() if rec else None
                                 for r, rec in records.items()}, unreachable, lag, basis, calls)
        return AssessResult(assessment, config.objectives.rto_seconds,
                            config.pacing.max_parallel)

    def switch(self, request: SwitchRequest) -> SwitchResult:
        """Write the new record to the new primary first (it must succeed: that write is also
        the proof that the vault takes writes), then to every other reachable vault, which
        fences it: its events and syncs stop counting as the primary's. A vault holding a
        record the rule puts first (a rival runbook switched at this epoch too) is left as
        it is: the settle step decides, not the last writer."""
        record = TopologyRecord.from_dict(request.record)
        target = record.primary
        with open_sessions(self._services, (target, *request.fence),
                           probe=request.fence) as sessions:
            try:
                held = read_topology(sessions[target])
                if (held is not None and held.epoch == record.epoch
                        and held.primary == record.primary):
                    # a concurrent runbook (the metric and the health alert of one outage) made
                    # the same switch: adopt its record, so no two records share an epoch
                    record = held
                elif held is not None and held.epoch > request.epoch_before:
                    return SwitchResult(False, calls=calls_of(sessions), holder=held.to_dict(),
                                        error=TopologyError(
                        f"{target} already holds epoch {held.epoch} (primary {held.primary}, "
                        f"runbook {held.runbook_id or '?'}): another runbook changed the "
                        "topology since this one assessed it; nothing was switched",
                        code="topology.changed").to_dict())
                write_topology(sessions[target], record)
            except KvdrError as exc:
                return SwitchResult(False, calls=calls_of(sessions), error=exc.to_dict())
            fenced, unreached, kept = [target], {}, []
            for region in request.fence:
                try:
                    if write_topology(sessions[region], record, unless_outranked=True):
                        fenced.append(region)
                    else:
                        kept.append(region)
                except KvdrError as exc:
                    logger.warning("failover %s: %s not fenced [%s]", request.run_id, region,
                                   exc.code)
                    unreached[region] = exc.code
            result = SwitchResult(True, tuple(fenced), unreached, calls_of(sessions),
                                  held=tuple(kept))
        self._events.forget_topology()  # the event path must not act on the old primary
        logger.info("failover %s: %s is primary at epoch %d (fenced %s%s)", request.run_id,
                    target, record.epoch, ", ".join(fenced),
                    f"; left {', '.join(kept)} to the settle step" if kept else "")
        return result

    def settle(self, request: SettleRequest) -> SettleResult:
        """After the settle wait: read every vault again and let the one rule pick the winner
        among the records at the top epoch; write it wherever another record is held. Both
        racing runbooks do this and write the same winner; the one whose record lost stops
        there (it hands nothing over)."""
        record = TopologyRecord.from_dict(request.record)
        regions = self._services.config.region_names
        with open_sessions(self._services, regions, probe=True) as sessions:
            settled = settle_records(sessions)
            calls = calls_of(sessions)
        self._events.forget_topology()
        if settled is None:  # no vault answered with a record: the verify step says so
            return SettleResult(True, record.to_dict(), calls=calls)
        winner = settled.winner
        won = (winner.primary, winner.epoch) == (record.primary, record.epoch)
        if not won:
            logger.warning("failover %s: lost the race to runbook %s (primary %s at epoch %d)",
                           request.run_id, winner.runbook_id or "?", winner.primary,
                           winner.epoch)
        return SettleResult(won, winner.to_dict(), settled.rewritten,
                            tuple(r.to_dict() for r in settled.view.rivals),
                            dict(settled.unreached), calls)

    def hand_over(self, request: HandOverRequest) -> HandOverResult:
        """Renewal follows the switch (decision 9): the other vaults the switch reached are
        disarmed first (probe sessions: a vault that went away since is reported within
        seconds, not after the full backoff), then the new primary is armed from its own
        ledger — which is all an unplanned failover has."""
        others = tuple(r for r in request.others if r != request.primary)
        with open_sessions(self._services, (request.primary, *others),
                           probe=others) as sessions:
            reached: dict[str, VaultSession | None] = {r: sessions[r] for r in others}
            reached.update({r: None for r in request.unreached if r != request.primary})
            try:
                result = renewal_hand_over(sessions[request.primary], reached,
                                           epoch=request.epoch)
            except KvdrError as exc:  # the new primary's ledger could not be read
                logger.warning("failover %s: renewal hand-over to %s failed [%s]",
                               request.run_id, request.primary, exc.code)
                return HandOverResult(None, calls_of(sessions), exc.to_dict())
            calls = calls_of(sessions)
        renewal = result.to_dict()
        # say why a vault was left out, as the switch found it
        renewal["unreached"] = {r: request.unreached.get(r, code)
                                for r, code in renewal["unreached"].items()}
        return HandOverResult(renewal, calls)

    def verify(self, request: VerifyRequest) -> VerifyResult:
        """Read every record back: the new primary at the new epoch must be what readers
        choose, and the new primary itself must answer with that record. Its session is a full
        one (the whole retry schedule: a vault that blinks after the switch is waited for);
        the others are probed, as everywhere a topology is read. Passing on the other vaults'
        records alone would call a switch verified whose new primary was never read back."""
        regions = self._services.config.region_names
        others = tuple(r for r in regions if r != request.target)
        with open_sessions(self._services, regions, probe=others) as sessions:
            records, unreachable = _read_all(sessions)
            calls = calls_of(sessions)
        stale = tuple(r for r, rec in records.items()
                      if rec is not None and rec.epoch < request.epoch_after)
        wanted = f"{request.target} at epoch {request.epoch_after}"
        if request.target in unreachable:
            return VerifyResult(False, stale, unreachable, calls, {
                "code": UNVERIFIED_CODE,
                "message": f"{request.target}'s record could not be read back "
                           f"[{unreachable[request.target]}]: the switch to {wanted} is not "
                           "verified. Once it answers, check the record in every vault (kvdr "
                           "status) or run the same runbook again (it finds the switch done)"})
        try:
            view = assess_topology(records)
        except KvdrError as exc:
            return VerifyResult(False, stale, unreachable, calls, exc.to_dict())
        held = records.get(request.target)
        current = view.current
        if (current.primary, current.epoch) != (request.target, request.epoch_after) \
                or view.split_brain:
            return VerifyResult(False, stale, unreachable, calls, {
                "code": UNVERIFIED_CODE,
                "message": f"readers choose {current.primary} at epoch {current.epoch}"
                           f"{' (split brain)' if view.split_brain else ''}, not {wanted}"})
        if held is None or (held.primary, held.epoch) != (request.target, request.epoch_after):
            return VerifyResult(False, stale, unreachable, calls, {
                "code": UNVERIFIED_CODE,
                "message": f"{request.target} itself holds "
                           + (f"primary {held.primary} at epoch {held.epoch}" if held
                              else "no readable record")
                           + f", not {wanted}: the switch is not verified"})
        return VerifyResult(True, stale, unreachable, calls)

    def save_report(self, request: SaveReportRequest) -> dict[str, Any]:
        """Keep the report (per run and as the last one) and delete the step syncs' plans."""
        report, state = request.report, self._services.state
        run_id = report["run_id"]
        state.put_json(report_key(run_id), dict(report))
        if replaces_last_report(report.get("outcome")):  # a no-op never hides the last real one
            state.put_json(LAST_REPORT_KEY, dict(report))
        deleted = sum(state.delete_prefix(plans_prefix(r)) for r in request.sync_runs)
        logger.info("failover %s: %s (%s -> %s)", run_id, report.get("outcome"),
                    report.get("source"), report.get("target"))
        result: dict[str, Any] = {"ok": True, "key": report_key(run_id),
                                  "plans_deleted": deleted}
        if report.get("outcome") != "planned_only":
            try:
                custom_event(COMPLETED_EVENT, FailoverReport.from_dict(report).event_dimensions())
            except Exception as exc:  # telemetry must never undo a switch that happened
                logger.warning("failover %s: %s not emitted (%s)", run_id, COMPLETED_EVENT,
                               type(exc).__name__)
                result["event_error"] = type(exc).__name__
        return result
