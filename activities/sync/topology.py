"""The full sync's first activity: who copies to whom in this run (the primary, the epoch
and the targets), read from the vaults' topology records."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from activities.blueprint import bp
from activities.sync.sessions import open_sessions
from kvdr.errors import KvdrError
from kvdr.services import Runtime, get_runtime
from kvdr.sync.contracts import SyncTopology, TopologyRequest
from kvdr.topology.reading import read_records
from kvdr.topology.record import assess_topology, initial_record
from kvdr.topology.store import current_topology

logger = logging.getLogger(__name__)


def read_sync_topology(runtime: Runtime, request: TopologyRequest) -> SyncTopology:
    """The primary (copy source), the epoch and the targets. A dry run never bootstraps the
    topology record (it would write to the vaults): it assumes the initial one."""
    config = runtime.config
    # one small read per vault: a dead one must not hold the run for a full backoff schedule
    with open_sessions(runtime, *config.region_names, probe=True) as opened:
        sessions = dict(zip(config.region_names, opened, strict=True))
        try:
            if request.dry_run:
                records = read_records(sessions).records()  # the one rule
                unanswered = [n for n, r in records.items() if r is None]
                if any(records.values()):
                    view = assess_topology(records)
                else:
                    view = assess_topology({config.topology.initial_primary: initial_record(
                        config.topology.initial_primary, changed_at=datetime.now(UTC))})
            else:
                view = current_topology(config, sessions)
                unanswered = list(view.missing_regions)
        except KvdrError as exc:
            return SyncTopology(False, error=exc.to_dict(),
                                calls={n: s.calls for n, s in sessions.items()})
        calls = {n: s.calls for n, s in sessions.items()}
    runtime.suspect(unanswered)  # the pair plans probe these first (dead_vault)
    if view.split_brain:
        rivals = ", ".join(r.primary for r in view.rivals)
        return SyncTopology(False, calls=calls, error={
            "code": "topology.split_brain",
            "message": f"split brain: {view.current.primary} and {rivals} are both primary at "
                       f"epoch {view.current.epoch}; no sync runs until an operator resolves "
                       "it (run a failover to the intended primary)"})
    primary = view.current.primary
    others = [r.name for r in config.others(primary)]
    if request.targets is not None:
        wrong = [t for t in request.targets if t not in others]
        if wrong:
            return SyncTopology(False, primary, view.current.epoch, calls=calls, error={
                "code": "runbook.bad_target",
                "message": f"{', '.join(wrong)} cannot be a target: the primary is {primary} "
                           f"and the targets are {', '.join(others)}"})
        others = [t for t in others if t in request.targets]
    return SyncTopology(True, primary, view.current.epoch, tuple(others), calls,
                        max_parallel=config.pacing.max_parallel)


@bp.activity_trigger(input_name="request")
def sync_read_topology(request: dict[str, Any]) -> dict[str, Any]:
    return read_sync_topology(get_runtime(), TopologyRequest.from_dict(request)).to_dict()
