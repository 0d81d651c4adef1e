"""Host a DFApp locally the way Core Tools does: HTTP triggers at /api/<route>, timer triggers on
their NCRONTAB schedule (and `POST /admin/functions/{name}` to run one now), Event Grid
deliveries at /runtime/webhooks/EventGrid?functionName=..., and the Durable management API,
all on loopback, over one engine."""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import os
import re
import threading
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import azure.functions as func
from aiohttp import web
from azure.durable_functions.models.utils import http_utils
from azure.functions.timer import TimerRequest
from croniter import croniter

from engine.clock import Clock
from engine.eventgrid_input import (
    MalformedDelivery,
    allowed_origin,
    check_event,
    grid_event,
    parse_delivery,
)
from engine.functions import HostedFunction
from engine.management_api import ManagementApi, client_binding
from engine.request_limits import (
    EVENT_GRID_BODY_LIMIT,
    BodyTooLarge,
    http_body_limit,
    read_limited,
    too_large_response,
)
from engine.runtime import Engine

log = logging.getLogger("engine.host")


class _InvocationContext:
    """What a function's `context` parameter gets (the worker passes func.Context)."""

    def __init__(self, name: str) -> None:
        self.invocation_id = str(uuid.uuid4())
        self.function_name = name
        self.function_directory = str(Path.cwd())
        self.trace_context = None
        self.retry_context = None


