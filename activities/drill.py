"""The drill activity family: preflight, check renewal ownership (:mod:`activities.
drill_renewal`), measure RPO, rehearse RTO, save the report, emit the event.

None changes the topology record or writes a user item. The only write is the reserved probe
secret ``kvdr-drill-probe`` in a secondary, at most one version per run and secondary: a
retried rehearsal finds the version tagged with its run id and does not write again
(decision 5). The probe's value is a random nonce that stays inside the activity.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from activities.drill_renewal import check_renewal
from activities.services import ActivityServices, calls_of, open_sessions
from activities.sync.plan import make_plan
from kvdr.drill.checks import CheckName, error_check
from kvdr.drill.contracts import (
    Measurement,
    MeasureRequest,
    PreflightRequest,
    PreflightResult,
    RenewalCheckRequest,
    RenewalCheckResult,
)
from kvdr.drill.measure import (
    PROBE_CONTENT_TYPE,
    PROBE_RECORD_TAG,
    PROBE_RUN_TAG,
    PROBE_SECRET_NAME,
    pending_changes,
    rpo_check,
    rto_check,
)
from kvdr.drill.preflight import preflight
from kvdr.drill.report import DRILL_COMPLETED_EVENT, LAST_REPORT_KEY, DrillReport, report_key
from kvdr.errors import KvdrError
from kvdr.telemetry import custom_event
from kvdr.topology.reading import read_records
from kvdr.vault.inventory import Inventory, ItemKind
from kvdr.vault.reserved import record_tags, write_once
from kvdr.vault.session import VaultSession

logger = logging.getLogger(__name__)


def _with_exportability(session: VaultSession, source: Inventory, target: Inventory
                        ) -> Inventory:
    """List results do not say whether a certificate's key is exportable; a non-exportable
    one is never copied (provision independently), so without this it would count as a
    pending change forever and the measured RPO would only grow. One policy read per
    certificate the target lacks — names and flags, no value."""
    missing = [p for p in source.of_kind(ItemKind.CERTIFICATE)
               if p.exportable is None and target.get(p.kind, p.name) is None]
    if not missing:
        return source
    resolved = {}
    for props in missing:
        policy = session.call(f"read certificate policy '{props.name}'",
                              session.certificates.get_certificate_policy, props.name)
        resolved[props.key] = replace(props, exportable=policy.exportable)
    return replace(source, items=tuple(resolved.get(p.key, p) for p in source.items))


def _write_probe(session: VaultSession, run_id: str) -> str | None:
    """Write this run's probe unless an earlier attempt of the run did. Returns the random
    value written (it stays in this activity), or None when nothing was written."""
    held = session.call_or_none(f"read secret '{PROBE_SECRET_NAME}'", session.secrets.get_secret,
                                PROBE_SECRET_NAME)
    if held is not None and (held.properties.tags or {}).get(PROBE_RUN_TAG) == run_id:
        return None
    nonce = secrets.token_urlsafe(32)

    def send() -> None:
        session.secrets.set_secret(PROBE_SECRET_NAME, nonce, content_type=PROBE_CONTENT_TYPE,
                                   tags=dict([PROBE_RECORD_TAG, (PROBE_RUN_TAG, run_id)]),
                                   retry_total=0)

    def landed() -> bool:  # a write whose answer was lost: this run's probe is there
        tags = record_tags(session, PROBE_SECRET_NAME, f"re-read secret '{PROBE_SECRET_NAME}'")
        return (tags or {}).get(PROBE_RUN_TAG) == run_id

    write_once(session, f"write secret '{PROBE_SECRET_NAME}'", send, landed)
    return nonce


def _read_back(session: VaultSession, run_id: str, nonce: str | None) -> dict[str, str] | None:
    """None when the vault returns this run's probe (with the value just written, if this
    attempt wrote it); else the error to report."""
    back = session.call(f"read secret '{PROBE_SECRET_NAME}'", session.secrets.get_secret,
                        PROBE_SECRET_NAME)
    same_run = (back.properties.tags or {}).get(PROBE_RUN_TAG) == run_id
    same_value = bool(back.value) and (nonce is None or secrets.compare_digest(
        back.value, nonce))
    if same_run and same_value:
        return None
    return {"code": "drill.probe_mismatch",
            "message": f"the {PROBE_SECRET_NAME} read back is not the version this drill "
                       "wrote: something else writes it; find the writer"}


class DrillActivities:
    """Preflight, measure RPO, rehearse RTO, save the report, emit the event. ``now`` and
    ``clock`` are the wall clock (RPO ages) and the monotonic one (RTO steps)."""

    def __init__(self, services: ActivityServices, *,
                 now: Callable[[], datetime] = lambda: datetime.now(UTC),
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._services = services
        self._now = now
        self._clock = clock

    def preflight(self, request: PreflightRequest) -> PreflightResult:
        """Read every vault's topology record (never bootstrap it: a drill writes no record)."""
        config = self._services.config
        with open_sessions(self._services, config.region_names, probe=True) as sessions:
            reads = dict(read_records(sessions).reads)  # the one rule: kvdr.topology.reading
            calls = calls_of(sessions)
        result = preflight(config.region_names, reads, request.targets)
        return PreflightResult(result, config.region_names, config.objectives.rpo_seconds,
                               config.objectives.rto_seconds, calls)

    def check_renewal(self, request: RenewalCheckRequest) -> RenewalCheckResult:
        """Exactly one vault, the primary, renews each certificate and key (a failed check
        otherwise); issuers and key versions that differ in a secondary (warnings)."""
        return check_renewal(self._services, request)

    def measure_rpo(self, request: MeasureRequest) -> Measurement:
        """A read-only plan primary -> secondary (list calls only; nothing is stored): the
        pending changes and the age of the oldest one."""
        services = self._services
        objective = services.config.objectives.rpo_seconds
        source, target = request.primary, request.target
        with open_sessions(services, (source, target)) as sessions:
            try:
                with ThreadPoolExecutor(2, thread_name_prefix="drill-inventory") as pool:
                    listed = [pool.submit(sessions[r].inventory) for r in (source, target)]
                    source_inv, target_inv = (f.result() for f in listed)
                source_inv = _with_exportability(sessions[source], source_inv, target_inv)
            except KvdrError as exc:
                return Measurement(error_check(CheckName.RPO, target, exc.to_dict(),
                                               objective=objective), calls_of(sessions))
            calls = calls_of(sessions)
        if not (source_inv.complete and target_inv.complete):
            partial = source if not source_inv.complete else target
            return Measurement(error_check(CheckName.RPO, target, {
                "code": "drill.incomplete_inventory",
                "message": f"listing {partial} stopped part-way, so pending changes may be "
                           "missed; see the warnings of this run"}, objective=objective), calls)
        at = self._now()
        plan = make_plan(services.config, services.state, source_inv, target_inv,
                         source=source, target=target, epoch=request.epoch, now=at)
        check = rpo_check(target, pending_changes(plan), now=at, objective=objective)
        logger.info("drill %s: RPO %s -> %s: %s", request.run_id, source, target, check.message)
        return Measurement(check, calls)

    def rehearse_rto(self, request: MeasureRequest) -> Measurement:
        """Time what a failover to ``request.target`` does against the vaults, without
        changing the topology: read every vault's record, write the probe into the target, read
        it back."""
        config, clock = self._services.config, self._clock
        target = request.target
        steps: dict[str, float] = {}
        notes: list[str] = []
        error: Mapping[str, Any] | None = None
        # the failover's sessions: probes to read every record, a full session to write
        with (open_sessions(self._services, config.region_names, probe=True) as sessions,
              open_sessions(self._services, (target,)) as writers):
            started = clock()
            reads = dict(read_records(sessions).reads)  # the one rule: kvdr.topology.reading
            steps["read_topology"] = clock() - started
            down = [r for r, read in reads.items() if not read.reachable and r != target]
            if down:
                notes.append(f"unreachable while rehearsing: {', '.join(down)} (an unplanned "
                             "failover proceeds without them)")
            if not reads[target].reachable:
                error = {"code": reads[target].error_code,
                         "message": f"{target} is unreachable: a failover to it could not run "
                                    "now"}
            else:
                session = writers[target]
                try:
                    started = clock()
                    nonce = _write_probe(session, request.run_id)
                    steps["write_probe"] = clock() - started
                    if nonce is None:
                        notes.append("the probe was written by an earlier attempt of this run "
                                     "and was not written again (the write is not timed)")
                    started = clock()
                    error = _read_back(session, request.run_id, nonce)
                    steps["read_back"] = clock() - started
                except KvdrError as exc:
                    error = exc.to_dict()
            calls = calls_of(sessions)
            calls[target] += writers[target].calls
        check = rto_check(target, steps, objective=config.objectives.rto_seconds, error=error,
                          notes=notes)
        logger.info("drill %s: RTO rehearsal -> %s: %s", request.run_id, target, check.message)
        return Measurement(check, calls)

    def save_report(self, record: Mapping[str, Any]) -> dict[str, Any]:
        """Keep the report under its run id and as the last drill report (idempotent)."""
        state = self._services.state
        key = report_key(record["run_id"])
        state.put_json(key, dict(record))
        state.put_json(LAST_REPORT_KEY, dict(record))
        return {"ok": True, "keys": [key, LAST_REPORT_KEY]}

    def emit_event(self, record: Mapping[str, Any]) -> dict[str, Any]:
        """The drill's completed custom event (``DRILL_COMPLETED_EVENT``), which the
        drill-failure alert watches; telemetry is configured when the process's services are
        built (:func:`kvdr.services.runtime_from_env`)."""
        report = DrillReport.from_dict(record)
        dimensions = report.event_dimensions()
        custom_event(DRILL_COMPLETED_EVENT, dimensions)
        logger.info("%s", report.render_text())
        return {"ok": True, "event": DRILL_COMPLETED_EVENT, "result": dimensions["result"]}
