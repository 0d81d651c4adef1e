"""Starters of the DR drill: ``POST /api/runbooks/drill`` and ``drill_timer``
(``%KVDR_DRILL_SCHEDULE%``).

A drill runs under the singleton instance id ``drill``, so two never run at once, and never
while a failover or failback runs: it would measure a topology in motion. (A drill does not
block a failover: recovery comes first.) Every region's app has the timer; only the app in the
primary's region starts the drill, as with the full sync timer. Follow a drill at
``GET /api/runbooks/drill``.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime

import azure.durable_functions as df
import azure.functions as func

from kvdr.catalogue import DRILL, DRILL_INSTANCE, Orchestrator
from kvdr.drill.contracts import DrillInput
from kvdr.errors import KvdrError
from kvdr.request_body import RequestError, json_object, region_list
from kvdr.services import Runtime, get_runtime
from triggers.blueprint import bp
from triggers.failover import active_runbook
from triggers.runbooks import ACTIVE, RunbookConflict, error_response
from triggers.timers import current_primary

logger = logging.getLogger(__name__)


def parse_drill_body(raw: bytes, regions: tuple[str, ...]) -> DrillInput:
    """Validate the optional body ``{"targets": ["<region>", …]}`` (the secondaries to
    rehearse; default: every secondary)."""
    body = json_object(raw, ("targets",), example='{"targets": ["<region>", …]} or nothing')
    if not body or "targets" not in body:
        return DrillInput()
    return DrillInput(targets=region_list(body["targets"], regions))


async def start_drill(client: df.DurableOrchestrationClient, request: DrillInput,
                      run_id: str) -> str:
    """Start the drill under its singleton id; raises :class:`RunbookConflict` while a drill or
    a failover/failback runs. Returns the instance id."""
    existing = await client.get_status(DRILL_INSTANCE)
    if existing and existing.runtime_status in ACTIVE:
        raise RunbookConflict("a drill is already running; follow it at the status URL or wait "
                            "for it to finish", DRILL_INSTANCE)
    running = await active_runbook(client, DRILL.blocked_by)
    if running:
        raise RunbookConflict(f"a failover/failback is running ({running}); drill once it has "
                            "finished", running, code="runbook.failover_running")
    body = DrillInput(request.targets, run_id).to_dict()
    await client.start_new(Orchestrator.DRILL, DRILL_INSTANCE, body)
    logger.info("drill %s started (targets %s)", run_id,
                ", ".join(request.targets) if request.targets else "every secondary")
    return DRILL_INSTANCE


@bp.route(route="runbooks/drill", methods=["POST"])
@bp.durable_client_input(client_name="client")
async def start_drill_runbook(req: func.HttpRequest, client: df.DurableOrchestrationClient
                              ) -> func.HttpResponse:
    try:
        config = get_runtime().config
    except KvdrError as exc:
        return error_response(500, exc.code, exc.message)
    try:
        request = parse_drill_body(req.get_body(), config.region_names)
    except RequestError as exc:
        return error_response(400, exc.code, exc.message)
    try:
        instance_id = await start_drill(client, request, f"drill-{uuid.uuid4().hex[:12]}")
    except RunbookConflict as exc:
        return error_response(409, exc.code, exc.message, instance_id=exc.instance_id)
    return client.create_check_status_response(req, instance_id)


async def maybe_start_drill(runtime: Runtime, client: df.DurableOrchestrationClient,
                            now: datetime) -> str | None:
    """Start the scheduled drill if this app is the primary's and nothing blocks it; returns
    the instance id started, or None."""
    local = runtime.config.topology.local_region
    primary = current_primary(runtime)
    if local != primary:
        logger.info("drill timer: this app runs in %s, the primary is %s: nothing to do",
                    local, primary)
        return None
    try:
        return await start_drill(client, DrillInput(), f"drill-{now:%Y%m%dT%H%M%SZ}")
    except RunbookConflict as exc:
        logger.warning("drill timer: skipped [%s] %s", exc.code, exc.message)
        return None


@bp.timer_trigger(schedule="%KVDR_DRILL_SCHEDULE%", arg_name="timer", run_on_startup=False)
@bp.durable_client_input(client_name="client")
async def drill_timer(timer: func.TimerRequest, client: df.DurableOrchestrationClient) -> None:
    await maybe_start_drill(get_runtime(), client, datetime.now(UTC))
