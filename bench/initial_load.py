"""Benchmark 2: initial load of 3,000 secrets into an empty vault under realistic throttling.

The emulator enforces Key Vault's limits (`ThrottleLimits()`: 300 creates and 4,000 other
operations per vault per 10 s). The source is seeded in-process (see bench/_common.py); the
target is empty. kvdr's full sync copies everything through the local engine with the pacing
defaults (kvdr.config.schema.Pacing). Measured:

* sustained write rate: creates in the target per second between its first and last create,
  timed by an observer on the emulator's store (every stored new version), as a fraction of
  the service's 30 creates/s;
* the whole run's rate (items / wall time, including inventory, planning and verification);
* 429s the target answered, and failed items (both must be zero).

    python bench/initial_load.py [--count 3000] [--writes-per-10s N]
"""

from __future__ import annotations

import argparse
import threading
import time

from _common import bench_env, cpu_note, seed_pair

from emulator.throttle import ThrottleLimits


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=3000)
    parser.add_argument("--writes-per-10s", type=int, default=None,
                        help="override pacing.writes_per_10s (default: kvdr's default)")
    args = parser.parse_args()
    n = args.count
    sections = ({"pacing": {"writes_per_10s": args.writes_per_10s}}
                if args.writes_per_10s else {})
    with bench_env(throttle=ThrottleLimits(), sections=sections) as bench:
        seed_pair(bench.emu, n, target=None)
        pacing = bench.config.pacing
        stamps: list[float] = []
        lock = threading.Lock()

        def observe(vault: str, kind: str, name: str, version: str) -> None:
            if kind == "secrets" and not name.startswith("kvdr-"):
                with lock:
                    stamps.append(time.monotonic())

        bench.emu.store("west").observers.append(observe)
        record, wall, _ = bench.run()
        throttled = sum(bench.emu.count("west", op, 429) for op in bench.emu.stats("west")
                        ["operations"])
        created = sum(record["counts"].get("create", {}).values())
        failed = sum(record["counts"].get("failed", {}).values())
        sustained = (len(stamps) - 1) / (stamps[-1] - stamps[0]) if len(stamps) > 1 else 0.0
        windows: dict[int, int] = {}
        for t in stamps:
            windows[int((t - stamps[0]) // 10)] = windows.get(int((t - stamps[0]) // 10), 0) + 1
        print(f"initial load of {n} secrets, ThrottleLimits() (300 creates/10 s), "
              f"pacing {pacing.writes_per_10s}/10 s burst {pacing.write_burst}, "
              f"max_parallel {pacing.max_parallel}, batch {pacing.batch_size} ({cpu_note()})")
        print(f"  status {record['status']}, created {created}, failed {failed}, "
              f"429s from the target {throttled}")
        print(f"  sustained write rate {sustained:.2f}/s = {100 * sustained / 30:.1f}% of 30/s "
              f"(first to last create: {stamps[-1] - stamps[0]:.1f} s)")
        print(f"  whole run {wall:.1f} s = {n / wall:.2f} items/s = {100 * n / wall / 30:.1f}% "
              f"of 30/s; creates per 10 s window from the first: "
              f"{[windows[k] for k in sorted(windows)]}")


if __name__ == "__main__":
    main()
