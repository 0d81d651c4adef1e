"""The progress of a full sync: the orchestrations' custom status and its rendering.

Each full-sync orchestration (the run, one per target pair, one per group of batches) sets its
custom status to a :class:`SyncProgress`: a handful of counters, far below the 16 KB limit, and
never a name or a value. The CLI and ``GET /api/runbooks/{id}`` combine the statuses of a run's
instances (their ids share the run's prefix) into one line per target.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any


class Phase(StrEnum):
    TOPOLOGY = "topology"
    PLAN = "plan"
    RENEWAL = "renewal"  # the pair's renewal step, between its plan and its batches
    EXECUTE = "execute"
    VERIFY = "verify"
    SAVE = "save"
    DONE = "done"


_PHASE_ORDER = {p: i for i, p in enumerate(Phase)}


@dataclass(frozen=True)
class SyncProgress:
    phase: Phase
    target: str | None = None
    batches_done: int = 0
    batches_total: int = 0
    items_done: int = 0
    items_total: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"phase": str(self.phase), "target": self.target,
                "batches_done": self.batches_done, "batches_total": self.batches_total,
                "items_done": self.items_done, "items_total": self.items_total}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SyncProgress:
        return cls(Phase(data.get("phase", Phase.TOPOLOGY)), data.get("target"),
                   int(data.get("batches_done", 0)), int(data.get("batches_total", 0)),
                   int(data.get("items_done", 0)), int(data.get("items_total", 0)))

    def advanced(self, batches: int = 0, items: int = 0) -> SyncProgress:
        return replace(self, batches_done=self.batches_done + batches,
                       items_done=self.items_done + items)

    @property
    def rank(self) -> tuple[int, int, int]:
        """Orders two reports of one target: the further along wins."""
        return (_PHASE_ORDER[self.phase], self.batches_done, self.items_done)

    def render(self) -> str:
        where = f"{self.target}: " if self.target else ""
        if self.phase == Phase.EXECUTE or self.batches_total:
            percent = (100.0 * self.items_done / self.items_total) if self.items_total else 100.0
            return (f"{where}{self.phase} {self.items_done}/{self.items_total} items "
                    f"({percent:.0f}%), batch {self.batches_done}/{self.batches_total}")
        return f"{where}{self.phase}"


def combine(statuses: Iterable[Mapping[str, Any] | None]) -> dict[str, SyncProgress]:
    """The furthest progress per target among a run's custom statuses (others ignored)."""
    best: dict[str, SyncProgress] = {}
    for raw in statuses:
        if not isinstance(raw, Mapping) or "phase" not in raw:
            continue
        try:
            progress = SyncProgress.from_dict(raw)
        except (ValueError, TypeError):
            continue
        key = progress.target or ""
        if key not in best or progress.rank >= best[key].rank:
            best[key] = progress
    return best


def render_line(run_phase: str | None, per_target: Mapping[str, SyncProgress]) -> str:
    """One line for a terminal: the run's phase, then each target's progress."""
    parts = [p.render() for t, p in sorted(per_target.items()) if t]
    if not parts:
        return f"full sync: {run_phase or 'starting'}"
    return "full sync: " + "; ".join(parts)
