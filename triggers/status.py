"""``GET /api/status``: replication status per vault pair (see kvdr.status)."""

from __future__ import annotations

import azure.functions as func

from kvdr.errors import KvdrError
from kvdr.services import get_runtime
from kvdr.status import build_status
from triggers.blueprint import bp
from triggers.runbooks import error_response, json_response


@bp.route(route="status", methods=["GET"])
def replication_status(req: func.HttpRequest) -> func.HttpResponse:
    try:
        runtime = get_runtime()
    except KvdrError as exc:
        return error_response(500, exc.code, exc.message)
    return json_response(build_status(runtime).to_dict())
