"""``POST /api/runbooks/restore`` through the local host: what the HTTP API answers, what it
starts, and that a started restore waits for its approval on the shared approve route and then
completes (its behaviour in depth is tests/orchestrators/test_restore.py)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from engine.host import LocalHost
from kvdr.topology.store import current_topology
from support.runbooks import call, hosted_app
from support.sync import SyncEnv

Host = tuple[SyncEnv, LocalHost]
GOOD, BAD = "http-restore-good-2f9e", "http-restore-bad-7a41"


@pytest.fixture
def hosted(tmp_path: Path) -> Iterator[Host]:
    """east primary at epoch 1, the app on a LocalHost."""
    for env, host in hosted_app(tmp_path):
        current_topology(env.config, env.runtime.sessions())
        yield env, host


def wait_for(host: LocalHost, instance_id: str, done: Callable[[dict[str, Any]], bool],
             timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        status, body = call(host, "GET", f"/api/runbooks/{instance_id}")
        assert status == 200, body
        if done(body) or time.monotonic() > deadline:
            return body
        time.sleep(0.1)


def finished(body: dict[str, Any]) -> bool:
    return body["runtime_status"] in ("Completed", "Failed", "Terminated")


def awaiting_approval(body: dict[str, Any]) -> bool:
    return finished(body) or (body.get("custom_status") or {}).get("phase") == \
        "awaiting_approval"


def damaged(env: SyncEnv) -> str:
    """One secret written good, TIME, then overwritten bad; returns TIME."""
    east = env.emu.secret_client("east")
    east.set_secret("http-one", GOOD)
    env.emu.advance(2)
    at = env.emu.clock.now().isoformat()
    env.emu.advance(2)
    east.set_secret("http-one", BAD)
    env.emu.advance(2)
    return at


def start_waiting(host: LocalHost, body: dict[str, Any]) -> str:
    status, answer = call(host, "POST", "/api/runbooks/restore", body)
    assert status == 202, answer
    run = wait_for(host, answer["id"], awaiting_approval)
    assert run["custom_status"]["phase"] == "awaiting_approval", run
    return answer["id"]


@pytest.mark.parametrize(("raw", "code", "says"), [
    (b"", "restore.bad_request", "send a JSON body"),
    (b"not json", "restore.bad_request", "not JSON"),
    (b'{"as_of": "2h", "purge": true}', "restore.bad_request", "unknown field"),
    (b'{"as_of": "2h", "dry_run": "no"}', "restore.bad_request", "boolean"),
    (b'{"as_of": "2h", "kinds": ["passwords"]}', "restore.bad_request", "unknown kind"),
    (b'{"as_of": "2h", "names": ["no_underscores"]}', "restore.bad_request", "glob"),
    (b'{"as_of": "2h", "approval_timeout_seconds": 5}', "restore.bad_request", "between 60"),
    (b"{}", "restore.bad_time", "as_of is required"),
    (b'{"as_of": "last tuesday"}', "restore.bad_time", "neither an ISO 8601 time"),
    (b'{"as_of": "2025-03-01T02:00:00"}', "restore.bad_time", "no time zone"),
    (b'{"as_of": "2999-01-01T00:00:00Z"}', "restore.bad_time", "in the future"),
    (b'{"as_of": "100d"}', "restore.bad_time", "more than 90 days ago"),
])
def test_a_bad_request_is_400_with_a_stable_code_and_starts_nothing(
        hosted: Host, raw: bytes, code: str, says: str) -> None:
    _env, host = hosted
    status, body = call(host, "POST", "/api/runbooks/restore", raw=raw)
    assert status == 400
    assert body["error"]["code"] == code
    assert says in body["error"]["message"]
    assert host.engine.list_instances() == []


def test_a_restore_is_accepted_waits_for_approval_and_completes_once_approved(
        hosted: Host) -> None:
    env, host = hosted
    at = damaged(env)
    status, body = call(host, "POST", "/api/runbooks/restore",
                        {"as_of": at, "names": ["http-*"], "kinds": ["secrets"],
                         "requested_by": "oncall@contoso", "reason": "bad deploy"})
    assert status == 202
    assert body["id"].startswith("restore-")
    assert {"statusQueryGetUri", "sendEventPostUri", "terminatePostUri"} <= set(body)

    run = wait_for(host, body["id"], awaiting_approval)
    assert run["name"] == "restore"
    plan = run["custom_status"]["plan"]
    assert plan["counts"]["roll_back"] == {"secret": 1}
    assert plan["preview"]["roll_back"] == ["secret http-one"]
    assert env.emu.secret_client("east").get_secret("http-one").value == BAD

    status, answer = call(host, "POST", f"/api/runbooks/{body['id']}/approve",
                          {"approved": True, "by": "lead@contoso"})
    assert status == 202 and answer == {"instance_id": body["id"], "approved": True}

    run = wait_for(host, body["id"], finished)
    assert run["runtime_status"] == "Completed", run
    report = run["output"]
    assert report["outcome"] == "succeeded" and report["counts"]["done"] == 1
    assert (report["requested_by"], report["reason"]) == ("oncall@contoso", "bad deploy")
    assert report["approval"]["by"] == "lead@contoso"
    assert run["custom_status"] == {"phase": "done", "outcome": "succeeded"}
    assert env.emu.secret_client("east").get_secret("http-one").value == GOOD
    assert GOOD not in str(run) and BAD not in str(run)

    # approving again: it no longer waits
    status, answer = call(host, "POST", f"/api/runbooks/{body['id']}/approve",
                          {"approved": True, "by": "lead@contoso"})
    assert status == 409 and answer["error"]["code"] == "runbook.not_awaiting_approval"


def test_a_pipeline_may_skip_the_approval(hosted: Host) -> None:
    env, host = hosted
    at = damaged(env)
    status, body = call(host, "POST", "/api/runbooks/restore",
                        {"as_of": at, "approval_required": False})
    assert status == 202
    run = wait_for(host, body["id"], finished)
    assert run["output"]["outcome"] == "succeeded"
    assert run["output"]["approval"]["required"] is False


def test_a_second_restore_is_409_while_one_runs(hosted: Host) -> None:
    env, host = hosted
    first = start_waiting(host, {"as_of": damaged(env)})
    status, body = call(host, "POST", "/api/runbooks/restore", {"as_of": "1h"})
    assert status == 409
    assert body["error"]["code"] == "runbook.already_running"
    assert body["error"]["instance_id"] == first
    call(host, "POST", f"/api/runbooks/{first}/approve", {"approved": False, "by": "me"})
    assert wait_for(host, first, finished)["output"]["outcome"] == "rejected"


def test_a_restore_is_409_while_a_failover_runs_and_does_not_block_one(hosted: Host) -> None:
    env, host = hosted
    at = damaged(env)
    status, failover = call(host, "POST", "/api/runbooks/failover",
                            {"target": "west", "reason": "r", "approval_required": True})
    assert status == 202
    wait_for(host, failover["id"], awaiting_approval)
    status, body = call(host, "POST", "/api/runbooks/restore", {"as_of": at})
    assert status == 409
    assert body["error"]["code"] == "runbook.failover_running"
    assert body["error"]["instance_id"] == failover["id"]
    call(host, "POST", f"/api/runbooks/{failover['id']}/approve",
         {"approved": False, "by": "me"})
    wait_for(host, failover["id"], finished)

    # and the other way round: a waiting restore does not hold a failover back
    restore = start_waiting(host, {"as_of": at})
    status, failover = call(host, "POST", "/api/runbooks/failover",
                            {"target": "west", "reason": "r", "dry_run": True})
    assert status == 202, failover
    assert wait_for(host, failover["id"], finished)["output"]["outcome"] == "planned_only"
    call(host, "POST", f"/api/runbooks/{restore}/approve", {"approved": False, "by": "me"})
    wait_for(host, restore, finished)
