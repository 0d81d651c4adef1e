"""The sync report: what a full sync planned, did, skipped and failed — never a value.

It is the output of the full-sync orchestration and is kept as the last sync status. A report
starts from the plan (``SyncReport.start``), absorbs each batch activity's ``BatchResult`` and
is finished with the end time; reports of sub-orchestrations (groups of batches, or the targets
of one sync) combine with ``merge``. ``conflicts`` lists what was planned and not written
(drift, and reconcile's changed-in-both-regions items); ``overwritten`` lists drift that was
written over (a drain, or ``policies.conflicts`` primary-wins) — the target's own version stays
in its version history. Item lists are capped so the report stays far below the
Durable payload and custom-status limits; the counts are always complete. ``renewal`` holds,
per secondary region, what the pairs' renewal steps did (:mod:`kvdr.sync.renewal_section`):
its failures are no item failures, but make the run ``partial``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from kvdr.sync.model import EXECUTABLE, PlanAction, SyncPlan
from kvdr.sync.renewal_section import describe, has_failures, merge_renewal
from kvdr.vault.inventory import ItemKind, format_time, parse_time

MAX_LISTED = 200  # entries kept per list (skipped, conflicts, overwritten, failures)


class SyncStatus(StrEnum):
    SUCCEEDED = "succeeded"
    PARTIAL = "partial"      # some items failed, a breaker blocked deletions, or renewal failed
    FAILED = "failed"        # items failed and none succeeded
    RUNNING = "running"


@dataclass(frozen=True)
class ItemNote:
    """An item and why it is listed (skip/conflict reason, or a failure's code and message)."""

    kind: ItemKind
    name: str
    reason: str
    code: str | None = None

    def to_dict(self) -> dict[str, Any]:
        data = {"kind": str(self.kind), "name": self.name, "reason": self.reason}
        if self.code:
            data["code"] = self.code
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ItemNote:
        return cls(ItemKind(data["kind"]), data["name"], data["reason"], data.get("code"))


@dataclass(frozen=True)
class ItemOutcome:
    """What an activity did with one plan item. ``action`` is what actually happened (a
    ``verify_fingerprint`` item ends as ``unchanged``, ``update_attributes`` or
    ``update_value``); ``ok`` False means it failed with ``code``."""

    kind: ItemKind
    name: str
    action: PlanAction
    ok: bool = True
    code: str | None = None
    message: str | None = None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"kind": str(self.kind), "name": self.name,
                                "action": str(self.action)}
        if not self.ok:
            data.update(ok=False, code=self.code, message=self.message)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ItemOutcome:
        return cls(ItemKind(data["kind"]), data["name"], PlanAction(data["action"]),
                   data.get("ok", True), data.get("code"), data.get("message"))


