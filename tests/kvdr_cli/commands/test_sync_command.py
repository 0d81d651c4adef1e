"""`kvdr sync` and `kvdr status` as an operator runs them: a subprocess against an emulator
started by the test."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from emulator.testing import Emulator
from support.cli import run_kvdr as _kvdr
from support.cli import two_regions
from support.cli import write_toml as _toml


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    yield from two_regions()


@pytest.mark.slow
def test_kvdr_sync_runs_the_runbook_locally_and_prints_the_report(emulator, tmp_path) -> None:
    emulator.secret_client("east").set_secret("cli-secret", "cli-value-123")
    config = _toml(emulator, tmp_path / "kvdr.toml")
    state = tmp_path / "state"

    dry = _kvdr("sync", "--config", str(config), "--state-dir", str(state), "--dry-run",
                cwd=tmp_path)
    assert dry.returncode == 0, dry.stderr
    assert "dry run: nothing written" in dry.stdout

    done = _kvdr("sync", "--config", str(config), "--state-dir", str(state), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "sync east -> west" in done.stdout and "succeeded" in done.stdout
    assert "full sync:" in done.stderr  # progress lines (not a TTY: plain lines)
    assert "cli-value-123" not in done.stdout + done.stderr
    assert emulator.secret_client("west").get_secret("cli-secret").value == "cli-value-123"

    again = _kvdr("sync", "--config", str(config), "--state-dir", str(state), "--json",
                  cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    report = json.loads(again.stdout)
    assert set(report["counts"]) == {"unchanged"} and report["status"] == "succeeded"

    status = _kvdr("status", "--config", str(config), "--state-dir", str(state), "--json",
                   cwd=tmp_path)
    assert status.returncode == 0, status.stderr
    pair = json.loads(status.stdout)["pairs"][0]
    assert pair["target"] == "west" and pair["last_full_sync"]["status"] == "succeeded"


def test_a_bad_configuration_exits_2_naming_the_setting(tmp_path) -> None:
    config = tmp_path / "kvdr.toml"
    config.write_text('[topology]\ninitial_primary = "east"\n')
    result = _kvdr("sync", "--config", str(config), "--state-dir", str(tmp_path / "s"),
                   cwd=tmp_path)
    assert result.returncode == 2
    assert "regions" in result.stderr and "configuration error" in result.stderr


def test_a_missing_configuration_file_exits_2(tmp_path) -> None:
    result = _kvdr("status", "--config", str(tmp_path / "nope.toml"), cwd=tmp_path)
    assert result.returncode == 2 and "not found" in result.stderr


def _split(emulator: Emulator) -> None:
    from datetime import UTC, datetime

    from kvdr.topology.record import TopologyRecord
    from kvdr.vault.links import TOPOLOGY_SECRET_NAME

    for vault in ("east", "west"):  # both claim to be primary at epoch 2
        record = TopologyRecord(vault, 2, datetime(2026, 1, 1, tzinfo=UTC), "test", "test")
        emulator.secret_client(vault).set_secret(TOPOLOGY_SECRET_NAME, record.to_json())


def test_a_dry_run_stopped_by_a_split_topology_names_its_regions(emulator, tmp_path) -> None:
    config = _toml(emulator, tmp_path / "kvdr.toml")
    _split(emulator)

    done = _kvdr("sync", "--config", str(config), "--quiet", "--dry-run", cwd=tmp_path)

    assert done.returncode == 1, done.stderr
    header = done.stdout.splitlines()[0]
    assert header.startswith("sync (primary unknown) -> east, west (dry run: nothing written): "
                             "failed"), header
    assert "[topology.split_brain]" in done.stdout


def test_a_sync_settles_a_split_topology_by_the_rule_and_runs(emulator, tmp_path) -> None:
    """Two records at one epoch (two regions' runbooks switched at once): the sync writes the
    rule's pick (same time: the region name, east) over the rival, no operator needed."""
    import json

    from kvdr.vault.links import TOPOLOGY_SECRET_NAME

    config = _toml(emulator, tmp_path / "kvdr.toml")
    _split(emulator)

    done = _kvdr("sync", "--config", str(config), "--quiet", cwd=tmp_path)

    assert done.returncode == 0, done.stdout + done.stderr
    for vault in ("east", "west"):
        held = json.loads(emulator.secret_client(vault).get_secret(TOPOLOGY_SECRET_NAME).value)
        assert (held["primary"], held["epoch"]) == ("east", 2), vault
