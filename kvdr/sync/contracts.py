"""What crosses the Durable boundary of the full sync: the runbook's input and output
envelopes, and each activity's request and result (decision 3: names, versions, counts and
fingerprints, never a value). Each is a frozen dataclass with ``to_dict``/``from_dict`` (plain
JSON), so orchestrators, activities and the command line share one definition.

Plans never cross the boundary: a plan's executable items are stored as batches by the planning
activity, and the orchestrator only learns how many there are (:class:`PairPlanSummary`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kvdr.sync.model import SyncMode
from kvdr.sync.report import BatchResult, ItemNote

MAX_PARALLEL_DEFAULT = 4  # activities in flight per pair, when the topology does not say
UNVERIFIED_CODE = "sync.unverified"  # an executed item still not in sync after the run
BATCH_FAILED_CODE = "sync.batch_failed"  # a batch whose activity failed for good

# --- the runbook: full_sync -> full_sync_pair -> full_sync_batches ------------------------------


@dataclass(frozen=True)
class FullSyncInput:
    """The runbook's input. ``run_id`` defaults to the instance id; ``targets`` to every
    region but the primary."""

    dry_run: bool = False
    targets: tuple[str, ...] | None = None
    run_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"dry_run": self.dry_run}
        if self.targets is not None:
            data["targets"] = list(self.targets)
        if self.run_id:
            data["run_id"] = self.run_id
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> FullSyncInput:
        data = data or {}
        targets = data.get("targets")
        return cls(bool(data.get("dry_run", False)),
                   tuple(targets) if targets is not None else None, data.get("run_id"))


@dataclass(frozen=True)
class PairInput:
    """One source -> target pair. ``epoch`` is the topology epoch the work is fenced by (links
    carry it; a target holding a higher one refuses every batch); ``mode`` what to copy."""

    run_id: str
    source: str
    target: str
    dry_run: bool
    epoch: int
    started_at: str
    max_parallel: int = MAX_PARALLEL_DEFAULT
    # carried across continue_as_new once the plan exists
    summary: Mapping[str, Any] | None = None
    report: Mapping[str, Any] | None = None
    next_batch: int = 0
    items_done: int = 0
    mode: SyncMode = SyncMode.SYNC

    def to_dict(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "source": self.source, "target": self.target,
                "dry_run": self.dry_run, "epoch": self.epoch, "started_at": self.started_at,
                "max_parallel": self.max_parallel, "summary": self.summary,
                "report": self.report, "next_batch": self.next_batch,
                "items_done": self.items_done, "mode": str(self.mode)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PairInput:
        return cls(data["run_id"], data["source"], data["target"], bool(data["dry_run"]),
                   int(data["epoch"]), data["started_at"],
                   int(data.get("max_parallel", MAX_PARALLEL_DEFAULT)), data.get("summary"),
                   data.get("report"), int(data.get("next_batch", 0)),
                   int(data.get("items_done", 0)), SyncMode(data.get("mode", SyncMode.SYNC)))


@dataclass(frozen=True)
class PairResult:
    """A pair's envelope: its report, drift found, and the error that stopped it (if any)."""

    target: str
    report: Mapping[str, Any]
    drift: int = 0
    unverified: int = 0
    error: Mapping[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        data = {"target": self.target, "report": dict(self.report), "drift": self.drift,
                "unverified": self.unverified}
        if self.error:
            data["error"] = dict(self.error)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PairResult:
        return cls(data["target"], data["report"], data.get("drift", 0),
                   data.get("unverified", 0), data.get("error"))


@dataclass(frozen=True)
class GroupInput:
    run_id: str
    source: str
    target: str
    started_at: str
    first: int
    count: int
    max_parallel: int
    progress: Mapping[str, Any]  # the pair's progress when the group starts
    epoch: int  # the fence: the epoch the pair was planned at
    mode: SyncMode = SyncMode.SYNC  # who renews what the batches copy (the target: reconcile)

    def to_dict(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "source": self.source, "target": self.target,
                "started_at": self.started_at, "first": self.first, "count": self.count,
                "max_parallel": self.max_parallel, "progress": dict(self.progress),
                "epoch": self.epoch, "mode": str(self.mode)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GroupInput:
        return cls(data["run_id"], data["source"], data["target"], data["started_at"],
                   int(data["first"]), int(data["count"]), int(data["max_parallel"]),
                   data["progress"], int(data["epoch"]),
                   SyncMode(data.get("mode", SyncMode.SYNC)))


@dataclass(frozen=True)
class GroupResult:
    report: Mapping[str, Any]
    items_done: int

    def to_dict(self) -> dict[str, Any]:
        return {"report": dict(self.report), "items_done": self.items_done}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GroupResult:
        return cls(data["report"], int(data["items_done"]))


# --- the activities ----------------------------------------------------------------------------


@dataclass(frozen=True)
class TopologyRequest:
    targets: tuple[str, ...] | None = None
    dry_run: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"targets": list(self.targets) if self.targets is not None else None,
                "dry_run": self.dry_run}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TopologyRequest:
        targets = data.get("targets")
        return cls(tuple(targets) if targets is not None else None, bool(data.get("dry_run")))


@dataclass(frozen=True)
class SyncTopology:
    """Who copies to whom in this run. ``ok`` False: ``error`` says why nothing may run."""

    ok: bool
    primary: str = ""
    epoch: int = 0
    targets: tuple[str, ...] = ()
    calls: Mapping[str, int] = field(default_factory=dict)
    error: Mapping[str, Any] | None = None
    max_parallel: int = 4  # pacing.max_parallel, read here so orchestrators stay I/O-free

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"ok": self.ok, "primary": self.primary, "epoch": self.epoch,
                                "targets": list(self.targets), "calls": dict(self.calls),
                                "max_parallel": self.max_parallel}
        if self.error:
            data["error"] = dict(self.error)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SyncTopology:
        return cls(bool(data["ok"]), data.get("primary", ""), data.get("epoch", 0),
                   tuple(data.get("targets", ())), dict(data.get("calls", {})),
                   data.get("error"), int(data.get("max_parallel", 4)))


