"""What crosses the Durable boundary of the restore runbook: each activity's request and result,
the state the orchestration carries through ``continue_as_new``, and the run record it returns
(the report plus the runbook's own notes). Frozen dataclasses with ``to_dict``/``from_dict``
(plain JSON); names, versions, counts and codes, never a value.

The plan itself does not cross: the plan activity stores the items that write in the state
store, in batches (:func:`batch_key`), and returns counts, a preview of names and the report
begun from the plan (:meth:`kvdr.restore.report.RestoreReport.from_plan`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from kvdr.failover.report import Approval
from kvdr.restore.outcome import RestoreOutcome
from kvdr.restore.report import RestoreReport

APPROVAL_TIMED_OUT = "approval_timed_out"  # a run outcome besides RestoreRunOutcome's
BATCH_FAILED_CODE = "restore.batch_failed"
BATCH_MISSING_CODE = "restore.batch_missing"
PLAN_FAILED_CODE = "restore.plan_failed"
PREVIEW_NAMES = 10  # names per action in the plan the custom status shows (16 KB at most)


class RestorePhase(StrEnum):
    """The ``phase`` of the runbook's custom status (``awaiting_approval`` is the failover's
    spelling too: the one approve route serves both)."""

    PLAN = "plan"
    AWAITING_APPROVAL = "awaiting_approval"
    EXECUTE = "execute"
    REPORT = "report"
    DONE = "done"


def plans_prefix(run_id: str) -> str:
    return f"restore/plans/{run_id}/"


def batch_key(run_id: str, n: int) -> str:
    return f"{plans_prefix(run_id)}batch-{n:05d}.json"


@dataclass(frozen=True)
class PlanRequest:
    run_id: str
    as_of: str                      # ISO 8601, UTC
    scope: Mapping[str, Any]        # RestoreScope.to_dict()
    disable_new: bool = False
    dry_run: bool = False
    requested_by: str = ""
    reason: str = ""
    started: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "as_of": self.as_of, "scope": dict(self.scope),
                "disable_new": self.disable_new, "dry_run": self.dry_run,
                "requested_by": self.requested_by, "reason": self.reason,
                "started": self.started}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PlanRequest:
        return cls(data["run_id"], data["as_of"], data.get("scope") or {},
                   bool(data.get("disable_new", False)), bool(data.get("dry_run", False)),
                   data.get("requested_by", ""), data.get("reason", ""), data.get("started"))


@dataclass(frozen=True)
class PlanSummary:
    """The plan activity's result. ``report``: the report begun from the plan (None when the
    plan failed: ``error`` says why). ``batches`` of at most the configured batch size hold the
    ``items`` that write; ``preview``: the first names per action, for the approval;
    ``unreached``: secondaries whose copies the plan could not consult."""

    ok: bool
    primary: str | None = None
    epoch: int = 0
    batches: int = 0
    items: int = 0
    report: Mapping[str, Any] | None = None
    preview: Mapping[str, Sequence[str]] = field(default_factory=dict)
    unreached: Mapping[str, str] = field(default_factory=dict)
    max_parallel: int = 1
    calls: Mapping[str, int] = field(default_factory=dict)
    error: Mapping[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "primary": self.primary, "epoch": self.epoch,
                "batches": self.batches, "items": self.items,
                "report": dict(self.report) if self.report is not None else None,
                "preview": {a: list(n) for a, n in self.preview.items()},
                "unreached": dict(self.unreached), "max_parallel": self.max_parallel,
                "calls": dict(self.calls),
                "error": dict(self.error) if self.error is not None else None}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PlanSummary:
        return cls(bool(data["ok"]), data.get("primary"), int(data.get("epoch", 0)),
                   int(data.get("batches", 0)), int(data.get("items", 0)), data.get("report"),
                   {a: tuple(n) for a, n in (data.get("preview") or {}).items()},
                   dict(data.get("unreached") or {}), int(data.get("max_parallel", 1)),
                   dict(data.get("calls") or {}), data.get("error"))

    def status(self) -> dict[str, Any]:
        """What the custom status shows of the plan while an operator decides: small."""
        report = self.report or {}
        return {"primary": self.primary, "epoch": self.epoch, "as_of": report.get("as_of"),
                "complete": report.get("complete", True),
                "counts": report.get("plan_counts", {}), "items": self.items,
                "batches": self.batches,
                "preview": {a: list(n) for a, n in self.preview.items()},
                "unreached": dict(self.unreached)}


@dataclass(frozen=True)
class BatchRequest:
    """Execute stored batch ``batch`` against ``primary``, fenced at ``epoch``. ``give_up``
    (``{"code", "message"}``): do not touch a vault, answer every item of the batch failed with
    it (the batch activity failed for good, or an earlier batch found the run fenced)."""

    run_id: str
    batch: int
    primary: str
    epoch: int
    disable_new: bool = False
    give_up: Mapping[str, str] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "batch": self.batch, "primary": self.primary,
                "epoch": self.epoch, "disable_new": self.disable_new,
                "give_up": dict(self.give_up) if self.give_up is not None else None}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BatchRequest:
        return cls(data["run_id"], int(data["batch"]), data["primary"], int(data["epoch"]),
                   bool(data.get("disable_new", False)), data.get("give_up"))


@dataclass(frozen=True)
class BatchResult:
    """A batch's outcomes; ``fenced`` (``{"code", "message"}``) when the primary's record
    showed a failover since the plan: nothing of the batch was written."""

    outcomes: tuple[RestoreOutcome, ...] = ()
    fenced: Mapping[str, str] | None = None
    calls: Mapping[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"outcomes": [o.to_dict() for o in self.outcomes],
                "fenced": dict(self.fenced) if self.fenced is not None else None,
                "calls": dict(self.calls)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BatchResult:
        return cls(tuple(RestoreOutcome.from_dict(o) for o in data.get("outcomes", ())),
                   data.get("fenced"), dict(data.get("calls") or {}))


@dataclass(frozen=True)
class RunNotes:
    """What the runbook adds to the report in its run record: the approval, sentences for the
    operator, the error that ended it early, the vault calls per region, and the plan's small
    view (:meth:`PlanSummary.status`: what a dry run shows)."""

    approval: Approval | None = None
    messages: tuple[str, ...] = ()
    error: Mapping[str, Any] | None = None
    calls: Mapping[str, int] = field(default_factory=dict)
    plan: Mapping[str, Any] | None = None

    def with_calls(self, calls: Mapping[str, int]) -> RunNotes:
        merged = dict(self.calls)
        for region, n in calls.items():
            merged[region] = merged.get(region, 0) + int(n)
        return replace(self, calls=merged)

    def noted(self, message: str) -> RunNotes:
        return replace(self, messages=(*self.messages, message))

    def approved(self, approval: Approval) -> RunNotes:
        return replace(self, approval=approval)

    def to_dict(self) -> dict[str, Any]:
        return {"approval": self.approval.to_dict() if self.approval else None,
                "messages": list(self.messages),
                "error": dict(self.error) if self.error is not None else None,
                "calls": dict(self.calls),
                "plan": dict(self.plan) if self.plan is not None else None}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunNotes:
        approval = data.get("approval")
        return cls(Approval.from_dict(approval) if approval else None,
                   tuple(data.get("messages") or ()), data.get("error"),
                   dict(data.get("calls") or {}), data.get("plan"))


def run_record(report: RestoreReport, notes: RunNotes) -> dict[str, Any]:
    """The orchestration's output and the stored report: the report's fields and the notes'."""
    return {**report.to_dict(), **notes.to_dict()}


