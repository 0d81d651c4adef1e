"""Benchmark 1: a no-change full sync of 10,000 secrets — kvdr against kvcopy.

Both vaults hold the same 10,000 secrets (seeded in-process, see bench/_common.py; the copies
carry kvdr's confirmed link tags). kvdr's full sync runs through the local engine; kvcopy
(`pip install kvcopy`, its `sync(src, dest)`) runs against the same emulator with its
`SecretClient` and `DefaultAzureCredential` monkeypatched to the emulator's URL and a fake
credential. Data-plane calls are the emulator's own request counters (authentication round
trips included) for both tools.

    python bench/full_sync_no_change.py [--count 10000] [--skip-kvcopy]
"""

from __future__ import annotations

import argparse
import time

from _common import bench_env, cpu_note, seed_pair


def run_kvcopy(bench) -> tuple[int, float]:
    import kvcopy
    from azure.keyvault.secrets import SecretClient

    from emulator.testing import FakeCredential, client_kwargs

    urls = {f"https://{name}.vault.azure.net": bench.emu.url(name) for name in ("east", "west")}

    def client(url: str, credential):  # the name -> URL mapping kvcopy hard-codes
        return SecretClient(urls[url], credential, **client_kwargs(bench.emu.ca_cert))

    kvcopy.SecretClient = client
    kvcopy.DefaultAzureCredential = FakeCredential
    from loguru import logger

    logger.remove()  # one log line per secret would measure the terminal
    for vault in ("east", "west"):
        bench.emu.reset_stats(vault)
    start = time.perf_counter()
    kvcopy.sync("east", "west")
    elapsed = time.perf_counter() - start
    return bench.data_plane_calls("east", "west"), elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--skip-kvcopy", action="store_true")
    args = parser.parse_args()
    n = args.count
    with bench_env() as bench:
        seed_pair(bench.emu, n)
        bench.run()  # bootstraps the topology record (a write; not measured)
        for vault in ("east", "west"):
            bench.emu.reset_stats(vault)
        record, kvdr_wall, _ = bench.run()
        unchanged = sum(record["counts"].get("unchanged", {}).values())
        assert record["status"] == "succeeded" and unchanged == n, record["counts"]
        kvdr_calls = bench.data_plane_calls("east", "west")
        writes = sum(bench.emu.stats(v)["operations"].get("SetSecret", {}).get("200", 0)
                     for v in ("east", "west"))
        print(f"no-change full sync of {n} secrets ({cpu_note()})")
        print(f"  kvdr:   {kvdr_calls} data-plane calls = {kvdr_calls / n:.3f} per item, "
              f"wall {kvdr_wall:.2f} s, writes {writes}, report calls {record['calls']}")
        if not args.skip_kvcopy:
            kvcopy_calls, kvcopy_wall = run_kvcopy(bench)
            print(f"  kvcopy: {kvcopy_calls} data-plane calls = {kvcopy_calls / n:.3f} per item, "
                  f"wall {kvcopy_wall:.2f} s")
            print(f"  ratio kvcopy/kvdr: calls {kvcopy_calls / kvdr_calls:.1f}x, "
                  f"time {kvcopy_wall / kvdr_wall:.1f}x")


if __name__ == "__main__":
    main()
