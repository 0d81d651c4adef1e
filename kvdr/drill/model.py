"""The DR drill, pure: its checks, how measurements are judged against the objectives, and the
report. No I/O: the drill activities read the vaults and call these functions.

A drill is non-disruptive. It never changes the topology record and never writes a user item;
it measures whether a failover *now* would meet the objectives:

* preflight — every vault reachable, a current primary, no split brain, no stale record;
* RPO per secondary — the changes the primary holds that the secondary does not (a read-only
  sync plan, list calls only) and the age of the oldest of them: what a failover now would lose;
* RTO per secondary — the time of the steps a failover runs against the vaults (read every
  topology record, write the reserved probe secret ``kvdr-drill-probe`` into the secondary and
  read it back: proof that it takes writes now).

The report carries names, counts and durations, never a value (decision 3).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from kvdr.sync.model import EXECUTABLE, PlanAction, Reason, SyncPlan
from kvdr.topology.reading import RecordRead
from kvdr.topology.record import TopologyRecord, assess_topology
from kvdr.vault.inventory import ItemProps, format_time, parse_time

DRILL_COMPLETED_EVENT = "kvdr.drill.model.completed"
PROBE_SECRET_NAME = "kvdr-drill-probe"  # reserved prefix: never replicated, never reported
PROBE_CONTENT_TYPE = "text/plain"
PROBE_RECORD_TAG = ("kvdr-record", "drill-probe")  # marks it as kvdr's, like the topology record
PROBE_RUN_TAG = "kvdr-drill-run"                   # the run that wrote this version
LAST_REPORT_KEY = "drill/last-report.json"
MAX_DIMENSION_CHARS = 1000


def report_key(run_id: str) -> str:
    return f"drill/reports/{run_id}.json"


class DrillResult(StrEnum):
    PASSED = "passed"
    FAILED = "failed"


class DrillPhase(StrEnum):
    PREFLIGHT = "preflight"
    RPO = "rpo"
    RTO = "rto"
    REPORT = "report"
    DONE = "done"


class CheckStatus(StrEnum):
    PASSED = "passed"
    FAILED = "failed"
    SKIPPED = "skipped"  # could not be measured: an unproven objective fails the drill too


class CheckName(StrEnum):
    REACHABLE = "vaults_reachable"
    PRIMARY = "current_primary"
    SPLIT_BRAIN = "no_split_brain"
    RECORDS_CURRENT = "records_current"
    TARGETS = "targets"
    RPO = "rpo"
    RTO = "rto"
    RUNBOOK = "runbook"  # a drill step that failed for good (after its retries)


@dataclass(frozen=True)
class DrillCheck:
    """One verdict. ``measured_seconds``/``objective_seconds`` for RPO and RTO; ``counts`` and
    ``steps`` (seconds per rehearsed step) explain it; ``code`` is the error code when a vault
    error decided it."""

    name: CheckName
    status: CheckStatus
    message: str
    region: str | None = None
    measured_seconds: float | None = None
    objective_seconds: int | None = None
    counts: Mapping[str, int] = field(default_factory=dict)
    steps: Mapping[str, float] = field(default_factory=dict)
    code: str | None = None

    @property
    def passed(self) -> bool:
        return self.status == CheckStatus.PASSED

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
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DrillCheck:
        return cls(CheckName(data["name"]), CheckStatus(data["status"]), data["message"],
                   data.get("region"), data.get("measured_seconds"),
                   data.get("objective_seconds"), dict(data.get("counts", {})),
                   dict(data.get("steps", {})), data.get("code"))


def _passed(name: CheckName, message: str, region: str | None = None, **kw: Any) -> DrillCheck:
    return DrillCheck(name, CheckStatus.PASSED, message, region, **kw)


def _failed(name: CheckName, message: str, region: str | None = None, **kw: Any) -> DrillCheck:
    return DrillCheck(name, CheckStatus.FAILED, message, region, **kw)


def _skipped(name: CheckName, message: str, region: str | None = None) -> DrillCheck:
    return DrillCheck(name, CheckStatus.SKIPPED, message, region)


def error_check(name: CheckName, region: str | None, error: Mapping[str, Any], *,
                objective: int | None = None, prefix: str = "could not measure") -> DrillCheck:
    """A check that a vault (or kvdr) error decided: its code and message, nothing else."""
    return _failed(name, f"{prefix}: {error.get('message', 'unknown error')}", region,
                   objective_seconds=objective, code=error.get("code"))


def step_failed(name: CheckName, region: str | None, error: Any) -> DrillCheck:
    """The check of a drill step whose activity failed for good."""
    text = str(error).strip().splitlines()[0][:300] if str(error).strip() else "unknown error"
    return _failed(name, f"the drill step failed after its retries: {text}", region,
                   code="drill.step_failed")


# --- preflight ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Preflight:
    """The preflight verdicts and what the drill measures next: RPO needs the primary and the
    secondary, the RTO rehearsal only the secondary (a failover away from a dead primary is
    exactly what it rehearses)."""

    checks: tuple[DrillCheck, ...]
    primary: str | None = None
    epoch: int | None = None
    targets: tuple[str, ...] = ()
    measure_rpo: tuple[str, ...] = ()
    measure_rto: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"checks": [c.to_dict() for c in self.checks], "primary": self.primary,
                "epoch": self.epoch, "targets": list(self.targets),
                "measure_rpo": list(self.measure_rpo), "measure_rto": list(self.measure_rto)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Preflight:
        return cls(tuple(DrillCheck.from_dict(c) for c in data.get("checks", ())),
                   data.get("primary"), data.get("epoch"), tuple(data.get("targets", ())),
                   tuple(data.get("measure_rpo", ())), tuple(data.get("measure_rto", ())))


def preflight(regions: Sequence[str], reads: Mapping[str, RecordRead],
              targets: Sequence[str] | None = None) -> Preflight:
    """Judge the topology records read from every vault (``reads`` per configured region)
    and decide which secondaries can be measured. ``targets`` limits the secondaries."""
    down = {r: reads[r].error_code for r in regions if not reads[r].reachable}
    checks = [_reachable(regions, down)]
    records = {r: reads[r].record for r in regions}
    if not any(records.values()):
        why = ("no vault could be reached" if len(down) == len(regions)
               else "no reachable vault holds a topology record")
        checks.append(_failed(CheckName.PRIMARY, f"{why}: there is no primary to fail over "
                              "from; a full sync bootstraps the record"))
        return _unmeasured(checks, tuple(targets or ()), "there is no current primary")
    view = assess_topology(records)
    primary, epoch = view.current.primary, view.current.epoch
    if primary not in regions:
        checks.append(_failed(CheckName.PRIMARY, f"the topology record names {primary} as "
                              f"primary (epoch {epoch}), which is not a configured region "
                              f"({', '.join(regions)})"))
        return _unmeasured(checks, tuple(targets or ()), "the primary is not configured",
                           epoch=epoch)
    checks.append(_passed(CheckName.PRIMARY, f"{primary} is primary at epoch {epoch}"))
    if view.split_brain:
        rivals = ", ".join(r.primary for r in view.rivals)
        checks.append(_failed(CheckName.SPLIT_BRAIN, f"split brain: {primary} and {rivals} "
                              f"are both primary at epoch {epoch}; run a failover to the "
                              "intended primary"))
        return _unmeasured(checks, tuple(targets or ()), "the primary is ambiguous",
                           epoch=epoch)
    checks.append(_passed(CheckName.SPLIT_BRAIN, "one primary"))
    checks.append(_records_current(regions, reads, view.current))

    secondaries = tuple(r for r in regions if r != primary)
    chosen = secondaries
    if targets is not None:
        wrong = [t for t in targets if t not in secondaries]
        if wrong:
            checks.append(_failed(CheckName.TARGETS, f"{', '.join(wrong)} cannot be rehearsed: "
                                  f"the primary is {primary} and the secondaries are "
                                  f"{', '.join(secondaries)}"))
        chosen = tuple(t for t in secondaries if t in targets)
    rpo, rto = [], []
    for target in chosen:
        if target in down:
            why = (f"{target} was unreachable [{down[target]}]: a failover to it could not "
                   "run now")
            checks += [_skipped(CheckName.RPO, why, target), _skipped(CheckName.RTO, why, target)]
            continue
        rto.append(target)
        if primary in down:
            checks.append(_skipped(CheckName.RPO, f"the primary {primary} was unreachable "
                                   f"[{down[primary]}]: pending changes cannot be listed",
                                   target))
        else:
            rpo.append(target)
    return Preflight(tuple(checks), primary, epoch, chosen, tuple(rpo), tuple(rto))


def _reachable(regions: Sequence[str], down: Mapping[str, str | None]) -> DrillCheck:
    if not down:
        return _passed(CheckName.REACHABLE, f"every vault answered ({', '.join(regions)})")
    listed = ", ".join(f"{r} [{code}]" for r, code in down.items())
    return _failed(CheckName.REACHABLE, f"unreachable: {listed}; check the vault, its network "
                   "path and kvdr's role", counts={"unreachable": len(down)})


def _records_current(regions: Sequence[str], reads: Mapping[str, RecordRead],
                     current: TopologyRecord) -> DrillCheck:
    problems = []
    for region in regions:
        read = reads[region]
        if not read.reachable:
            continue  # reported by the reachability check
        if read.unreadable:
            problems.append(f"{region} holds an unreadable record")
        elif read.record is None:
            problems.append(f"{region} holds no record")
        elif read.record.epoch < current.epoch:
            problems.append(f"{region} holds epoch {read.record.epoch} (primary "
                            f"{read.record.primary})")
    if not problems:
        return _passed(CheckName.RECORDS_CURRENT, f"every reachable vault holds epoch "
                       f"{current.epoch}")
    return _failed(CheckName.RECORDS_CURRENT, f"{'; '.join(problems)}; the current record is "
                   f"epoch {current.epoch} (primary {current.primary}); the next failover or "
                   "failback rewrites it", counts={"stale": len(problems)})


def _unmeasured(checks: list[DrillCheck], targets: tuple[str, ...], why: str,
                epoch: int | None = None) -> Preflight:
    for target in targets:
        checks += [_skipped(CheckName.RPO, f"not measured: {why}", target),
                   _skipped(CheckName.RTO, f"not measured: {why}", target)]
    return Preflight(tuple(checks), None, epoch, targets)


# --- RPO ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PendingChanges:
    """What a read-only sync plan says the secondary lacks. ``pending``: items the sync would
    still copy (their age is the RPO); the other counts explain, they are not lag:
    ``conflicts`` (drift the sync leaves to an operator), ``deletions`` (pending or blocked
    soft-deletes), ``unverifiable`` (no room for the link tag: lists cannot tell),
    ``not_replicated`` (skipped by design: disabled, non-exportable, key policy)."""

    pending: int = 0
    oldest_change_at: datetime | None = None
    undated: int = 0
    conflicts: int = 0
    deletions: int = 0
    unverifiable: int = 0
    not_replicated: int = 0

    def counts(self) -> dict[str, int]:
        return {"pending": self.pending, "conflicts": self.conflicts,
                "deletions": self.deletions, "unverifiable": self.unverifiable,
                "not_replicated": self.not_replicated}


def changed_at(props: ItemProps) -> datetime | None:
    """When the source item last changed: its updated time, else its version's creation time
    (the version token ``c<unix seconds>``)."""
    if props.updated_on is not None:
        return props.updated_on
    token = props.version or ""
    if token.startswith("c") and token[1:].isdigit():
        return datetime.fromtimestamp(int(token[1:]), UTC)
    return None


def pending_changes(plan: SyncPlan) -> PendingChanges:
    pending: list[ItemProps] = []
    counts = {"conflicts": 0, "deletions": 0, "unverifiable": 0, "not_replicated": 0}
    for item in plan.items:
        if item.action == PlanAction.CONFLICT:
            counts["conflicts"] += 1
        elif item.action in (PlanAction.DELETE_CANDIDATE, PlanAction.BLOCKED):
            counts["deletions"] += 1
        elif item.action == PlanAction.SKIP:
            counts["not_replicated"] += 1
        elif item.action == PlanAction.VERIFY_FINGERPRINT and item.reason == Reason.NO_ROOM:
            counts["unverifiable"] += 1  # listed as such by every sync, in sync or not
        elif item.action in EXECUTABLE and item.source is not None:
            pending.append(item.source)
    times = [t for t in map(changed_at, pending) if t is not None]
    return PendingChanges(len(pending), min(times, default=None), len(pending) - len(times),
                          **counts)


def rpo_check(region: str, changes: PendingChanges, *, now: datetime, objective: int
              ) -> DrillCheck:
    """Measured RPO: the age of the oldest pending change (0 when in sync)."""
    counts = changes.counts()
    notes = "".join(f"; {n} {what}" for what, n in (
        ("conflicts (drift the sync leaves to an operator)", changes.conflicts),
        ("deletions pending", changes.deletions),
        ("items without room for the link tag (lists cannot tell)", changes.unverifiable))
        if n)
    if changes.pending == 0:
        return _passed(CheckName.RPO, f"in sync: no pending change (RPO 0 s, objective "
                       f"{objective} s){notes}", region, measured_seconds=0.0,
                       objective_seconds=objective, counts=counts)
    if changes.undated:
        return _failed(CheckName.RPO, f"{changes.pending} pending changes, {changes.undated} "
                       f"of unknown age: the RPO cannot be bounded{notes}", region,
                       objective_seconds=objective, counts=counts)
    assert changes.oldest_change_at is not None
    age = round(max(0.0, (now - changes.oldest_change_at).total_seconds()), 3)
    text = (f"{changes.pending} pending changes, the oldest from "
            f"{format_time(changes.oldest_change_at)}: RPO {age:.0f} s")
    if age <= objective:
        return _passed(CheckName.RPO, f"{text} <= objective {objective} s{notes}", region,
                       measured_seconds=age, objective_seconds=objective, counts=counts)
    return _failed(CheckName.RPO, f"{text} > objective {objective} s: a failover now would "
                   f"lose them; run a full sync and check the event path{notes}", region,
                   measured_seconds=age, objective_seconds=objective, counts=counts)


# --- RTO ----------------------------------------------------------------------------------------


def rto_check(region: str, steps: Mapping[str, float], *, objective: int,
              error: Mapping[str, Any] | None = None, notes: Sequence[str] = ()
              ) -> DrillCheck:
    """Measured RTO: the sum of the rehearsed steps' durations."""
    steps = {k: round(v, 3) for k, v in steps.items()}
    measured = round(sum(steps.values()), 3)
    extra = "".join(f"; {n}" for n in notes)
    if error:
        return _failed(CheckName.RTO, f"the rehearsal failed: {error.get('message', 'error')}"
                       f"{extra}", region, objective_seconds=objective, steps=steps,
                       code=error.get("code"))
    text = f"rehearsed failover steps took {measured:.3f} s"
    if measured <= objective:
        return _passed(CheckName.RTO, f"{text} <= objective {objective} s{extra}", region,
                       measured_seconds=measured, objective_seconds=objective, steps=steps)
    return _failed(CheckName.RTO, f"{text} > objective {objective} s{extra}", region,
                   measured_seconds=measured, objective_seconds=objective, steps=steps)


# --- the report ---------------------------------------------------------------------------------


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
        """The ``kvdr.drill.model.completed`` custom event's dimensions: names, counts and
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
