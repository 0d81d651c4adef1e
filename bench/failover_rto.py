"""Benchmark: how long the failover runbooks take (kvdr's part of the RTO) on the local engine.

Two emulated vaults with the service's throttling limits hold ``--count`` secrets in sync
(seeded in-process, see bench/_common.py) and ``--pending`` secrets that only the primary has
(changes the event path has not delivered yet). Then, in order:

1. a planned failover east -> west (reconcile, drain the pending secrets, switch, verify);
2. an unplanned failover west -> east while west's vault refuses connections (switch, verify;
   probing the dead vault is part of the time);
3. a failback east -> west once west is back, after ``--pending`` writes to east during the
   outage (reconcile, drain them, switch, verify).

Each line prints the wall time, the report's RTO (no alert, no approval: from the runbook's
start) and the step timings. No peer tool runs failovers, so there is no ratio.

    python bench/failover_rto.py [--count 5000] [--pending 200]
"""

from __future__ import annotations

import argparse
import time
import uuid
from typing import Any

from _common import Bench, bench_env, cpu_note, seed_pair

from emulator.throttle import ThrottleLimits
from kvdr.failover.request import FailoverKind, FailoverRequest


def failover(bench: Bench, kind: FailoverKind, target: str) -> tuple[dict[str, Any], float]:
    request = FailoverRequest(kind=kind, target=target, reason="benchmark",
                              requested_by="bench")
    start = time.perf_counter()
    iid = bench.engine.start_new("failover", request.to_dict(),
                                 instance_id=f"bench-failover-{uuid.uuid4().hex[:8]}")
    report = bench.engine.result(iid, timeout=3600)
    return report, time.perf_counter() - start


def show(label: str, report: dict[str, Any], wall: float) -> None:
    assert report["outcome"] == "completed", report
    steps = ", ".join(f"{k} {v:.2f}s" for k, v in report["timings"].items())
    drained = {name: {a: sum(k.values()) for a, k in step.get("counts", {}).items()}
               for name, step in report["steps"].items()}
    print(f"  {label}: wall {wall:.2f} s, RTO {report['rto_seconds']:.2f} s "
          f"(epoch {report['epoch_before']} -> {report['epoch_after']})")
    print(f"    steps: {steps}")
    if drained:
        print(f"    syncs: {drained}")
    print(f"    calls: {report['calls']}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=5_000)
    parser.add_argument("--pending", type=int, default=200)
    args = parser.parse_args()
    with bench_env(throttle=ThrottleLimits()) as bench:
        seed_pair(bench.emu, args.count)
        seed_pair(bench.emu, args.pending, target=None, prefix="pending")
        # bootstrap the topology record without syncing the pending secrets
        from kvdr.topology.store import current_topology

        current_topology(bench.config, bench.runtime.sessions())
        print(f"failover runbooks, {args.count} secrets in sync + {args.pending} pending, "
              f"realistic throttling ({cpu_note()})")
        show("planned east -> west", *failover(bench, FailoverKind.PLANNED, "west"))

        bench.emu.down("west")
        try:
            show("unplanned west -> east, west down",
                 *failover(bench, FailoverKind.UNPLANNED, "east"))
        finally:
            bench.emu.up("west")

        seed_pair(bench.emu, args.pending, source="east", target=None, prefix="outage")
        show("failback east -> west", *failover(bench, FailoverKind.FAILBACK, "west"))


if __name__ == "__main__":
    main()
