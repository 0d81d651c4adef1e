"""The failover/failback starters and the approval gate, through the local host: what the HTTP
API answers, what it starts, and that a started runbook completes (its behaviour in depth is
tests/orchestrators/test_failover.py)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from engine.host import LocalHost
from kvdr.topology.record import TopologyRecord
from kvdr.topology.store import current_topology, read_topology, write_topology
from support.runbooks import call, hosted_app
from support.sync import SyncEnv

Host = tuple[SyncEnv, LocalHost]
VALID = {"target": "west", "reason": "east maintenance"}


@pytest.fixture
def hosted(tmp_path: Path) -> Iterator[Host]:
    """east primary at epoch 1 (the initial record in both vaults), the app on a LocalHost."""
    for env, host in hosted_app(tmp_path):
        current_topology(env.config, env.runtime.sessions())
        yield env, host


def records(env: SyncEnv) -> dict[str, tuple[str, int] | None]:
    found = {}
    for region in env.config.region_names:
        record = read_topology(env.runtime.session(region))
        found[region] = (record.primary, record.epoch) if record else None
    return found


def wait_for(host: LocalHost, instance_id: str, done: Callable[[dict[str, Any]], bool],
             timeout: float = 120) -> dict[str, Any]:
    """Poll ``GET /api/runbooks/{id}`` until ``done(body)``; the last body either way."""
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


def start_waiting(host: LocalHost) -> str:
    """A failover that waits for its approval; returns its instance id."""
    status, body = call(host, "POST", "/api/runbooks/failover",
                        {**VALID, "approval_required": True})
    assert status == 202, body
    run = wait_for(host, body["id"], awaiting_approval)
    assert run["custom_status"]["phase"] == "awaiting_approval", run
    return body["id"]


# --- starting -------------------------------------------------------------------------------


@pytest.mark.parametrize(("route", "raw", "says"), [
    ("failover", b"", "send a JSON body"),
    ("failover", b"not json", "not JSON"),
    ("failover", b'["west"]', "JSON object"),
    ("failover", b'{"target": "west", "reason": "r", "force": true}', "unknown field"),
    ("failover", b'{"target": "west", "reason": "r", "dry_run": "no"}', "boolean"),
    ("failover", b'{"target": "west", "reason": "r", "expected_epoch": true}', "whole number"),
    ("failover", b'{"reason": "r"}', "target is required"),
    ("failover", b'{"target": "mars", "reason": "r"}', "unknown target region"),
    ("failover", b'{"target": "west"}', "reason is required"),
    ("failover", b'{"target": "west", "reason": "r", "mode": "fast"}', "mode must be"),
    ("failover", b'{"target": "west", "reason": "r", "approval_timeout_seconds": 5}',
     "between 60"),
    ("failback", b'{"target": "east", "reason": "r", "mode": "unplanned"}',
     "not allowed for a failback"),
    ("failback", b"{}", "target is required"),
])
def test_a_bad_request_is_400_and_starts_nothing(hosted: Host, route: str, raw: bytes,
                                                  says: str) -> None:
    _env, host = hosted
    status, body = call(host, "POST", f"/api/runbooks/{route}", raw=raw)
    assert status == 400
    assert body["error"]["code"] == "runbook.bad_request"
    assert says in body["error"]["message"]
    assert host.engine.list_instances() == []


def test_a_planned_failover_is_accepted_with_status_urls_and_completes(hosted: Host) -> None:
    env, host = hosted
    status, body = call(host, "POST", "/api/runbooks/failover",
                        {**VALID, "requested_by": "oncall@contoso"})
    assert status == 202
    assert body["id"].startswith("planned-")
    assert {"statusQueryGetUri", "sendEventPostUri", "terminatePostUri"} <= set(body)
    assert body["id"] in body["statusQueryGetUri"]

    run = wait_for(host, body["id"], finished)
    assert run["runtime_status"] == "Completed", run
    assert run["name"] == "failover"
    report = run["output"]
    assert (report["kind"], report["outcome"]) == ("planned", "completed")
    assert (report["source"], report["target"]) == ("east", "west")
    assert (report["epoch_before"], report["epoch_after"]) == (1, 2)
    assert report["requested_by"] == "oncall@contoso" and report["reason"] == "east maintenance"
    assert report["run_id"] == body["id"]
    assert run["custom_status"] == {"phase": "done", "outcome": "completed"}
    assert records(env) == {"east": ("west", 2), "west": ("west", 2)}


def test_a_dry_run_is_accepted_and_only_plans(hosted: Host) -> None:
    env, host = hosted
    status, body = call(host, "POST", "/api/runbooks/failover", {**VALID, "dry_run": True})
    assert status == 202
    report = wait_for(host, body["id"], finished)["output"]
    assert report["outcome"] == "planned_only"
    assert report["plan"]["steps"] == ["reconcile", "drain", "switch", "verify"]
    assert records(env) == {"east": ("east", 1), "west": ("east", 1)}


def test_a_second_request_while_one_waits_for_approval_is_409_naming_it(hosted: Host) -> None:
    env, host = hosted
    waiting = start_waiting(host)
    for route, target in (("failover", "west"), ("failback", "east")):
        status, body = call(host, "POST", f"/api/runbooks/{route}",
                            {"target": target, "reason": "second"})
        assert status == 409, body
        assert body["error"]["code"] == "runbook.already_running"
        assert body["error"]["instance_id"] == waiting
        assert waiting in body["error"]["message"]
    assert [s.instance_id for s in host.engine.list_instances()] == [waiting]
    assert records(env)["west"] == ("east", 1)  # nothing switched while it waits


def test_the_failback_route_starts_a_failback(hosted: Host) -> None:
    env, host = hosted
    moved = TopologyRecord(primary="west", epoch=2, changed_at=datetime.now(UTC),
                           changed_by="test", reason="earlier unplanned failover")
    for region in env.config.region_names:
        write_topology(env.runtime.session(region), moved)
    status, body = call(host, "POST", "/api/runbooks/failback",
                        {"target": "east", "reason": "east is back"})
    assert status == 202 and body["id"].startswith("failback-")
    report = wait_for(host, body["id"], finished)["output"]
    assert (report["kind"], report["outcome"]) == ("failback", "completed")
    assert (report["source"], report["target"], report["epoch_after"]) == ("west", "east", 3)
    assert set(report["steps"]) == {"reconcile", "drain"}
    assert records(env) == {"east": ("east", 3), "west": ("east", 3)}


# --- the approval gate ----------------------------------------------------------------------


@pytest.mark.parametrize(("raw", "says"), [
    (b"", "send"),
    (b"yes", "send"),
    (b"[true]", "send"),
    (b'{"approved": "yes", "by": "lead"}', "approved must be true or false"),
    (b'{"by": "lead"}', "approved must be true or false"),
    (b'{"approved": true}', "by is required"),
    (b'{"approved": true, "by": "  "}', "by is required"),
    (b'{"approved": true, "by": "lead", "comment": 5}', "comment must be a string"),
    (b'{"approved": true, "by": "lead", "when": "now"}', "unknown field"),
])
def test_a_bad_approval_is_400_and_the_runbook_keeps_waiting(hosted: Host, raw: bytes,
                                                             says: str) -> None:
    _env, host = hosted
    waiting = start_waiting(host)
    status, body = call(host, "POST", f"/api/runbooks/{waiting}/approve", raw=raw)
    assert status == 400
    assert body["error"]["code"] == "runbook.bad_request"
    assert says in body["error"]["message"]
    _, run = call(host, "GET", f"/api/runbooks/{waiting}")
    assert run["custom_status"]["phase"] == "awaiting_approval"


@pytest.mark.parametrize("instance_id", [
    "no-such-runbook",
    # ids no instance can have: "?" sent the Durable client to the instance list (a 500),
    # "#" cut its URL short, over 100 characters is over Durable's limit
    "%3F", "a%3Fb", "%23", "%5C", "x" * 101, "%7Bx%7D",
    # "." and "..": the Durable client's URL dropped the dot segment and read the instance
    # list, which it could not take for a status (a TypeError, a 500)
    "%2e", "%2e%2E",
])
def test_approving_an_unknown_runbook_is_404(hosted: Host, instance_id: str) -> None:
    _env, host = hosted
    status, body = call(host, "POST", f"/api/runbooks/{instance_id}/approve",
                        {"approved": True, "by": "lead"})
    assert status == 404
    assert body["error"]["code"] == "runbook.not_found"


def test_an_approval_for_a_percent_escaped_id_is_404_and_the_runbook_keeps_waiting(
        hosted: Host) -> None:
    """The id "%66ailover-…" (sent as %2566…) is not "failover-…": the Durable client's URL
    decoded the "%66" a second time, so the approval read, and was sent to, the other one."""
    _env, host = hosted
    waiting = start_waiting(host)
    alias = "%25" + f"{ord(waiting[0]):02x}" + waiting[1:]
    status, body = call(host, "POST", f"/api/runbooks/{alias}/approve",
                        {"approved": True, "by": "lead"})
    assert status == 404, body
    assert body["error"]["code"] == "runbook.not_found"
    _, run = call(host, "GET", f"/api/runbooks/{waiting}")
    assert run["custom_status"]["phase"] == "awaiting_approval"


def test_approving_a_finished_runbook_is_409(hosted: Host) -> None:
    _env, host = hosted
    status, body = call(host, "POST", "/api/runbooks/failover", {**VALID, "dry_run": True})
    assert status == 202
    assert finished(wait_for(host, body["id"], finished))
    status, answer = call(host, "POST", f"/api/runbooks/{body['id']}/approve",
                          {"approved": True, "by": "lead"})
    assert status == 409
    assert answer["error"]["code"] == "runbook.not_awaiting_approval"
    assert answer["error"]["runtime_status"] == "Completed"


def test_an_approval_of_a_waiting_runbook_is_202_and_the_runbook_completes(
        hosted: Host) -> None:
    env, host = hosted
    waiting = start_waiting(host)
    status, body = call(host, "POST", f"/api/runbooks/{waiting}/approve",
                        {"approved": True, "by": "lead@contoso", "comment": "go"})
    assert status == 202
    assert body == {"instance_id": waiting, "approved": True}
    run = wait_for(host, waiting, finished)
    assert run["runtime_status"] == "Completed", run
    report = run["output"]
    assert report["outcome"] == "completed"
    assert report["approval"]["approved"] is True
    assert (report["approval"]["by"], report["approval"]["comment"]) == ("lead@contoso", "go")
    assert records(env) == {"east": ("west", 2), "west": ("west", 2)}


def test_a_rejection_of_a_waiting_runbook_is_202_and_changes_nothing(hosted: Host) -> None:
    env, host = hosted
    waiting = start_waiting(host)
    status, _ = call(host, "POST", f"/api/runbooks/{waiting}/approve",
                     {"approved": False, "by": "lead"})
    assert status == 202
    report = wait_for(host, waiting, finished)["output"]
    assert report["outcome"] == "rejected" and report["approval"]["by"] == "lead"
    assert records(env) == {"east": ("east", 1), "west": ("east", 1)}
    # the gate is closed: a second decision is refused
    status, answer = call(host, "POST", f"/api/runbooks/{waiting}/approve",
                          {"approved": True, "by": "someone else"})
    assert status == 409 and answer["error"]["code"] == "runbook.not_awaiting_approval"
