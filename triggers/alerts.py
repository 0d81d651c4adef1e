"""The Azure Monitor alert webhook: ``POST /api/alerts`` (common alert schema).

The action group of ``infra/bicep/modules/alerts.bicep`` calls this region's app when the OTHER
region's vault is unavailable. A ``Fired`` alert about another configured region's vault starts
an unplanned failover to this region, once per alert (the instance id derives from the alert
id, so a re-delivery finds its instance). Everything else is answered 200 with the outcome:
ignoring an alert, or finding its runbook already there, is a success. Not 2xx: a body kvdr
cannot read (400/413, never retried by Azure Monitor), a missing ``KVDR_LOCAL_REGION`` (500: a
deployment error that a retry cannot fix), and a task hub that did not answer (503, which
Azure Monitor retries, with 408/429/504, up to 5 times within about 75 s). See docs/alerts.md.

Before starting anything, an alert that calls for a failover is checked against the primary
read from the topology records (``kvdr.alerts.primary``: probe sessions, a few seconds at most,
so a hung vault cannot stall the answer): an alert about a vault that is no longer the primary
is answered 200 ``not_primary`` and starts nothing. When no record can be read, the runbook is
started as before and re-checks (``expected_primary``).
"""

from __future__ import annotations

import asyncio
import json
import logging

import azure.durable_functions as df
import azure.functions as func

from kvdr.alerts.notice import (
    AlertError,
    AlertOutcome,
    confirm,
    decide,
    failover_request,
    parse_alert,
)
from kvdr.alerts.primary import PrimaryReading, read_primary
from kvdr.errors import KvdrError
from kvdr.failover.request import FailoverRequest
from kvdr.services import get_runtime
from triggers.blueprint import bp
from triggers.failover import (
    RunbookConflict,
    alert_approval_required,
    failover_instance_id,
    start_failover,
)
from triggers.runbooks import error_response, json_response

logger = logging.getLogger(__name__)

DUPLICATE = "duplicate"
ALREADY_RUNNING = "already_running"
STARTED = "started"


@bp.route(route="alerts", methods=["POST"])
@bp.durable_client_input(client_name="client")
async def alert_webhook(req: func.HttpRequest, client: df.DurableOrchestrationClient
                        ) -> func.HttpResponse:
    try:
        notice = parse_alert(req.get_body())
    except AlertError as exc:
        logger.warning("alert webhook: rejected a body [%s] %s", exc.code, exc.message)
        return error_response(413 if exc.code == "alert.too_large" else 400, exc.code,
                              exc.message)
    try:
        runtime = get_runtime()
    except KvdrError as exc:
        return error_response(500, exc.code, exc.message)
    config = runtime.config
    local = config.topology.local_region
    if not local:
        logger.error("alert webhook: KVDR_LOCAL_REGION is not set; alert %s not acted on",
                     notice.alert_id)
        return error_response(500, "config.missing", "KVDR_LOCAL_REGION (topology.local_region)"
                              " is not set: this app cannot tell which region it runs in, so "
                              "it cannot act on alerts; set it to the app's region")

    decision = decide(notice, config, local)
    reading: PrimaryReading | None = None
    if decision.starts_failover:
        reading = await _primary(runtime)
        decision = confirm(decision, reading.primary if reading else None,
                           reading.epoch if reading else None)
    logger.info("alert webhook: alert %s (rule %r, %s, %s, %s, targets %d): %s",
                notice.alert_id, notice.rule_name, notice.monitor_condition,
                notice.signal_type, notice.context.kind, len(notice.alert_target_ids),
                decision.outcome)
    base = {"alert_id": notice.alert_id, "region": decision.region}
    if not decision.starts_failover:
        if decision.outcome == AlertOutcome.AMBIGUOUS_TARGET:
            logger.warning("alert webhook: %s", decision.message)
        extra = ({"primary": reading.primary, "epoch": reading.epoch}
                 if reading and decision.outcome == AlertOutcome.NOT_PRIMARY else {})
        return json_response({"outcome": str(decision.outcome), "message": decision.message,
                              **base, **extra})

    request = failover_request(notice, decision, local,
                               approval_required=alert_approval_required())
    try:
        return await _start(req, client, request, decision.message, base)
    except Exception:
        # The task hub could not be reached (storage, host restart). 503 is one of the codes
        # Azure Monitor retries (408, 429, 503, 504: 5 retries within about 75 s); a 500 is
        # never retried and the alert would be lost.
        logger.exception("alert webhook: could not start the failover for alert %s",
                         notice.alert_id)
        return error_response(503, "alert.start_failed", "the failover could not be started "
                              "(the durable task hub did not answer); Azure Monitor retries "
                              "this alert, or start it with POST /api/runbooks/failover")


async def _primary(runtime: object) -> PrimaryReading | None:
    """The primary in force, or None (unreadable: the runbook decides). Bounded by
    ``read_primary``'s own deadline; never raises."""
    try:
        return await asyncio.to_thread(read_primary, runtime)
    except Exception as exc:
        logger.warning("alert webhook: topology not read (%s); the runbook will check",
                       type(exc).__name__)
        return None


async def _start(req: func.HttpRequest, client: df.DurableOrchestrationClient,
                 request: FailoverRequest, decided: str, base: dict[str, object]
                 ) -> func.HttpResponse:
    instance_id = failover_instance_id(request)
    if await client.get_status(instance_id):
        return _duplicate(instance_id, base)
    try:
        await start_failover(client, request, instance_id)
    except RunbookConflict as exc:
        if exc.instance_id == instance_id:   # a concurrent delivery of this alert won
            return _duplicate(instance_id, base)
        logger.warning("alert webhook: alert %s not started: failover %s is already running",
                       request.alert_id, exc.instance_id)
        return json_response({"outcome": ALREADY_RUNNING, "message": exc.message,
                              "instance_id": exc.instance_id, **base})
    except Exception:
        # two deliveries raced past both checks: the task hub refuses the loser's start
        if await client.get_status(instance_id):
            return _duplicate(instance_id, base)
        raise
    message = f"{decided}; runbook {instance_id} started"
    if request.approval_required:
        message += (f", waiting for an operator's approval (POST /api/runbooks/{instance_id}"
                    "/approve)")
    links = client.get_client_response_links(req, instance_id)
    body = {"outcome": STARTED, "message": message, "instance_id": instance_id,
            "approval_required": request.approval_required, **base, **links}
    return func.HttpResponse(json.dumps(body), status_code=202, mimetype="application/json",
                             headers={"Location": links["statusQueryGetUri"]})


def _duplicate(instance_id: str, base: dict[str, object]) -> func.HttpResponse:
    logger.info("alert webhook: alert %s already has runbook %s (re-delivery)",
                base["alert_id"], instance_id)
    return json_response({"outcome": DUPLICATE,
                          "message": f"alert already handled by runbook {instance_id}; "
                                     "each alert starts at most one failover",
                          "instance_id": instance_id, **base})