@dataclass(frozen=True)
class BatchResult:
    """The envelope a batch activity returns: per-item outcomes and calls made per vault."""

    outcomes: tuple[ItemOutcome, ...] = ()
    calls: Mapping[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"ok": all(o.ok for o in self.outcomes),
                "outcomes": [o.to_dict() for o in self.outcomes], "calls": dict(self.calls)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BatchResult:
        return cls(tuple(ItemOutcome.from_dict(o) for o in data.get("outcomes", ())),
                   dict(data.get("calls", {})))


def _add_counts(a: Mapping[str, Mapping[str, int]], b: Mapping[str, Mapping[str, int]]
                ) -> dict[str, dict[str, int]]:
    out = {action: dict(kinds) for action, kinds in a.items()}
    for action, kinds in b.items():
        slot = out.setdefault(action, {})
        for kind, n in kinds.items():
            slot[kind] = slot.get(kind, 0) + n
    return out


def _capped(notes: Iterable[ItemNote], omitted: int, limit: int = MAX_LISTED
            ) -> tuple[tuple[ItemNote, ...], int]:
    notes = tuple(notes)
    return notes[:limit], omitted + max(0, len(notes) - limit)


@dataclass(frozen=True)
class SyncReport:
    source_region: str
    target_regions: tuple[str, ...]
    started_at: datetime
    dry_run: bool = False
    finished_at: datetime | None = None
    counts: Mapping[str, Mapping[str, int]] = field(default_factory=dict)  # action -> kind -> n
    skipped: tuple[ItemNote, ...] = ()
    conflicts: tuple[ItemNote, ...] = ()
    failures: tuple[ItemNote, ...] = ()
    omitted: int = 0  # list entries left out by the cap
    calls: Mapping[str, int] = field(default_factory=dict)  # vault region -> calls
    blocked_reasons: tuple[str, ...] = ()
    overwritten: tuple[ItemNote, ...] = ()  # drift written over (never silently)
    renewal: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # region -> section

    @classmethod
    def start(cls, plan: SyncPlan, *, dry_run: bool, started_at: datetime) -> SyncReport:
        """The report of a plan before execution: counts the items nothing will execute (and,
        in a dry run, the planned ones too) and lists skips and conflicts with their reasons."""
        counts: dict[str, dict[str, int]] = {}
        skipped, conflicts = [], []
        for item in plan.items:
            if item.action in EXECUTABLE and not dry_run:
                continue
            slot = counts.setdefault(str(item.action), {})
            slot[str(item.kind)] = slot.get(str(item.kind), 0) + 1
            note = ItemNote(item.kind, item.name, item.reason or str(item.action))
            if item.action in (PlanAction.SKIP, PlanAction.TARGET_ONLY, PlanAction.BLOCKED):
                skipped.append(note)
            elif item.action == PlanAction.CONFLICT or (item.drift and dry_run):
                conflicts.append(note)
        skipped_t, omitted = _capped(skipped, 0)
        conflicts_t, omitted = _capped(conflicts, omitted)
        return cls(source_region=plan.source_region, target_regions=(plan.target_region,),
                   started_at=started_at, dry_run=dry_run, counts=counts, skipped=skipped_t,
                   conflicts=conflicts_t, omitted=omitted,
                   blocked_reasons=(plan.blocked_reason,) if plan.blocked_reason else ())

    def add_batch(self, result: BatchResult) -> SyncReport:
        counts: dict[str, dict[str, int]] = {}
        failures = list(self.failures)
        for o in result.outcomes:
            if o.ok:
                slot = counts.setdefault(str(o.action), {})
                slot[str(o.kind)] = slot.get(str(o.kind), 0) + 1
            else:
                slot = counts.setdefault("failed", {})
                slot[str(o.kind)] = slot.get(str(o.kind), 0) + 1
                failures.append(ItemNote(o.kind, o.name, o.message or "failed",
                                         o.code or "unknown"))
        calls = dict(self.calls)
        for vault, n in result.calls.items():
            calls[vault] = calls.get(vault, 0) + n
        failures_t, omitted = _capped(failures, self.omitted)
        return replace(self, counts=_add_counts(self.counts, counts), failures=failures_t,
                       omitted=omitted, calls=calls)

    def add_calls(self, calls: Mapping[str, int]) -> SyncReport:
        """Count calls made outside batches (inventory list calls)."""
        return self.add_batch(BatchResult(calls=calls))

    def merge(self, other: SyncReport) -> SyncReport:
        """Combine two reports of the same sync (e.g. per target, or per group of batches)."""
        calls = dict(self.calls)
        for vault, n in other.calls.items():
            calls[vault] = calls.get(vault, 0) + n
        omitted = self.omitted + other.omitted
        skipped, omitted = _capped((*self.skipped, *other.skipped), omitted)
        conflicts, omitted = _capped((*self.conflicts, *other.conflicts), omitted)
        overwritten, omitted = _capped((*self.overwritten, *other.overwritten), omitted)
        failures, omitted = _capped((*self.failures, *other.failures), omitted)
        ends = [t for t in (self.finished_at, other.finished_at) if t is not None]
        return SyncReport(
            source_region=self.source_region,
            target_regions=tuple(dict.fromkeys((*self.target_regions, *other.target_regions))),
            started_at=min(self.started_at, other.started_at),
            dry_run=self.dry_run or other.dry_run,
            finished_at=max(ends) if ends else None,
            counts=_add_counts(self.counts, other.counts), skipped=skipped,
            conflicts=conflicts, failures=failures, omitted=omitted, calls=calls,
            blocked_reasons=(*self.blocked_reasons, *other.blocked_reasons),
            overwritten=overwritten, renewal=merge_renewal(self.renewal, other.renewal))

    def add_overwritten(self, notes: Iterable[ItemNote]) -> SyncReport:
        """List drift the batches wrote over (they know which items actually were)."""
        listed, omitted = _capped((*self.overwritten, *notes), self.omitted)
        return replace(self, overwritten=listed, omitted=omitted)

    def with_renewal(self, region: str, section: Mapping[str, Any]) -> SyncReport:
        """Add one secondary's renewal section (merged with one it holds already)."""
        return replace(self, renewal=merge_renewal(self.renewal, {region: section}))

    @property
    def renewal_failed(self) -> bool:
        return any(has_failures(section) for section in self.renewal.values())

    def finish(self, finished_at: datetime) -> SyncReport:
        return replace(self, finished_at=finished_at)

    @property
    def duration_seconds(self) -> float | None:
        if self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()

    def count(self, action: PlanAction | str, kind: ItemKind | str | None = None) -> int:
        per_kind = self.counts.get(str(action), {})
        return per_kind.get(str(kind), 0) if kind is not None else sum(per_kind.values())

    @property
    def failed_count(self) -> int:
        return self.count("failed")

    @property
    def status(self) -> SyncStatus:
        if self.finished_at is None:
            return SyncStatus.RUNNING
        done = sum(self.count(a) for a in EXECUTABLE | {PlanAction.UNCHANGED})
        if self.failed_count and not done:
            return SyncStatus.FAILED
        if self.failed_count or self.blocked_reasons or self.renewal_failed:
            return SyncStatus.PARTIAL
        return SyncStatus.SUCCEEDED

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "status": str(self.status),
            "source_region": self.source_region, "target_regions": list(self.target_regions),
            "dry_run": self.dry_run, "started_at": format_time(self.started_at),
            "finished_at": format_time(self.finished_at),
            "duration_seconds": self.duration_seconds,
            "counts": {a: dict(k) for a, k in self.counts.items()},
            "skipped": [n.to_dict() for n in self.skipped],
            "conflicts": [n.to_dict() for n in self.conflicts],
            "overwritten": [n.to_dict() for n in self.overwritten],
            "failures": [n.to_dict() for n in self.failures],
            "omitted": self.omitted, "calls": dict(self.calls),
            "blocked_reasons": list(self.blocked_reasons),
            "renewal": {region: dict(section) for region, section in self.renewal.items()},
        }
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SyncReport:
        return cls(
            source_region=data["source_region"],
            target_regions=tuple(data.get("target_regions", ())),
            started_at=parse_time(data["started_at"]),  # type: ignore[arg-type]
            dry_run=data.get("dry_run", False),
            finished_at=parse_time(data.get("finished_at")),
            counts={a: dict(k) for a, k in data.get("counts", {}).items()},
            skipped=tuple(ItemNote.from_dict(n) for n in data.get("skipped", ())),
            conflicts=tuple(ItemNote.from_dict(n) for n in data.get("conflicts", ())),
            failures=tuple(ItemNote.from_dict(n) for n in data.get("failures", ())),
            omitted=data.get("omitted", 0), calls=dict(data.get("calls", {})),
            blocked_reasons=tuple(data.get("blocked_reasons", ())),
            overwritten=tuple(ItemNote.from_dict(n) for n in data.get("overwritten", ())),
            renewal={region: dict(section)
                     for region, section in (data.get("renewal") or {}).items()})

    def render_text(self) -> str:
        """A plain-text summary for the CLI."""
        duration = (f"{self.duration_seconds:.1f}s" if self.duration_seconds is not None
                    else "running")
        lines = [
            f"sync {self.source_region} -> {', '.join(self.target_regions)}"
            f"{' (dry run: nothing written)' if self.dry_run else ''}: {self.status} "
            f"in {duration}",
        ]
        kinds = [str(k) for k in ItemKind]
        width = max((len(a) for a in self.counts), default=6)
        lines.append(f"  {'action':<{width}}  " + "  ".join(f"{k:>11}" for k in kinds))
        order = [str(a) for a in PlanAction] + ["failed"]
        for action in sorted(self.counts, key=lambda a: order.index(a) if a in order else 99):
            row = "  ".join(f"{self.counts[action].get(k, 0):>11}" for k in kinds)
            lines.append(f"  {action:<{width}}  {row}")
        if self.calls:
            lines.append("  calls: " + ", ".join(f"{v}={n}" for v, n in sorted(self.calls.items())))
        for title, notes in (("failures", self.failures), ("conflicts", self.conflicts),
                             ("overwritten", self.overwritten), ("skipped", self.skipped)):
            if notes:
                lines.append(f"  {title}:")
                lines += [f"    {n.kind} {n.name}: {n.reason}" + (f" [{n.code}]" if n.code
                                                                   else "") for n in notes]
        if self.omitted:
            lines.append(f"  ({self.omitted} more entries not listed)")
        lines += [f"  blocked: {r}" for r in self.blocked_reasons]
        lines += [f"  {describe(region, section)}"
                  for region, section in sorted(self.renewal.items())]
        return "\n".join(lines)