class LocalHost:
    """An engine plus the HTTP front door. `start()` serves in a background thread (tests);
    `serve_forever()` serves in the calling thread until `stop()` (the CLI).
    `max_request_body_bytes` bounds HTTP-trigger and admin bodies (default: the app setting
    FUNCTIONS_REQUEST_BODY_SIZE_LIMIT, else 100 MiB, as the Functions host does)."""

    def __init__(self, app: Any, *, state_dir: Path | str, port: int = 7071,
                 host: str = "127.0.0.1", clock: Clock | None = None,
                 max_activity_concurrency: int = 8, route_prefix: str = "api",
                 max_request_body_bytes: int | None = None) -> None:
        self.engine = Engine(app, state_dir, clock=clock,
                             max_activity_concurrency=max_activity_concurrency)
        self.host, self.port, self.route_prefix = host, port, route_prefix.strip("/")
        self.max_request_body_bytes = max_request_body_bytes or http_body_limit()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._stopped: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> LocalHost:
        self._thread = threading.Thread(target=self.serve_forever, name="localhost",
                                        daemon=True)
        self._thread.start()
        self._ready.wait(30)
        if self._error is not None:
            raise self._error
        return self

    def __enter__(self) -> LocalHost:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        if self._loop is not None and self._stopped is not None:
            self._loop.call_soon_threadsafe(self._stopped.set)
        if self._thread is not None:
            self._thread.join(30)
            self._thread = None

    def serve_forever(self, on_ready: Any = None) -> None:
        try:
            asyncio.run(self._serve(on_ready))
        except BaseException as exc:
            self._error = exc
            self._ready.set()
            raise

    async def _serve(self, on_ready: Any) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopped = asyncio.Event()
        self.engine.start()
        app = web.Application(client_max_size=100 * 1024 * 1024)
        self.management = ManagementApi(self.engine, lambda: self.base_url)
        self.management.add_routes(app)
        self._add_function_routes(app)
        # after an early 413, discard what the sender still sends for at most 1 s (so it
        # can read the answer), not aiohttp's 10 s: an oversized body is not drained
        runner = web.AppRunner(app, access_log=None, lingering_time=1.0)
        try:
            await runner.setup()
            site = web.TCPSite(runner, self.host, self.port)
            await site.start()
            if self.port == 0:
                self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
            timers = [asyncio.create_task(self._run_timer(fn))
                      for fn in self.engine.functions.of_type("timerTrigger").values()]
            self._ready.set()
            if on_ready is not None:
                on_ready(self)
            await self._stopped.wait()
            for task in timers:
                task.cancel()
        finally:
            await runner.cleanup()
            await _close_durable_client_session()
            await asyncio.get_running_loop().run_in_executor(None, self.engine.stop)

    def request_stop(self) -> None:
        """Stop from within the serving loop (signal handlers)."""
        if self._stopped is not None:
            self._stopped.set()

    # -- routes ----------------------------------------------------------------------------
    def describe(self) -> list[str]:
        lines = []
        for name, fn in sorted(self.engine.functions.all.items()):
            if fn.trigger_type == "httpTrigger":
                methods = ",".join(str(getattr(m, "value", m)) for m in
                                   (fn.trigger.methods or ["GET", "POST"]))
                lines.append(f"{name}: [{methods}] {self.base_url}/{self._route(fn)}")
            elif fn.trigger_type == "eventGridTrigger":
                lines.append(f"{name}: eventGridTrigger {self.base_url}"
                             f"/runtime/webhooks/EventGrid?functionName={name}")
            else:
                lines.append(f"{name}: {fn.trigger_type}")
        return lines

    def _route(self, fn: HostedFunction) -> str:
        route = fn.trigger.route or fn.name
        return f"{self.route_prefix}/{route}".lstrip("/")

    def _add_function_routes(self, app: web.Application) -> None:
        for fn in self.engine.functions.of_type("httpTrigger").values():
            # ASP.NET route constraints ({id:int}, {name?}) → aiohttp placeholders that take any
            # segment, as the Functions host does (aiohttp's default refuses "{" and "}": an id
            # with a brace got the server's plain-text 404 instead of the function's answer)
            path = "/" + re.sub(r"\{\*?(\w+)(:[^}]*)?\??\}", r"{\1:[^/]+}", self._route(fn))
            methods = [str(getattr(m, "value", m)).upper()
                       for m in (fn.trigger.methods or ["GET", "POST"])]
            for method in methods:
                app.router.add_route(method, path, self._http_handler(fn))
        for path in ("/runtime/webhooks/EventGrid", "/runtime/webhooks/eventgrid"):
            app.router.add_post(path, self._event_grid)
            app.router.add_route("OPTIONS", path, self._event_grid_handshake)
        app.router.add_post("/admin/functions/{name}", self._admin_invoke)

    async def _invoke(self, fn: HostedFunction, trigger_value: Any) -> Any:
        kwargs: dict[str, Any] = {}
        params = inspect.signature(fn.func).parameters
        for name in params:
            if name == fn.trigger_param:
                kwargs[name] = trigger_value
            elif name == fn.client_param:
                kwargs[name] = json.dumps(client_binding(self.engine, self.base_url))
            elif name == "context":
                kwargs[name] = _InvocationContext(fn.name)
            else:
                kwargs[name] = None     # other bindings are not emulated
        if inspect.iscoroutinefunction(fn.func):
            return await fn.func(**kwargs)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, lambda: fn.func(**kwargs))

    def _http_handler(self, fn: HostedFunction):
        async def handle(request: web.Request) -> web.StreamResponse:
            # Core Tools does not enforce function keys locally; ?code= and x-functions-key
            # are accepted and ignored.
            try:
                body = await read_limited(request, self.max_request_body_bytes)
            except BodyTooLarge as exc:
                log.warning("function %s: request.too_large: %s", fn.name, exc)
                return too_large_response("request.too_large", exc)
            req = func.HttpRequest(
                method=request.method, url=str(request.url),
                headers=dict(request.headers), params=dict(request.query),
                route_params=dict(request.match_info), body=body)
            try:
                result = await self._invoke(fn, req)
            except Exception:
                log.exception("function %s failed", fn.name)
                return web.Response(status=500)
            return _to_response(result)
        return handle

    def _grid_function(self, request: web.Request) -> HostedFunction | None:
        return self.engine.functions.of_type("eventGridTrigger").get(
            request.query.get("functionName", ""))

    async def _event_grid(self, request: web.Request) -> web.Response:
        name = request.query.get("functionName", "")
        fn = self._grid_function(request)
        if fn is None:
            return web.json_response({"error": f"no Event Grid function {name!r}"}, status=404)
        try:
            body = await read_limited(request, EVENT_GRID_BODY_LIMIT)
            delivery = parse_delivery(body, validation_header=request.headers.get(
                "aeg-event-type", "").lower() == "subscriptionvalidation")
        except BodyTooLarge as exc:
            log.warning("Event Grid delivery to %s: eventgrid.too_large: %s", name, exc)
            return too_large_response("eventgrid.too_large", exc)
        except MalformedDelivery as exc:
            return _malformed(f"Event Grid delivery to {name}", exc)
        if delivery.validation_code is not None:
            return web.json_response({"validationResponse": delivery.validation_code})
        for event in delivery.events:  # every event was checked before the first runs
            try:
                await self._invoke(fn, grid_event(event))
            except Exception:  # a genuine failure: 500, and Event Grid retries the delivery
                log.exception("function %s failed", name)
                return web.Response(status=500)
        return web.Response(status=202)

    async def _event_grid_handshake(self, request: web.Request) -> web.Response:
        """The CloudEvents 1.0 webhook abuse-protection handshake (an OPTIONS request with
        ``WebHook-Request-Origin``), answered as the Functions host answers it."""
        name = request.query.get("functionName", "")
        if self._grid_function(request) is None:
            return web.json_response({"error": f"no Event Grid function {name!r}"}, status=404)
        headers = {"WebHook-Allowed-Origin": allowed_origin(
            request.headers.get("WebHook-Request-Origin")), "Allow": "POST"}
        if request.headers.get("WebHook-Request-Rate"):
            headers["WebHook-Allowed-Rate"] = "*"
        return web.Response(status=200, headers=headers)

    async def _admin_invoke(self, request: web.Request) -> web.Response:
        fn = self.engine.functions.all.get(request.match_info["name"])
        if fn is None or fn.trigger_type in ("httpTrigger", "orchestrationTrigger",
                                             "activityTrigger"):
            return web.Response(status=404)
        try:
            body = await read_limited(request, self.max_request_body_bytes)
        except BodyTooLarge as exc:
            log.warning("admin run of %s: request.too_large: %s", fn.name, exc)
            return too_large_response("request.too_large", exc)
        value: Any = None
        if fn.trigger_type == "timerTrigger":
            value = TimerRequest(past_due=False)
        elif fn.trigger_type == "eventGridTrigger" and body.strip():
            try:
                value = grid_event(_admin_event(body))
            except MalformedDelivery as exc:
                return _malformed(f"admin run of {fn.name}", exc)
        try:
            await self._invoke(fn, value)
        except Exception:
            log.exception("function %s failed", fn.name)
            return web.Response(status=500)
        return web.Response(status=202)

    async def _run_timer(self, fn: HostedFunction) -> None:
        schedule = resolve_app_setting(fn.trigger.schedule)
        if schedule is None:
            log.warning("timer %s is not scheduled: its schedule %s names an app setting that "
                        "is not set (POST /admin/functions/%s still runs it)", fn.name,
                        fn.trigger.schedule, fn.name)
            return
        if getattr(fn.trigger, "run_on_startup", False):
            await self._fire_timer(fn, past_due=False)
        while True:
            now = datetime.now(UTC)
            next_at = croniter(schedule, now, second_at_beginning=True).get_next(datetime)
            await asyncio.sleep(max(0.0, (next_at - datetime.now(UTC)).total_seconds()))
            await self._fire_timer(fn, past_due=False)

    async def _fire_timer(self, fn: HostedFunction, past_due: bool) -> None:
        try:
            await self._invoke(fn, TimerRequest(past_due=past_due))
        except Exception:
            log.exception("timer function %s failed", fn.name)


