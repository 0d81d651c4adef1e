"""The local host: HTTP triggers, the real DurableOrchestrationClient against the management
API, Event Grid deliveries, timer triggers run on demand, and our own function_app."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from engine.host import LocalHost
from support import sample_app


@pytest.fixture
def host(tmp_path: Path) -> Iterator[LocalHost]:
    with LocalHost(sample_app.app, state_dir=tmp_path / "state", port=0) as running:
        yield running


async def _poll_status(session: aiohttp.ClientSession, url: str, timeout: float = 30) -> dict:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        async with session.get(url) as response:
            body = await response.json()
        if body["runtimeStatus"] in ("Completed", "Failed", "Terminated"):
            return body
        assert asyncio.get_running_loop().time() < deadline, body
        await asyncio.sleep(0.05)


async def test_starter_function_uses_the_real_durable_client_and_check_status_links(host):
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{host.base_url}/api/orchestrators/hello_sequence",
                                json=["Kyiv", "Lima"]) as response:
            assert response.status == 202
            links = await response.json()
            assert response.headers["Location"] == links["statusQueryGetUri"]
        assert set(links) >= {"id", "statusQueryGetUri", "sendEventPostUri", "terminatePostUri",
                              "purgeHistoryDeleteUri", "suspendPostUri", "resumePostUri"}
        assert links["statusQueryGetUri"].startswith(
            f"{host.base_url}/runtime/webhooks/durabletask/instances/{links['id']}?")
        status = await _poll_status(session, links["statusQueryGetUri"])
        assert status["output"] == ["Hello Kyiv!", "Hello Lima!"]
        async with session.get(f"{host.base_url}/api/status/{links['id']}") as response:
            assert (await response.json())["runtimeStatus"] == "Completed"
        async with session.get(f"{host.base_url}/api/status/missing") as response:
            assert response.status == 404       # the client's get_status was falsy


async def test_management_api_raises_events_and_shows_history_and_custom_status(host):
    base = f"{host.base_url}/runtime/webhooks/durabletask"
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{base}/orchestrators/approval/appr-1") as response:
            assert response.status == 202
        async with session.get(f"{base}/instances/appr-1") as response:
            assert response.status == 202
        async with session.post(f"{base}/instances/appr-1/raiseEvent/Approval",
                                json={"by": "sre"}) as response:
            assert response.status == 202
        status = await _poll_status(session, f"{base}/instances/appr-1")
        assert status["output"] == {"approved": {"by": "sre"}}
        assert status["customStatus"] == "approved"
        async with session.get(f"{base}/instances/appr-1?showHistory=true"
                               "&showHistoryOutput=true") as response:
            history = (await response.json())["historyEvents"]
        assert any(e["EventType"] == "EventRaised" and e["Name"] == "Approval" for e in history)
        async with session.post(f"{base}/instances/appr-1/raiseEvent/Approval",
                                json=1) as response:
            assert response.status == 410
        async with session.post(f"{base}/instances/nope/raiseEvent/Approval",
                                json=1) as response:
            assert response.status == 404


async def test_management_api_terminates_lists_and_purges(host):
    base = f"{host.base_url}/durabletask"
    async with aiohttp.ClientSession() as session:
        await session.post(f"{base}/orchestrators/two_events/t-1")
        async with session.post(f"{base}/instances/t-1/terminate?reason=stop") as response:
            assert response.status == 202
        status = await _poll_status(session, f"{base}/instances/t-1")
        assert status["runtimeStatus"] == "Terminated" and status["output"] == "stop"
        async with session.get(f"{base}/instances/?runtimeStatus=Terminated") as response:
            assert [s["instanceId"] for s in await response.json()] == ["t-1"]
        async with session.delete(f"{base}/instances/t-1") as response:
            assert (await response.json()) == {"instancesDeleted": 1}
        async with session.get(f"{base}/instances/t-1") as response:
            assert response.status == 404


async def test_http_function_gets_request_and_returns_its_response(host):
    async with aiohttp.ClientSession() as session, \
            session.post(f"{host.base_url}/api/echo?code=anything&x=1", data="hi") as response:
        assert response.status == 201
        assert response.headers["X-Echo"] == "yes"
        body = await response.json()
    assert body == {"method": "POST", "query": {"code": "anything", "x": "1"}, "body": "hi"}


async def test_a_route_parameter_takes_any_segment_braces_included(host):
    # aiohttp's default placeholder refuses "{" and "}": the server answered its own plain-text
    # 404 and the function never ran
    async with aiohttp.ClientSession() as session, \
            session.get(f"{host.base_url}/api/status/%7Bno%20such%7D") as response:
        assert response.status == 404
        assert await response.text() == "not found"  # the function's answer, not the server's


async def test_event_grid_webhook_validates_then_delivers_events(host):
    url = f"{host.base_url}/runtime/webhooks/EventGrid?functionName=on_grid_event"
    sample_app.GRID_EVENTS.clear()
    validation = [{"id": "v", "eventType": "Microsoft.EventGrid.SubscriptionValidationEvent",
                   "subject": "", "data": {"validationCode": "abc123"},
                   "eventTime": "2030-01-01T00:00:00Z", "dataVersion": "1", "topic": "t"}]
    event = {"id": "e1", "eventType": "Microsoft.KeyVault.SecretNewVersionCreated",
             "subject": "db-password", "topic": "/vaults/v", "data": {"ObjectName": "db"},
             "eventTime": "2030-01-01T00:00:00Z", "dataVersion": "1"}
    cloud = {"specversion": "1.0", "id": "c1", "source": "/vaults/v", "subject": "s",
             "type": "Microsoft.KeyVault.SecretNearExpiry", "data": {"ObjectName": "x"}}
    async with aiohttp.ClientSession() as session:
        async with session.post(url, json=validation,
                                headers={"aeg-event-type": "SubscriptionValidation"}) as r:
            assert (await r.json()) == {"validationResponse": "abc123"}
        async with session.post(url, json=[event, cloud],
                                headers={"aeg-event-type": "Notification"}) as response:
            assert response.status == 202
    assert sample_app.GRID_EVENTS == [
        {"id": "e1", "type": "Microsoft.KeyVault.SecretNewVersionCreated",
         "subject": "db-password", "data": {"ObjectName": "db"}},
        {"id": "c1", "type": "Microsoft.KeyVault.SecretNearExpiry", "subject": "s",
         "data": {"ObjectName": "x"}}]


async def test_admin_endpoint_runs_a_timer_function_now(host):
    sample_app.TIMER_FIRES.clear()
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{host.base_url}/admin/functions/nightly",
                                json={"input": ""}) as response:
            assert response.status == 202
        async with session.post(f"{host.base_url}/admin/functions/missing",
                                json={}) as response:
            assert response.status == 404
    assert sample_app.TIMER_FIRES == [False]


async def test_our_function_app_is_hosted(tmp_path):
    import function_app

    with LocalHost(function_app.app, state_dir=tmp_path, port=0) as host:
        async with aiohttp.ClientSession() as session, \
                session.get(f"{host.base_url}/api/health") as response:
            assert response.status == 200
            assert json.loads(await response.text())["status"] == "ok"


def test_an_app_indexed_elsewhere_first_can_still_be_hosted():
    import azure.durable_functions as df
    import azure.functions as func

    from engine.functions import index_app

    app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)

    @app.route(route="ping")
    def ping(req: func.HttpRequest) -> func.HttpResponse:
        return func.HttpResponse("pong")

    assert [f.get_function_name() for f in app.get_functions()] == ["ping"]
    assert list(index_app(app).of_type("httpTrigger")) == ["ping"]


def test_timer_schedules_resolve_percent_expressions_from_app_settings(monkeypatch):
    from engine.host import resolve_app_setting

    monkeypatch.setenv("SYNC_SCHEDULE", "0 */5 * * * *")
    monkeypatch.delenv("MISSING_SCHEDULE", raising=False)
    assert resolve_app_setting("%SYNC_SCHEDULE%") == "0 */5 * * * *"
    assert resolve_app_setting("%MISSING_SCHEDULE%") is None
    assert resolve_app_setting("0 0 * * * *") == "0 0 * * * *"


def test_timer_triggers_fire_on_their_cron_schedule(tmp_path):
    import threading

    import azure.durable_functions as df
    import azure.functions as func

    fired = threading.Event()
    every_second = df.DFApp()

    @every_second.timer_trigger(schedule="* * * * * *", arg_name="timer")
    def tick(timer: func.TimerRequest) -> None:
        fired.set()

    with LocalHost(every_second, state_dir=tmp_path / "state", port=0):
        assert fired.wait(10), "the every-second timer never fired"


# -- the Event Grid webhook at the edges ----------------------------------------------------------

GOOD_EVENT = {"id": "e1", "eventType": "Microsoft.KeyVault.SecretNewVersionCreated",
              "subject": "db", "topic": "/vaults/v", "data": {"ObjectName": "db"},
              "eventTime": "2030-01-01T00:00:00.1234567Z", "dataVersion": "1"}


def _without(key: str) -> dict:
    return {k: v for k, v in GOOD_EVENT.items() if k != key}


@pytest.mark.parametrize("body", [
    json.dumps([_without("eventType")]),
    json.dumps([{**GOOD_EVENT, "eventTime": "yesterday"}]),
    json.dumps([{**GOOD_EVENT, "eventTime": "9999-12-31T23:59:59-05:00"}]),
    json.dumps([{**GOOD_EVENT, "data": "a string"}]),
    json.dumps([GOOD_EVENT, {**GOOD_EVENT, "id": ""}]),  # one bad event: none is delivered
    json.dumps([{"specversion": "1.0", "id": "c1", "source": "/s", "type": "t",
                 "time": "soon"}]),
    json.dumps([{"eventType": "Microsoft.EventGrid.SubscriptionValidationEvent", "id": "v",
                 "subject": "", "eventTime": "2030-01-01T00:00:00Z", "data": "code"}]),
    "[1]", '"x"', "null", "[]", "{not json", "[" * 100_000 + "]" * 100_000,
], ids=["no-eventType", "eventTime-not-a-time", "eventTime-out-of-range", "data-a-string",
        "one-bad-in-batch", "cloudevent-bad-time", "validation-data-a-string", "[1]", '"x"',
        "null", "empty-array", "not-json", "nested-too-deeply"])
async def test_event_grid_answers_400_with_a_stable_code_and_invokes_nothing(host, body,
                                                                             caplog):
    # Event Grid retries a 5xx for 24 h; a 400 goes to the dead-letter container at once
    sample_app.GRID_EVENTS.clear()
    caplog.set_level(logging.WARNING, logger="engine.host")
    url = f"{host.base_url}/runtime/webhooks/EventGrid?functionName=on_grid_event"
    async with aiohttp.ClientSession() as session, session.post(
            url, data=body, headers={"aeg-event-type": "Notification",
                                     "Content-Type": "application/json"}) as response:
        assert response.status == 400
        error = (await response.json())["error"]
    assert error["code"] == "eventgrid.malformed" and error["message"]
    assert "Traceback" not in error["message"]
    assert sample_app.GRID_EVENTS == []
    [record] = [r for r in caplog.records if r.name == "engine.host"]
    assert record.exc_info is None and "eventgrid.malformed" in record.getMessage()


async def test_event_grid_answers_the_cloudevents_abuse_protection_handshake(host):
    url = f"{host.base_url}/runtime/webhooks/EventGrid?functionName=on_grid_event"
    async with aiohttp.ClientSession() as session:
        async with session.options(url, headers={
                "WebHook-Request-Origin": "eventgrid.azure.net"}) as response:
            assert response.status == 200
            assert response.headers["WebHook-Allowed-Origin"] == "eventgrid.azure.net"
            assert response.headers["Allow"] == "POST"
        missing = f"{host.base_url}/runtime/webhooks/EventGrid?functionName=nope"
        async with session.options(missing, headers={
                "WebHook-Request-Origin": "eventgrid.azure.net"}) as response:
            assert response.status == 404


class _Endless:
    """A chunked request body far larger than any limit. It pauses after ``pause_at`` bytes
    until the answer is in (a host that must read everything first gets the rest after a
    while), so ``sent_when_answered`` says how much the host took before answering."""

    def __init__(self, total: int = 256 * 1024 * 1024, pause_at: int = 16 * 1024 * 1024
                 ) -> None:
        self.total, self.pause_at, self.sent = total, pause_at, 0
        self.answered = asyncio.Event()

    async def __aiter__(self):
        chunk = b"[" + b" " * (256 * 1024 - 1)
        paused = False
        while self.sent < self.total and not self.answered.is_set():  # answered: stop
            if self.sent >= self.pause_at and not paused:
                paused = True  # once; no answer by then: a host that reads it all gets it all
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.answered.wait(), 30)
            self.sent += len(chunk)
            yield chunk


async def _post_streamed(url: str, body: _Endless) -> tuple[int, dict, int]:
    """Status, JSON answer, and how much of the body had been sent when the answer came."""
    async with aiohttp.ClientSession() as session, \
            session.post(url, data=body.__aiter__()) as response:
        sent_when_answered = body.sent
        body.answered.set()
        return response.status, await response.json(), sent_when_answered


async def test_an_oversized_event_grid_delivery_is_413_without_being_read_whole(host):
    url = f"{host.base_url}/runtime/webhooks/EventGrid?functionName=on_grid_event"
    body = _Endless()
    status, answer, sent = await _post_streamed(url, body)
    assert (status, answer["error"]["code"]) == (413, "eventgrid.too_large")
    assert sent <= body.pause_at   # answered near its 1 MiB limit, not after reading all
    declared = json.dumps([{**GOOD_EVENT, "data": {"pad": "x" * (1024 * 1024)}}])
    async with aiohttp.ClientSession() as session, session.post(url, data=declared) as response:
        assert response.status == 413    # Content-Length alone says it is too large


async def test_an_oversized_http_trigger_body_is_413_without_being_read_whole(tmp_path):
    with LocalHost(sample_app.app, state_dir=tmp_path / "state", port=0,
                   max_request_body_bytes=64 * 1024) as small:
        body = _Endless()
        status, answer, sent = await _post_streamed(f"{small.base_url}/api/echo", body)
        assert (status, answer["error"]["code"]) == (413, "request.too_large")
        assert sent <= body.pause_at
        async with aiohttp.ClientSession() as session, \
                session.post(f"{small.base_url}/api/echo", data="x" * 1000) as response:
            assert response.status == 201


async def test_the_http_body_limit_follows_the_functions_app_setting(tmp_path, monkeypatch):
    monkeypatch.setenv("FUNCTIONS_REQUEST_BODY_SIZE_LIMIT", "1024")
    with LocalHost(sample_app.app, state_dir=tmp_path / "state", port=0) as limited:
        async with aiohttp.ClientSession() as session:
            async with session.post(f"{limited.base_url}/api/echo", data="x" * 1025) as r:
                assert r.status == 413
            async with session.post(f"{limited.base_url}/api/echo", data="x" * 1024) as r:
                assert r.status == 201


@pytest.mark.parametrize("body", ['{"input": "{not json"}', "not json", '{"input": "[1]"}',
                                  json.dumps({"input": json.dumps(_without("id"))})])
async def test_admin_run_of_an_event_grid_function_rejects_malformed_input(host, body):
    sample_app.GRID_EVENTS.clear()
    async with aiohttp.ClientSession() as session, session.post(
            f"{host.base_url}/admin/functions/on_grid_event", data=body) as response:
        assert response.status == 400
        assert (await response.json())["error"]["code"] == "eventgrid.malformed"
    assert sample_app.GRID_EVENTS == []
