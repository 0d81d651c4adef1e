"""Suite 2 of issue 13, crashes: `kvdr` SIGKILLed at a random moment of a full sync, an
unplanned failover, a failback and a planned failover, then run again with the same
``--state-dir`` until it completes.

One trial is a cycle over fresh vaults and one state directory, each runbook killed once (every
other trial: its resuming run killed too): seed east, full sync (east -> west, epoch 1); east
down, unplanned failover to west (epoch 2); east back, new secrets in west, failback to east
(epoch 3); new secrets in east, planned failover to west (epoch 4). A kill comes uniformly at
random within the runbook's run time (first checkpoint to end), as measured by one unkilled
cycle first (the seed is printed; the fast size always uses the same one). After every runbook:

- it completed exactly once: every run after a kill that left the runbook unfinished resumed
  it (the CLI's promise), one top-level instance ended ``completed`` and any other ended
  ``not_needed`` (started after a kill that came once the runbook had completed, before the
  process exited: the engine's SQLite checkpoints, read once the process is dead, say which),
  and the failover's saved reports say ``completed`` once. A rerun that did not resume an
  unfinished runbook fails the suite; when the checkpoints prove why (its engine's recovery
  finished the runbook before the command looked, and the command started another), the
  trials go on and the suite fails at the end with the proofs and the figures;
- the epoch rose exactly once: every vault holds one topology record version per epoch it was
  reached at, with the expected primary;
- parity: every secret of either vault is in the other with the same value and metadata, and
  every item holds exactly one version (each was written once), so no copy was duplicated;
- nothing leaked: the seeded values are in no file of the state directory (engine histories
  and the state store included) and in no output of any run.

The phase each kill reached is read from the engine's checkpoints and its distribution printed
(``-s``, also when a check failed), with the figures for the README's "Tested against" table.
Sizes: ``fast`` (2 trials per runbook) and ``large`` (``KVDR_RESILIENCE_SIZE=large``: 20 trials
per runbook); ``KVDR_CRASH_TRIALS`` overrides the count, ``KVDR_CRASH_SEED`` the seed.
"""

from __future__ import annotations

import json
import os
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path

import pytest

from emulator.server import VaultSpec
from emulator.testing import Emulator
from engine import Engine, ManualClock
from kvdr.services import local_runtime
from kvdr.topology.store import current_topology
from kvdr.vault.links import LINK_TAG, TOPOLOGY_SECRET_NAME, LinkTag
from kvdr_cli.emulated import emulator_document, to_toml
from support import sample_app
from support.cli import REGIONS
from support.crash_trials import (
    FINISHED,
    NOT_STARTED,
    Instance,
    Run,
    kill_point,
    last_runbook_instance,
    recovered_before_the_rerun_looked,
    run_killed,
    runbook_instances,
)
from support.leaks import LeakScanner, unique_secret_value
from support.parity import secret_parity
from support.polling import eventually

SIZE = os.environ.get("KVDR_RESILIENCE_SIZE", "fast").strip().lower() or "fast"
# per runbook; every other one kills twice. KVDR_CRASH_TRIALS overrides the size's count
# (a shorter large run on a loaded machine: report how many ran)
TRIALS = int(os.environ.get("KVDR_CRASH_TRIALS") or {"fast": 2, "large": 20}[SIZE])
# the fast size draws the same fractions of the kill windows every run; the large one explores
SEED = int(os.environ.get("KVDR_CRASH_SEED") or (2026 if SIZE == "fast" else
                                                 random.SystemRandom().randrange(10**6)))
ITEMS = 20        # seeded in east before the full sync
NEW_ITEMS = 8     # written to the primary before the failback and the planned failover
BATCH_SIZE = 4    # 20 items -> 5 batches: kills land between and inside batches

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300 if SIZE == "fast" else 7200)]


@dataclass(frozen=True)
class Runbook:
    label: str
    orchestrator: str
    args: tuple[str, ...]
    primary: str        # the primary once it has run
    epoch: int          # the epoch once it has run
    resumed: str        # what the rerun says when it resumes the killed run


