"""`kvdr restore` killed with SIGKILL during the execute phase, then run again with the same
``--state-dir``: the runbook resumes from its checkpoint and every item ends restored by exactly
one version — no duplicate, whatever the kill interrupted.

The kill is deterministic, never timed: an emulator write observer (called inside the vault,
after a restored version is stored and before the response is sent) SIGKILLs the `kvdr`
process, which dies having written a version whose success it never learnt of (and whose
restore mark it never confirmed) — the worst moment for an idempotent activity.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from emulator.testing import Emulator
from kvdr.restore.marks import MARK_TAG, RestoreMark
from kvdr.services import local_runtime
from kvdr.topology.store import current_topology
from kvdr_cli.emulated import emulator_document, to_toml
from support.cli import REGIONS, ROOT, two_regions

pytestmark = pytest.mark.slow

GOOD, BAD = "crash-good-value-3a7c", "crash-bad-value-5d20"  # never printed
ROTATED = tuple(f"crash-restore-{i:02d}" for i in range(12))
BATCH_SIZE = 4  # 12 items -> 3 batches, so a kill lands inside one with others in flight
RUN_TIMEOUT = 180


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    yield from two_regions()


@pytest.fixture
def options(emulator: Emulator, tmp_path: Path) -> list[str]:
    config = tmp_path / "kvdr.toml"
    config.write_text(to_toml(emulator_document(
        {name: emulator.url(name) for name in REGIONS}, emulator.ca_cert,
        pacing={"batch_size": BATCH_SIZE})))
    state = tmp_path / "state"
    runtime = local_runtime(config, state)
    try:
        current_topology(runtime.config, runtime.sessions())
    finally:
        runtime.close()
    return ["--config", str(config), "--state-dir", str(state)]


class Killer:
    """SIGKILLs the process at the ``nth`` restored version stored in east."""

    def __init__(self, nth: int) -> None:
        self.nth, self.seen, self.pid = nth, 0, None
        self.fired = threading.Event()

    def __call__(self, vault: str, kind: str, name: str, version: str) -> None:
        if self.pid is None or self.fired.is_set() or kind != "secrets" or name not in ROTATED:
            return
        self.seen += 1
        if self.seen == self.nth:
            os.kill(self.pid, signal.SIGKILL)
            self.fired.set()


def kvdr(args: list[str], cwd: Path, tag: str, killer: Killer | None = None
         ) -> tuple[int, str, str]:
    """``python -m kvdr_cli ARGS`` as an operator runs it (no KVDR_* settings), its output in
    files (a pipe nobody reads could block it)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KVDR_")}
    env["PYTHONPATH"] = str(ROOT)
    out, err = cwd / f"{tag}.stdout", cwd / f"{tag}.stderr"
    with out.open("wb") as fout, err.open("wb") as ferr:
        proc = subprocess.Popen([sys.executable, "-m", "kvdr_cli", *args], cwd=cwd, env=env,
                                stdin=subprocess.DEVNULL, stdout=fout, stderr=ferr)
    if killer is not None:
        killer.pid = proc.pid
    try:
        code = proc.wait(RUN_TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(30)
        raise
    return code, out.read_text(errors="replace"), err.read_text(errors="replace")


def damaged(emu: Emulator) -> str:
    """Every name written good, TIME, then overwritten bad; returns TIME (ISO 8601)."""
    east = emu.secret_client("east")
    for name in ROTATED:
        east.set_secret(name, f"{GOOD}-{name}")
    emu.advance(2)
    at = emu.clock.now().isoformat()
    emu.advance(2)
    for name in ROTATED:
        east.set_secret(name, f"{BAD}-{name}")
    emu.advance(2)
    return at


def assert_restored_exactly_once(emu: Emulator) -> None:
    east = emu.secret_client("east")
    for name in ROTATED:
        versions = list(east.list_properties_of_secret_versions(name))
        marked = [p for p in versions if MARK_TAG in (p.tags or {})]
        assert len(versions) == 3, f"{name}: {len(versions)} versions (good, bad, restore)"
        assert len(marked) == 1, f"{name}: {len(marked)} restore versions"
        latest = east.get_secret(name)
        assert latest.value == f"{GOOD}-{name}"
        mark = RestoreMark.parse(latest.properties.tags[MARK_TAG])
        assert mark.own_version == latest.properties.version  # confirmed after the resume


@pytest.mark.parametrize("nth", [1, BATCH_SIZE + 2],
                         ids=["first-restored-version", "mid-execute"])
def test_a_killed_restore_resumes_and_restores_every_item_exactly_once(
        emulator: Emulator, options: list[str], tmp_path: Path, nth: int) -> None:
    at = damaged(emulator)
    args = ["restore", "--as-of", at, "--yes", *options]
    killer = Killer(nth)
    observers = emulator.store("east").observers
    observers.append(killer)
    try:
        killed = kvdr(args, tmp_path, "killed", killer)
    finally:
        observers.remove(killer)
    assert killer.fired.is_set(), f"the kill point was never reached: {killed[2]}"
    assert killed[0] == -signal.SIGKILL, killed[2]

    code, out, err = kvdr(args, tmp_path, "rerun")

    assert code == 0, err
    assert "resuming the unfinished restore" in err
    assert ": succeeded" in out
    assert_restored_exactly_once(emulator)
    for text in (*killed[1:], out, err):
        assert GOOD not in text and BAD not in text
