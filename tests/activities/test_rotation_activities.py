"""The rotation scan activity decides whether it may publish before it lists anything: only
with publishing on, only in the primary's region's app, only while a fresh topology read still
names the primary; a queue outage is an envelope, never a raised error."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from activities.rotation import RotationActivities
from emulator.testing import Emulator
from kvdr.config.schema import Config, Rotation, Topology
from kvdr.rotation.contracts import ScanRequest, ScanResult
from kvdr.rotation.publisher import queue_publisher
from kvdr.services import Runtime, local_runtime
from kvdr.topology.record import initial_record
from kvdr.topology.store import write_topology
from kvdr.vault.inventory import format_time
from support.sync import US_PAIR, emulator_config

DEAD_QUEUE = ("DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;"
              "QueueEndpoint=http://127.0.0.1:9/devstoreaccount1;")


class Refusing:
    """Counts what it is asked to publish (for the cases that must ask for nothing)."""

    def __init__(self) -> None:
        self.asked = 0

    def publish(self, message) -> None:
        self.asked += 1

    def describe(self) -> dict:
        return {"enabled": True}


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[Emulator, Config]]:
    with Emulator(US_PAIR) as emu:
        config = emulator_config(emu, ["east", "west"])
        runtime = local_runtime(config, tmp_path, env={})
        record = initial_record("east", changed_at=datetime.now(UTC))
        for session in runtime.sessions().values():
            write_topology(session, record)
        runtime.close()
        with emu.secret_client("east") as client:
            client.set_secret("due-soon", "v", expires_on=datetime.now(UTC) + timedelta(days=2))
        yield emu, config


def _scan(config: Config, tmp_path: Path, publisher, primary: str = "east") -> ScanResult:
    runtime: Runtime = local_runtime(config, tmp_path, env={})
    try:
        activities = RotationActivities(runtime, publisher_for=lambda _config: publisher)
        return activities.scan(ScanRequest("run-1", primary, 1,
                                           format_time(datetime.now(UTC)) or ""))
    finally:
        runtime.close()


def test_nothing_is_published_with_publishing_off(world, tmp_path) -> None:
    _, config = world
    result = _scan(config, tmp_path, None)
    assert result.ok and result.skipped == "publishing off" and result.due == 0


def test_only_the_primarys_region_app_publishes(world, tmp_path) -> None:
    _, config = world
    refusing = Refusing()
    secondary_app = replace(config, topology=Topology("east", local_region="west"))
    result = _scan(secondary_app, tmp_path, refusing)
    assert result.skipped == "this app runs in west, not the primary's region"
    primary_app = replace(config, topology=Topology("east", local_region="east"))
    assert _scan(primary_app, tmp_path / "p", refusing).published == 1
    assert refusing.asked == 1


def test_a_sync_whose_primary_is_no_longer_primary_publishes_nothing(world, tmp_path) -> None:
    _, config = world
    refusing = Refusing()
    result = _scan(config, tmp_path, refusing, primary="west")  # the records say east
    assert result.skipped == "the primary is now east" and refusing.asked == 0


def test_a_queue_outage_is_an_envelope_and_writes_no_marker(world, tmp_path) -> None:
    emu, config = world
    dead = queue_publisher({"Dead": DEAD_QUEUE}, "kvdr-rotation", "Dead", retry_total=0)
    result = _scan(replace(config, rotation=Rotation("kvdr-rotation", "Dead")), tmp_path, dead)
    assert not result.ok and result.error["code"] == "rotation.publish_failed"
    assert (result.due, result.published) == (1, 0)
    with emu.secret_client("east") as client:
        assert not [p for p in client.list_properties_of_secrets()
                    if p.name.startswith("kvdr-rotation-")]
    assert ScanResult.from_dict(result.to_dict()) == result
