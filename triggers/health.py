"""`GET /api/health`: liveness of the function app itself (function key; reveals nothing)."""

import json

import azure.functions as func

from kvdr import __version__
from triggers.blueprint import bp


@bp.route(route="health", methods=["GET"])
def health(req: func.HttpRequest) -> func.HttpResponse:
    body = {"status": "ok", "service": "kvdr", "version": __version__}
    return func.HttpResponse(json.dumps(body), mimetype="application/json")
