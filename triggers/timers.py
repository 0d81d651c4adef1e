"""``full_sync_timer``: the scheduled full sync (``%KVDR_FULL_SYNC_SCHEDULE%``).

The app runs in every region, and every copy's timer fires; only the copy in the primary's
region (``KVDR_LOCAL_REGION`` equal to the topology's primary) starts a sync, under the
singleton instance id ``full-sync``, and not while one is still running.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

import azure.durable_functions as df
import azure.functions as func

from kvdr.catalogue import FULL_SYNC_INSTANCE, Orchestrator
from kvdr.services import Runtime, get_runtime
from kvdr.sync.contracts import FullSyncInput
from kvdr.topology.reading import probe_primary
from triggers.blueprint import bp
from triggers.runbooks import ACTIVE

logger = logging.getLogger(__name__)


def current_primary(runtime: Runtime) -> str:
    """The primary from the vaults' topology records, read as every async trigger reads them
    (:func:`kvdr.topology.reading.probe_primary`: probe sessions, a few seconds at most, one rule
    for unreachable and unreadable vaults). Read only: the sync itself bootstraps the record
    when none counts, so then it is the configured initial primary. Blocking."""
    reading = probe_primary(runtime.open_probe, runtime.config.region_names)
    return reading.primary if reading else runtime.config.topology.initial_primary


async def maybe_start(runtime: Runtime, client: df.DurableOrchestrationClient,
                      now: datetime) -> str | None:
    """Start the scheduled sync if this app is the primary's and none is running; returns the
    instance id started, or None."""
    local = runtime.config.topology.local_region
    # off the event loop: a hung vault must not stall the other triggers (the alert webhook)
    primary = await asyncio.to_thread(current_primary, runtime)
    if local != primary:
        logger.info("full sync timer: this app runs in %s, the primary is %s: nothing to do",
                    local, primary)
        return None
    existing = await client.get_status(FULL_SYNC_INSTANCE)
    if existing and existing.runtime_status in ACTIVE:
        logger.info("full sync timer: the previous full sync is still running; skipped")
        return None
    run_id = f"full-sync-{now:%Y%m%dT%H%M%SZ}"
    await client.start_new(Orchestrator.FULL_SYNC, FULL_SYNC_INSTANCE,
                           FullSyncInput(run_id=run_id).to_dict())
    logger.info("full sync timer: started %s", run_id)
    return FULL_SYNC_INSTANCE


@bp.timer_trigger(schedule="%KVDR_FULL_SYNC_SCHEDULE%", arg_name="timer",
                  run_on_startup=False)
@bp.durable_client_input(client_name="client")
async def full_sync_timer(timer: func.TimerRequest, client: df.DurableOrchestrationClient
                          ) -> None:
    await maybe_start(get_runtime(), client, datetime.now(UTC))
