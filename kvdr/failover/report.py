"""The report of a failover/failback: what was planned, who approved it, what each step did
and how long it took. Timings and counts, names and versions — never a value.

RTO is measured from when the need arose (the alert's ``firedDateTime`` when an alert started
the runbook, else the runbook's start) to the verified switch, approval wait included: that is
the time the applications waited. ``rto_excluding_approval_seconds`` is what kvdr itself took.

An alert's fired time is the sender's clock, and a re-delivered or replayed alert may carry one
from long ago: a fired time more than :data:`MAX_ALERT_DELAY` before the runbook's start, or more
than :data:`CLOCK_SKEW` after it, is not used (``rto_clamped``; the RTO is measured from the
runbook's start and ``rto_basis`` says why). A fired time slightly ahead is clock skew: the RTO
then starts at the runbook's start, unflagged.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from kvdr.failover.handover import handover_summary
from kvdr.vault.inventory import format_time, parse_time

__all__ = ["CLOCK_SKEW", "LAST_REPORT_KEY", "MAX_ALERT_DELAY", "NO_CHANGE_OUTCOMES", "Approval",
           "FailoverOutcome", "FailoverReport", "replaces_last_report", "report_key",
           "unverified_message"]

LAST_REPORT_KEY = "failover/last-report.json"  # in the state store; a dry run never replaces it
# Azure Monitor delivers within minutes (retries for ~75 s, activity-log alerts lag a few
# minutes); an alert that fired longer ago than this before the runbook started is not the
# start of this outage's clock.
MAX_ALERT_DELAY = timedelta(hours=1)
CLOCK_SKEW = timedelta(minutes=5)  # tolerated between Azure Monitor's clock and the host's


def report_key(run_id: str) -> str:
    return f"failover/reports/{run_id}.json"


class FailoverOutcome(StrEnum):
    COMPLETED = "completed"
    NOT_NEEDED = "not_needed"
    BLOCKED = "blocked"
    REJECTED = "rejected"
    APPROVAL_TIMED_OUT = "approval_timed_out"
    FAILED = "failed"
    PLANNED_ONLY = "planned_only"  # dry run
    # another region's runbook switched at the same epoch and the rule picked its record: this
    # one switched nothing (its record was replaced by the winner's) and handed nothing over
    LOST_RACE = "lost_race"


# A runbook that changed nothing and asked nobody (a dry run, an alert about a vault that was not
# the primary, a plan blocked before the approval gate) keeps its own report but does not replace
# the last real one, which `kvdr status` shows as the last failover.
NO_CHANGE_OUTCOMES = frozenset({FailoverOutcome.PLANNED_ONLY, FailoverOutcome.NOT_NEEDED,
                                FailoverOutcome.BLOCKED, FailoverOutcome.LOST_RACE})


def lost_race_message(winner: Mapping[str, Any] | None) -> str:
    """What a runbook that lost the race says (the winner's record names its runbook)."""
    winner = winner or {}
    return (f"lost the race to runbook {winner.get('runbook_id') or '?'} (primary "
            f"{winner.get('primary', '?')} at epoch {winner.get('epoch', '?')}); nothing "
            "switched by this runbook")


def unverified_message(target: str, epoch: int, fenced: tuple[str, ...],
                       error: Mapping[str, Any] | None) -> str:
    """What a run whose verification failed after its switch says: what was done (the switch
    stands: the new primary's record was written, the others fenced) and what was not."""
    others = [r for r in fenced if r != target]
    code = (error or {}).get("code") or "topology.unverified"
    return (f"switched but not verified: {target}'s record at epoch {epoch} was written"
            + (f" and {', '.join(others)} fenced" if others else "")
            + f", then the verification failed [{code}]; the switch stands (nothing was "
            "undone): once the vaults answer, check the record in every vault (kvdr status) or "
            "run this runbook again, which finds a switch that holds done")


def replaces_last_report(outcome: str | None) -> bool:
    """Whether a report with this outcome becomes ``LAST_REPORT_KEY``."""
    return outcome not in NO_CHANGE_OUTCOMES


@dataclass(frozen=True)
class Approval:
    required: bool
    approved: bool | None = None
    by: str = ""
    comment: str = ""
    decided_at: datetime | None = None
    wait_seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"required": self.required, "approved": self.approved, "by": self.by,
                "comment": self.comment, "decided_at": format_time(self.decided_at),
                "wait_seconds": round(self.wait_seconds, 3)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Approval:
        return cls(bool(data["required"]), data.get("approved"), data.get("by", ""),
                   data.get("comment", ""), parse_time(data.get("decided_at")),
                   float(data.get("wait_seconds", 0.0)))


@dataclass(frozen=True)
class FailoverReport:
    run_id: str
    kind: str
    target: str
    requested_by: str
    reason: str
    started_at: datetime
    outcome: FailoverOutcome | None = None
    source: str | None = None
    epoch_before: int = 0
    epoch_after: int = 0
    fired_at: datetime | None = None
    finished_at: datetime | None = None
    plan: Mapping[str, Any] | None = None
    approval: Approval | None = None
    timings: Mapping[str, float] = field(default_factory=dict)  # step -> seconds
    steps: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # reconcile/drain
    fenced: tuple[str, ...] = ()           # vaults that received the new record
    unreached: Mapping[str, str] = field(default_factory=dict)  # region -> error code
    rpo_exposure_seconds: float | None = None
    rpo_basis: str = ""
    rto_objective_seconds: int | None = None
    messages: tuple[str, ...] = ()
    error: Mapping[str, Any] | None = None
    alert_id: str | None = None
    calls: Mapping[str, int] = field(default_factory=dict)
    renewal: Mapping[str, Any] | None = None  # the hand-over (HandOver.to_dict()), if it ran
    lost_to: Mapping[str, Any] | None = None  # lost_race: the winner's topology record

    def timed(self, step: str, seconds: float) -> FailoverReport:
        return replace(self, timings={**self.timings, step: round(seconds, 3)})

    def with_calls(self, calls: Mapping[str, int]) -> FailoverReport:
        merged = dict(self.calls)
        for vault, n in calls.items():
            merged[vault] = merged.get(vault, 0) + n
        return replace(self, calls=merged)

    def finish(self, outcome: FailoverOutcome, at: datetime, **changes: Any) -> FailoverReport:
        return replace(self, outcome=outcome, finished_at=at, **changes)

    @property
    def rto_start(self) -> tuple[datetime, str, bool]:
        """When the need arose, on what basis, and whether the alert's time was rejected."""
        if self.fired_at is None:
            return self.started_at, "runbook start", False
        early = (self.started_at - self.fired_at).total_seconds()
        if self.fired_at < self.started_at - MAX_ALERT_DELAY:
            return self.started_at, (
                f"runbook start: the alert's fired time {format_time(self.fired_at)} is "
                f"{early:.0f} s before it, more than {MAX_ALERT_DELAY.total_seconds():.0f} s, "
                "so it was ignored"), True
        if self.fired_at > self.started_at + CLOCK_SKEW:
            return self.started_at, (
                f"runbook start: the alert's fired time {format_time(self.fired_at)} is "
                f"{-early:.0f} s after it (in the future beyond the "
                f"{CLOCK_SKEW.total_seconds():.0f} s clock-skew tolerance), so it was ignored"
            ), True
        return min(self.fired_at, self.started_at), "alert fired", False

    @property
    def rto_seconds(self) -> float | None:
        """Need to verified switch (only for a completed switch)."""
        if self.outcome is not FailoverOutcome.COMPLETED or self.finished_at is None:
            return None
        return (self.finished_at - self.rto_start[0]).total_seconds()

    @property
    def rto_excluding_approval_seconds(self) -> float | None:
        rto = self.rto_seconds
        if rto is None:
            return None
        return rto - (self.approval.wait_seconds if self.approval else 0.0)

    @property
    def within_rto(self) -> bool | None:
        rto = self.rto_seconds
        if rto is None or self.rto_objective_seconds is None:
            return None
        return rto <= self.rto_objective_seconds

    def to_dict(self) -> dict[str, Any]:
        def rounded(value: float | None) -> float | None:
            return None if value is None else round(value, 3)

        return {
            "run_id": self.run_id, "kind": self.kind,
            "outcome": str(self.outcome) if self.outcome else None,
            "source": self.source, "target": self.target,
            "epoch_before": self.epoch_before, "epoch_after": self.epoch_after,
            "requested_by": self.requested_by, "reason": self.reason,
            "alert_id": self.alert_id, "fired_at": format_time(self.fired_at),
            "started_at": format_time(self.started_at),
            "finished_at": format_time(self.finished_at),
            "plan": dict(self.plan) if self.plan else None,
            "approval": self.approval.to_dict() if self.approval else None,
            "timings": dict(self.timings), "steps": {k: dict(v) for k, v in self.steps.items()},
            "fenced": list(self.fenced), "unreached": dict(self.unreached),
            "rpo_exposure_seconds": rounded(self.rpo_exposure_seconds),
            "rpo_basis": self.rpo_basis,
            "rto_seconds": rounded(self.rto_seconds),
            "rto_excluding_approval_seconds": rounded(self.rto_excluding_approval_seconds),
            "rto_objective_seconds": self.rto_objective_seconds, "within_rto": self.within_rto,
            "rto_basis": self.rto_start[1], "rto_clamped": self.rto_start[2],
            "messages": list(self.messages), "error": dict(self.error) if self.error else None,
            "calls": dict(self.calls),
            "renewal": dict(self.renewal) if self.renewal is not None else None,
            "lost_to": dict(self.lost_to) if self.lost_to is not None else None,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FailoverReport:
        return cls(
            run_id=data["run_id"], kind=data["kind"], target=data["target"],
            requested_by=data.get("requested_by", ""), reason=data.get("reason", ""),
            started_at=parse_time(data["started_at"]),  # type: ignore[arg-type]
            outcome=FailoverOutcome(data["outcome"]) if data.get("outcome") else None,
            source=data.get("source"), epoch_before=int(data.get("epoch_before", 0)),
            epoch_after=int(data.get("epoch_after", 0)),
            fired_at=parse_time(data.get("fired_at")),
            finished_at=parse_time(data.get("finished_at")), plan=data.get("plan"),
            approval=Approval.from_dict(data["approval"]) if data.get("approval") else None,
            timings=dict(data.get("timings", {})), steps=dict(data.get("steps", {})),
            fenced=tuple(data.get("fenced", ())), unreached=dict(data.get("unreached", {})),
            rpo_exposure_seconds=data.get("rpo_exposure_seconds"),
            rpo_basis=data.get("rpo_basis", ""),
            rto_objective_seconds=data.get("rto_objective_seconds"),
            messages=tuple(data.get("messages", ())), error=data.get("error"),
            alert_id=data.get("alert_id"), calls=dict(data.get("calls", {})),
            renewal=data.get("renewal"), lost_to=data.get("lost_to"))

    def event_dimensions(self) -> dict[str, str | int | float]:
        """The ``kvdr.failover.completed`` custom event: names, epochs and seconds only."""
        dims: dict[str, str | int | float] = {
            "run_id": self.run_id, "kind": self.kind, "outcome": str(self.outcome),
            "source": self.source or "", "target": self.target,
            "epoch_before": self.epoch_before, "epoch_after": self.epoch_after,
            "requested_by": self.requested_by[:200]}
        for key, value in (("rto_seconds", self.rto_seconds),
                           ("rto_excluding_approval_seconds",
                            self.rto_excluding_approval_seconds),
                           ("rpo_exposure_seconds", self.rpo_exposure_seconds)):
            if value is not None:
                dims[key] = round(value, 3)
        return dims

    def render_text(self) -> str:
        """A plain-text summary for the CLI."""
        lines = [f"{self.kind} {self.source or '?'} -> {self.target}: {self.outcome or 'running'}"
                 + (f" (epoch {self.epoch_before} -> {self.epoch_after})"
                    if self.outcome is FailoverOutcome.COMPLETED else
                    # failed after the switch (the verification): the switch still stands
                    f" (switched, epoch {self.epoch_before} -> {self.epoch_after}, not verified)"
                    if self.outcome is FailoverOutcome.FAILED and self.fenced else "")]
        if self.rto_seconds is not None:
            objective = (f" (objective {self.rto_objective_seconds} s: "
                         f"{'met' if self.within_rto else 'MISSED'})"
                         if self.rto_objective_seconds else "")
            lines.append(f"  RTO {self.rto_seconds:.1f} s{objective}; kvdr's own part "
                         f"{self.rto_excluding_approval_seconds:.1f} s")
            if self.rto_start[2]:
                lines.append(f"  RTO measured from the {self.rto_start[1]}")
        if self.rpo_exposure_seconds is not None:
            lines.append(f"  possible data loss window ~{self.rpo_exposure_seconds:.0f} s "
                         f"({self.rpo_basis})")
        if self.approval and self.approval.required:
            verdict = {True: "approved", False: "rejected", None: "not decided"}[
                self.approval.approved]
            lines.append(f"  approval: {verdict}" + (f" by {self.approval.by}"
                                                     if self.approval.by else ""))
        if self.timings:
            lines.append("  steps: " + ", ".join(f"{k} {v:.1f}s" for k, v in self.timings.items()))
        for name, step in self.steps.items():
            counts = step.get("counts", {})
            summary = ", ".join(f"{a} {sum(k.values())}" for a, k in sorted(counts.items()))
            # a pair that stopped with an error (e.g. refused before writing) failed, whatever
            # its item counts say
            status = "failed" if step.get("error") else step.get("status", "?")
            lines.append(f"  {name}: {status}" + (f" ({summary})" if summary else ""))
            lines += [f"    conflict {n['kind']} {n['name']}: {n['reason']}"
                      for n in step.get("conflicts", ())]
            lines += [f"    overwritten {n['kind']} {n['name']}: {n['reason']}"
                      for n in step.get("overwritten", ())]
        if self.renewal is not None:
            lines.append(f"  renewal hand-over: {handover_summary(self.renewal)}")
        if self.unreached:
            lines.append("  not reached: " + ", ".join(f"{r} [{c}]"
                                                       for r, c in self.unreached.items()))
        lines += [f"  note: {m}" for m in self.messages]
        if self.error:
            lines.append(f"  error: [{self.error.get('code')}] {self.error.get('message')}")
        return "\n".join(lines)