_FAILOVER = ("--reason", "crash trial", "--yes", "--quiet")
RUNBOOKS = (
    Runbook("full sync", "full_sync", ("sync", "--quiet"), "east", 1,
            "resuming the interrupted full sync"),
    Runbook("unplanned failover", "failover",
            ("failover", "--unplanned", "--target", "west", *_FAILOVER), "west", 2,
            "resuming the unfinished unplanned runbook to west"),
    Runbook("failback", "failover", ("failback", "--target", "east", *_FAILOVER), "east", 3,
            "resuming the unfinished failback runbook to east"),
    Runbook("planned failover", "failover", ("failover", "--target", "west", *_FAILOVER),
            "west", 4, "resuming the unfinished planned runbook to west"),
)
PRIMARY_AT = {1: "east", 2: "west", 3: "east", 4: "west"}
# the epochs each vault holds a record of once the runbook has run (east is down during the
# unplanned failover, so it never sees epoch 2)
EPOCHS_AFTER = {"full sync": {"east": [1], "west": [1]},
                "unplanned failover": {"east": [1], "west": [1, 2]},
                "failback": {"east": [1, 3], "west": [1, 2, 3]},
                "planned failover": {"east": [1, 3, 4], "west": [1, 2, 3, 4]}}


@dataclass
class Figures:
    trials: Counter[str] = field(default_factory=Counter)
    kills: Counter[str] = field(default_factory=Counter)
    resumed: Counter[str] = field(default_factory=Counter)
    points: dict[str, Counter[str]] = field(default_factory=dict)
    lost: int = 0
    different: int = 0
    duplicated: int = 0
    # reruns that started another run instead of resuming the one a kill left unfinished,
    # each with the engine's proof (see assert_completed_once); must stay empty
    not_resumed: list[str] = field(default_factory=list)
    completed_once: Counter[str] = field(default_factory=Counter)  # runbooks that passed it
    epoch_once: Counter[str] = field(default_factory=Counter)      # ... the epoch check
    failed_at: str | None = None  # the trial and runbook whose check failed, if one did


class Cycle:
    """Fresh vaults and one state directory; the four runbooks in order."""

    def __init__(self, emu: Emulator, root: Path, scanner: LeakScanner) -> None:
        self.emu, self.root, self.scanner = emu, root, scanner
        root.mkdir(parents=True)
        config = root / "kvdr.toml"
        config.write_text(to_toml(emulator_document(
            {name: emu.url(name) for name in REGIONS}, emu.ca_cert,
            pacing={"batch_size": BATCH_SIZE})))
        self.state = root / "state"
        runtime = local_runtime(config, self.state)
        try:  # east primary at epoch 1 in both vaults
            current_topology(runtime.config, runtime.sessions())
        finally:
            runtime.close()
        self.options = ["--config", str(config), "--state-dir", str(self.state)]

    def seed(self, vault: str, prefix: str, count: int) -> None:
        with self.emu.secret_client(vault) as client:
            for i in range(count):
                client.set_secret(f"{prefix}-{i:02d}", self.scanner_value(prefix),
                                  content_type="text/plain", tags={"trial": prefix})

    def scanner_value(self, tag: str) -> str:
        value = unique_secret_value(f"crash-{tag}")
        self.scanner.add(value)
        return value

    def prepare(self, runbook: Runbook) -> None:
        if runbook.label == "full sync":
            self.seed("east", "orig", ITEMS)
        elif runbook.label == "unplanned failover":
            self.emu.down("east")
        elif runbook.label == "failback":
            self.seed("west", "west-new", NEW_ITEMS)  # written at the new primary
        else:
            self.seed("east", "east-new", NEW_ITEMS)

    def finish(self, runbook: Runbook) -> None:
        if runbook.label == "unplanned failover":
            self.emu.up("east")

    def run(self, runbook: Runbook, delays: list[float], tag: str) -> list[Attempt]:
        """The runbook, killed once per delay (each after that run's first checkpoint), then
        run until it completes. Every run with the kill point it reached (None: not killed)."""
        known = {i.id for i in runbook_instances(self.state, runbook.orchestrator)}
        self.prepare(runbook)
        attempts: list[Attempt] = []
        try:
            for delay in [*delays, None]:
                name = f"{tag}-{len(attempts)}"
                run = run_killed([*runbook.args, *self.options], self.root, name,
                                 self._watch(runbook, known, self.root / f"{name}.stderr"),
                                 delay)
                point = victim = None
                if run.killed:
                    point = kill_point(self.state, runbook.orchestrator, known)
                    victim = last_runbook_instance(self.state, runbook.orchestrator, known)
                attempts.append(Attempt(run, point, victim))
                if not run.killed:
                    break
        finally:
            self.finish(runbook)
        return attempts

    def _watch(self, runbook: Runbook, known: set[str], stderr: Path
               ) -> Callable[[], str | None]:
        """The runbook's status as this run drives it: None until the run has started a new
        instance or said it resumes the unfinished one (a resumed run's kill window starts
        there, not at the checkpoint an earlier run left)."""
        before = {i.id for i in runbook_instances(self.state, runbook.orchestrator)}

        def status() -> str | None:
            tops = runbook_instances(self.state, runbook.orchestrator, known)
            fresh = [t for t in tops if t.id not in before]
            if fresh:
                return fresh[-1].status
            resumed = tops and stderr.exists() and runbook.resumed in stderr.read_text(
                errors="replace")
            return tops[-1].status if resumed else None

        return status


