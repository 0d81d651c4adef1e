"""Plan, then execute: what a failover/failback would do, decided from an assessment of the
vaults before anything is written.

The assessment (read by an activity) says which vaults answer and which topology records they
hold. :func:`plan_failover` is pure: request + assessment in, a :class:`FailoverPlan` out, with
``not_needed`` and ``blocked`` as plan outcomes rather than exceptions, so a dry run, the
approval gate and the report all show the same plan.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from kvdr.failover.request import FailoverKind, FailoverRequest
from kvdr.topology.record import TopologyRecord, assess_topology

__all__ = ["Assessment", "FailoverPlan", "PlanOutcome", "Step", "plan_failover"]


class Step(StrEnum):
    RECONCILE = "reconcile"  # new primary -> current primary: what only the new one holds
    DRAIN = "drain"          # current primary -> new primary: catch up, primary wins
    SWITCH = "switch"        # epoch + 1 to the new primary first, then to every other vault
    VERIFY = "verify"        # read every record back


class PlanOutcome(StrEnum):
    READY = "ready"
    NOT_NEEDED = "not_needed"
    BLOCKED = "blocked"


@dataclass(frozen=True)
class Assessment:
    """What the assess activity read. ``records`` holds each region's record (None: none or
    unreadable); ``unreachable`` maps a region to the error code that kept it out."""

    records: Mapping[str, Mapping[str, Any] | None]
    unreachable: Mapping[str, str] = field(default_factory=dict)
    lag_seconds: float | None = None
    lag_basis: str = ""
    calls: Mapping[str, int] = field(default_factory=dict)

    def record(self, region: str) -> TopologyRecord | None:
        data = self.records.get(region)
        return TopologyRecord.from_dict(data) if data else None

    @property
    def reachable(self) -> tuple[str, ...]:
        return tuple(r for r in self.records if r not in self.unreachable)

    def to_dict(self) -> dict[str, Any]:
        return {"records": {k: dict(v) if v else None for k, v in self.records.items()},
                "unreachable": dict(self.unreachable), "lag_seconds": self.lag_seconds,
                "lag_basis": self.lag_basis, "calls": dict(self.calls)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Assessment:
        return cls(dict(data["records"]), dict(data.get("unreachable", {})),
                   data.get("lag_seconds"), data.get("lag_basis", ""),
                   dict(data.get("calls", {})))


@dataclass(frozen=True)
class FailoverPlan:
    outcome: PlanOutcome
    kind: FailoverKind
    # the primary in force (in a split brain settled on it: the other one; None: no record)
    source: str | None
    target: str
    epoch_before: int
    epoch_after: int
    steps: tuple[Step, ...] = ()
    fence: tuple[str, ...] = ()    # other vaults to receive the new record (best effort)
    reasons: tuple[str, ...] = ()  # why blocked / not needed, and what the operator should know
    split_brain: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"outcome": str(self.outcome), "kind": str(self.kind), "source": self.source,
                "target": self.target, "epoch_before": self.epoch_before,
                "epoch_after": self.epoch_after, "steps": [str(s) for s in self.steps],
                "fence": list(self.fence), "reasons": list(self.reasons),
                "split_brain": self.split_brain}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FailoverPlan:
        return cls(PlanOutcome(data["outcome"]), FailoverKind(data["kind"]), data.get("source"),
                   data["target"], int(data["epoch_before"]), int(data["epoch_after"]),
                   tuple(Step(s) for s in data.get("steps", ())), tuple(data.get("fence", ())),
                   tuple(data.get("reasons", ())), bool(data.get("split_brain", False)))


def plan_failover(request: FailoverRequest, assessment: Assessment) -> FailoverPlan:
    """Decide what the runbook does. The highest epoch among the reachable vaults is in force
    (decision 1); the new record is that epoch + 1."""
    records = {r: assessment.record(r) for r in assessment.records}
    present = {r: rec for r, rec in records.items() if rec is not None}

    if not present:
        return _plan(request, PlanOutcome.BLOCKED, None, 0, False, (
            "no reachable vault holds a topology record: run a full sync first (it writes the "
            "initial record) or check the vaults' network and roles",))
    view = assess_topology(records)
    current = view.current
    epoch = current.epoch
    if request.expected_epoch is not None and request.expected_epoch != epoch:
        return _plan(request, PlanOutcome.BLOCKED, current.primary, epoch, view.split_brain, (
            f"the topology is at epoch {epoch}, not {request.expected_epoch} as the request "
            "expected: someone else changed it; re-read the status and decide again",))
    if request.expected_primary and request.expected_primary != current.primary:
        return _plan(request, PlanOutcome.NOT_NEEDED, current.primary, epoch, view.split_brain, (
            f"{request.expected_primary} is not the primary ({current.primary} is, at epoch "
            f"{epoch}): nothing to fail over",))
    if current.primary == request.target and not view.split_brain:
        return _plan(request, PlanOutcome.NOT_NEEDED, current.primary, epoch, False, (
            f"{request.target} is already the primary at epoch {epoch}",))
    if request.target in assessment.unreachable:
        return _plan(request, PlanOutcome.BLOCKED, current.primary, epoch, view.split_brain, (
            f"the target {request.target} cannot be reached "
            f"[{assessment.unreachable[request.target]}]: it cannot become primary",))
    reasons: list[str] = []
    if view.split_brain:
        primaries = sorted({current.primary, *(r.primary for r in view.rivals)})
        reasons.append(f"split brain: two primaries at epoch {epoch} ({', '.join(primaries)}); "
                       f"this runbook settles it on {request.target} at epoch {epoch + 1}")
    source = current.primary
    if source == request.target:  # split brain: reconcile/drain with the rival, not itself
        source = view.rivals[-1].primary
    source_down = source in assessment.unreachable
    if request.kind is FailoverKind.UNPLANNED:
        steps: tuple[Step, ...] = (Step.SWITCH, Step.VERIFY)
        if assessment.lag_seconds is not None:
            reasons.append(f"changes of the last ~{assessment.lag_seconds:.0f} s on "
                           f"{source} may not have reached {request.target} "
                           f"({assessment.lag_basis}); a failback reconciles them")
        if source_down:
            reasons.append(f"{source} is unreachable: it keeps its old record until a "
                           "failback (its writes are drift, reconciled then)")
    else:
        if source_down:
            return _plan(request, PlanOutcome.BLOCKED, source, epoch, view.split_brain, (
                f"the primary {source} cannot be reached "
                f"[{assessment.unreachable[source]}]: a {request.kind} needs it to "
                "reconcile and drain; use an unplanned failover (HTTP `\"mode\": \"unplanned\"`, "
                "CLI `--unplanned`) to accept the loss of what it has not replicated yet",))
        steps = (Step.RECONCILE, Step.DRAIN, Step.SWITCH, Step.VERIFY)
    fence = tuple(r for r in assessment.records
                  if r != request.target and r not in assessment.unreachable)
    for region in assessment.records:
        if region in assessment.unreachable and region != source:
            reasons.append(f"{region} is unreachable: it gets the new record at the next "
                           "failover/failback or verify")
    return FailoverPlan(PlanOutcome.READY, request.kind, source, request.target,
                        epoch, epoch + 1, steps, fence, tuple(reasons), view.split_brain)


def _plan(request: FailoverRequest, outcome: PlanOutcome, source: str | None, epoch: int,
          split_brain: bool, reasons: tuple[str, ...]) -> FailoverPlan:
    return FailoverPlan(outcome, request.kind, source, request.target, epoch, epoch,
                        reasons=reasons, split_brain=split_brain)
