"""HTTP starters of the topology runbooks: ``POST /api/runbooks/failover``,
``POST /api/runbooks/failback`` and the approval gate ``POST /api/runbooks/{id}/approve``.

At most one topology runbook (failover or failback) runs at a time: a second request is 409
``runbook.already_running``. :func:`start_failover` is shared with the alert webhook.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Collection

import azure.durable_functions as df
import azure.functions as func

from kvdr.catalogue import FAILOVER, Orchestrator
from kvdr.config.schema import ApprovalPolicy
from kvdr.errors import KvdrError
from kvdr.failover.request import (
    APPROVAL_EVENT,
    FailoverKind,
    FailoverPhase,
    FailoverRequest,
    RequestError,
    parse_request,
)
from kvdr.request_body import json_object
from kvdr.services import get_runtime
from triggers.blueprint import bp
from triggers.instances import statuses_by
from triggers.runbooks import (
    ACTIVE,
    RunbookConflict,
    error_response,
    id_in_url,
    json_response,
    runbook_status,
)

logger = logging.getLogger(__name__)

def failover_instance_id(request: FailoverRequest) -> str:
    """One instance per alert (a re-delivered alert finds its instance), a fresh one for
    every operator request."""
    if request.alert_id:
        digest = hashlib.sha256(request.alert_id.encode("utf-8")).hexdigest()[:20]
        return f"failover-alert-{digest}"
    return f"{request.kind}-{uuid.uuid4().hex[:12]}"


async def active_runbook(client: df.DurableOrchestrationClient,
                         orchestrators: Collection[Orchestrator]) -> str | None:
    """The instance id of a runbook of one of these orchestrators still running, if any."""
    for status in await statuses_by(client, ACTIVE):  # every page, not only the first
        if status.name in orchestrators and status.instance_id:
            return status.instance_id
    return None


async def active_topology_runbook(client: df.DurableOrchestrationClient) -> str | None:
    """The instance id of a failover/failback still running, if any (it blocks another)."""
    return await active_runbook(client, FAILOVER.blocked_by)


async def start_failover(client: df.DurableOrchestrationClient, request: FailoverRequest,
                         instance_id: str | None = None) -> str:
    """Start the failover orchestration; raises :class:`RunbookConflict` when one is already
    running. Returns the instance id."""
    running = await active_topology_runbook(client)
    if running:
        raise RunbookConflict(f"a failover/failback is already running ({running}); follow it, "
                              "approve or reject it, or wait for it to finish", running)
    instance_id = instance_id or failover_instance_id(request)
    run_id = request.run_id or instance_id
    body = FailoverRequest(**{**request.__dict__, "run_id": run_id}).to_dict()
    await client.start_new(FAILOVER.orchestrator, instance_id, body)
    logger.info("%s %s started: target %s, requested by %s, approval %s, dry run %s",
                request.kind, instance_id, request.target, request.requested_by,
                request.approval_required, request.dry_run)
    return instance_id


async def _start(req: func.HttpRequest, client: df.DurableOrchestrationClient,
                 kind: FailoverKind) -> func.HttpResponse:
    try:
        config = get_runtime().config
    except KvdrError as exc:
        return error_response(500, exc.code, exc.message)
    try:
        # an operator calling the API is the approval; alerts follow the approval policy
        request = parse_request(req.get_body(), kind, config.region_names,
                                default_approval=False)
    except RequestError as exc:
        return error_response(400, exc.code, exc.message)
    try:
        instance_id = await start_failover(client, request)
    except RunbookConflict as exc:
        return error_response(409, exc.code, exc.message, instance_id=exc.instance_id)
    return client.create_check_status_response(req, instance_id)


@bp.route(route="runbooks/failover", methods=["POST"])
@bp.durable_client_input(client_name="client")
async def start_failover_runbook(req: func.HttpRequest, client: df.DurableOrchestrationClient
                                 ) -> func.HttpResponse:
    return await _start(req, client, FailoverKind.PLANNED)


@bp.route(route="runbooks/failback", methods=["POST"])
@bp.durable_client_input(client_name="client")
async def start_failback_runbook(req: func.HttpRequest, client: df.DurableOrchestrationClient
                                 ) -> func.HttpResponse:
    return await _start(req, client, FailoverKind.FAILBACK)


def parse_approval(raw: bytes) -> dict[str, object]:
    """``{"approved": true|false, "by": "<who>", "comment": "<optional>"}``."""
    body = json_object(raw, ("approved", "by", "comment"), required=True,
                       example='{"approved": true|false, "by": "<who>"}')
    assert body is not None
    if not isinstance(body.get("approved"), bool):
        raise RequestError("approved must be true or false")
    by = body.get("by")
    if not isinstance(by, str) or not by.strip():
        raise RequestError("by is required: who approves or rejects (it is recorded)")
    comment = body.get("comment", "")
    if not isinstance(comment, str):
        raise RequestError("comment must be a string")
    return {"approved": body["approved"], "by": by.strip()[:200],
            "comment": comment.strip()[:500]}


@bp.route(route="runbooks/{instance_id}/approve", methods=["POST"])
@bp.durable_client_input(client_name="client")
async def approve_runbook(req: func.HttpRequest, client: df.DurableOrchestrationClient
                          ) -> func.HttpResponse:
    instance_id = req.route_params.get("instance_id", "")
    try:
        decision = parse_approval(req.get_body())
    except RequestError as exc:
        return error_response(400, exc.code, exc.message)
    status = await runbook_status(client, instance_id)
    if not status:
        return error_response(404, "runbook.not_found", f"no runbook instance {instance_id!r}")
    waiting = (isinstance(status.custom_status, dict)
               and status.custom_status.get("phase") == FailoverPhase.AWAITING_APPROVAL)
    if status.runtime_status not in ACTIVE or not waiting:
        return error_response(409, "runbook.not_awaiting_approval",
                              f"runbook {instance_id!r} is not waiting for an approval",
                              runtime_status=status.runtime_status.value
                              if status.runtime_status else None)
    # the id as the management URL names it (runbook_status found it, so it is not None)
    await client.raise_event(id_in_url(instance_id) or instance_id, APPROVAL_EVENT, decision)
    logger.info("runbook %s %s by %s", instance_id,
                "approved" if decision["approved"] else "rejected", decision["by"])
    return json_response({"instance_id": instance_id, "approved": decision["approved"]}, 202)


def alert_approval_required() -> bool:
    """Whether alert-started runbooks wait for an operator (``KVDR_APPROVAL_POLICY``)."""
    return get_runtime().config.policies.approval == ApprovalPolicy.REQUIRED