def render_record(record: Mapping[str, Any]) -> str:
    """The run record as the command line prints it: the report, then the notes."""
    notes = RunNotes.from_dict(record)
    lines = [RestoreReport.from_dict(record).render_text()]
    if notes.approval is not None and notes.approval.required:
        decided = ("approved" if notes.approval.approved else "rejected"
                   if notes.approval.approved is False else "not answered")
        lines.append(f"  approval: {decided}"
                     + (f" by {notes.approval.by}" if notes.approval.by else ""))
    if notes.error:
        lines.append(f"  error [{notes.error.get('code')}]: {notes.error.get('message')}")
    lines += [f"  note: {m}" for m in notes.messages]
    return "\n".join(lines)


@dataclass(frozen=True)
class Carried:
    """What the orchestration carries into its next execution (``continue_as_new``) while it
    executes batches: the plan's summary, the report so far, the notes, the next batch, and
    the fence a batch found (the later batches then touch no vault)."""

    summary: PlanSummary
    report: Mapping[str, Any]
    notes: RunNotes
    next_batch: int
    items_done: int = 0
    fenced: Mapping[str, str] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"summary": self.summary.to_dict(), "report": dict(self.report),
                "notes": self.notes.to_dict(), "next_batch": self.next_batch,
                "items_done": self.items_done,
                "fenced": dict(self.fenced) if self.fenced is not None else None}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Carried:
        return cls(PlanSummary.from_dict(data["summary"]), data["report"],
                   RunNotes.from_dict(data.get("notes") or {}), int(data["next_batch"]),
                   int(data.get("items_done", 0)), data.get("fenced"))
