"""Requests per second the Key Vault emulator serves, throttling off, to concurrent SDK clients.

The emulator runs in its own process pinned to CPU 0; the load comes from client processes
pinned to the other CPUs, each running async ``SecretClient``s (the SDK's aiohttp transport)
with many requests in flight. Two figures are printed:

- served req/s: data-plane requests the emulator answered per wall-clock second (its own
  counters, read from the admin API), and
- req per server CPU-second: the same count divided by the CPU time the emulator process
  used, i.e. what one fully busy core can serve even when the clients cannot saturate it.

With ``--driver sdk`` (default) the SDK clients, not the emulator, are the bottleneck on a
two-core machine; ``--driver raw`` sends the same mix with plain aiohttp to fill the core.

    .venv/bin/python bench/emulator_throughput.py [--driver sdk|raw] [--seconds 10]
        [--clients 2] [--concurrency 32] [--mix read|mixed]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from emulator.server import free_port  # noqa: E402
from emulator.testing import (  # noqa: E402
    AsyncFakeCredential,
    FakeCredential,
    aio_client_kwargs,
    client_kwargs,
)

SEEDED = 200


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_emulator(server_cpu: int) -> tuple[subprocess.Popen[str], dict[str, str], int]:
    admin_port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "emulator",
            "serve",
            "--vault",
            "bench=0",
            "--throttle",
            "off",
            "--admin-port",
            str(admin_port),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: os.sched_setaffinity(0, {server_cpu}),
    )
    assert proc.stdout is not None
    vault = json.loads(proc.stdout.readline())
    assert proc.stdout.readline().strip() == "ready"
    return proc, vault, admin_port


def client_process(
    url: str, ca: str, cpus: set[int], seconds: float, concurrency: int, mix: str, out: mp.Queue
) -> None:
    os.sched_setaffinity(0, cpus)
    from azure.keyvault.secrets.aio import SecretClient

    async def run() -> int:
        done = 0
        deadline = time.monotonic() + seconds
        async with SecretClient(url, AsyncFakeCredential(), **aio_client_kwargs(ca)) as client:
            await client.get_secret("s0")  # the auth challenge, once

            async def worker(i: int) -> None:
                nonlocal done
                rng = random.Random(i)
                while time.monotonic() < deadline:
                    name = f"s{rng.randrange(SEEDED)}"
                    if mix == "mixed" and rng.random() < 0.2:
                        await client.set_secret(name, "x" * 64)
                    else:
                        await client.get_secret(name)
                    done += 1

            await asyncio.gather(*(worker(i) for i in range(concurrency)))
        return done

    out.put(asyncio.run(run()))


def raw_client_process(
    url: str, ca: str, cpus: set[int], seconds: float, concurrency: int, mix: str, out: mp.Queue
) -> None:
    """The same request mix on plain aiohttp (no SDK pipeline): enough load to fill the core."""
    os.sched_setaffinity(0, cpus)
    import ssl

    import aiohttp

    async def run() -> int:
        done = 0
        deadline = time.monotonic() + seconds
        connector = aiohttp.TCPConnector(ssl=ssl.create_default_context(cafile=ca))
        headers = {"Authorization": "Bearer bench"}
        async with aiohttp.ClientSession(connector=connector, headers=headers) as session:

            async def worker(i: int) -> None:
                nonlocal done
                rng = random.Random(i)
                while time.monotonic() < deadline:
                    target = f"{url}secrets/s{rng.randrange(SEEDED)}?api-version=7.5"
                    if mix == "mixed" and rng.random() < 0.2:
                        request = session.put(target, json={"value": "x" * 64})
                    else:
                        request = session.get(target)
                    async with request as response:
                        await response.read()
                    done += 1

            await asyncio.gather(*(worker(i) for i in range(concurrency)))
        return done

    out.put(asyncio.run(run()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=2, help="client processes")
    parser.add_argument("--concurrency", type=int, default=32, help="requests in flight each")
    parser.add_argument(
        "--mix",
        choices=["read", "mixed"],
        default="mixed",
        help="mixed: 20%% set_secret, 80%% get_secret",
    )
    parser.add_argument(
        "--driver",
        choices=["sdk", "raw"],
        default="sdk",
        help="sdk: azure-keyvault-secrets aio clients; raw: plain aiohttp",
    )
    args = parser.parse_args()

    cpus = sorted(os.sched_getaffinity(0))
    server_cpu = cpus[0]
    client_cpus = set(cpus[1:]) or {server_cpu}
    proc, vault, admin_port = start_emulator(server_cpu)
    try:
        from azure.keyvault.secrets import SecretClient

        seeder = SecretClient(vault["url"], FakeCredential(), **client_kwargs(vault["ca_cert"]))
        for i in range(SEEDED):
            seeder.set_secret(f"s{i}", "seed")
        admin = f"https://127.0.0.1:{admin_port}/_emulator/bench/"
        requests.post(admin + "stats/reset", verify=vault["ca_cert"], timeout=10)
        cpu_before = cpu_seconds(proc.pid)
        started = time.monotonic()
        queue: mp.Queue = mp.Queue()
        workers = [
            mp.Process(
                target=client_process if args.driver == "sdk" else raw_client_process,
                args=(
                    vault["url"],
                    vault["ca_cert"],
                    client_cpus,
                    args.seconds,
                    args.concurrency,
                    args.mix,
                    queue,
                ),
            )
            for _ in range(args.clients)
        ]
        for w in workers:
            w.start()
        completed = sum(queue.get(timeout=args.seconds + 120) for _ in workers)
        for w in workers:
            w.join()
        wall = time.monotonic() - started
        cpu = cpu_seconds(proc.pid) - cpu_before
        stats = requests.get(admin + "stats", verify=vault["ca_cert"], timeout=10).json()
    finally:
        proc.terminate()
        proc.wait(15)

    served = stats["total"]
    errors = {
        op: {s: n for s, n in by.items() if not s.startswith("2")}
        for op, by in stats["operations"].items()
    }
    errors = {op: by for op, by in errors.items() if by}
    print(
        f"emulator pinned to CPU {server_cpu}; {args.clients} {args.driver} client process(es) "
        f"on CPUs "
        f"{sorted(client_cpus)}, {args.concurrency} requests in flight each, mix={args.mix}"
    )
    print(
        f"requests served:            {served} in {wall:.1f} s ({completed} completed by clients)"
    )
    print(f"served req/s:               {served / wall:,.0f}")
    print(f"server CPU used:            {cpu:.1f} s ({100 * cpu / wall:.0f}% of one core)")
    print(f"req per server CPU-second:  {served / cpu:,.0f}" if cpu else "no CPU time measured")
    print(f"non-2xx answers:            {errors or 'none'}")


if __name__ == "__main__":
    main()
