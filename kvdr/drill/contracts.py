"""What crosses the Durable boundary of the DR drill: the runbook's input and each activity's
request and result. Frozen dataclasses with ``to_dict``/``from_dict`` (plain JSON); names,
counts and checks, never a value (the probe's nonce stays inside its activity).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kvdr.drill.checks import DrillCheck
from kvdr.drill.preflight import Preflight


@dataclass(frozen=True)
class DrillInput:
    """The runbook's input. ``targets`` limits the secondaries rehearsed (default: all);
    ``run_id`` defaults to the instance id."""

    targets: tuple[str, ...] | None = None
    run_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {}
        if self.targets is not None:
            data["targets"] = list(self.targets)
        if self.run_id:
            data["run_id"] = self.run_id
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> DrillInput:
        data = data or {}
        targets = data.get("targets")
        return cls(tuple(targets) if targets is not None else None, data.get("run_id"))


@dataclass(frozen=True)
class Measurement:
    """An activity's envelope: its check and the vault calls it made."""

    check: DrillCheck
    calls: Mapping[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"check": self.check.to_dict(), "calls": dict(self.calls)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Measurement:
        return cls(DrillCheck.from_dict(data["check"]), dict(data.get("calls", {})))


@dataclass(frozen=True)
class PreflightRequest:
    run_id: str
    targets: tuple[str, ...] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"run_id": self.run_id,
                "targets": list(self.targets) if self.targets is not None else None}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PreflightRequest:
        targets = data.get("targets")
        return cls(data["run_id"], tuple(targets) if targets is not None else None)


@dataclass(frozen=True)
class PreflightResult:
    """The preflight plus the configuration the orchestrator may not read itself."""

    preflight: Preflight
    regions: tuple[str, ...]
    rpo_objective_seconds: int
    rto_objective_seconds: int
    calls: Mapping[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"preflight": self.preflight.to_dict(), "regions": list(self.regions),
                "rpo_objective_seconds": self.rpo_objective_seconds,
                "rto_objective_seconds": self.rto_objective_seconds, "calls": dict(self.calls)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PreflightResult:
        return cls(Preflight.from_dict(data["preflight"]), tuple(data["regions"]),
                   int(data["rpo_objective_seconds"]), int(data["rto_objective_seconds"]),
                   dict(data.get("calls", {})))


@dataclass(frozen=True)
class MeasureRequest:
    run_id: str
    primary: str
    target: str
    epoch: int

    def to_dict(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "primary": self.primary, "target": self.target,
                "epoch": self.epoch}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MeasureRequest:
        return cls(data["run_id"], data["primary"], data["target"], int(data["epoch"]))


@dataclass(frozen=True)
class RenewalCheckRequest:
    """Check renewal ownership across ``regions`` (the vaults that answered the preflight) and
    compare issuers and key versions between the primary and each of ``targets``."""

    run_id: str
    primary: str
    regions: tuple[str, ...]
    targets: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "primary": self.primary, "regions": list(self.regions),
                "targets": list(self.targets)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RenewalCheckRequest:
        return cls(data["run_id"], data["primary"], tuple(data.get("regions", ())),
                   tuple(data.get("targets", ())))


@dataclass(frozen=True)
class RenewalCheckResult:
    """The ownership check, the issuer and key-version warnings, and the vault calls made."""

    checks: tuple[DrillCheck, ...]
    calls: Mapping[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"checks": [c.to_dict() for c in self.checks], "calls": dict(self.calls)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RenewalCheckResult:
        return cls(tuple(DrillCheck.from_dict(c) for c in data.get("checks", ())),
                   dict(data.get("calls", {})))
