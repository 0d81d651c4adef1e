"""The drill starters: ``POST /api/runbooks/drill`` through the local host (202, 400, 409) and
the drill timer's primary-only rule."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import azure.durable_functions as df
import pytest

from emulator.testing import Emulator
from engine.host import LocalHost
from kvdr.config.loading import load_dict
from kvdr.services import local_runtime
from kvdr.topology.record import initial_record
from kvdr.topology.store import write_topology
from support.runbooks import call, hosted_app
from support.sync import US_PAIR, SyncEnv, emulator_config
from triggers.drill import maybe_start_drill

Status = df.OrchestrationRuntimeStatus


@pytest.fixture
def hosted(tmp_path: Path) -> Iterator[tuple[SyncEnv, LocalHost]]:
    yield from hosted_app(tmp_path)


def _call(host: LocalHost, method: str, path: str, raw: bytes | None = None
          ) -> tuple[int, Any]:
    return call(host, method, path, raw=raw)


@pytest.mark.parametrize("raw", [
    b'{"targets": ["west"], "dry_run": true}',
    b'{"targets": "west"}',
    b'{"targets": [1]}',
    b'{"targets": []}',
    b'{"targets": ["mars"]}',
    b'{"targets": ["west", "west"]}',
    b'["west"]',
    b'not json',
])
def test_a_bad_drill_request_is_400_and_starts_nothing(hosted, raw: bytes) -> None:
    _env, host = hosted
    status, body = _call(host, "POST", "/api/runbooks/drill", raw)
    assert status == 400
    assert body["error"]["code"] == "runbook.bad_request" and body["error"]["message"]
    assert host.engine.list_instances() == []


def test_a_drill_request_starts_the_drill_and_its_report_is_the_output(hosted) -> None:
    env, host = hosted
    record = initial_record("east", changed_at=datetime.now(UTC))
    for region in ("east", "west"):  # what the first full sync would have written
        write_topology(env.runtime.session(region), record)
    env.emu.secret_client("east").set_secret("app-key", "app-key-value")
    status, body = _call(host, "POST", "/api/runbooks/drill", b'{"targets": ["west"]}')
    assert status == 202 and body["id"] == "drill" and "statusQueryGetUri" in body

    deadline = time.monotonic() + 60
    while True:
        status, run = _call(host, "GET", "/api/runbooks/drill")
        if run["runtime_status"] in ("Completed", "Failed") or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert run["runtime_status"] == "Completed", run
    report = run["output"]
    assert report["run_id"].startswith("drill-") and report["targets"] == ["west"]
    # never synced: the secondary lacks one change, made moments ago (within the RPO)
    assert report["result"] == "passed", report["failed_checks"]
    assert report["measured"]["pending_changes"] == 1
    assert run["custom_status"]["phase"] == "done"
    assert "app-key-value" not in json.dumps(run)


def test_a_second_drill_while_one_runs_is_409(hosted) -> None:
    _env, host = hosted
    host.engine.stop()  # nothing runs: the first drill stays pending
    assert _call(host, "POST", "/api/runbooks/drill")[0] == 202
    status, body = _call(host, "POST", "/api/runbooks/drill")
    assert status == 409
    assert body["error"]["code"] == "runbook.already_running"
    assert body["error"]["instance_id"] == "drill"


def test_no_drill_while_a_failover_runs(hosted) -> None:
    _env, host = hosted
    host.engine.stop()  # the failover stays pending
    host.engine.start_new("failover", {"kind": "planned", "target": "west", "reason": "test"},
                          instance_id="failover-under-way")
    status, body = _call(host, "POST", "/api/runbooks/drill")
    assert status == 409
    assert body["error"]["code"] == "runbook.failover_running"
    assert body["error"]["instance_id"] == "failover-under-way"
    assert [s.instance_id for s in host.engine.list_instances()] == ["failover-under-way"]


# --- the timer ----------------------------------------------------------------------------------


class RecordingClient:
    """Stands in for the Durable client: answers get_status/get_status_by, records
    start_new."""

    def __init__(self, active: dict[str, str] | None = None) -> None:
        self.active = active or {}  # instance id -> orchestrator name
        self.started: list[tuple[str, str, Any]] = []

    async def get_status(self, instance_id: str) -> Any:
        running = instance_id in self.active
        return SimpleNamespace(instance_id=instance_id, name=self.active.get(instance_id),
                               runtime_status=Status.Running if running else Status.Completed)

    async def get_status_by(self, runtime_status: Any = None) -> list[Any]:
        return [SimpleNamespace(instance_id=i, name=n, runtime_status=Status.Running)
                for i, n in self.active.items()]

    async def start_new(self, name: str, instance_id: str, body: Any) -> str:
        self.started.append((name, instance_id, body))
        return instance_id


def _runtime(emu: Emulator, tmp_path: Path, local: str):
    data = emulator_config(emu, ["east", "west"]).to_dict()
    data["topology"]["local_region"] = local
    return local_runtime(load_dict(data), tmp_path, env={})


async def test_only_the_primarys_app_starts_the_scheduled_drill(tmp_path: Path) -> None:
    now = datetime(2026, 2, 1, 4, tzinfo=UTC)
    with Emulator(US_PAIR) as emu:
        secondary = _runtime(emu, tmp_path / "w", "west")
        primary = _runtime(emu, tmp_path / "e", "east")
        try:
            client = RecordingClient()
            assert await maybe_start_drill(secondary, client, now) is None
            assert client.started == []

            assert await maybe_start_drill(primary, client, now) == "drill"
            assert client.started == [("drill", "drill", {"run_id": "drill-20260201T040000Z"})]

            busy = RecordingClient({"drill": "drill"})
            assert await maybe_start_drill(primary, busy, now) is None
            failing_over = RecordingClient({"failover-1": "failover"})
            assert await maybe_start_drill(primary, failing_over, now) is None
            assert busy.started == failing_over.started == []
        finally:
            for runtime in (primary, secondary):
                runtime.close()
