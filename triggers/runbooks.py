"""HTTP runbook starters: ``POST /api/runbooks/full-sync`` and ``GET /api/runbooks/{id}``.

A request body that kvdr cannot act on exactly as written (an unknown field, a wrong type, a
target that is not a configured region) is answered 400 with a stable code and starts nothing.
A real (non dry-run) full sync runs under the singleton instance id ``full-sync`` — the same
one the timer uses — so two never run at once; a dry run gets its own id.
"""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

import azure.durable_functions as df
import azure.functions as func

from kvdr.catalogue import ACTIVE_STATUSES, FULL_SYNC_INSTANCE, Orchestrator
from kvdr.errors import KvdrError
from kvdr.request_body import RequestError, json_object, region_list
from kvdr.services import get_runtime
from kvdr.sync.contracts import FullSyncInput
from kvdr.sync.progress import combine
from triggers.blueprint import bp
from triggers.instances import statuses_by

logger = logging.getLogger(__name__)

# the catalogue's active statuses, as the Durable SDK spells them
ACTIVE = frozenset(df.OrchestrationRuntimeStatus(str(s)) for s in ACTIVE_STATUSES)


class RunbookConflict(KvdrError):
    """A runbook cannot start now because another one holds its place (HTTP 409)."""

    default_code = "runbook.already_running"

    def __init__(self, message: str, instance_id: str, *, code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.instance_id = instance_id


# what Durable Functions accepts as an instance id (at most 100 characters; no "/", "\\", "#",
# "?" or control characters): anything else names no instance
_NOT_IN_AN_ID = frozenset("/\\#?") | {chr(c) for c in (*range(32), *range(127, 160))}
# ids the management URL cannot name: the SDK puts the id in the URL as it is, and aiohttp's URL
# removes a "." or ".." path segment (also spelled %2e), so GET instances/. read the instance
# list (a JSON list the SDK could not read as a status: a TypeError, a 500)
_DOT_SEGMENTS = frozenset({".", ".."})


def id_in_url(instance_id: str) -> str | None:
    """``instance_id`` as the Durable client must be given it to name that very instance in
    its management URL, or None when the id cannot be an instance id or cannot be named there.
    A "%" is escaped: the SDK inserts the id unescaped and aiohttp's URL reads "%41" as "A", so
    a user's "%66ull-sync" read (and approved) the instance "full-sync"."""
    if not instance_id or len(instance_id) > 100 or any(c in _NOT_IN_AN_ID for c in instance_id):
        return None
    if instance_id in _DOT_SEGMENTS:
        return None
    try:
        instance_id.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate
        return None
    return instance_id.replace("%", "%25")


async def runbook_status(client: df.DurableOrchestrationClient, instance_id: str) -> Any:
    """The instance's status, or None when there is none. An id that cannot be an instance id
    is not sent to the Durable client (``id_in_url``): "?" asked for the instance list (a 500),
    a lone surrogate could not be encoded at all."""
    in_url = id_in_url(instance_id)
    if in_url is None:
        return None
    return await client.get_status(in_url) or None


def error_response(status: int, code: str, message: str, **extra: Any) -> func.HttpResponse:
    body = {"error": {"code": code, "message": message, **extra}}
    return func.HttpResponse(json.dumps(body), status_code=status, mimetype="application/json")


def json_response(body: Any, status: int = 200) -> func.HttpResponse:
    return func.HttpResponse(json.dumps(body, default=str), status_code=status,
                             mimetype="application/json")


def parse_full_sync_body(raw: bytes, regions: tuple[str, ...]) -> FullSyncInput:
    """Validate the optional body ``{"dry_run": bool, "targets": [region, ...]}``."""
    body = json_object(raw, ("dry_run", "targets"),
                       example='{"dry_run": true|false, "targets": ["<region>", …]} or nothing')
    if body is None:
        return FullSyncInput()
    dry_run = body.get("dry_run", False)
    if not isinstance(dry_run, bool):
        raise RequestError("dry_run must be a JSON boolean")
    targets = region_list(body["targets"], regions) if "targets" in body else None
    return FullSyncInput(dry_run=dry_run, targets=targets)


@bp.route(route="runbooks/full-sync", methods=["POST"])
@bp.durable_client_input(client_name="client")
async def start_full_sync(req: func.HttpRequest, client: df.DurableOrchestrationClient
                          ) -> func.HttpResponse:
    try:
        config = get_runtime().config
    except KvdrError as exc:
        return error_response(500, exc.code, exc.message)
    try:
        request = parse_full_sync_body(req.get_body(), config.region_names)
    except RequestError as exc:
        return error_response(400, exc.code, exc.message)
    if request.dry_run:
        instance_id = f"full-sync-dry-run-{uuid.uuid4().hex[:12]}"
    else:
        instance_id = FULL_SYNC_INSTANCE
        existing = await client.get_status(instance_id)
        if existing and existing.runtime_status in ACTIVE:
            return error_response(409, "runbook.already_running",
                                  "a full sync is already running; follow it at the status "
                                  "URL or wait for it to finish",
                                  instance_id=instance_id)
    run_id = instance_id if request.dry_run else f"full-sync-{uuid.uuid4().hex[:12]}"
    body = FullSyncInput(request.dry_run, request.targets, run_id).to_dict()
    await client.start_new(Orchestrator.FULL_SYNC, instance_id, body)
    logger.info("full sync %s started (instance %s, dry run %s)", run_id, instance_id,
                request.dry_run)
    return client.create_check_status_response(req, instance_id)


@bp.route(route="runbooks/{instance_id}", methods=["GET"])
@bp.durable_client_input(client_name="client")
async def get_runbook(req: func.HttpRequest, client: df.DurableOrchestrationClient
                      ) -> func.HttpResponse:
    instance_id = req.route_params.get("instance_id", "")
    status = await runbook_status(client, instance_id)
    if not status:
        return error_response(404, "runbook.not_found",
                              f"no runbook instance {instance_id!r}; use the id the starter "
                              "returned")
    body: dict[str, Any] = {
        "instance_id": status.instance_id, "name": status.name,
        "runtime_status": status.runtime_status.value if status.runtime_status else None,
        "created_time": status.created_time.isoformat() if status.created_time else None,
        "last_updated_time": (status.last_updated_time.isoformat()
                              if status.last_updated_time else None),
        "custom_status": status.custom_status, "output": status.output,
    }
    if status.runtime_status in ACTIVE:
        prefix = f"{instance_id}:"
        children = [s for s in await statuses_by(client, ACTIVE, instance_id_prefix=prefix)
                    if s.instance_id and s.instance_id.startswith(prefix)]
        body["progress"] = {t: p.to_dict() for t, p in
                            combine(s.custom_status for s in children).items() if t}
    return json_response(body)