@dataclass(frozen=True)
class Attempt:
    run: Run
    point: str | None  # where the kill found the runbook; None: the run was not killed
    victim: Instance | None = None  # the runbook's newest instance as the kill left it


# --- what must hold after every runbook ---------------------------------------------------------


def topology_records(emu: Emulator, vault: str) -> list[tuple[int, str]]:
    """(epoch, primary) of every version of the vault's topology record, by epoch."""
    store = emu.store(vault)
    with store.lock:
        item = store.get("secrets", TOPOLOGY_SECRET_NAME)
        records = [json.loads(v.data["value"]) for v in item.versions.values()] if item else []
    return sorted((r["epoch"], r["primary"]) for r in records)


def assert_completed_once(cycle: Cycle, runbook: Runbook, known: set[str],
                          attempts: list[Attempt]) -> list[str]:
    """One instance of the runbook completed; every run after a kill that left it unfinished
    resumed it; others (started after a kill that came once it had completed) were not
    needed; the failover's saved reports say ``completed`` once.

    A kill counts as "after completion" only when the engine's SQLite checkpoints said
    Completed once the process was dead (:data:`FINISHED`). A rerun that did not resume a
    runbook the checkpoints showed unfinished is a defect, never a tolerated outcome: when the
    checkpoints prove the known way it happens (the rerun's engine recovery finished the
    runbook before the command looked for it, and the command started another), the proof is
    returned, so that the suite finishes its figures and fails on it at the end; anything else
    fails here."""
    final = attempts[-1].run
    assert final.returncode == 0, f"{runbook.label}: exit {final.returncode}\n{final.stderr}"
    tops = runbook_instances(cycle.state, runbook.orchestrator, known)
    assert tops and all(t.status == "Completed" for t in tops), [(t.id, t.status) for t in tops]
    not_resumed: list[str] = []
    for killed, after in pairwise(attempts):
        if killed.point in (NOT_STARTED, FINISHED) or runbook.resumed in after.run.stderr:
            continue  # nothing to resume, or resumed as promised
        assert killed.victim is not None, killed.point
        proof = recovered_before_the_rerun_looked(cycle.state, runbook.orchestrator,
                                                  killed.victim, known)
        assert proof, (f"{runbook.label} killed at {killed.point} did not resume: "
                       f"{after.run.stderr}")
        not_resumed.append(f"{runbook.label} killed at {killed.point}: {proof}")
    if all(a.point != FINISHED for a in attempts) and not not_resumed:
        assert len(tops) == 1, [t.id for t in tops]
    if runbook.orchestrator == "full_sync":
        assert all(t.output["status"] == "succeeded" for t in tops), [t.output for t in tops]
        assert "succeeded" in final.stdout
        return not_resumed
    outcomes = sorted(t.output["outcome"] for t in tops)
    assert outcomes[0] == "completed" and set(outcomes[1:]) <= {"not_needed"}, outcomes
    reports = [json.loads(p.read_text())
               for p in (cycle.state / "state" / "failover" / "reports").glob("*.json")]
    completed = [r for r in reports if r.get("outcome") == "completed"
                 and r.get("run_id") in {t.id for t in tops}]
    assert len(completed) == 1, f"{runbook.label}: {len(completed)} completed reports"
    return not_resumed


