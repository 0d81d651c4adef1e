"""``full_sync_timer``: the scheduled full sync (``%KVDR_FULL_SYNC_SCHEDULE%``).

The app runs in every region, and every copy's timer fires; only the copy in the primary's
region (``KVDR_LOCAL_REGION`` equal to the topology's primary) starts a sync, under the
singleton instance id ``full-sync``, and not while one is still running.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import azure.durable_functions as df
import azure.functions as func

from kvdr.errors import KvdrError
from kvdr.services import Runtime, get_runtime
from orchestrators.full_sync import FullSyncInput
from triggers.blueprint import bp
from triggers.runbooks import ACTIVE, FULL_SYNC_INSTANCE

logger = logging.getLogger(__name__)


def current_primary(runtime: Runtime) -> str:
    """The primary from the vaults' topology records (read only; the sync itself bootstraps
    the record when none exists, so then it is the configured initial primary)."""
    from kvdr.topology.record import assess_topology
    from kvdr.topology.store import read_topology

    records = {}
    for name in runtime.config.region_names:
        try:
            records[name] = read_topology(runtime.session(name))
        except KvdrError as exc:
            logger.warning("full sync timer: cannot read the topology of %s [%s]", name,
                           exc.code)
            records[name] = None
    if not any(records.values()):
        return runtime.config.topology.initial_primary
    return assess_topology(records).current.primary


async def maybe_start(runtime: Runtime, client: df.DurableOrchestrationClient,
                      now: datetime) -> str | None:
    """Start the scheduled sync if this app is the primary's and none is running; returns the
    instance id started, or None."""
    local = runtime.config.topology.local_region
    primary = current_primary(runtime)
    if local != primary:
        logger.info("full sync timer: this app runs in %s, the primary is %s: nothing to do",
                    local, primary)
        return None
    existing = await client.get_status(FULL_SYNC_INSTANCE)
    if existing and existing.runtime_status in ACTIVE:
        logger.info("full sync timer: the previous full sync is still running; skipped")
        return None
    run_id = f"full-sync-{now:%Y%m%dT%H%M%SZ}"
    await client.start_new("full_sync", FULL_SYNC_INSTANCE,
                           FullSyncInput(run_id=run_id).to_dict())
    logger.info("full sync timer: started %s", run_id)
    return FULL_SYNC_INSTANCE


@bp.timer_trigger(schedule="%KVDR_FULL_SYNC_SCHEDULE%", arg_name="timer",
                  run_on_startup=False)
@bp.durable_client_input(client_name="client")
async def full_sync_timer(timer: func.TimerRequest, client: df.DurableOrchestrationClient
                          ) -> None:
    await maybe_start(get_runtime(), client, datetime.now(UTC))
