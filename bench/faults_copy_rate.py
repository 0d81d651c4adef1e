"""Benchmark: does a full sync keep moving under faults? (issue 13, suite 1, "and it keeps
moving").

Measured as a new user would: 1,500 secrets in the primary, an empty secondary, Key Vault's own
throttling limits in the emulator (`ThrottleLimits()`: 300 creates / 20 key creates / 4,000
other operations per vault per 10 s), kvdr's real backoff (1, 2, 4, 8, 16 s; not scaled) and
pacing defaults, the real full-sync runbook on the local engine. Two runs, each in a fresh
emulator: fault-free, then with 10 % of the requests to both vaults failing (429, 500, 503,
dropped connections, connections dropped after the write was applied — the mix of
tests/resilience/test_faults_at_volume.py).

Printed for each run: items created in the target, the run's status and failed items, seconds,
items/s — the sustained copy rate (creates between the first and the last one, timed by an
observer on the emulator's store) and the whole run's (items / wall time) — and the faults
injected by kind, and the 429s kvdr's pacers saw with the vault-wide pauses they caused (a
cluster of 429s in a row pauses a vault; an isolated one slows it down). Then the ratio
faulted / fault-free of both rates (target: >= 50 %).

    python bench/faults_copy_rate.py [--items 1500] [--fault-rate 0.10] [--kinds 500,503,...]
                                     [--only fault-free|faulted]
"""

from __future__ import annotations

import argparse
import threading
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

from _common import bench_env, cpu_note, seed_pair

from emulator.throttle import ThrottleLimits
from kvdr.vault.pipeline import default_pacers

FAULT_KINDS = ["429", "500", "503", "drop", "drop_after_write"]
VAULTS = ("east", "west")


@dataclass
class Run:
    label: str
    items: int
    status: str
    created: int
    failed: int
    seconds: float
    sustained: float
    faults: dict[str, int]
    target_versions: int
    throttles: int  # 429s kvdr's pacers saw (both vaults)
    pauses: int     # vault-wide pauses they caused

    @property
    def whole_rate(self) -> float:
        return self.created / self.seconds if self.seconds else 0.0


def run_once(label: str, n: int, fault_rate: float, kinds: list[str]) -> Run:
    with bench_env(VAULTS, throttle=ThrottleLimits()) as bench:
        seed_pair(bench.emu, n, target=None)
        stamps: list[float] = []
        lock = threading.Lock()

        def observe(vault: str, kind: str, name: str, version: str) -> None:
            if kind == "secrets" and name.startswith("bench-"):
                with lock:
                    stamps.append(time.monotonic())

        bench.emu.store("west").observers.append(observe)
        for vault in VAULTS:
            bench.emu.reset_stats(vault)
            bench.emu.set_fault_rate(vault, fault_rate, kinds)
        record, wall, _ = bench.run()
        faults: Counter[str] = Counter()
        for vault in VAULTS:
            bench.emu.set_fault_rate(vault, 0.0)
            faults.update(bench.emu.stats(vault)["faults"])
        counts: dict[str, Any] = record.get("counts") or {}
        created = sum(counts.get("create", {}).values())
        failed = sum(counts.get("failed", {}).values())
        west = bench.emu.store("west")
        with west.lock:
            versions = sum(len(item.versions) for name, item in west.live["secrets"].items()
                           if name.startswith("bench-"))
        pacers = [default_pacers(bench.config.pacing).for_vault(bench.config.region(v).vault_url)
                  for v in VAULTS]
        sustained = (len(stamps) - 1) / (stamps[-1] - stamps[0]) if len(stamps) > 1 else 0.0
        return Run(label, n, str(record.get("status")), created, failed, wall, sustained,
                   dict(sorted(faults.items())), versions, sum(p.throttles for p in pacers),
                   sum(p.pauses for p in pacers))


def show(run: Run) -> None:
    total = sum(run.faults.values())
    print(f"  {run.label}: status {run.status}, created {run.created}/{run.items}, failed "
          f"{run.failed}, target versions {run.target_versions}")
    print(f"    {run.seconds:.1f} s, whole run {run.whole_rate:.2f} items/s, sustained "
          f"{run.sustained:.2f} items/s")
    print(f"    faults injected: {total} {run.faults}; 429s seen by the pacers "
          f"{run.throttles}, vault-wide pauses {run.pauses}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=1500)
    parser.add_argument("--fault-rate", type=float, default=0.10)
    parser.add_argument("--kinds", default=",".join(FAULT_KINDS),
                        help="the fault mix (default: %(default)s)")
    parser.add_argument("--only", choices=("fault-free", "faulted"), default=None,
                        help="run one of the two (no ratio)")
    args = parser.parse_args()
    n = args.items
    kinds = [k.strip() for k in args.kinds.split(",") if k.strip()]
    print(f"full sync of {n} secrets into an empty vault, ThrottleLimits() (300 creates / "
          f"20 key creates / 4,000 others per 10 s), kvdr's pacing defaults and backoff "
          f"({cpu_note()})")
    runs: dict[str, Run] = {}
    if args.only != "faulted":
        runs["fault-free"] = run_once("fault-free", n, 0.0, kinds)
        show(runs["fault-free"])
    if args.only != "fault-free":
        runs["faulted"] = run_once(f"{args.fault_rate:.0%} faults ({', '.join(kinds)})", n,
                                   args.fault_rate, kinds)
        show(runs["faulted"])
    if len(runs) == 2:
        free, faulted = runs["fault-free"], runs["faulted"]
        print(f"  ratio faulted / fault-free: sustained "
              f"{100 * faulted.sustained / free.sustained:.1f}%, whole run "
              f"{100 * faulted.whole_rate / free.whole_rate:.1f}% (target >= 50%)")


if __name__ == "__main__":
    main()
