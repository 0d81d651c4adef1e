"""Each activity family works through the services it is handed, and nothing else: here the
process has no services installed and fetching them fails, while each family is built with
services pointed at the emulator (the SDK clients against real vaults, no mocks)."""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator
from contextlib import closing
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest

import kvdr.services
from activities.drill import DrillActivities
from activities.failover import FailoverActivities
from activities.sync import SyncActivities
from emulator.testing import Emulator
from kvdr.config.schema import Config
from kvdr.drill.contracts import MeasureRequest, PreflightRequest
from kvdr.drill.measure import PROBE_SECRET_NAME
from kvdr.events.handler import EventHandler
from kvdr.failover.contracts import AssessRequest, SwitchRequest
from kvdr.failover.contracts import VerifyRequest as FailoverVerifyRequest
from kvdr.services import Runtime, configure, local_runtime
from kvdr.state.store import StateStore
from kvdr.sync.contracts import BatchRequest, PairPlanRequest, TopologyRequest, VerifyRequest
from kvdr.topology.reading import read_topology
from kvdr.topology.record import TopologyRecord, initial_record
from kvdr.topology.store import write_topology
from kvdr.vault.session import VaultSession
from support.sync import US_PAIR, emulator_config

ACTIVITIES = Path(__file__).resolve().parents[2] / "activities"


@dataclass
class HandedIn:
    """Services a family is handed (what :class:`activities.services.SyncServices` asks
    for), kept by a local runtime of the emulator's vaults; every session opened is recorded."""

    runtime: Runtime
    opened: list[tuple[str, bool]] = field(default_factory=list)

    @property
    def config(self) -> Config:
        return self.runtime.config

    @property
    def state(self) -> StateStore:
        return self.runtime.state

    @property
    def fingerprint_key(self) -> bytes:
        return self.runtime.fingerprint_key

    def open_session(self, region: str, *, probe: bool = False) -> VaultSession:
        self.opened.append((region, probe))
        return self.runtime.open_session(region, probe=probe)

    def suspect(self, regions: Iterable[str]) -> None:
        self.runtime.suspect(regions)

    def is_suspect(self, region: str) -> bool:
        return self.runtime.is_suspect(region)


@dataclass
class Vaults:
    emu: Emulator
    services: HandedIn


def _not_fetched(env: object) -> Runtime:
    raise AssertionError("an activity family fetched the process's services")


@pytest.fixture
def vaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Vaults]:
    """east and west, fresh; the process holds no services and cannot build any."""
    previous = configure(None)
    monkeypatch.setattr(kvdr.services, "runtime_from_env", _not_fetched)
    try:
        with Emulator(US_PAIR) as emu:
            runtime = local_runtime(emulator_config(emu, ["east", "west"]), tmp_path, env={})
            try:
                yield Vaults(emu, HandedIn(runtime))
            finally:
                runtime.close()
    finally:
        configure(previous)


def test_the_sync_family_copies_through_the_services_it_is_handed(vaults: Vaults) -> None:
    vaults.emu.secret_client("east").set_secret("handed-in", "handed-in-value")
    sync = SyncActivities(vaults.services)

    topology = sync.read_topology(TopologyRequest())
    assert (topology.ok, topology.primary, topology.targets) == (True, "east", ("west",))
    plan = sync.plan_pair(PairPlanRequest("run-1", "east", "west", False, topology.epoch,
                                          "2026-01-01T00:00:00Z"))
    assert plan.ok and plan.batches == 1
    executed = sync.execute_batch(BatchRequest("run-1", "east", "west", 0, topology.epoch))
    assert [(o.name, o.ok) for o in executed.result.outcomes] == [("handed-in", True)]
    verified = sync.verify_pair(VerifyRequest("run-1", "east", "west", 1, topology.epoch,
                                              plan.target_items))
    assert verified.ok and verified.checked == 1 and verified.unverified_count == 0

    west = vaults.emu.secret_client("west").get_secret("handed-in")
    assert west.value == "handed-in-value"
    assert {region for region, _probe in vaults.services.opened} == {"east", "west"}
    assert ("east", True) in vaults.services.opened  # the topology read's probe sessions
    assert vaults.services.state.list_keys("plans/run-1/")


def test_the_failover_family_switches_and_tells_the_event_handler_it_is_handed(
        vaults: Vaults) -> None:
    runtime = vaults.services.runtime
    with closing(runtime.open_session("east")) as east, \
            closing(runtime.open_session("west")) as west:
        for session in (east, west):
            write_topology(session, initial_record("east", changed_at=datetime.now(UTC)))
    events = EventHandler()
    assert events.topology.get(runtime).primary == "east"  # cached, as the event path does
    failover = FailoverActivities(vaults.services, events)

    assessed = failover.assess(AssessRequest("run-1", target="west"))
    assert assessed.assessment.unreachable == {}
    record = TopologyRecord("west", 2, datetime.now(UTC), "test", "handed in", "run-1")
    switched = failover.switch(SwitchRequest("run-1", record.to_dict(), 1, ("east",)))
    assert switched.ok and switched.fenced == ("west", "east")
    assert failover.verify(FailoverVerifyRequest("run-1", "west", 2)).ok

    assert events.topology.get(runtime).primary == "west"  # forgotten, so read again
    assert events.topology.reads == 2
    with closing(runtime.open_session("east")) as east:
        assert read_topology(east) == record
    assert {region for region, _probe in vaults.services.opened} == {"east", "west"}


def test_the_drill_family_measures_with_the_services_and_clocks_it_is_handed(
        vaults: Vaults) -> None:
    runtime = vaults.services.runtime
    with closing(runtime.open_session("east")) as east, \
            closing(runtime.open_session("west")) as west:
        for session in (east, west):
            write_topology(session, initial_record("east", changed_at=datetime.now(UTC)))
    vaults.emu.secret_client("east").set_secret("pending-one", "pending-value")
    ticks = iter(range(100))
    drill = DrillActivities(vaults.services, clock=lambda: float(next(ticks)))

    pre = drill.preflight(PreflightRequest("drill-1")).preflight
    assert (pre.primary, pre.measure_rpo) == ("east", ("west",))
    rpo = drill.measure_rpo(MeasureRequest("drill-1", "east", "west", pre.epoch)).check
    assert rpo.counts["pending"] == 1 and rpo.passed
    rto = drill.rehearse_rto(MeasureRequest("drill-1", "east", "west", pre.epoch)).check
    assert rto.passed
    assert rto.steps == {"read_topology": 1.0, "write_probe": 1.0, "read_back": 1.0}

    probe = vaults.emu.secret_client("west").get_secret(PROBE_SECRET_NAME)
    assert probe.properties.tags
    assert {region for region, _probe in vaults.services.opened} == {"east", "west"}


def _names(tree: ast.AST) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.alias):
            found.add(node.name)
        elif isinstance(node, ast.Attribute):
            found.add(node.attr)
        elif isinstance(node, ast.Name):
            found.add(node.id)
    return found


def test_only_the_composition_root_fetches_the_process_services() -> None:
    fetching = [path.relative_to(ACTIVITIES.parent).as_posix()
                for path in sorted(ACTIVITIES.rglob("*.py"))
                if "get_runtime" in _names(ast.parse(path.read_text(encoding="utf-8")))]
    assert fetching == ["activities/functions.py"]
