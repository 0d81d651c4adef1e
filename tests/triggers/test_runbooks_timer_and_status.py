"""The full-sync timer's singleton/primary rule, the status lag rule and progress lines."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import azure.durable_functions as df

from emulator.testing import Emulator
from kvdr.services import local_runtime
from kvdr.status import _lag
from kvdr.sync.progress import Phase, SyncProgress, combine, render_line
from support.sync import US_PAIR, emulator_config
from triggers.timers import maybe_start


class RecordingClient:
    """Stands in for the Durable client: answers get_status, records start_new."""

    def __init__(self, running: bool = False) -> None:
        self.running = running
        self.started: list[tuple[str, str, Any]] = []

    async def get_status(self, instance_id: str) -> Any:
        if not self.running:
            return SimpleNamespace(runtime_status=df.OrchestrationRuntimeStatus.Completed)
        return SimpleNamespace(runtime_status=df.OrchestrationRuntimeStatus.Running)

    async def start_new(self, name: str, instance_id: str, body: Any) -> str:
        self.started.append((name, instance_id, body))
        return instance_id


def _runtime(emu: Emulator, tmp_path: Path, local: str):
    config = emulator_config(emu, ["east", "west"])
    data = config.to_dict()
    data["topology"]["local_region"] = local
    from kvdr.config.loading import load_dict

    return local_runtime(load_dict(data), tmp_path, env={})


def test_only_the_primarys_app_starts_the_scheduled_sync_as_a_singleton(tmp_path) -> None:
    now = datetime(2026, 1, 1, 3, tzinfo=UTC)
    with Emulator(US_PAIR) as emu:
        secondary = _runtime(emu, tmp_path / "w", "west")
        client = RecordingClient()
        assert asyncio.run(maybe_start(secondary, client, now)) is None
        assert client.started == []

        primary = _runtime(emu, tmp_path / "e", "east")
        assert asyncio.run(maybe_start(primary, client, now)) == "full-sync"
        assert client.started == [("full_sync", "full-sync",
                                   {"dry_run": False, "run_id": "full-sync-20260101T030000Z"})]

        busy = RecordingClient(running=True)
        assert asyncio.run(maybe_start(primary, busy, now)) is None
        assert busy.started == []
        for runtime in (primary, secondary):
            runtime.close()


def test_estimated_lag_is_the_event_lag_while_healthy_else_the_full_sync_age() -> None:
    now = datetime(2026, 1, 1, 12, tzinfo=UTC)
    sync = {"status": "succeeded",
            "finished_at": (now - timedelta(minutes=30)).isoformat().replace("+00:00", "Z")}
    healthy = {"received": 5, "failed": 0, "pending": 0, "lag_seconds_max": 4.5}
    assert _lag(now, sync, healthy) == (4.5, "event path")
    assert _lag(now, sync, {**healthy, "failed": 1}) == (1800.0, "since last full sync")
    assert _lag(now, None, {}) == (None, "no successful full sync yet")


def test_progress_combines_a_runs_statuses_into_one_line_per_target() -> None:
    statuses = [
        SyncProgress(Phase.PLAN, "west").to_dict(),
        SyncProgress(Phase.EXECUTE, "west", 3, 10, 150, 500).to_dict(),
        SyncProgress(Phase.EXECUTE, "west", 2, 10, 100, 500).to_dict(),
        {"unrelated": True}, None,
    ]
    best = combine(statuses)
    assert best["west"].batches_done == 3
    line = render_line("plan", best)
    assert line == "full sync: west: execute 150/500 items (30%), batch 3/10"
    assert render_line("topology", {}) == "full sync: topology"
