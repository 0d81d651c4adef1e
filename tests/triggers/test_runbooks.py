"""The runbook HTTP starters and the status endpoint, through the local host."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from runbook_support import call as _call
from runbook_support import hosted_app
from sync_support import SyncEnv

from engine.host import LocalHost


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


def test_an_unknown_runbook_instance_is_404_with_a_code(hosted) -> None:
    _env, host = hosted
    status, body = _call(host, "GET", "/api/runbooks/no-such-instance")
    assert status == 404
    assert body["error"]["code"] == "runbook.not_found"


def test_a_dry_run_gets_its_own_instance(hosted) -> None:
    _env, host = hosted
    status, body = _call(host, "POST", "/api/runbooks/full-sync", {"dry_run": True})
    assert status == 202 and body["id"].startswith("full-sync-dry-run-")
