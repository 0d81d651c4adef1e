"""The topology record: which region is primary, at which fencing epoch, since when and why.

It is stored as the JSON value of the reserved secret ``kvdr-topology`` in every vault
(decision 1). Readers take the highest epoch among the vaults they can reach; failover and
failback raise the epoch by exactly one. Two different primaries at the same epoch is a split
brain (two runbooks in two regions switched at once: Key Vault has no compare-and-swap). One
rule, :func:`precedence`, picks the winner everywhere — the switch's settle step, every reader,
status — and flags the split brain so nothing acts on it silently; the settle step and
:func:`kvdr.topology.store.current_topology` then write the winner over its rivals.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from kvdr.errors import TopologyError
from kvdr.vault.inventory import format_time, parse_time, to_utc
from kvdr.vault.links import TOPOLOGY_SECRET_NAME

__all__ = ["TOPOLOGY_SECRET_NAME", "TopologyRecord", "TopologyView", "assess_topology",
           "choose_current", "initial_record", "next_epoch", "precedence"]

TOPOLOGY_CONTENT_TYPE = "application/json"
INITIAL_EPOCH = 1


@dataclass(frozen=True)
class TopologyRecord:
    primary: str
    epoch: int
    changed_at: datetime
    changed_by: str
    reason: str
    runbook_id: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.primary, str) or not self.primary:
            raise TopologyError("topology record: primary must be a region name")
        if isinstance(self.epoch, bool) or not isinstance(self.epoch, int) or self.epoch < 0:
            raise TopologyError(f"topology record: epoch must be a whole number >= 0, "
                                f"got {self.epoch!r}")
        if not isinstance(self.changed_at, datetime):
            raise TopologyError("topology record: changed_at must be a timestamp")
        object.__setattr__(self, "changed_at", to_utc(self.changed_at))

    def to_dict(self) -> dict[str, Any]:
        return {"primary": self.primary, "epoch": self.epoch,
                "changed_at": format_time(self.changed_at), "changed_by": self.changed_by,
                "reason": self.reason, "runbook_id": self.runbook_id}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TopologyRecord:
        try:
            return cls(primary=data["primary"], epoch=data["epoch"],
                       changed_at=parse_time(data["changed_at"]),  # type: ignore[arg-type]
                       changed_by=str(data.get("changed_by", "")),
                       reason=str(data.get("reason", "")), runbook_id=data.get("runbook_id"))
        except (KeyError, TypeError, ValueError) as exc:
            raise TopologyError(f"topology record is malformed ({exc!r}); restore it from "
                                "another vault or re-run the bootstrap") from None

    def to_json(self) -> str:
        """The secret value stored as ``kvdr-topology``."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> TopologyRecord:
        try:
            data = json.loads(text)
        except (TypeError, json.JSONDecodeError):
            raise TopologyError("topology record is not JSON; restore it from another vault "
                                "or re-run the bootstrap") from None
        if not isinstance(data, dict):
            raise TopologyError("topology record is not a JSON object")
        return cls.from_dict(data)


def initial_record(primary: str, *, changed_at: datetime, changed_by: str = "kvdr",
                   reason: str = "initial topology from configuration") -> TopologyRecord:
    return TopologyRecord(primary=primary, epoch=INITIAL_EPOCH, changed_at=changed_at,
                          changed_by=changed_by, reason=reason)


def next_epoch(record: TopologyRecord, new_primary: str, *, changed_at: datetime,
               changed_by: str, reason: str, runbook_id: str | None = None) -> TopologyRecord:
    """The record after a failover/failback: epoch + 1, exactly."""
    if not reason.strip():
        raise TopologyError("say why the topology changes (reason is empty)")
    if to_utc(changed_at) < record.changed_at:
        raise TopologyError("the new topology record is older than the current one; check the "
                            "clock of the machine running the runbook")
    return TopologyRecord(primary=new_primary, epoch=record.epoch + 1, changed_at=changed_at,
                          changed_by=changed_by, reason=reason, runbook_id=runbook_id)


def precedence(record: TopologyRecord) -> tuple[int, datetime, str, str]:
    """The one rule (smallest first): the highest epoch; among rivals at one epoch the earliest
    change (the runbook that started its switch first), then the region name, then the
    runbook id — a total order on records, so every reader picks the same winner."""
    return (-record.epoch, record.changed_at, record.primary, record.runbook_id or "")


def choose_current(records: Iterable[TopologyRecord | None]) -> TopologyRecord:
    """The record in force: the highest epoch among those read (None: vault unreachable or
    without a record). Raises ``topology.missing`` when there is none at all; use
    :func:`assess_topology` to learn about split brain and stale vaults."""
    present = [r for r in records if r is not None]
    if not present:
        raise TopologyError("no reachable vault holds a topology record; bootstrap it from "
                            "topology.initial_primary", code="topology.missing")
    return min(present, key=precedence)


@dataclass(frozen=True)
class TopologyView:
    current: TopologyRecord
    split_brain: bool
    rivals: tuple[TopologyRecord, ...]      # other primaries at the current epoch
    stale_regions: tuple[str, ...]          # vaults holding an older record (repair them)
    missing_regions: tuple[str, ...]        # vaults with no record or not reachable

    def to_dict(self) -> dict[str, Any]:
        return {"current": self.current.to_dict(), "split_brain": self.split_brain,
                "rivals": [r.to_dict() for r in self.rivals],
                "stale_regions": list(self.stale_regions),
                "missing_regions": list(self.missing_regions)}


def assess_topology(records: Mapping[str, TopologyRecord | None]) -> TopologyView:
    """The current record plus what disagrees with it, from the records read per region."""
    current = choose_current(records.values())
    rivals = tuple(sorted({r for r in records.values() if r is not None
                           and r.epoch == current.epoch and r.primary != current.primary},
                          key=precedence))
    stale = tuple(sorted(name for name, r in records.items()
                         if r is not None and r != current and r.epoch < current.epoch))
    missing = tuple(sorted(name for name, r in records.items() if r is None))
    return TopologyView(current=current, split_brain=bool(rivals), rivals=rivals,
                        stale_regions=stale, missing_regions=missing)
