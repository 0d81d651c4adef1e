"""`kvdr status` as a monitoring probe: exit 0 only when every vault answers, the topology
records agree and every pair is within its RPO; otherwise exit 1 with each problem listed
(run as an operator runs it: a subprocess against emulated vaults)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from emulator.testing import Emulator
from kvdr.topology.record import TopologyRecord
from kvdr.vault.links import TOPOLOGY_SECRET_NAME
from support.cli import run_kvdr, two_regions, write_toml

T0 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    yield from two_regions()


@pytest.fixture
def synced(emulator: Emulator, tmp_path: Path) -> Path:
    """A kvdr.toml whose pair has just been synced (status healthy)."""
    config = write_toml(emulator, tmp_path / "kvdr.toml")
    emulator.secret_client("east").set_secret("app-setting", "value-1")
    assert run_kvdr("sync", "--config", str(config), "--quiet", cwd=tmp_path).returncode == 0
    return config


def status(config: Path, *extra: str):
    return run_kvdr("status", "--config", str(config), *extra, cwd=config.parent)


def put_record(emulator: Emulator, vault: str, primary: str, epoch: int) -> None:
    record = TopologyRecord(primary, epoch, T0 + timedelta(hours=epoch), "test", "test")
    with emulator.secret_client(vault) as client:
        client.set_secret(TOPOLOGY_SECRET_NAME, record.to_json())


def test_a_healthy_pair_exits_0(synced: Path) -> None:
    done = status(synced)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "problem" not in done.stdout


def test_an_unreachable_vault_exits_1_naming_it(emulator: Emulator, synced: Path) -> None:
    emulator.down("west")
    done = status(synced)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "problem: west: cannot read the topology record [vault.unreachable]" in done.stdout


def test_a_split_topology_exits_1(emulator: Emulator, synced: Path) -> None:
    put_record(emulator, "east", "east", 2)
    put_record(emulator, "west", "west", 2)
    done = status(synced, "--json")
    assert done.returncode == 1, done.stdout + done.stderr
    body = json.loads(done.stdout)
    assert body["topology"]["split_brain"] is True
    assert any("split brain" in p for p in body["problems"])


def test_a_stale_topology_record_exits_1_naming_the_region(emulator: Emulator,
                                                           synced: Path) -> None:
    put_record(emulator, "east", "east", 2)  # west still holds epoch 1
    done = status(synced)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "problem: west: holds topology epoch 1, older than epoch 2" in done.stdout


def test_a_pair_over_its_rpo_exits_1(synced: Path) -> None:
    report = synced.parent / ".kvdr" / "state" / "sync" / "last-report.json"
    record = json.loads(report.read_text())
    record["finished_at"] = "2000-01-01T00:00:00Z"  # the last full sync is long past the RPO
    report.write_text(json.dumps(record))
    done = status(synced)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "** over RPO **" in done.stdout
    assert "problem: east -> west is over its RPO" in done.stdout


def test_a_failed_drill_shows_no_missing_figures(emulator: Emulator, synced: Path) -> None:
    emulator.down("west")
    try:
        drill = run_kvdr("drill", "--config", str(synced), "--quiet", cwd=synced.parent)
    finally:
        emulator.up("west")
    assert drill.returncode == 1, drill.stdout + drill.stderr
    done = status(synced)
    drill_line = next(line for line in done.stdout.splitlines() if "last drill" in line)
    assert "failed" in drill_line and "None" not in drill_line
