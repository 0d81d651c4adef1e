"""`kvdr drill` against emulated vaults, run the way an operator runs it (a subprocess)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from emulator.testing import Emulator
from support.cli import run_kvdr, two_regions, write_toml

SECRET_VALUE = "cli-drill-value-9b2c"  # must never be printed


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    yield from two_regions()


def test_a_drill_on_a_synced_pair_passes_and_prints_its_report(emulator: Emulator,
                                                               tmp_path: Path) -> None:
    config = write_toml(emulator, tmp_path / "kvdr.toml")
    emulator.secret_client("east").set_secret("db-password", SECRET_VALUE)
    assert run_kvdr("sync", "--config", str(config), "--quiet", cwd=tmp_path).returncode == 0

    done = run_kvdr("drill", "--config", str(config), "--quiet", cwd=tmp_path)

    assert done.returncode == 0, done.stderr
    assert "PASSED — primary east at epoch 1" in done.stdout
    assert "[passed] rpo:west" in done.stdout and "[passed] rto:west" in done.stdout
    assert SECRET_VALUE not in done.stdout + done.stderr
    again = run_kvdr("drill", "--config", str(config), "--quiet", "--json", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    report = json.loads(again.stdout)
    assert report["result"] == "passed" and report["targets"] == ["west"]


def test_a_drill_with_an_unreachable_secondary_fails_with_exit_code_1(emulator: Emulator,
                                                                      tmp_path: Path) -> None:
    config = write_toml(emulator, tmp_path / "kvdr.toml")
    assert run_kvdr("sync", "--config", str(config), "--quiet", cwd=tmp_path).returncode == 0
    emulator.down("west")
    try:
        done = run_kvdr("drill", "--config", str(config), "--quiet", cwd=tmp_path)
    finally:
        emulator.up("west")
    assert done.returncode == 1
    assert "FAILED" in done.stdout and "vaults_reachable" in done.stdout


def test_an_unknown_target_is_a_usage_error_and_runs_nothing(emulator: Emulator,
                                                             tmp_path: Path) -> None:
    config = write_toml(emulator, tmp_path / "kvdr.toml")
    done = run_kvdr("drill", "--config", str(config), "--target", "mars", cwd=tmp_path)
    assert done.returncode == 2
    assert "--target" in done.stderr and "mars" in done.stderr
    assert not (tmp_path / ".kvdr" / "engine").exists()
