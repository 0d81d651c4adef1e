"""What crosses the Durable boundary of the failover/failback runbook: each activity's request
and result (the runbook's input is :class:`kvdr.failover.request.FailoverRequest`). Frozen
dataclasses with ``to_dict``/``from_dict`` (plain JSON); names, epochs and counts, never a value.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kvdr.failover.plan import Assessment


@dataclass(frozen=True)
class AssessRequest:
    run_id: str
    target: str

    def to_dict(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "target": self.target}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AssessRequest:
        return cls(data["run_id"], data["target"])


@dataclass(frozen=True)
class AssessResult:
    """The assessment plus what the orchestrator may not read itself (configuration)."""

    assessment: Assessment
    rto_objective_seconds: int
    max_parallel: int

    def to_dict(self) -> dict[str, Any]:
        return {"assessment": self.assessment.to_dict(),
                "rto_objective_seconds": self.rto_objective_seconds,
                "max_parallel": self.max_parallel}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AssessResult:
        return cls(Assessment.from_dict(data["assessment"]), int(data["rto_objective_seconds"]),
                   int(data["max_parallel"]))


@dataclass(frozen=True)
class SwitchRequest:
    run_id: str
    record: Mapping[str, Any]        # the new TopologyRecord (epoch_before + 1)
    epoch_before: int
    fence: tuple[str, ...] = ()      # the other reachable vaults

    def to_dict(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "record": dict(self.record),
                "epoch_before": self.epoch_before, "fence": list(self.fence)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SwitchRequest:
        return cls(data["run_id"], data["record"], int(data["epoch_before"]),
                   tuple(data.get("fence", ())))


@dataclass(frozen=True)
class SwitchResult:
    """``held``: vaults left holding a record the rule puts before ours (a rival runbook's at
    this epoch, or a newer one), which the settle step sorts out; ``holder``: when the new
    primary itself already held a newer record (nothing was switched), that record."""

    ok: bool
    fenced: tuple[str, ...] = ()
    unreached: Mapping[str, str] = field(default_factory=dict)
    calls: Mapping[str, int] = field(default_factory=dict)
    error: Mapping[str, Any] | None = None
    held: tuple[str, ...] = ()
    holder: Mapping[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "fenced": list(self.fenced), "unreached": dict(self.unreached),
                "calls": dict(self.calls), "error": dict(self.error) if self.error else None,
                "held": list(self.held), "holder": dict(self.holder) if self.holder else None}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SwitchResult:
        return cls(bool(data["ok"]), tuple(data.get("fenced", ())),
                   dict(data.get("unreached", {})), dict(data.get("calls", {})),
                   data.get("error"), tuple(data.get("held", ())), data.get("holder"))


@dataclass(frozen=True)
class SettleRequest:
    run_id: str
    record: Mapping[str, Any]        # the record this runbook switched to

    def to_dict(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "record": dict(self.record)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SettleRequest:
        return cls(data["run_id"], data["record"])


@dataclass(frozen=True)
class SettleResult:
    """After the settle wait: the record every reachable vault now holds (the rule's winner),
    whether it is this runbook's, which vaults were rewritten to it, and the rivals found."""

    won: bool
    winner: Mapping[str, Any] | None = None
    rewritten: tuple[str, ...] = ()
    rivals: tuple[Mapping[str, Any], ...] = ()
    unreached: Mapping[str, str] = field(default_factory=dict)
    calls: Mapping[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"won": self.won, "winner": dict(self.winner) if self.winner else None,
                "rewritten": list(self.rewritten), "rivals": [dict(r) for r in self.rivals],
                "unreached": dict(self.unreached), "calls": dict(self.calls)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SettleResult:
        return cls(bool(data["won"]), data.get("winner"), tuple(data.get("rewritten", ())),
                   tuple(data.get("rivals", ())), dict(data.get("unreached", {})),
                   dict(data.get("calls", {})))


@dataclass(frozen=True)
class VerifyRequest:
    run_id: str
    target: str
    epoch_after: int

    def to_dict(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "target": self.target, "epoch_after": self.epoch_after}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> VerifyRequest:
        return cls(data["run_id"], data["target"], int(data["epoch_after"]))


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    stale: tuple[str, ...] = ()
    unreached: Mapping[str, str] = field(default_factory=dict)
    calls: Mapping[str, int] = field(default_factory=dict)
    error: Mapping[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "stale": list(self.stale), "unreached": dict(self.unreached),
                "calls": dict(self.calls), "error": dict(self.error) if self.error else None}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> VerifyResult:
        return cls(bool(data["ok"]), tuple(data.get("stale", ())),
                   dict(data.get("unreached", {})), dict(data.get("calls", {})),
                   data.get("error"))


@dataclass(frozen=True)
class SaveReportRequest:
    """The finished report, and the run ids of the reconcile/drain syncs whose plans to delete."""

    report: Mapping[str, Any]
    sync_runs: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"report": dict(self.report), "sync_runs": list(self.sync_runs)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SaveReportRequest:
        return cls(data["report"], tuple(data.get("sync_runs", ())))


@dataclass(frozen=True)
class HandOverRequest:
    """Hand renewal over to the new primary (decision 9). ``others``: the vaults the switch
    reached, disarmed now; ``unreached``: the others (region -> why), disarmed by the next sync
    that reaches them."""

    run_id: str
    primary: str
    epoch: int
    others: tuple[str, ...] = ()
    unreached: Mapping[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "primary": self.primary, "epoch": self.epoch,
                "others": list(self.others), "unreached": dict(self.unreached)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> HandOverRequest:
        return cls(data["run_id"], data["primary"], int(data["epoch"]),
                   tuple(data.get("others", ())), dict(data.get("unreached", {})))


@dataclass(frozen=True)
class HandOverResult:
    """``renewal``: :meth:`kvdr.renewal.ownership.HandOver.to_dict` (None when the hand-over
    could not start: ``error`` says why)."""

    renewal: Mapping[str, Any] | None = None
    calls: Mapping[str, int] = field(default_factory=dict)
    error: Mapping[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"renewal": dict(self.renewal) if self.renewal is not None else None,
                "calls": dict(self.calls), "error": dict(self.error) if self.error else None}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> HandOverResult:
        return cls(data.get("renewal"), dict(data.get("calls", {})), data.get("error"))
