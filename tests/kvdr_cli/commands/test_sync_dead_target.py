"""`kvdr sync` against a target whose vault is down gives up within seconds, as failover and
drill do: a dead vault is asked through probe sessions (a few short retries), never through
the full 1, 2, 4, 8, 16 s backoff of every list call."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from emulator.server import DownMode
from emulator.testing import Emulator
from kvdr.vault.session import PROBE_BACKOFF
from support.cli import run_kvdr, two_regions, write_toml

PROBE_ATTEMPTS = len(PROBE_BACKOFF) + 1  # a probe read: the first try and its short retries


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    yield from two_regions()


@pytest.mark.parametrize("mode", [DownMode.REFUSE, DownMode.UNAVAILABLE])
def test_a_sync_to_a_dead_target_fails_after_probe_reads_only(emulator: Emulator,
                                                              tmp_path: Path,
                                                              mode: DownMode) -> None:
    config = write_toml(emulator, tmp_path / "kvdr.toml")
    emulator.secret_client("east").set_secret("app-setting", "value-1")
    assert run_kvdr("sync", "--config", str(config), "--quiet", cwd=tmp_path).returncode == 0
    emulator.down("west", mode)

    done = run_kvdr("sync", "--config", str(config), "--quiet", "--json", cwd=tmp_path)

    assert done.returncode == 1, done.stderr
    record = json.loads(done.stdout)
    assert record["status"] == "failed"
    assert [(e["target"], e["code"]) for e in record["errors"]] == [
        ("west", "vault.unreachable" if mode is DownMode.REFUSE else "vault.unavailable")]
    # the topology read and the pair's plan each asked west once through a probe session;
    # a full session would have retried each of six lists five times
    assert record["calls"]["west"] <= 2 * PROBE_ATTEMPTS
    assert "west" in record["errors"][0]["message"]
