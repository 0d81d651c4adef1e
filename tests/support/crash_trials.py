"""`kvdr` killed with SIGKILL at a random moment, and where its runbook had got to.

:func:`run_killed` starts ``python -m kvdr_cli ARGS`` the way an operator runs it (this checkout
on its path, no ``KVDR_*`` settings, output in files so that no unread pipe can block it) and
SIGKILLs it ``delay`` seconds after its runbook was first checkpointed (its instance row seen in
the engine's store, polled every 20 ms), unless it has ended by then. Counting from the
checkpoint rather than from the process start keeps the kills inside the runbook instead of
mostly in Python's start-up.
The delay is the only timing involved, and nothing is asserted about it: it only spreads the
kills over the run.

:func:`kill_point` then reads the state directory's engine checkpoints (SQLite, as the next run
will find them) and names the phase the runbook had reached: what the last committed episode of
the runbook, its pair sub-orchestration and its batch group said in their custom status.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Collection
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from support.cli import ROOT

RUN_TIMEOUT = 300
POLL = 0.02
TERMINAL = ("Completed", "Failed", "Terminated")
NOT_STARTED = "start (nothing checkpointed)"
FINISHED = "finished, before exit"


@dataclass
class Run:
    """One `kvdr` process: its exit code (``-9`` when killed), output, wall time, and when
    (seconds after the start) its runbook was first seen checkpointed (None: never)."""

    returncode: int
    stdout: str
    stderr: str
    seconds: float
    started_at: float | None = None
    ended_at: float | None = None  # when its runbook was first seen ended

    @property
    def killed(self) -> bool:
        return self.returncode == -signal.SIGKILL


def run_killed(args: list[str], cwd: Path, tag: str, status: Callable[[], str | None],
               delay: float | None = None) -> Run:
    """``python -m kvdr_cli ARGS`` in ``cwd``, watching its runbook's ``status()`` (None until
    it is checkpointed, then the runtime status); SIGKILLed ``delay`` seconds after the first
    checkpoint if it is still running then (None: let it finish). Output goes to
    ``cwd/TAG.stdout`` and ``.stderr``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KVDR_")}
    env["PYTHONPATH"] = str(ROOT)
    out, err = cwd / f"{tag}.stdout", cwd / f"{tag}.stderr"
    began = time.monotonic()
    with out.open("wb") as fout, err.open("wb") as ferr:
        proc = subprocess.Popen([sys.executable, "-m", "kvdr_cli", *args], cwd=cwd, env=env,
                                stdin=subprocess.DEVNULL, stdout=fout, stderr=ferr)
    started_at = ended_at = None
    while (code := proc.poll()) is None:
        now = time.monotonic() - began
        if now > RUN_TIMEOUT:
            proc.kill()
            proc.wait(30)
            raise subprocess.TimeoutExpired(args, RUN_TIMEOUT)
        state = status()
        if state is not None and started_at is None:
            started_at = now
        if state in TERMINAL and ended_at is None:
            ended_at = now
        if delay is not None and started_at is not None and now >= started_at + delay:
            proc.send_signal(signal.SIGKILL)
            code = proc.wait(30)
            break
        time.sleep(POLL)
    return Run(code, out.read_text(errors="replace"), err.read_text(errors="replace"),
               time.monotonic() - began, started_at, ended_at)


# --- reading the engine's checkpoints -----------------------------------------------------------


@dataclass(frozen=True)
class Instance:
    id: str
    name: str
    execution_id: str  # a new one each time the id is started afresh
    status: str
    parent_id: str | None
    custom_status: Any
    output: Any


def _json(text: str | None) -> Any:
    return json.loads(text) if text else None


def instances(state_dir: Path) -> list[Instance]:
    """Every instance row of the state directory's engine store (none before the first run)."""
    path = state_dir / "engine" / "engine.sqlite"
    if not path.exists():
        return []
    try:
        with closing(sqlite3.connect(path, timeout=5)) as db:
            rows = db.execute("SELECT id, name, execution_id, status, parent_id, "
                              "custom_status, output FROM instances ORDER BY created").fetchall()
    except sqlite3.OperationalError:  # the store is being created: no table yet
        return []
    return [Instance(i, n, e, s, p, _json(c), _json(o)) for i, n, e, s, p, c, o in rows]