def assert_switched_once(emu: Emulator, runbook: Runbook) -> None:
    for vault, epochs in EPOCHS_AFTER[runbook.label].items():
        assert topology_records(emu, vault) == [(e, PRIMARY_AT[e]) for e in epochs], (
            f"{runbook.label}: {vault} holds {topology_records(emu, vault)}")


def check_runbook(cycle: Cycle, runbook: Runbook, figures: Figures, delays: list[float],
                  tag: str) -> float:
    """The runbook (killed once per delay) and every check; how long the first run's
    runbook ran (first checkpoint to seen ended) when it was not killed."""
    known = {i.id for i in runbook_instances(cycle.state, runbook.orchestrator)}
    attempts = cycle.run(runbook, delays, tag)
    points = figures.points.setdefault(runbook.label, Counter())
    for n, attempt in enumerate(attempts):
        if attempt.point is not None:
            figures.kills[runbook.label] += 1
            points[attempt.point if n == 0 else f"{attempt.point} (2nd kill)"] += 1
    if delays and not attempts[0].run.killed:
        points["not killed (ended first)"] += 1
    figures.trials[runbook.label] += bool(delays)
    figures.resumed[runbook.label] += sum(runbook.resumed in a.run.stderr for a in attempts)
    figures.failed_at = f"{cycle.root.name}: {runbook.label}"
    figures.not_resumed += [f"{cycle.root.name}: {n}"
                            for n in assert_completed_once(cycle, runbook, known, attempts)]
    figures.completed_once[runbook.label] += 1
    assert_switched_once(cycle.emu, runbook)
    figures.epoch_once[runbook.label] += 1
    parity = secret_parity(cycle.emu, REGIONS)
    figures.lost += len(parity.lost)
    figures.different += len(parity.different)
    figures.duplicated += len(parity.duplicated)
    assert parity.ok, f"{runbook.label} (kill points {[a.point for a in attempts]}): {parity}"
    figures.failed_at = None
    first = attempts[0].run
    if delays:
        return 0.0
    assert first.started_at is not None and first.ended_at is not None, runbook.label
    return first.ended_at - first.started_at


def run_cycle(root: Path, scanner: LeakScanner, figures: Figures,
              delays: dict[str, list[float]] | None) -> dict[str, float]:
    """One cycle; the kill delays per runbook (None: unkilled). Returns each unkilled
    runbook's run time."""
    with Emulator([VaultSpec(name, geography="us") for name in REGIONS]) as emu:
        cycle = Cycle(emu, root, scanner)
        seconds = {}
        for runbook in RUNBOOKS:
            seconds[runbook.label] = check_runbook(cycle, runbook, figures,
                                                   delays[runbook.label] if delays else [],
                                                   runbook.label.replace(" ", "-"))
        scanner.scan_path(root)  # state dir (engine SQLite, state store, reports), all output
        return seconds


