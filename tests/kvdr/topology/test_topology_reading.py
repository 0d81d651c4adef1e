"""Who is primary: one rule, for every caller — an unreachable vault and an unreadable record
hold no record that counts, alike (kvdr.topology.reading), through the emulator."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import ExitStack, closing
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from activities.drill import DrillActivities
from activities.failover import FailoverActivities
from activities.sync import SyncActivities
from emulator.testing import Emulator
from kvdr.alerts.primary import read_primary
from kvdr.drill.contracts import PreflightRequest
from kvdr.events.handler import process_handler
from kvdr.failover.contracts import AssessRequest
from kvdr.services import Runtime, local_runtime
from kvdr.status import build_status
from kvdr.sync.contracts import TopologyRequest
from kvdr.topology.reading import (
    NO_ANSWER_CODE,
    PrimaryReading,
    current_primary,
    read_records,
    read_records_within,
)
from kvdr.topology.record import TopologyRecord, assess_topology
from kvdr.topology.store import write_topology
from kvdr.vault.links import TOPOLOGY_SECRET_NAME
from support.sync import US_PAIR, emulator_config
from triggers.timers import current_primary as timer_primary
from triggers.timers import maybe_start

RECORD = TopologyRecord("east", 3, datetime(2026, 3, 1, 12, tzinfo=UTC), "ops", "failback")
BROKEN = "west"


@dataclass
class Setup:
    emu: Emulator
    runtime: Runtime


def _break(emu: Emulator, how: str) -> None:
    if how == "unreachable":
        emu.down(BROKEN)
    else:  # the vault answers, with a record that does not parse
        emu.secret_client(BROKEN).set_secret(TOPOLOGY_SECRET_NAME, "not json")


@pytest.fixture(params=["unreachable", "unreadable"])
def broken(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Setup]:
    """east holds epoch 3 (primary east); west is unreachable or holds an unreadable record."""
    with Emulator(US_PAIR) as emu:
        config = emulator_config(emu, ["east", "west"])
        runtime = local_runtime(config, tmp_path, env={})
        with closing(runtime.open_session("east")) as east:
            write_topology(east, RECORD)
        _break(emu, request.param)
        try:
            yield Setup(emu, runtime)
        finally:
            runtime.close()


def test_the_rule_leaves_an_unreachable_and_an_unreadable_vault_out_alike(broken: Setup) -> None:
    with ExitStack() as stack:
        reads = read_records({r: stack.enter_context(closing(broken.runtime.open_probe(r)))
                              for r in ("east", "west")})
    assert reads.records() == {"east": RECORD, "west": None}
    assert list(reads.failed()) == [BROKEN]
    assert current_primary(reads) == PrimaryReading("east", 3, split_brain=False)
    within = read_records_within(broken.runtime.open_probe, ["east", "west"], seconds=30)
    assert within.records() == reads.records() and within.failed() == reads.failed()


def test_every_caller_names_the_same_primary_whichever_way_the_vault_failed(
        broken: Setup) -> None:
    runtime = broken.runtime

    status = build_status(runtime)
    assert (status.primary, status.epoch) == ("east", 3)
    assert any(p.startswith(f"{BROKEN}: cannot read the topology record [")
               for p in status.problems)

    assert timer_primary(runtime) == "east"
    assert read_primary(runtime, seconds=30) == PrimaryReading("east", 3)

    for dry_run in (True, False):
        sync = SyncActivities(runtime).read_topology(TopologyRequest(dry_run=dry_run))
        assert (sync.ok, sync.primary, sync.epoch, sync.targets) == (True, "east", 3, ("west",))
        assert runtime.is_suspect(BROKEN)

    assessment = FailoverActivities(runtime, process_handler()).assess(
        AssessRequest("run-1", target=BROKEN)).assessment
    records = {r: assessment.record(r) for r in assessment.records}
    assert records == {"east": RECORD, "west": None}
    assert assess_topology(records).current == RECORD

    pre = DrillActivities(runtime).preflight(PreflightRequest("drill-1")).preflight
    assert (pre.primary, pre.epoch) == ("east", 3)


def test_a_vault_that_does_not_answer_in_time_is_unreachable(tmp_path: Path) -> None:
    with Emulator(US_PAIR) as emu:
        runtime = local_runtime(emulator_config(emu, ["east", "west"]), tmp_path, env={})
        reads = read_records_within(runtime.open_probe, ["east", "west"], seconds=0)
        assert set(reads.unreachable().values()) <= {NO_ANSWER_CODE}
        runtime.close()


def test_the_timer_reads_the_primary_off_the_event_loop(tmp_path: Path) -> None:
    """While the timer waits for a vault that refuses connections, the event loop keeps serving
    other coroutines (the alert webhook)."""

    class Client:
        async def get_status(self, instance_id: str) -> None:
            return None

        async def start_new(self, *args: object) -> str:
            raise AssertionError("an app outside the primary's region starts no sync")

    ticks = 0

    async def other_trigger() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.01)

    async def run(runtime: Runtime) -> str | None:
        other = asyncio.create_task(other_trigger())
        try:
            return await maybe_start(runtime, Client(), datetime.now(UTC))  # type: ignore[arg-type]
        finally:
            other.cancel()

    with Emulator(US_PAIR) as emu:
        runtime = local_runtime(emulator_config(emu, ["east", "west"]), tmp_path, env={})
        emu.down(BROKEN)
        try:
            assert runtime.config.topology.local_region != "east"
            assert asyncio.run(run(runtime)) is None
        finally:
            runtime.close()
    assert ticks > 1  # the loop ran while the probes retried