def runbook_instances(state_dir: Path, orchestrator: str,
                      known: Collection[str] = ()) -> list[Instance]:
    """The top-level instances of ``orchestrator`` whose ids are not in ``known``."""
    return [i for i in instances(state_dir) if i.name == orchestrator and i.parent_id is None
            and i.id not in known]


def _phase(instance: Instance | None) -> str | None:
    custom = instance.custom_status if instance is not None else None
    return custom.get("phase") if isinstance(custom, dict) else None


def _pair_label(rows: dict[str, Instance], pair_id: str) -> str:
    """Where a pair sub-orchestration (full sync, reconcile or drain) had got to."""
    pair = rows.get(pair_id)
    phase = _phase(pair)
    if phase is None:
        return "starting"
    if phase == "execute":
        groups = [r for key, r in rows.items() if key.startswith(f"{pair_id}:g")]
        custom = next((g.custom_status for g in groups if isinstance(g.custom_status, dict)),
                      pair.custom_status if pair is not None else {})
        return f"batches {custom.get('batches_done', 0)}/{custom.get('batches_total', '?')} done"
    return {"renewal": "renewal step", "done": "pair done"}.get(phase, phase)


def last_runbook_instance(state_dir: Path, orchestrator: str,
                          known: Collection[str] = ()) -> Instance | None:
    """The newest top-level instance of ``orchestrator`` not in ``known`` (None: none)."""
    tops = runbook_instances(state_dir, orchestrator, known)
    return tops[-1] if tops else None


def kill_point(state_dir: Path, orchestrator: str, known: Collection[str] = ()) -> str:
    """The phase the runbook started after ``known`` had reached when its process died."""
    top = last_runbook_instance(state_dir, orchestrator, known)
    if top is None:
        return NOT_STARTED
    if top.status == "Completed":
        return FINISHED
    rows = {i.id: i for i in instances(state_dir) if i.id.startswith(f"{top.id}:")}
    phase = _phase(top) or "starting"
    if orchestrator == "full_sync":
        if phase == "plan":  # the pairs run: one target here
            pair_id = next((key for key in sorted(rows) if key.count(":") == 1), None)
            return _pair_label(rows, pair_id) if pair_id else "plan"
        return {"save": "save report", "done": "done"}.get(phase, phase)
    if phase in ("reconcile", "drain"):
        return f"{phase}: {_pair_label(rows, f'{top.id}:{phase}')}"
    return phase


def recovered_before_the_rerun_looked(state_dir: Path, orchestrator: str, victim: Instance,
                                      known: Collection[str] = ()) -> str | None:
    """Why a rerun that did not say it resumed ``victim`` (the runbook's instance as the kill
    left it, unfinished) started another run instead, proven from the engine's checkpoints; None
    when they prove nothing of the kind.

    The rerun's engine resumes every unfinished instance as it starts; one killed at its last
    step finishes in milliseconds, and a CLI that looks for unfinished runbooks after the start
    finds none and starts a new one. Its signature: ``victim`` (Running at the kill, in a dead
    process) is Completed now in the same execution, so the rerun's recovery finished it, and
    another top-level instance exists; or its id holds a new execution (a singleton started
    afresh over it, as `kvdr sync` does with its one instance id)."""
    now = {i.id: i for i in instances(state_dir)}.get(victim.id)
    if now is None:
        return None
    if now.execution_id != victim.execution_id:
        return (f"instance {victim.id} was {victim.status} at the kill; the rerun started it "
                "afresh (a new execution) instead of resuming it")
    others = [i for i in runbook_instances(state_dir, orchestrator, known) if i.id != victim.id]
    if now.status == "Completed" and others:
        return (f"instance {victim.id} was {victim.status} at the kill and was completed by the "
                f"rerun's engine recovery, but the rerun started {others[-1].id} as well")
    return None
