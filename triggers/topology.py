"""``GET /api/topology``: who is primary now, read from every vault's topology record, and
where "rotation due" messages go.

What a rotation job asks before it writes a new version: the primary's region and vault URL
(write there; kvdr replicates it). The records are read as every trigger reads them
(:func:`kvdr.topology.reading.read_records_within`: probe sessions, a few seconds at most, off
the event loop, one rule for unreachable and unreadable vaults). Answers::

    {"primary": "eastus", "primary_vault_url": "https://…/", "epoch": 3,
     "changed_at": "…Z", "split_brain": false, "recorded": true,
     "regions": {"eastus": {"vault_url": "https://…/", "reachable": true, "epoch": 3}, …},
     "rotation_queue": {"enabled": true, "queue": "kvdr-rotation", "url": "https://…", …}}

``recorded`` is false before the first sync wrote a record: the primary is then the configured
initial one. No vault reachable: 503 ``topology.unreachable``. Any method but GET: 405
``request.method_not_allowed``. Function-key auth, like every route of the app.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import azure.functions as func

from kvdr.errors import KvdrError
from kvdr.rotation.publisher import describe_rotation
from kvdr.services import Runtime, get_runtime
from kvdr.topology.reading import read_records_within
from kvdr.vault.inventory import format_time
from triggers.blueprint import bp
from triggers.runbooks import error_response, json_response

UNREACHABLE_CODE = "topology.unreachable"
METHOD_NOT_ALLOWED_CODE = "request.method_not_allowed"


def read_topology_view(runtime: Runtime) -> dict[str, Any] | None:
    """The answer's body; None when no vault answered. Blocking (probe sessions)."""
    config = runtime.config
    reads = read_records_within(runtime.open_probe, config.region_names)
    if len(reads.unreachable()) == len(config.region_names):
        return None
    regions: dict[str, Any] = {}
    for name, read in reads.reads.items():
        entry: dict[str, Any] = {"vault_url": config.region(name).vault_url,
                                 "reachable": read.reachable,
                                 "epoch": read.record.epoch if read.record else None}
        if read.code:
            entry["error"] = read.code
        regions[name] = entry
    view = reads.view()
    if view is None:  # answered, but no record yet: the first sync bootstraps the configured one
        primary, epoch, changed_at, split = config.topology.initial_primary, None, None, False
    else:
        current = view.current
        primary, epoch, split = current.primary, current.epoch, view.split_brain
        changed_at = format_time(current.changed_at)
    return {"primary": primary, "primary_vault_url": config.region(primary).vault_url,
            "epoch": epoch, "changed_at": changed_at, "split_brain": split,
            "recorded": view is not None, "regions": regions,
            "rotation_queue": describe_rotation(config)}


@bp.route(route="topology", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
async def topology(req: func.HttpRequest) -> func.HttpResponse:
    if req.method.upper() != "GET":
        body = {"error": {"code": METHOD_NOT_ALLOWED_CODE,
                          "message": f"{req.method.upper()} is not allowed here; use GET"}}
        return func.HttpResponse(json.dumps(body), status_code=405,
                                 mimetype="application/json", headers={"Allow": "GET"})
    try:
        runtime = get_runtime()
    except KvdrError as exc:
        return error_response(500, exc.code, exc.message)
    # off the event loop: a hung vault must not stall the other triggers (the alert webhook)
    body = await asyncio.to_thread(read_topology_view, runtime)
    if body is None:
        return error_response(503, UNREACHABLE_CODE, "no vault answered the topology read; "
                              "check the vaults' network path and kvdr's role, then retry")
    return json_response(body)
