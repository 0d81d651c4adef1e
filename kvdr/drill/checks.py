"""A drill's verdicts: what each check is called, its status, and the helpers that build one."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class CheckStatus(StrEnum):
    PASSED = "passed"
    FAILED = "failed"
    SKIPPED = "skipped"  # could not be measured: an unproven objective fails the drill too
    WARNING = "warning"  # reported for an operator to act on; does not fail the drill


class CheckName(StrEnum):
    REACHABLE = "vaults_reachable"
    PRIMARY = "current_primary"
    SPLIT_BRAIN = "no_split_brain"
    RECORDS_CURRENT = "records_current"
    TARGETS = "targets"
    RPO = "rpo"
    RTO = "rto"
    RENEWAL_OWNERSHIP = "renewal_ownership"  # exactly one vault, the primary, renews each item
    ISSUERS = "issuers"                      # warning: issuers missing/different in a secondary
    KEY_VERSIONS = "key_versions"            # warning: keys whose copy holds an older version
    RUNBOOK = "runbook"  # a drill step that failed for good (after its retries)


@dataclass(frozen=True)
class DrillCheck:
    """One verdict. ``measured_seconds``/``objective_seconds`` for RPO and RTO; ``counts`` and
    ``steps`` (seconds per rehearsed step) explain it; ``code`` is the error code when a vault
    error decided it; ``items`` names what it found (names and figures, capped)."""

    name: CheckName
    status: CheckStatus
    message: str
    region: str | None = None
    measured_seconds: float | None = None
    objective_seconds: int | None = None
    counts: Mapping[str, int] = field(default_factory=dict)
    steps: Mapping[str, float] = field(default_factory=dict)
    code: str | None = None
    items: tuple[Mapping[str, Any], ...] = ()

    @property
    def passed(self) -> bool:
        """Whether the drill can pass with it: passed, or only a warning."""
        return self.status in (CheckStatus.PASSED, CheckStatus.WARNING)

    @property
    def label(self) -> str:
        return f"{self.name}:{self.region}" if self.region else str(self.name)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"name": str(self.name), "status": str(self.status),
                                "message": self.message}
        if self.region:
            data["region"] = self.region
        if self.measured_seconds is not None:
            data["measured_seconds"] = self.measured_seconds
        if self.objective_seconds is not None:
            data["objective_seconds"] = self.objective_seconds
        if self.counts:
            data["counts"] = dict(self.counts)
        if self.steps:
            data["steps"] = dict(self.steps)
        if self.code:
            data["code"] = self.code
        if self.items:
            data["items"] = [dict(i) for i in self.items]
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DrillCheck:
        return cls(CheckName(data["name"]), CheckStatus(data["status"]), data["message"],
                   data.get("region"), data.get("measured_seconds"),
                   data.get("objective_seconds"), dict(data.get("counts", {})),
                   dict(data.get("steps", {})), data.get("code"),
                   tuple(data.get("items", ())))


def passed(name: CheckName, message: str, region: str | None = None, **kw: Any) -> DrillCheck:
    return DrillCheck(name, CheckStatus.PASSED, message, region, **kw)


def failed(name: CheckName, message: str, region: str | None = None, **kw: Any) -> DrillCheck:
    return DrillCheck(name, CheckStatus.FAILED, message, region, **kw)


def warning(name: CheckName, message: str, region: str | None = None, **kw: Any
            ) -> DrillCheck:
    return DrillCheck(name, CheckStatus.WARNING, message, region, **kw)


def skipped(name: CheckName, message: str, region: str | None = None) -> DrillCheck:
    return DrillCheck(name, CheckStatus.SKIPPED, message, region)


def error_check(name: CheckName, region: str | None, error: Mapping[str, Any], *,
                objective: int | None = None, prefix: str = "could not measure") -> DrillCheck:
    """A check that a vault (or kvdr) error decided: its code and message, nothing else."""
    return failed(name, f"{prefix}: {error.get('message', 'unknown error')}", region,
                  objective_seconds=objective, code=error.get("code"))


def step_failed(name: CheckName, region: str | None, error: Any) -> DrillCheck:
    """The check of a drill step whose activity failed for good."""
    text = str(error).strip().splitlines()[0][:300] if str(error).strip() else "unknown error"
    return failed(name, f"the drill step failed after its retries: {text}", region,
                  code="drill.step_failed")

