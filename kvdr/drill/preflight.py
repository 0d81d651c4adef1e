"""Preflight: judge the topology records read from every vault (reachable, one current primary,
no split brain, no stale record) and decide which secondaries the drill can measure."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kvdr.drill.checks import CheckName, DrillCheck, failed, passed, skipped
from kvdr.topology.reading import RecordRead
from kvdr.topology.record import TopologyRecord, assess_topology


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
    unreachable: tuple[str, ...] = ()  # the vaults that did not answer

    def reachable(self, regions: Sequence[str]) -> tuple[str, ...]:
        return tuple(r for r in regions if r not in self.unreachable)

    def to_dict(self) -> dict[str, Any]:
        return {"checks": [c.to_dict() for c in self.checks], "primary": self.primary,
                "epoch": self.epoch, "targets": list(self.targets),
                "measure_rpo": list(self.measure_rpo), "measure_rto": list(self.measure_rto),
                "unreachable": list(self.unreachable)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Preflight:
        return cls(tuple(DrillCheck.from_dict(c) for c in data.get("checks", ())),
                   data.get("primary"), data.get("epoch"), tuple(data.get("targets", ())),
                   tuple(data.get("measure_rpo", ())), tuple(data.get("measure_rto", ())),
                   tuple(data.get("unreachable", ())))


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
        checks.append(failed(CheckName.PRIMARY, f"{why}: there is no primary to fail over "
                             "from; a full sync bootstraps the record"))
        return _unmeasured(checks, tuple(targets or ()), "there is no current primary")
    view = assess_topology(records)
    primary, epoch = view.current.primary, view.current.epoch
    if primary not in regions:
        checks.append(failed(CheckName.PRIMARY, f"the topology record names {primary} as "
                             f"primary (epoch {epoch}), which is not a configured region "
                             f"({', '.join(regions)})"))
        return _unmeasured(checks, tuple(targets or ()), "the primary is not configured",
                           epoch=epoch)
    checks.append(passed(CheckName.PRIMARY, f"{primary} is primary at epoch {epoch}"))
    if view.split_brain:
        rivals = ", ".join(r.primary for r in view.rivals)
        checks.append(failed(CheckName.SPLIT_BRAIN, f"split brain: {primary} and {rivals} "
                             f"are both primary at epoch {epoch}; run a failover to the "
                             "intended primary"))
        return _unmeasured(checks, tuple(targets or ()), "the primary is ambiguous",
                           epoch=epoch)
    checks.append(passed(CheckName.SPLIT_BRAIN, "one primary"))
    checks.append(_records_current(regions, reads, view.current))

    secondaries = tuple(r for r in regions if r != primary)
    chosen = secondaries
    if targets is not None:
        wrong = [t for t in targets if t not in secondaries]
        if wrong:
            checks.append(failed(CheckName.TARGETS, f"{', '.join(wrong)} cannot be rehearsed: "
                                 f"the primary is {primary} and the secondaries are "
                                 f"{', '.join(secondaries)}"))
        chosen = tuple(t for t in secondaries if t in targets)
    rpo, rto = [], []
    for target in chosen:
        if target in down:
            why = (f"{target} was unreachable [{down[target]}]: a failover to it could not "
                   "run now")
            checks += [skipped(CheckName.RPO, why, target), skipped(CheckName.RTO, why, target)]
            continue
        rto.append(target)
        if primary in down:
            checks.append(skipped(CheckName.RPO, f"the primary {primary} was unreachable "
                                  f"[{down[primary]}]: pending changes cannot be listed",
                                  target))
        else:
            rpo.append(target)
    return Preflight(tuple(checks), primary, epoch, chosen, tuple(rpo), tuple(rto),
                     tuple(down))


def _reachable(regions: Sequence[str], down: Mapping[str, str | None]) -> DrillCheck:
    if not down:
        return passed(CheckName.REACHABLE, f"every vault answered ({', '.join(regions)})")
    listed = ", ".join(f"{r} [{code}]" for r, code in down.items())
    return failed(CheckName.REACHABLE, f"unreachable: {listed}; check the vault, its network "
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
        return passed(CheckName.RECORDS_CURRENT, f"every reachable vault holds epoch "
                      f"{current.epoch}")
    return failed(CheckName.RECORDS_CURRENT, f"{'; '.join(problems)}; the current record is "
                  f"epoch {current.epoch} (primary {current.primary}); the next failover or "
                  "failback rewrites it", counts={"stale": len(problems)})


def _unmeasured(checks: list[DrillCheck], targets: tuple[str, ...], why: str,
                epoch: int | None = None) -> Preflight:
    for target in targets:
        checks += [skipped(CheckName.RPO, f"not measured: {why}", target),
                   skipped(CheckName.RTO, f"not measured: {why}", target)]
    return Preflight(tuple(checks), None, epoch, targets)

