"""Benchmark 4: scale — a full sync of 50,000 secrets keeps every orchestration's history under
10,000 events and the process under 500 MB.

The emulator runs as a separate process (`python -m emulator serve --throttle off`) on
journals written by the bench in the emulator's own persistence format (see
bench/_common.py: the copies carry kvdr's confirmed link tags), so the peak RSS measured is
kvdr's and the engine's alone. `--changed K` makes the first K copies link to an older source
version, so the sync also executes K updates (K/50 batch activities in groups of 40) and the
history bound is exercised, not only the no-change path.

    python bench/scale_no_change.py [--count 50000] [--changed 0]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import ROOT, config_for_urls, cpu_note, peak_rss_mb, write_journals


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=50_000)
    parser.add_argument("--changed", type=int, default=0)
    args = parser.parse_args()
    import function_app
    from engine import Engine
    from kvdr.services import configure, local_runtime

    with tempfile.TemporaryDirectory(prefix="kvdr-scale-") as tmp:
        emu_dir = Path(tmp) / "emulator"
        t0 = time.perf_counter()
        write_journals(emu_dir, args.count, changed=args.changed)
        seeded = time.perf_counter() - t0
        proc = subprocess.Popen(
            [sys.executable, "-m", "emulator", "serve", "--vault", "east=0", "--vault",
             "west=0", "--geography", "east=us", "--geography", "west=us", "--state-dir",
             str(emu_dir), "--throttle", "off"], cwd=ROOT, stdout=subprocess.PIPE, text=True)
        try:
            vaults = {}
            for line in proc.stdout:  # type: ignore[union-attr]
                if line.strip() == "ready":
                    break
                info = json.loads(line)
                vaults[info["name"]] = info
            config = config_for_urls({n: v["url"] for n, v in vaults.items()},
                                     vaults["east"]["ca_cert"])
            runtime = local_runtime(config, Path(tmp) / "kvdr", env={})
            configure(runtime)
            with Engine(function_app.app, Path(tmp) / "kvdr" / "engine") as engine:
                start = time.perf_counter()
                engine.start_new("full_sync", {}, instance_id="scale")
                record = engine.result("scale", timeout=7200)
                wall = time.perf_counter() - start
                histories = {s.instance_id: len(engine.get_status(
                    s.instance_id, show_history=True).history or [])
                    for s in engine.list_instances()}
            configure(None)
            runtime.close()
        finally:
            proc.terminate()
            proc.wait(30)
    counts = {a: sum(k.values()) for a, k in record["counts"].items()}
    calls = sum(record["calls"].values())
    print(f"full sync of {args.count} secrets, {args.changed} changed ({cpu_note()}; "
          f"journals written in {seeded:.1f} s)")
    print(f"  status {record['status']}, counts {counts}, wall {wall:.1f} s, "
          f"calls {calls} ({calls / args.count:.3f} per item)")
    print(f"  orchestrations {len(histories)}, largest history "
          f"{max(histories.values())} events ({max(histories, key=histories.get)}), "
          f"total {sum(histories.values())}")
    print(f"  peak RSS of the kvdr process (engine + activities) {peak_rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
