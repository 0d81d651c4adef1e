"""Ctrl-C during `kvdr sync`: exit 130 at once, however often it is pressed, never a traceback,
and the next `kvdr sync` resumes the run from its checkpoint."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from emulator.testing import Emulator
from support.cli import ROOT, run_kvdr, two_regions, write_toml

SECRETS = 6


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    yield from two_regions()


def start_kvdr(*args: str, cwd: Path) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KVDR_")}
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.Popen([sys.executable, "-m", "kvdr_cli", *args], cwd=cwd, env=env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


@pytest.mark.slow
def test_a_double_ctrl_c_during_sync_exits_130_without_a_traceback_and_the_sync_resumes(
        emulator: Emulator, tmp_path: Path) -> None:
    config = write_toml(emulator, tmp_path / "kvdr.toml")
    fast = config.read_text()
    # one write per 10 s: the batch activity is still copying when Ctrl-C arrives
    config.write_text(fast + "\n[pacing]\nwrites_per_10s = 1\n")
    with emulator.secret_client("east") as east:
        for i in range(SECRETS):
            east.set_secret(f"interrupted-{i}", f"value-{i}")

    sync = start_kvdr("sync", "--config", str(config), cwd=tmp_path)
    assert sync.stderr is not None
    line = ""
    while "execute" not in line:  # the copy has started
        line = sync.stderr.readline()
        assert line, "kvdr sync ended before copying"
    sync.send_signal(signal.SIGINT)
    time.sleep(0.5)  # sequencing only: the second Ctrl-C comes while the first is handled
    sync.send_signal(signal.SIGINT)
    _, stderr = sync.communicate(timeout=120)

    assert sync.returncode == 130, stderr
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr
    assert "resumes from its checkpoint" in stderr

    config.write_text(fast)  # full speed for the resumed run
    resumed = run_kvdr("sync", "--config", str(config), "--quiet", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming the interrupted full sync" in resumed.stderr
    with emulator.secret_client("west") as west:
        assert {s.name for s in west.list_properties_of_secrets()} >= {
            f"interrupted-{i}" for i in range(SECRETS)}
