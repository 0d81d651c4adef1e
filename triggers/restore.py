"""HTTP starter of the restore runbook: ``POST /api/runbooks/restore``.

A body kvdr cannot act on exactly as written is 400 (``restore.bad_request``, or
``restore.bad_time`` for the moment) and starts nothing. A restore runs once at a time and
never while a failover or failback runs (409 ``runbook.already_running`` /
``runbook.failover_running``); it does not block a failover, whose new epoch fences its
batches. Unless the body says ``"approval_required": false``, the runbook plans, then waits for
``POST /api/runbooks/{id}/approve`` (:mod:`triggers.failover`), as the issue's operator flow
asks: a restore rewrites items in bulk, so the plan is read before anything is written.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime

import azure.durable_functions as df
import azure.functions as func

from kvdr.catalogue import RESTORE, Orchestrator
from kvdr.errors import KvdrError
from kvdr.restore.request import RestoreRequest, RestoreRequestError, parse_request
from kvdr.services import get_runtime
from kvdr.vault.inventory import format_time
from triggers.blueprint import bp
from triggers.failover import active_runbook
from triggers.runbooks import RunbookConflict, error_response

logger = logging.getLogger(__name__)

TOPOLOGY_RUNBOOKS = RESTORE.blocked_by - {Orchestrator.RESTORE}


def restore_instance_id() -> str:
    return f"restore-{uuid.uuid4().hex[:12]}"


async def start_restore(client: df.DurableOrchestrationClient, request: RestoreRequest,
                        instance_id: str | None = None) -> str:
    """Start the restore orchestration; raises :class:`RunbookConflict` while a failover or
    failback, or another restore, runs. Returns the instance id."""
    running = await active_runbook(client, TOPOLOGY_RUNBOOKS)
    if running:
        raise RunbookConflict(f"a failover/failback is running ({running}); restore once it has "
                              "finished, against the primary it leaves", running,
                              code="runbook.failover_running")
    running = await active_runbook(client, {Orchestrator.RESTORE})
    if running:
        raise RunbookConflict(f"a restore is already running ({running}); follow it, approve or "
                              "reject it, or wait for it to finish", running)
    instance_id = instance_id or restore_instance_id()
    body = RestoreRequest(**{**request.__dict__, "run_id": request.run_id or instance_id})
    await client.start_new(RESTORE.orchestrator, instance_id, body.to_dict())
    logger.info("restore %s started: as of %s, requested by %s, approval %s, dry run %s",
                instance_id, format_time(request.as_of), request.requested_by,
                request.approval_required, request.dry_run)
    return instance_id


@bp.route(route="runbooks/restore", methods=["POST"])
@bp.durable_client_input(client_name="client")
async def start_restore_runbook(req: func.HttpRequest, client: df.DurableOrchestrationClient
                                ) -> func.HttpResponse:
    try:
        get_runtime()  # the configuration must load before anything starts
    except KvdrError as exc:
        return error_response(500, exc.code, exc.message)
    try:
        request = parse_request(req.get_body(), now=datetime.now(UTC))
    except RestoreRequestError as exc:
        return error_response(400, exc.code, exc.message)
    try:
        instance_id = await start_restore(client, request)
    except RunbookConflict as exc:
        return error_response(409, exc.code, exc.message, instance_id=exc.instance_id)
    return client.create_check_status_response(req, instance_id)
