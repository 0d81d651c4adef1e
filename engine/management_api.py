"""The Durable extension's HTTP management API, served for the engine.

Routes are served twice, under `/runtime/webhooks/durabletask/` (the public webhook paths the
`statusQueryGetUri`-style links point to) and under `/durabletask/` (the `rpcBaseUrl` the
Python `DurableOrchestrationClient` calls). Status codes follow the extension's HttpApiHandler,
because the SDK's client branches on them.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import quote

from aiohttp import web
from dateutil.parser import isoparse

from engine.errors import FunctionNotFound, InstanceExists, InstanceNotFound
from engine.records import InstanceStatus, RuntimeStatus
from engine.runtime import Engine

WEBHOOK_PREFIX = "/runtime/webhooks/durabletask"
RPC_PREFIX = "/durabletask"
# Listing instances pages like the extension: at most `top` (default PAGE_SIZE) per response,
# the next page's token in this response header, sent back in the same request header.
CONTINUATION_HEADER = "x-ms-continuation-token"
PAGE_SIZE = 100


def client_binding(engine: Engine, base_url: str, code: str = "") -> dict[str, Any]:
    """The JSON the host hands a durableClient binding (DurableOrchestrationBindings)."""
    hook = f"{base_url}{WEBHOOK_PREFIX}"
    query = f"taskHub={engine.task_hub}&connection=Storage&code={quote(code)}"
    instance = f"{hook}/instances/INSTANCEID"
    return {
        "taskHubName": engine.task_hub,
        "creationUrls": {
            "createNewInstancePostUri":
                f"{hook}/orchestrators/{{functionName}}[/{{instanceId}}]?code={quote(code)}",
            "createAndWaitOnNewInstancePostUri":
                f"{hook}/orchestrators/{{functionName}}[/{{instanceId}}]?timeout="
                f"{{timeoutInSeconds}}&pollingInterval={{intervalInSeconds}}&code={quote(code)}",
        },
        "managementUrls": {
            "id": "INSTANCEID",
            "statusQueryGetUri": f"{instance}?{query}",
            "sendEventPostUri": f"{instance}/raiseEvent/{{eventName}}?{query}",
            "terminatePostUri": f"{instance}/terminate?reason={{text}}&{query}",
            "rewindPostUri": f"{instance}/rewind?reason={{text}}&{query}",
            "purgeHistoryDeleteUri": f"{instance}?{query}",
            "restartPostUri": f"{instance}/restart?{query}",
            "suspendPostUri": f"{instance}/suspend?reason={{text}}&{query}",
            "resumePostUri": f"{instance}/resume?reason={{text}}&{query}",
        },
        "baseUrl": hook,
        "requiredQueryStringParameters": f"code={quote(code)}",
        "rpcBaseUrl": f"{base_url}{RPC_PREFIX}/",
        "httpBaseUrl": "",
        "maxGrpcMessageSizeInBytes": 0,
        "grpcHttpClientTimeout": "00:01:40",
    }


def status_json(status: InstanceStatus, *, show_input: bool = True) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": status.name,
        "instanceId": status.instance_id,
        "runtimeStatus": str(status.runtime_status),
        "input": status.input if show_input else None,
        "customStatus": status.custom_status,
        "output": status.output,
        "createdTime": _time(status.created_time),
        "lastUpdatedTime": _time(status.last_updated_time),
    }
    if status.history is not None:
        body["historyEvents"] = status.history
    return body


def _time(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def _positive_int(text: str | None, default: int) -> int:
    if text is None:
        return default
    if not text.isdigit() or int(text) < 1:
        raise ValueError(f"top must be a positive integer, got {text!r}")
    return int(text)


def _token_of(offset: int) -> str:
    return base64.b64encode(json.dumps({"offset": offset}).encode()).decode()


def _offset_of(token: str | None) -> int:
    """The offset a continuation token stands for (0 without one; the extension's "null"
    token, base64 ``bnVsbA==``, too)."""
    if not token:
        return 0
    try:
        value = json.loads(base64.b64decode(token, validate=True))
    except (binascii.Error, ValueError):
        raise ValueError("the continuation token is not one this API issued") from None
    if value is None:
        return 0
    offset = value.get("offset") if isinstance(value, dict) else None
    if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
        raise ValueError("the continuation token is not one this API issued")
    return offset


def _flag(request: web.Request, name: str, default: bool = False) -> bool:
    value = request.query.get(name)
    return default if value is None else value.lower() == "true"


class ManagementApi:
    def __init__(self, engine: Engine, base_url: Callable[[], str], *,
                 page_size: int = PAGE_SIZE) -> None:
        self.engine = engine
        self._base_url = base_url   # known once the port is bound
        self.page_size = page_size  # listing page size when the caller gives no `top`

    @property
    def base_url(self) -> str:
        return self._base_url()

    def add_routes(self, app: web.Application) -> None:
        # placeholders take any segment: aiohttp's default refuses "{" and "}", and an instance
        # id with a brace got the server's plain-text 404, which the Durable client cannot read
        name, instance, event = "{name:[^/]+}", "{instance_id:[^/]+}", "{event:[^/]+}"
        for prefix in (WEBHOOK_PREFIX, RPC_PREFIX):
            app.router.add_post(f"{prefix}/orchestrators/{name}", self.start)
            app.router.add_post(f"{prefix}/orchestrators/{name}/{instance}", self.start)
            app.router.add_get(prefix + "/instances", self.list)
            app.router.add_get(prefix + "/instances/", self.list)
            app.router.add_delete(prefix + "/instances/", self.purge_many)
            app.router.add_get(f"{prefix}/instances/{instance}", self.status)
            app.router.add_delete(f"{prefix}/instances/{instance}", self.purge)
            app.router.add_post(f"{prefix}/instances/{instance}/raiseEvent/{event}",
                                self.raise_event)
            for verb in ("terminate", "suspend", "resume"):
                app.router.add_post(f"{prefix}/instances/{instance}/{verb}", self._control(verb))
            for verb in ("rewind", "restart"):
                app.router.add_post(f"{prefix}/instances/{instance}/{verb}", self.unsupported)

    def links(self, instance_id: str) -> dict[str, str]:
        urls = client_binding(self.engine, self.base_url)["managementUrls"]
        return {k: v.replace("INSTANCEID", instance_id) for k, v in urls.items()}

    async def start(self, request: web.Request) -> web.Response:
        text = await request.text()
        input_json = _payload_json(text)
        try:
            instance_id = self.engine.start_new(
                request.match_info["name"], instance_id=request.match_info.get("instance_id"),
                input_json=input_json)
        except FunctionNotFound as exc:
            return web.json_response({"ExceptionMessage": str(exc)}, status=400)
        except InstanceExists as exc:
            return web.json_response({"ExceptionMessage": str(exc)}, status=409)
        links = self.links(instance_id)
        return web.json_response(links, status=202,
                                 headers={"Location": links["statusQueryGetUri"],
                                          "Retry-After": "10"})

    async def status(self, request: web.Request) -> web.Response:
        status = self.engine.get_status(
            request.match_info["instance_id"], show_history=_flag(request, "showHistory"),
            show_history_output=_flag(request, "showHistoryOutput"))
        if status is None:
            return web.Response(status=404)
        code = 200
        if status.runtime_status in (RuntimeStatus.RUNNING, RuntimeStatus.PENDING,
                                     RuntimeStatus.CONTINUED_AS_NEW, RuntimeStatus.SUSPENDED):
            code = 202
        elif (status.runtime_status is RuntimeStatus.FAILED
              and _flag(request, "returnInternalServerErrorOnFailure")):
            code = 500
        body = status_json(status, show_input=_flag(request, "showInput", True))
        headers = {}
        if code == 202:
            headers = {"Location": self.links(status.instance_id)["statusQueryGetUri"],
                       "Retry-After": "10"}
        return web.json_response(body, status=code, headers=headers)

    def _filtered(self, request: web.Request) -> list[InstanceStatus]:
        statuses = None
        if request.query.get("runtimeStatus"):
            statuses = [RuntimeStatus(s) for s in request.query["runtimeStatus"].split(",")]
        created_from = request.query.get("createdTimeFrom")
        created_to = request.query.get("createdTimeTo")
        return self.engine.list_instances(
            statuses, isoparse(created_from) if created_from else None,
            isoparse(created_to) if created_to else None, request.query.get("instanceIdPrefix"))

    async def list(self, request: web.Request) -> web.Response:
        try:
            top = _positive_int(request.query.get("top"), self.page_size)
            start = _offset_of(request.headers.get(CONTINUATION_HEADER))
        except ValueError as exc:
            return web.json_response({"error": str(exc)}, status=400)
        found = self._filtered(request)
        page = found[start:start + top]
        show_input = _flag(request, "showInput", False)
        headers = {}
        if start + top < len(found):
            headers[CONTINUATION_HEADER] = _token_of(start + top)
        return web.json_response([status_json(s, show_input=show_input) for s in page],
                                 headers=headers)

    async def purge(self, request: web.Request) -> web.Response:
        if self.engine.purge(request.match_info["instance_id"]):
            return web.json_response({"instancesDeleted": 1})
        return web.Response(status=404)

    async def purge_many(self, request: web.Request) -> web.Response:
        found = [s for s in self._filtered(request) if s.runtime_status.is_terminal]
        deleted = sum(self.engine.purge(s.instance_id) for s in found)
        if not deleted:
            return web.Response(status=404)
        return web.json_response({"instancesDeleted": deleted})

    async def raise_event(self, request: web.Request) -> web.Response:
        text = await request.text()
        try:
            delivered = self.engine._send_checked(request.match_info["instance_id"])
            if not delivered:
                return web.json_response("instance completed or failed", status=410)
            self.engine.raise_event(request.match_info["instance_id"],
                                    request.match_info["event"], data_json=_payload_json(text))
        except InstanceNotFound:
            return web.Response(status=404)
        return web.Response(status=202)

    def _control(self, verb: str):
        async def handler(request: web.Request) -> web.Response:
            action = getattr(self.engine, verb)
            try:
                if not action(request.match_info["instance_id"],
                              request.query.get("reason", "")):
                    return web.json_response("instance completed or failed", status=410)
            except InstanceNotFound:
                return web.Response(status=404)
            return web.Response(status=202)
        return handler

    async def unsupported(self, request: web.Request) -> web.Response:
        return web.json_response("rewind and restart are not supported by the local engine",
                                 status=501)


def _payload_json(text: str) -> str | None:
    """The JSON text of a posted payload. The Python client posts `df_dumps(value)` through
    aiohttp's `json=`, so its body is a JSON string holding JSON: unwrap that one level, so the
    orchestrator sees the value the caller passed. A body that is plain JSON is kept as is."""
    if not text.strip():
        return None
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise web.HTTPBadRequest(text="Only application/json request content is supported") \
            from exc
    if isinstance(value, str):
        try:
            json.loads(value)
            return value
        except ValueError:
            pass
    return json.dumps(value)


__all__ = ["ManagementApi", "client_binding", "status_json"]
