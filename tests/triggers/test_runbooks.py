"""The runbook HTTP starters and the status endpoint, through the local host."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.host import LocalHost
from support.runbooks import call as _call
from support.runbooks import hosted_app
from support.sync import SyncEnv


@pytest.fixture
def hosted(tmp_path: Path) -> Iterator[tuple[SyncEnv, LocalHost]]:
    yield from hosted_app(tmp_path)


@pytest.mark.parametrize("raw", [
    b'{"dry_run": true, "extra": 1}',
    b'{"dry_run": "yes"}',
    b'{"targets": "west"}',
    b'{"targets": ["mars"]}',
    b'{"targets": []}',
    b'[1, 2]',
    b'not json',
])
def test_a_bad_full_sync_request_is_400_and_starts_nothing(hosted, raw: bytes) -> None:
    _env, host = hosted
    status, body = _call(host, "POST", "/api/runbooks/full-sync", raw=raw)
    assert status == 400
    assert body["error"]["code"] == "runbook.bad_request"
    assert body["error"]["message"]
    assert host.engine.list_instances() == []


def test_a_full_sync_request_starts_the_runbook_and_its_status_is_readable(hosted) -> None:
    env, host = hosted
    env.emu.secret_client("east").set_secret("via-http", "via-http-value")
    status, body = _call(host, "POST", "/api/runbooks/full-sync", {"dry_run": False})
    assert status == 202
    assert body["id"] == "full-sync" and "statusQueryGetUri" in body

    deadline = time.monotonic() + 60
    while True:
        status, run = _call(host, "GET", "/api/runbooks/full-sync")
        if run["runtime_status"] in ("Completed", "Failed") or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert status == 200 and run["runtime_status"] == "Completed", run
    assert run["output"]["status"] == "succeeded"
    assert run["output"]["counts"]["create"] == {"secret": 1}
    assert run["custom_status"]["phase"] == "done"

    status, replication = _call(host, "GET", "/api/status")
    assert status == 200
    pair = replication["pairs"][0]
    assert (replication["primary"], replication["epoch"]) == ("east", 1)
    assert (pair["source"], pair["target"]) == ("east", "west")
    assert pair["last_full_sync"]["status"] == "succeeded"
    assert pair["last_full_sync"]["drift"] == 0
    assert pair["estimated_lag_seconds"] is not None and pair["within_rpo"] is True
    assert {"last_event", "events_pending", "events_failed"} <= set(pair)


@pytest.mark.parametrize("instance_id", [
    "no-such-instance",
    # ids no instance can have: "?" sent the Durable client to the instance list (a 500),
    # "#" cut its URL short, over 100 characters is over Durable's limit
    "%3F", "a%3Fb", "%23", "%5C", "x" * 101, "%7Bx%7D",
    # "." and ".." (also spelled %2e): the Durable client's URL dropped the dot segment and
    # read the instance list, a JSON list it could not take for a status (a TypeError, a 500)
    ".", "%2e", "%2E%2E", "%2e.",
])
def test_an_unknown_runbook_instance_is_404_with_a_code(hosted, instance_id: str) -> None:
    _env, host = hosted
    status, body = _call(host, "GET", f"/api/runbooks/{instance_id}")
    assert status == 404
    assert body["error"]["code"] == "runbook.not_found"


def test_a_dry_run_gets_its_own_instance(hosted) -> None:
    _env, host = hosted
    status, body = _call(host, "POST", "/api/runbooks/full-sync", {"dry_run": True})
    assert status == 202 and body["id"].startswith("full-sync-dry-run-")


def test_an_id_with_a_percent_escape_names_no_other_instance(hosted) -> None:
    """The id "%66ull-sync-…" (sent as %2566…) is not "full-sync-…": the Durable client's URL
    used to decode the "%66" a second time and answer with the other instance's status."""
    _env, host = hosted
    status, body = _call(host, "POST", "/api/runbooks/full-sync", {"dry_run": True})
    assert status == 202
    status, run = _call(host, "GET", f"/api/runbooks/{body['id']}")
    assert status == 200 and run["instance_id"] == body["id"]
    alias = "%2566" + body["id"][1:]  # the handler's id: "%66ull-sync-dry-run-…"
    status, answer = _call(host, "GET", f"/api/runbooks/{alias}")
    assert status == 404, answer
    assert answer["error"]["code"] == "runbook.not_found"


# --- listing active runbooks past the first page -----------------------------------------------


def _waiting_app():  # type: ignore[no-untyped-def]
    """Orchestrators that wait for an event, so they stay Running: one named like the failover
    runbook, one anonymous."""
    import azure.durable_functions as df
    import azure.functions as func

    from kvdr.catalogue import Orchestrator

    app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)

    @app.function_name(Orchestrator.FAILOVER)
    @app.orchestration_trigger(context_name="context")
    def failover_waits(context: df.DurableOrchestrationContext):  # type: ignore[no-untyped-def]
        yield context.wait_for_external_event("Go")

    @app.orchestration_trigger(context_name="context")
    def waiter(context: df.DurableOrchestrationContext):  # type: ignore[no-untyped-def]
        yield context.wait_for_external_event("Go")

    return app


def test_a_running_failover_beyond_the_first_page_of_instances_is_still_found(
    tmp_path: Path,
) -> None:
    import asyncio
    import json

    import azure.durable_functions as df
    from azure.durable_functions.models.utils import http_utils

    from engine.management_api import client_binding
    from kvdr.catalogue import Orchestrator
    from triggers.failover import active_topology_runbook
    from triggers.instances import statuses_by
    from triggers.runbooks import ACTIVE

    http_utils._client_session = None  # bound to another host's event loop
    with LocalHost(_waiting_app(), state_dir=tmp_path / "host", port=0) as host:
        host.management.page_size = 2
        waiters = [host.engine.start_new("waiter", instance_id=f"waiter-{i}") for i in range(5)]
        failover = host.engine.start_new(Orchestrator.FAILOVER, instance_id="failover-late")
        expected = {*waiters, failover}  # Pending or Running: active either way
        client = df.DurableOrchestrationClient(
            json.dumps(client_binding(host.engine, host.base_url)))

        async def query() -> tuple[str | None, list[str], int]:
            first_page = await client.get_status_by(runtime_status=list(ACTIVE))
            listed = await statuses_by(client, ACTIVE)
            return (await active_topology_runbook(client),
                    [s.instance_id for s in listed], len(first_page))

        found, listed, first_page = asyncio.run(query())
    assert first_page == 2  # the management API pages; the SDK's call reads one page
    assert sorted(listed) == sorted(expected)
    assert found == failover
