"""What the drill measures per secondary, judged against the objectives.

* RPO — the changes the primary holds that the secondary does not (a read-only sync plan, list
  calls only) and the age of the oldest of them: what a failover now would lose;
* RTO — the time of the steps a failover runs against the vaults (read every topology record,
  write the reserved probe secret ``kvdr-drill-probe`` into the secondary and read it back:
  proof that it takes writes now).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from kvdr.drill.checks import CheckName, DrillCheck, failed, passed
from kvdr.sync.model import EXECUTABLE, PlanAction, Reason, SyncPlan
from kvdr.vault.inventory import ItemProps, format_time

PROBE_SECRET_NAME = "kvdr-drill-probe"  # reserved prefix: never replicated, never reported
PROBE_CONTENT_TYPE = "text/plain"
PROBE_RECORD_TAG = ("kvdr-record", "drill-probe")  # marks it as kvdr's, like the topology record
PROBE_RUN_TAG = "kvdr-drill-run"                   # the run that wrote this version


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
        return passed(CheckName.RPO, f"in sync: no pending change (RPO 0 s, objective "
                      f"{objective} s){notes}", region, measured_seconds=0.0,
                      objective_seconds=objective, counts=counts)
    if changes.undated:
        return failed(CheckName.RPO, f"{changes.pending} pending changes, {changes.undated} "
                      f"of unknown age: the RPO cannot be bounded{notes}", region,
                      objective_seconds=objective, counts=counts)
    assert changes.oldest_change_at is not None
    age = round(max(0.0, (now - changes.oldest_change_at).total_seconds()), 3)
    text = (f"{changes.pending} pending changes, the oldest from "
            f"{format_time(changes.oldest_change_at)}: RPO {age:.0f} s")
    if age <= objective:
        return passed(CheckName.RPO, f"{text} <= objective {objective} s{notes}", region,
                      measured_seconds=age, objective_seconds=objective, counts=counts)
    return failed(CheckName.RPO, f"{text} > objective {objective} s: a failover now would "
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
        return failed(CheckName.RTO, f"the rehearsal failed: {error.get('message', 'error')}"
                      f"{extra}", region, objective_seconds=objective, steps=steps,
                      code=error.get("code"))
    text = f"rehearsed failover steps took {measured:.3f} s"
    if measured <= objective:
        return passed(CheckName.RTO, f"{text} <= objective {objective} s{extra}", region,
                      measured_seconds=measured, objective_seconds=objective, steps=steps)
    return failed(CheckName.RTO, f"{text} > objective {objective} s{extra}", region,
                  measured_seconds=measured, objective_seconds=objective, steps=steps)