@dataclass(frozen=True)
class PairPlanRequest:
    run_id: str
    source: str
    target: str
    dry_run: bool
    epoch: int
    started_at: str
    mode: SyncMode = SyncMode.SYNC

    def to_dict(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "source": self.source, "target": self.target,
                "dry_run": self.dry_run, "epoch": self.epoch, "started_at": self.started_at,
                "mode": str(self.mode)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PairPlanRequest:
        return cls(data["run_id"], data["source"], data["target"], bool(data["dry_run"]),
                   int(data["epoch"]), data["started_at"],
                   SyncMode(data.get("mode", SyncMode.SYNC)))


@dataclass(frozen=True)
class PairPlanSummary:
    """What the orchestrator learns of a plan: counts, never items. ``report`` is the
    ``SyncReport.start`` of the plan (skips, conflicts, unchanged counts, list calls)."""

    ok: bool
    source: str
    target: str
    batches: int = 0
    items_total: int = 0
    batch_size: int = 0
    target_items: int = 0
    drift: int = 0
    report: Mapping[str, Any] | None = None
    error: Mapping[str, Any] | None = None

    def batch_items(self, n: int) -> int:
        return max(0, min(self.batch_size, self.items_total - n * self.batch_size))

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "ok": self.ok, "source": self.source, "target": self.target,
            "batches": self.batches, "items_total": self.items_total,
            "batch_size": self.batch_size, "target_items": self.target_items,
            "drift": self.drift, "report": dict(self.report) if self.report else None}
        if self.error:
            data["error"] = dict(self.error)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PairPlanSummary:
        return cls(bool(data["ok"]), data["source"], data["target"], data.get("batches", 0),
                   data.get("items_total", 0), data.get("batch_size", 0),
                   data.get("target_items", 0), data.get("drift", 0), data.get("report"),
                   data.get("error"))