def resolve_app_setting(value: str) -> str | None:
    """``%NAME%`` binding expressions resolve from app settings (the environment), as the
    Functions host resolves them; None when the setting is not set."""
    match = re.fullmatch(r"%([A-Za-z0-9_.:-]+)%", value.strip())
    if match is None:
        return value
    return os.environ.get(match.group(1)) or None


def _admin_event(body: bytes) -> dict[str, Any]:
    """The admin API's ``{"input": "<the event as a JSON string>"}``, checked."""
    try:
        outer = json.loads(body)
        text = outer.get("input") if isinstance(outer, dict) else None
        if not isinstance(text, str) or not text:
            raise MalformedDelivery('send {"input": "<one event, as a JSON string>"}')
        event = json.loads(text)
    except (ValueError, RecursionError):
        raise MalformedDelivery('the body is not {"input": "<one event, as a JSON string>"}'
                                ) from None
    check_event(event, "the input event")
    return event


def _malformed(what: str, exc: MalformedDelivery) -> web.Response:
    # one line, no traceback: the sender's input is wrong, not the host
    log.warning("%s: %s: %s", what, exc.code, exc)
    return web.json_response({"error": {"code": exc.code, "message": str(exc)}}, status=400)


def _to_response(result: Any) -> web.Response:
    if isinstance(result, func.HttpResponse):
        headers = {k: v for k, v in result.headers.items() if k.lower() != "content-type"}
        content_type = result.headers.get("Content-Type") or result.mimetype
        response = web.Response(status=result.status_code, body=result.get_body(),
                                headers=headers)
        if content_type:
            response.headers["Content-Type"] = (
                content_type if "charset" in content_type or not result.charset
                else f"{content_type}; charset={result.charset}")
        return response
    if result is None:
        return web.Response(status=204)
    if isinstance(result, str | bytes):
        return web.Response(status=200, body=result if isinstance(result, bytes)
                            else result.encode())
    return web.json_response(result)


async def _close_durable_client_session() -> None:
    """The SDK's DurableOrchestrationClient keeps one process-wide aiohttp session, bound to
    this loop; close it with the loop, or the interpreter reports it unclosed at exit."""
    session = getattr(http_utils, "_client_session", None)
    if session is not None and not session.closed:
        await session.close()
    http_utils._client_session = None
