"""The local host: HTTP triggers, the real DurableOrchestrationClient against the management
API, Event Grid deliveries, timer triggers run on demand, and our own function_app."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
import sample_app

from engine.host import LocalHost


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
