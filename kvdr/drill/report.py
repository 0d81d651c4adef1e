"""The drill's report: its result (passed only when every check passed), round trip, text, and
the dimensions of the custom event the drill-failure alert watches; where reports are kept."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from kvdr.drill.checks import CheckName, CheckStatus, DrillCheck
from kvdr.vault.inventory import format_time, parse_time

DRILL_COMPLETED_EVENT = "kvdr.drill.completed"
LAST_REPORT_KEY = "drill/last-report.json"
MAX_DIMENSION_CHARS = 1000


def report_key(run_id: str) -> str:
    return f"drill/reports/{run_id}.json"


class DrillResult(StrEnum):
    PASSED = "passed"
    FAILED = "failed"


class DrillPhase(StrEnum):
    PREFLIGHT = "preflight"
    RENEWAL = "renewal"
    RPO = "rpo"
    RTO = "rto"
    REPORT = "report"
    DONE = "done"



@dataclass(frozen=True)
class DrillReport:
    run_id: str
    started_at: datetime
    regions: tuple[str, ...] = ()
    rpo_objective_seconds: int | None = None
    rto_objective_seconds: int | None = None
    primary: str | None = None
    epoch: int | None = None
    targets: tuple[str, ...] = ()
    checks: tuple[DrillCheck, ...] = ()
    calls: Mapping[str, int] = field(default_factory=dict)
    finished_at: datetime | None = None

    @property
    def result(self) -> DrillResult:
        """Passed only when every check passed: a skipped check is an unproven objective."""
        ok = bool(self.checks) and all(c.passed for c in self.checks)
        return DrillResult.PASSED if ok else DrillResult.FAILED

    @property
    def failed_checks(self) -> tuple[DrillCheck, ...]:
        return tuple(c for c in self.checks if not c.passed)

    @property
    def warning_checks(self) -> tuple[DrillCheck, ...]:
        return tuple(c for c in self.checks if c.status == CheckStatus.WARNING)

    @property
    def duration_seconds(self) -> float | None:
        if self.finished_at is None:
            return None
        return round((self.finished_at - self.started_at).total_seconds(), 3)

    def _worst(self, name: CheckName) -> float | None:
        measured = [c.measured_seconds for c in self.checks
                    if c.name == name and c.measured_seconds is not None]
        return max(measured, default=None)

    @property
    def rpo_measured_seconds(self) -> float | None:
        return self._worst(CheckName.RPO)

    @property
    def rto_measured_seconds(self) -> float | None:
        return self._worst(CheckName.RTO)

    @property
    def pending_changes(self) -> int:
        return sum(c.counts.get("pending", 0) for c in self.checks if c.name == CheckName.RPO)

    def with_checks(self, checks: Iterable[DrillCheck]) -> DrillReport:
        return replace(self, checks=(*self.checks, *checks))

    def add_calls(self, calls: Mapping[str, int]) -> DrillReport:
        merged = dict(self.calls)
        for region, n in calls.items():
            merged[region] = merged.get(region, 0) + int(n)
        return replace(self, calls=merged)

    def finish(self, now: datetime) -> DrillReport:
        return replace(self, finished_at=now)

    def to_dict(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "result": str(self.result),
                "started_at": format_time(self.started_at),
                "finished_at": format_time(self.finished_at),
                "duration_seconds": self.duration_seconds, "regions": list(self.regions),
                "primary": self.primary, "epoch": self.epoch, "targets": list(self.targets),
                "objectives": {"rpo_seconds": self.rpo_objective_seconds,
                               "rto_seconds": self.rto_objective_seconds},
                "measured": {"rpo_seconds": self.rpo_measured_seconds,
                             "rto_seconds": self.rto_measured_seconds,
                             "pending_changes": self.pending_changes},
                "checks": [c.to_dict() for c in self.checks],
                "failed_checks": [c.label for c in self.failed_checks],
                "warnings": [c.label for c in self.warning_checks],
                "calls": dict(self.calls)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DrillReport:
        objectives = data.get("objectives") or {}
        return cls(data["run_id"], parse_time(data["started_at"]),  # type: ignore[arg-type]
                   tuple(data.get("regions", ())), objectives.get("rpo_seconds"),
                   objectives.get("rto_seconds"), data.get("primary"), data.get("epoch"),
                   tuple(data.get("targets", ())),
                   tuple(DrillCheck.from_dict(c) for c in data.get("checks", ())),
                   dict(data.get("calls", {})), parse_time(data.get("finished_at")))

    def render_text(self) -> str:
        def seconds(value: float | int | None) -> str:
            if value is None:
                return "-"
            return f"{value:.1f} s" if value < 10 else f"{value:.0f} s"

        lines = [f"drill {self.run_id}: {str(self.result).upper()} — primary "
                 f"{self.primary or '?'} at epoch {self.epoch if self.epoch else '?'}, "
                 f"secondaries {', '.join(self.targets) or '-'}",
                 f"  RPO {seconds(self.rpo_measured_seconds)} (objective "
                 f"{seconds(self.rpo_objective_seconds)}), RTO "
                 f"{seconds(self.rto_measured_seconds)} (objective "
                 f"{seconds(self.rto_objective_seconds)}), {self.pending_changes} pending "
                 f"changes, took {seconds(self.duration_seconds)}"]
        lines += [f"  [{c.status}] {c.label}: {c.message}" for c in self.checks]
        return "\n".join(lines)

    def event_dimensions(self) -> dict[str, str | int | float]:
        """The ``kvdr.drill.completed`` custom event's dimensions: names, counts and
        durations only; unknown values are left out rather than faked."""
        dims: dict[str, Any] = {
            "result": str(self.result), "run_id": self.run_id,
            "primary": self.primary, "epoch": self.epoch,
            "regions": ",".join(self.regions), "targets": ",".join(self.targets),
            "rpo_objective_seconds": self.rpo_objective_seconds,
            "rto_objective_seconds": self.rto_objective_seconds,
            "rpo_measured_seconds": self.rpo_measured_seconds,
            "rto_measured_seconds": self.rto_measured_seconds,
            "pending_changes": self.pending_changes,
            "duration_seconds": self.duration_seconds,
            "checks": len(self.checks), "checks_failed": len(self.failed_checks),
            "failed_checks": ",".join(c.label for c in self.failed_checks)[:MAX_DIMENSION_CHARS],
        }
        return {k: v for k, v in dims.items() if v is not None}
