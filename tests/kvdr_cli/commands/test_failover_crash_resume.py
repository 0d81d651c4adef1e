"""`kvdr failover` killed with SIGKILL at the points that matter, then run again with the same
``--state-dir``: the runbook resumes from its checkpoint and finishes with the epoch raised
exactly once, one topology record per epoch, and no drained item copied twice.

The kill is deterministic, never timed: an emulator write observer (called inside the vault,
after the write is stored and before its response is sent) sends SIGKILL to the `kvdr`
process, so the process dies having written something whose success it never learnt of —
the worst moment for an idempotent activity.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from emulator.testing import Emulator
from kvdr.services import local_runtime
from kvdr.topology.store import current_topology
from kvdr.vault.links import TOPOLOGY_SECRET_NAME
from kvdr_cli.emulated import emulator_document, to_toml
from support.cli import REGIONS, ROOT, two_regions

pytestmark = pytest.mark.slow

SECRET_VALUE = "crash-resume-value-8c2f"  # must never be printed
SEEDED = tuple(f"crash-resume-{i:02d}" for i in range(12))
BATCH_SIZE = 4  # 12 items -> 3 drain batches, so a kill can land between and inside batches
RUN_TIMEOUT = 180


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    yield from two_regions()


@pytest.fixture
def options(emulator: Emulator, tmp_path: Path) -> list[str]:
    """east primary at epoch 1 in both vaults, small drain batches; the config/state options."""
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


# --- the kill -----------------------------------------------------------------------------------


def _topology_epoch(emu: Emulator, vault: str, name: str, version: str) -> int | None:
    """The epoch a just-stored version of the topology secret holds (the store lock is held
    by the caller: the observer runs inside the vault's write)."""
    if name.lower() != TOPOLOGY_SECRET_NAME:
        return None
    item = emu.store(vault).get("secrets", name)
    stored = item.get(version) if item is not None else None
    return json.loads(stored.data["value"])["epoch"] if stored is not None else None


@dataclass(frozen=True)
class KillPoint:
    """Kill `kvdr` at the ``nth`` new version in ``vault`` that ``matches``."""

    vault: str
    matches: Callable[[Emulator, str, str, str], bool]
    nth: int = 1


def topology_record(vault: str, epoch: int) -> KillPoint:
    return KillPoint(vault, lambda emu, name, version, v=vault: (
        _topology_epoch(emu, v, name, version) == epoch))


def drain_copy(nth: int) -> KillPoint:
    return KillPoint("west", lambda emu, name, version: name in SEEDED, nth)


class Killer:
    """The observer: counts matching writes and SIGKILLs the process at the chosen one."""

    def __init__(self, emu: Emulator, point: KillPoint) -> None:
        self.emu, self.point = emu, point
        self.pid: int | None = None
        self.seen = 0
        self.fired = threading.Event()

    def __call__(self, vault: str, kind: str, name: str, version: str) -> None:
        if self.pid is None or self.fired.is_set() or kind != "secrets":
            return
        if not self.point.matches(self.emu, name, version):
            return
        self.seen += 1
        if self.seen == self.point.nth:
            os.kill(self.pid, signal.SIGKILL)
            self.fired.set()


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str


def kvdr_process(args: list[str], cwd: Path, tag: str) -> tuple[subprocess.Popen[bytes],
                                                                 Callable[[], Run]]:
    """``python -m kvdr_cli ARGS`` as :func:`cli_support.run_kvdr` runs it (same env), with its
    output in files (a pipe nobody reads could block it); the callable waits and collects."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KVDR_")}
    env["PYTHONPATH"] = str(ROOT)
    out, err = cwd / f"{tag}.stdout", cwd / f"{tag}.stderr"
    with out.open("wb") as fout, err.open("wb") as ferr:
        proc = subprocess.Popen([sys.executable, "-m", "kvdr_cli", *args], cwd=cwd, env=env,
                                stdin=subprocess.DEVNULL, stdout=fout, stderr=ferr)

    def collect() -> Run:
        try:
            code = proc.wait(RUN_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(30)
            raise
        return Run(code, out.read_text(errors="replace"), err.read_text(errors="replace"))

    return proc, collect


def killed_then_rerun(emu: Emulator, args: list[str], point: KillPoint, cwd: Path
                      ) -> tuple[Run, Run]:
    killer = Killer(emu, point)
    observers = emu.store(point.vault).observers
    observers.append(killer)
    try:
        proc, collect = kvdr_process(args, cwd, "killed")
        killer.pid = proc.pid
        killed = collect()
    finally:
        observers.remove(killer)
    assert killer.fired.is_set(), (
        f"the kill point was never reached (exit {killed.returncode}): {killed.stderr}")
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    _proc, collect = kvdr_process(args, cwd, "rerun")
    return killed, collect()


# --- what must hold afterwards ------------------------------------------------------------------


def topology_versions(emu: Emulator, vault: str) -> list[tuple[str, int]]:
    """(primary, epoch) of every version of the vault's topology record."""
    client = emu.secret_client(vault)
    found = []
    for props in client.list_properties_of_secret_versions(TOPOLOGY_SECRET_NAME):
        record = json.loads(client.get_secret(TOPOLOGY_SECRET_NAME, props.version).value)
        found.append((record["primary"], record["epoch"]))
    return found


def assert_switched_once(emu: Emulator, vaults: tuple[str, ...]) -> None:
    for vault in vaults:
        latest = json.loads(emu.secret_client(vault).get_secret(TOPOLOGY_SECRET_NAME).value)
        assert (latest["primary"], latest["epoch"]) == ("west", 2), vault
        # epoch 1 (initial) and exactly one epoch-2 record: no second, different switch write
        assert sorted(topology_versions(emu, vault), key=lambda r: r[1]) == [
            ("east", 1), ("west", 2)], vault


def assert_drained_once(emu: Emulator) -> None:
    west = emu.secret_client("west")
    for name in SEEDED:
        versions = list(west.list_properties_of_secret_versions(name))
        assert len(versions) == 1, f"{name}: {len(versions)} versions in west"
        assert west.get_secret(name).value == f"{SECRET_VALUE}-{name}"


def assert_resumed_and_completed(killed: Run, rerun: Run, kind: str) -> None:
    assert rerun.returncode == 0, rerun.stderr
    assert f"resuming the unfinished {kind} runbook to west" in rerun.stderr
    assert f"{kind} east -> west: completed (epoch 1 -> 2)" in rerun.stdout
    for run in (killed, rerun):
        assert SECRET_VALUE not in run.stdout + run.stderr


def seed_east(emu: Emulator) -> None:
    east = emu.secret_client("east")
    for name in SEEDED:
        east.set_secret(name, f"{SECRET_VALUE}-{name}")


# --- the tests ----------------------------------------------------------------------------------


@pytest.mark.parametrize("point", [
    drain_copy(1),                 # the first copy stored, its batch never reported back
    drain_copy(BATCH_SIZE + 2),    # inside a later batch, earlier batches checkpointed or not
    topology_record("west", 2),    # the switch wrote the new primary's record, nothing else
    topology_record("east", 2),    # ... and fenced the old primary; verify and report not run
], ids=["first-drain-copy", "mid-drain", "switch-wrote-west", "switch-fenced-east"])
def test_a_killed_planned_failover_resumes_and_switches_exactly_once(
        emulator: Emulator, options: list[str], tmp_path: Path, point: KillPoint) -> None:
    seed_east(emulator)
    args = ["failover", "--target", "west", "--reason", "east maintenance", "--yes", *options]

    killed, rerun = killed_then_rerun(emulator, args, point, tmp_path)

    assert_resumed_and_completed(killed, rerun, "planned")
    assert_switched_once(emulator, REGIONS)
    assert_drained_once(emulator)


def test_a_killed_unplanned_failover_resumes_and_switches_exactly_once(
        emulator: Emulator, options: list[str], tmp_path: Path) -> None:
    args = ["failover", "--unplanned", "--target", "west", "--reason", "east region outage",
            "--yes", *options]
    emulator.down("east")
    try:
        killed, rerun = killed_then_rerun(emulator, args, topology_record("west", 2), tmp_path)
        assert_resumed_and_completed(killed, rerun, "unplanned")
        assert "not reached: east" in rerun.stdout
        assert_switched_once(emulator, ("west",))  # the only reachable vault
    finally:
        emulator.up("east")
    # east, down throughout, keeps its old record until a failback; readers take the highest
    assert topology_versions(emulator, "east") == [("east", 1)]
