"""What the local engine costs: fan-out of 1,000 no-op activities and a chain of 200.

Prints wall time, per-activity overhead, history size (events, bytes) and peak memory.
Runs on one core (os.sched_setaffinity) where the OS allows, with a real clock and a fresh
SQLite state directory. `--tracemalloc` adds peak Python allocations but slows every
allocation several-fold, so its wall times are not the engine's.
Targets: fan-out of 1,000 < 5 s; 200 sequential < 5 s.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from engine import Engine  # noqa: E402
from support import sample_app  # noqa: E402


def run(engine: Engine, name: str, size: int) -> dict[str, float]:
    episodes_before = engine.episodes
    started = time.perf_counter()
    instance = engine.start_new(name, size)
    status = engine.wait_for_completion(instance, timeout=600)
    wall = time.perf_counter() - started
    assert status.output == "ok", status
    history = engine.store.load_history(instance)
    return {"wall_s": wall, "per_activity_ms": wall / size * 1000, "events": len(history),
            "history_bytes": sum(len(e) for e in history),
            "episodes": engine.episodes - episodes_before}


def main() -> int:
    pinned = "not pinned (sched_setaffinity unavailable)"
    if hasattr(os, "sched_setaffinity"):
        core = min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {core})
        pinned = f"pinned to core {core}"
    trace = "--tracemalloc" in sys.argv
    if trace:
        tracemalloc.start()
    print(f"engine overhead benchmark ({pinned}; Python {sys.version.split()[0]})")
    results = {}
    with tempfile.TemporaryDirectory() as state, Engine(sample_app.app, Path(state)) as engine:
        for label, name, size, target in (("fan-out 1,000", "noop_fan_out", 1000, 5.0),
                                          ("chain 200", "noop_chain", 200, 5.0)):
            figures = run(engine, name, size)
            results[label] = figures
            verdict = "OK" if figures["wall_s"] < target else "OVER TARGET"
            print(f"{label:>14}: {figures['wall_s']:.2f} s wall ({verdict}, target < {target} s), "
                  f"{figures['per_activity_ms']:.2f} ms/activity, "
                  f"{figures['events']} history events, "
                  f"{figures['history_bytes'] / 1024:.0f} KiB history, "
                  f"{figures['episodes']} episodes")
    peak_rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS: {peak_rss_mib:.0f} MiB")
    if trace:
        _, peak = tracemalloc.get_traced_memory()
        print(f"peak Python allocations (tracemalloc): {peak / 2**20:.1f} MiB")
    if "--json" in sys.argv:
        print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