def test_kvdr_killed_at_random_moments_completes_every_runbook_exactly_once(
        tmp_path: Path) -> None:
    rng = random.Random(SEED)
    scanner = LeakScanner()
    figures = Figures()
    started = time.monotonic()

    durations: dict[str, float] = {}
    try:
        # one unkilled cycle: the control, and how long each runbook runs from its first
        # checkpoint to its end (the kill window; the process's exit after that is not aimed at)
        durations = run_cycle(tmp_path / "control", scanner, figures, None)
        for trial in range(TRIALS):
            # every other trial also kills the run that resumes
            kills = 2 if trial % 2 else 1
            delays = {rb.label: [rng.uniform(0, durations[rb.label]) for _ in range(kills)]
                      for rb in RUNBOOKS}
            run_cycle(tmp_path / f"trial-{trial:02d}", scanner, figures, delays)
    finally:  # the figures so far, also when a check failed (failed_at names where)
        print(json.dumps({
            "suite": "crashes", "size": SIZE, "seed": SEED, "trials": TRIALS,
            "items": ITEMS + 2 * NEW_ITEMS,
            "kill_window_seconds": {k: round(v, 2) for k, v in durations.items()},
            "trials_run": dict(figures.trials), "kills": dict(figures.kills),
            "resumed": dict(figures.resumed),
            "kill_points": {k: dict(v) for k, v in figures.points.items()},
            "completed_exactly_once": dict(figures.completed_once),
            "epoch_rose_once": dict(figures.epoch_once),
            "not_resumed": figures.not_resumed,
            "seconds": round(time.monotonic() - started, 1),
            "lost": figures.lost, "different": figures.different,
            "duplicated": figures.duplicated, "leaks": scanner.summary(),
            "failed_at": figures.failed_at}))
    scanner.assert_clean()
    assert sum(figures.kills.values()) >= 1, figures.points  # the suite really killed
    # a rerun that did not resume the run a kill left unfinished: the command looked for
    # unfinished runbooks after its engine had already resumed and finished this one
    # (kvdr_cli must take them from Engine.recovered, the snapshot before anything resumed)
    assert not figures.not_resumed, figures.not_resumed


def test_the_parity_check_finds_a_lost_a_different_and_a_duplicated_secret() -> None:
    """The suite's parity check can fail: one secret missing, one with another value, one copy
    holding a second version from the same source version."""
    with Emulator([VaultSpec(name, geography="us") for name in REGIONS]) as emu:
        east, west = emu.secret_client("east"), emu.secret_client("west")
        for name in ("same", "changed", "twice", "missing"):
            east.set_secret(name, unique_secret_value(name))
        for name in ("same", "changed", "twice"):
            source = east.get_secret(name)
            link = {LINK_TAG: LinkTag("east", source.properties.version, 1).format()}
            value = source.value if name != "changed" else unique_secret_value("other")
            for _ in range(2 if name == "twice" else 1):
                west.set_secret(name, value, tags=link)
        found = secret_parity(emu, REGIONS)
    assert not found.ok
    assert (found.lost, found.different, found.duplicated) == (
        ["west/missing"], ["changed"], ["west/twice"]), found


def test_the_not_resumed_proof_names_a_rerun_that_started_another_run(tmp_path: Path) -> None:
    """The proof the suite relies on, on the engine alone (the sample app's ``markers``): an
    instance left Running by a stopped engine, finished by the next engine's recovery, is
    proven not resumed only once another instance was started next to it or over its id."""
    markers, state = tmp_path / "markers", tmp_path / "state"
    markers.mkdir()
    spec = {"dir": str(markers), "block_on": "release"}
    with Engine(sample_app.app, state / "engine", clock=ManualClock()) as first:
        first.start_new("markers", spec, instance_id="killed")
        eventually(lambda: list(markers.glob("two.*.run")), timeout=30)
    victim = last_runbook_instance(state, "markers")
    assert victim is not None and victim.status == "Running"
    (markers / "release").write_text("go")
    with Engine(sample_app.app, state / "engine", clock=ManualClock()) as rerun:
        rerun.wait_for_completion("killed", 30)
        assert recovered_before_the_rerun_looked(state, "markers", victim) is None  # resumed
        rerun.result(rerun.start_new("markers", spec, instance_id="another"), 30)
        beside = recovered_before_the_rerun_looked(state, "markers", victim)
        rerun.result(rerun.start_new("markers", spec, instance_id="killed"), 30)
        over = recovered_before_the_rerun_looked(state, "markers", victim)
    assert beside is not None and "completed by the rerun's engine recovery" in beside
    assert over is not None and "a new execution" in over
