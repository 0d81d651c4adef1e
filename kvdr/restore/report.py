"""The restore runbook's report: what the plan found, what each item's restore did (a capped
list, failures first), the counts, the text the CLI and ``kvdr status`` show, and where reports
are kept in the state store. Names, versions, regions and codes only: never a value."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from kvdr.restore.model import NEW, RestoreAction, RestorePlan
from kvdr.restore.outcome import RestoreOutcome
from kvdr.vault.inventory import format_time, parse_time, sort_key

LAST_REPORT_KEY = "restore/last-report.json"  # in the state store; a dry run never replaces it
MAX_LISTED = 200  # outcomes kept in a report; the rest are counted in ``omitted``


def report_key(run_id: str) -> str:
    return f"restore/reports/{run_id}.json"


class RestoreRunOutcome(StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"   # every planned write landed (or had landed)
    PARTIAL = "partial"       # some items failed, or the plan could not read everything
    FAILED = "failed"         # items failed and none was restored
    PLANNED_ONLY = "planned_only"  # dry run
    REJECTED = "rejected"     # the operator did not approve
    FENCED = "fenced"         # a failover raised the epoch: stopped cleanly


def _rank(o: RestoreOutcome) -> tuple[int, tuple[int, str, str]]:
    """Failures first, then what could not be restored, writes, new items, the rest."""
    if not o.ok:
        rank = 0
    elif o.action == RestoreAction.CANNOT:
        rank = 1
    elif o.wrote:
        rank = 2
    elif o.action in NEW:
        rank = 3
    else:
        rank = 4
    return rank, sort_key(o.kind, o.name)


@dataclass(frozen=True)
class RestoreReport:
    """``plan_counts``: the plan's ``{action: {kind: n}}``. ``done``: items restored by this
    run (a write landed); ``already``: items whose restore had landed before (nothing
    written); ``failed``: items that failed; ``cannot``: items kvdr cannot restore (the plan's,
    with reasons); ``new``: items created after ``as_of`` (reported or disabled, never
    deleted). ``outcomes`` holds at most :data:`MAX_LISTED` entries, failures first;
    ``omitted`` counts the rest."""

    run_id: str
    as_of: datetime
    primary: str
    epoch: int
    requested_by: str = ""
    reason: str = ""
    started: datetime | None = None
    finished: datetime | None = None
    outcome: str = RestoreRunOutcome.RUNNING
    dry_run: bool = False
    complete: bool = True
    plan_counts: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    outcomes: tuple[RestoreOutcome, ...] = ()
    omitted: int = 0
    done: int = 0
    already: int = 0
    failed: int = 0
    cannot: int = 0
    new: int = 0

    @classmethod
    def from_plan(cls, plan: RestorePlan, *, run_id: str, requested_by: str = "",
                  reason: str = "", started: datetime | None = None, dry_run: bool = False,
                  disable_new: bool = False) -> RestoreReport:
        """The report before execution: the plan's counts, and the items that are not
        executed listed as they are (what cannot be restored and why; new items reported)."""
        executed = {(i.kind, i.name) for i in plan.executable_with(disable_new)}
        listed = [RestoreOutcome(i.kind, i.name, i.action, ok=True,
                                 done=f"not restored: {i.reason}" if i.action ==
                                 RestoreAction.CANNOT else i.reason,
                                 source=i.version)
                  for i in plan.items
                  if (i.kind, i.name) not in executed and i.action != RestoreAction.UNCHANGED]
        report = cls(run_id=run_id, as_of=plan.as_of, primary=plan.primary, epoch=plan.epoch,
                     requested_by=requested_by, reason=reason, started=started,
                     dry_run=dry_run, complete=plan.complete,
                     plan_counts={a: dict(k) for a, k in plan.counts().items()},
                     cannot=len(plan.of_action(RestoreAction.CANNOT)),
                     new=len(plan.of_action(*NEW)))
        return report._listing(listed)

    def _listing(self, added: Iterable[RestoreOutcome]) -> RestoreReport:
        every = sorted((*self.outcomes, *added), key=_rank)
        kept = tuple(every[:MAX_LISTED])
        return replace(self, outcomes=kept, omitted=self.omitted + len(every) - len(kept))

    def merge(self, outcomes: Iterable[RestoreOutcome]) -> RestoreReport:
        """This report with a batch's outcomes counted and listed."""
        batch = list(outcomes)
        merged = replace(
            self,
            done=self.done + sum(1 for o in batch if o.ok and o.wrote),
            already=self.already + sum(1 for o in batch if o.ok and not o.wrote),
            failed=self.failed + sum(1 for o in batch if not o.ok))
        return merged._listing(batch)

    def finish(self, now: datetime, outcome: str | None = None) -> RestoreReport:
        """Finished at ``now`` with ``outcome`` (default: from the counts)."""
        if outcome is None:
            if self.dry_run:
                outcome = RestoreRunOutcome.PLANNED_ONLY
            elif self.failed and not self.done and not self.already:
                outcome = RestoreRunOutcome.FAILED
            elif self.failed or not self.complete:
                outcome = RestoreRunOutcome.PARTIAL
            else:
                outcome = RestoreRunOutcome.SUCCEEDED
        return replace(self, finished=now, outcome=str(outcome))

    @property
    def failures(self) -> tuple[RestoreOutcome, ...]:
        return tuple(o for o in self.outcomes if not o.ok)

    def to_dict(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "as_of": format_time(self.as_of),
                "primary": self.primary, "epoch": self.epoch,
                "requested_by": self.requested_by, "reason": self.reason,
                "started": format_time(self.started), "finished": format_time(self.finished),
                "outcome": str(self.outcome), "dry_run": self.dry_run,
                "complete": self.complete,
                "plan_counts": {a: dict(k) for a, k in self.plan_counts.items()},
                "counts": {"done": self.done, "already": self.already, "failed": self.failed,
                           "cannot": self.cannot, "new": self.new},
                "outcomes": [o.to_dict() for o in self.outcomes], "omitted": self.omitted}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RestoreReport:
        as_of = parse_time(data["as_of"])
        assert as_of is not None
        counts = data.get("counts") or {}
        return cls(run_id=data["run_id"], as_of=as_of, primary=data["primary"],
                   epoch=int(data.get("epoch", 0)), requested_by=data.get("requested_by", ""),
                   reason=data.get("reason", ""), started=parse_time(data.get("started")),
                   finished=parse_time(data.get("finished")),
                   outcome=data.get("outcome", RestoreRunOutcome.RUNNING),
                   dry_run=bool(data.get("dry_run", False)),
                   complete=bool(data.get("complete", True)),
                   plan_counts={a: dict(k) for a, k in (data.get("plan_counts") or {}).items()},
                   outcomes=tuple(RestoreOutcome.from_dict(o)
                                  for o in data.get("outcomes", ())),
                   omitted=int(data.get("omitted", 0)),
                   done=int(counts.get("done", 0)), already=int(counts.get("already", 0)),
                   failed=int(counts.get("failed", 0)), cannot=int(counts.get("cannot", 0)),
                   new=int(counts.get("new", 0)))

    def render_text(self) -> str:
        """The report as the CLI prints it and ``kvdr status`` shows it."""
        head = (f"restore {self.run_id}: {self.outcome}{' (dry run)' if self.dry_run else ''}"
                f" — primary {self.primary} (epoch {self.epoch}), as of "
                f"{format_time(self.as_of)}")
        lines = [head]
        if self.requested_by or self.reason:
            lines.append(f"  requested by {self.requested_by or 'unknown'}"
                         + (f": {self.reason}" if self.reason else ""))
        planned = ", ".join(f"{sum(k.values())} {a}" for a, k in sorted(self.plan_counts.items()))
        lines.append(f"  plan: {planned or 'nothing in scope'}"
                     + ("" if self.complete else " (INCOMPLETE: some reads failed)"))
        lines.append(f"  restored {self.done}, already restored {self.already}, failed "
                     f"{self.failed}, cannot restore {self.cannot}, new since then {self.new}")
        for o in self.outcomes:
            if not o.ok:
                text = f"FAILED [{o.code}] {o.message or o.done}"
            else:
                text = o.done or str(o.action)
            lines.append(f"  {o.kind} {o.name}: {o.action}: {text}")
        if self.omitted:
            lines.append(f"  … and {self.omitted} more (see the stored report)")
        return "\n".join(lines)