@dataclass(frozen=True)
class BatchRequest:
    """One stored batch to execute. ``epoch`` is the topology epoch the plan was made at (the
    fence: a target holding a higher one refuses the batch); ``mode`` the pair's (a copy is
    imported disarmed unless the target is the primary: reconcile)."""

    run_id: str
    source: str
    target: str
    batch: int
    epoch: int
    mode: SyncMode = SyncMode.SYNC

    def to_dict(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "source": self.source, "target": self.target,
                "batch": self.batch, "epoch": self.epoch, "mode": str(self.mode)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BatchRequest:
        return cls(data["run_id"], data["source"], data["target"], int(data["batch"]),
                   int(data["epoch"]), SyncMode(data.get("mode", SyncMode.SYNC)))


@dataclass(frozen=True)
class FailBatchRequest:
    """A batch whose activity failed for good (after retries), and the first line of why."""

    batch: BatchRequest
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {**self.batch.to_dict(), "message": self.message}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FailBatchRequest:
        return cls(BatchRequest.from_dict(data),
                   str(data.get("message") or "the batch activity failed"))


@dataclass(frozen=True)
class ExecutedBatch:
    """A batch's envelope: its outcomes and calls, plus the copier's skips and the drift it
    wrote over, with their reasons (an outcome keeps no message when it succeeded)."""

    result: BatchResult
    skipped: tuple[ItemNote, ...] = ()
    overwritten: tuple[ItemNote, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {**self.result.to_dict(), "skipped": [n.to_dict() for n in self.skipped],
                "overwritten": [n.to_dict() for n in self.overwritten]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ExecutedBatch:
        return cls(BatchResult.from_dict(data),
                   tuple(ItemNote.from_dict(n) for n in data.get("skipped", ())),
                   tuple(ItemNote.from_dict(n) for n in data.get("overwritten", ())))


@dataclass(frozen=True)
class VerifyRequest:
    run_id: str
    source: str
    target: str
    batches: int
    epoch: int
    target_items: int = 0
    mode: SyncMode = SyncMode.SYNC

    def to_dict(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "source": self.source, "target": self.target,
                "batches": self.batches, "epoch": self.epoch,
                "target_items": self.target_items, "mode": str(self.mode)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> VerifyRequest:
        return cls(data["run_id"], data["source"], data["target"], int(data["batches"]),
                   int(data["epoch"]), int(data.get("target_items", 0)),
                   SyncMode(data.get("mode", SyncMode.SYNC)))


@dataclass(frozen=True)
class VerifyResult:
    """Items the run executed that are still not in sync (``unverified``, capped) and the
    calls verifying cost."""

    ok: bool
    checked: int = 0
    unverified: tuple[ItemNote, ...] = ()
    unverified_count: int = 0
    calls: Mapping[str, int] = field(default_factory=dict)
    error: Mapping[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"ok": self.ok, "checked": self.checked,
                                "unverified": [n.to_dict() for n in self.unverified],
                                "unverified_count": self.unverified_count,
                                "calls": dict(self.calls)}
        if self.error:
            data["error"] = dict(self.error)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> VerifyResult:
        return cls(bool(data["ok"]), data.get("checked", 0),
                   tuple(ItemNote.from_dict(n) for n in data.get("unverified", ())),
                   data.get("unverified_count", 0), dict(data.get("calls", {})),
                   data.get("error"))


@dataclass(frozen=True)
class RenewalRequest:
    """One chunk of a pair's renewal step (decision 9), from item ``cursor`` on. The pair's
    ``epoch`` fences it like a batch; ``mode`` says which vault is the primary."""

    run_id: str
    source: str
    target: str
    epoch: int
    dry_run: bool = False
    mode: SyncMode = SyncMode.SYNC
    cursor: int = 0

    @property
    def primary(self) -> str:
        """The vault that renews: the source, but the target in a reconcile (the target is the
        current primary; the source is the old primary, disarmed here at the latest)."""
        return self.target if self.mode == SyncMode.RECONCILE else self.source

    @property
    def secondary(self) -> str:
        return self.source if self.mode == SyncMode.RECONCILE else self.target

    def to_dict(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "source": self.source, "target": self.target,
                "epoch": self.epoch, "dry_run": self.dry_run, "mode": str(self.mode),
                "cursor": self.cursor}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RenewalRequest:
        return cls(data["run_id"], data["source"], data["target"], int(data["epoch"]),
                   bool(data.get("dry_run", False)), SyncMode(data.get("mode", SyncMode.SYNC)),
                   int(data.get("cursor", 0)))


@dataclass(frozen=True)
class RenewalResult:
    """A chunk's envelope: its part of the secondary's ``renewal`` section
    (:mod:`kvdr.sync.renewal_section`), where the next chunk starts (None: done) and the calls
    it made."""

    secondary: str
    section: Mapping[str, Any]
    next_cursor: int | None = None
    calls: Mapping[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"secondary": self.secondary, "section": dict(self.section),
                "next_cursor": self.next_cursor, "calls": dict(self.calls)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RenewalResult:
        cursor = data.get("next_cursor")
        return cls(data["secondary"], data["section"],
                   int(cursor) if cursor is not None else None, dict(data.get("calls", {})))
