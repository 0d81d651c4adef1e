"""Event-driven lag: from a write on the primary to the copy readable on the secondary.

Everything runs locally in one process: the Key Vault emulator (vaults kv-east = primary,
kv-west), its Event Grid publisher delivering to the engine's LocalHost, which hosts either

- ``direct``: the app's own ``event_grid_sync`` (``function_app:app``): the trigger runs
  ``kvdr.events.handler.handle_event`` itself; or
- ``orchestrated``: a bench-local app whose Event Grid trigger starts a one-activity
  orchestration (``replicate_event``) that runs the same handler in an activity.

A writer sets secrets on the primary at ``--rate`` writes/s for ``--duration`` s (distinct
names: each write is one create on the secondary). The lag of a write is measured from the
moment the primary stored the version to the moment the secondary stored the copy (store
observers in both vaults: no polling). ``handler`` is the time kvdr's handler took per event
(what kvdr adds); the rest of the lag is delivery (Event Grid's part, here the emulator's).

    python bench/event_lag.py [--mode direct|orchestrated|both] [--rate 20] [--duration 60]

Target: p99 <= 1 s.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import shutil
import sqlite3
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import azure.durable_functions as df  # noqa: E402
import azure.functions as func  # noqa: E402

import kvdr.events.handler as events  # noqa: E402
from emulator.server import VaultSpec  # noqa: E402
from emulator.testing import Emulator  # noqa: E402
from engine.host import LocalHost  # noqa: E402
from kvdr.config.schema import Config  # noqa: E402
from kvdr.events.model import EventOutcome, VaultEvent  # noqa: E402
from kvdr.events.parse import parse_delivery  # noqa: E402
from kvdr.events.stats import percentile  # noqa: E402
from kvdr.services import configure, get_runtime, local_runtime  # noqa: E402
from kvdr_cli.emulated import emulator_config  # noqa: E402

VAULTS = {"eastus": "kv-east", "westus": "kv-west"}


def orchestrated_app() -> df.DFApp:
    """The alternative design: Event Grid trigger -> orchestration -> activity."""
    from triggers.events import grid_event_to_dict

    app = df.DFApp(http_auth_level=func.AuthLevel.FUNCTION)

    @app.event_grid_trigger(arg_name="event")
    @app.durable_client_input(client_name="client")
    async def event_grid_sync(event: func.EventGridEvent, client: Any) -> None:
        [parsed] = parse_delivery(grid_event_to_dict(event)).events
        await client.start_new("replicate_event", None, parsed.to_dict())

    @app.orchestration_trigger(context_name="context")
    def replicate_event(context: df.DurableOrchestrationContext) -> Any:
        result = yield context.call_activity("replicate_event_activity", context.get_input())
        return result

    @app.activity_trigger(input_name="event")
    def replicate_event_activity(event: dict[str, Any]) -> dict[str, Any]:
        outcome = events.handle_event(get_runtime(), VaultEvent.from_dict(event))
        return outcome.to_dict()

    return app


def config_for(emu: Emulator) -> Config:
    return emulator_config({r: emu.url(v) for r, v in VAULTS.items()}, emu.ca_cert,
                           vault_names=VAULTS)


def run(mode: str, rate: float, duration: float, concurrency: int) -> dict[str, Any]:
    stored: dict[str, float] = {}
    copied: dict[str, float] = {}
    handler: list[float] = []
    lock = threading.Lock()

    def on_primary(vault: str, kind: str, name: str, version: str) -> None:
        with lock:
            stored.setdefault(name, time.perf_counter())

    def on_secondary(vault: str, kind: str, name: str, version: str) -> None:
        with lock:
            copied.setdefault(name, time.perf_counter())

    original = events.EventHandler.handle  # the triggers and handle_event both end here

    def timed(*args: Any, **kwargs: Any) -> EventOutcome:
        outcome = original(*args, **kwargs)
        with lock:
            handler.append(outcome.seconds)
        return outcome

    events.EventHandler.handle = timed  # type: ignore[method-assign]
    tmp = Path(tempfile.mkdtemp(prefix=f"event-lag-{mode}-"))
    app = __import__("function_app").app if mode == "direct" else orchestrated_app()
    with Emulator([VaultSpec(v, geography="us") for v in VAULTS.values()]) as emu:
        emu.store("kv-east").observers.append(on_primary)
        emu.store("kv-west").observers.append(on_secondary)
        runtime = local_runtime(config_for(emu), tmp / "kvdr", env={})
        previous = configure(runtime)
        events.reset_caches()
        try:
            with LocalHost(app, state_dir=tmp / "engine", port=0) as host:
                emu.subscribe_events(f"{host.base_url}/runtime/webhooks/EventGrid"
                                     "?functionName=event_grid_sync", vault="kv-east",
                                     concurrency=concurrency)
                with emu.secret_client("kv-east") as east:
                    east.set_secret("warm-up", "x")  # topology bootstrap, connections
                    emu.wait_events_delivered(30)
                    _wait(lambda: "warm-up" in copied, 30)
                    with lock:
                        stored.clear()
                        copied.clear()
                        handler.clear()
                    count = int(rate * duration)
                    start = time.perf_counter()
                    for i in range(count):
                        due = start + i / rate
                        delay = due - time.perf_counter()
                        if delay > 0:
                            time.sleep(delay)
                        east.set_secret(f"lag-{i:05d}", f"bench-value-{i}")
                    wrote_for = time.perf_counter() - start
                emu.wait_events_delivered(120)
                _wait(lambda: len(copied) >= count, 120)
                subs = emu.event_subscriptions()
        finally:
            configure(previous)
            runtime.close()
            events.EventHandler.handle = original  # type: ignore[method-assign]
    lags = [copied[n] - stored[n] for n in stored if n in copied]
    instances = history = 0
    with contextlib.closing(sqlite3.connect(tmp / "engine" / "engine.sqlite")) as db:
        instances = db.execute("SELECT COUNT(*) FROM instances").fetchone()[0]
        history = db.execute("SELECT COUNT(*) FROM history").fetchone()[0]
    shutil.rmtree(tmp, ignore_errors=True)
    return {
        "instances": instances, "history_rows": history,
        "mode": mode, "writes": len(stored), "copied": len(lags),
        "write_rate": len(stored) / wrote_for if wrote_for else 0.0,
        "events_handled": len(handler),
        "delivered": sum(s["delivered"] for s in subs),
        "p50": percentile(lags, 50), "p95": percentile(lags, 95),
        "p99": percentile(lags, 99), "max": max(lags, default=None),
        "handler_p50": percentile(handler, 50), "handler_p99": percentile(handler, 99),
    }


def _wait(predicate: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not predicate() and time.monotonic() < deadline:
        time.sleep(0.01)


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value * 1000:7.1f} ms"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=["direct", "orchestrated", "both"], default="both")
    parser.add_argument("--rate", type=float, default=20.0, help="writes per second")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of writing")
    parser.add_argument("--concurrency", type=int, default=16,
                        help="deliveries in flight (Event Grid pushes concurrently)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    modes = ["direct", "orchestrated"] if args.mode == "both" else [args.mode]
    results = [run(mode, args.rate, args.duration, args.concurrency) for mode in modes]
    print(f"event-driven lag: {args.rate:g} writes/s for {args.duration:g} s "
          "(primary stored -> copy stored on the secondary)")
    for r in results:
        print(f"  {r['mode']:>12}: writes {r['writes']} ({r['write_rate']:.1f}/s), copied "
              f"{r['copied']}, events handled {r['events_handled']}, delivered "
              f"{r['delivered']}")
        print(f"  {'':>12}  lag p50 {_ms(r['p50'])}  p95 {_ms(r['p95'])}  p99 {_ms(r['p99'])}"
              f"  max {_ms(r['max'])}")
        print(f"  {'':>12}  kvdr handler p50 {_ms(r['handler_p50'])}  p99 "
              f"{_ms(r['handler_p99'])}; orchestrations {r['instances']}, history rows "
              f"{r['history_rows']}")
    if len(results) == 2 and results[0]["p50"] and results[1]["p50"]:
        print(f"  orchestrated / direct: p50 x{results[1]['p50'] / results[0]['p50']:.2f}, "
              f"p99 x{results[1]['p99'] / results[0]['p99']:.2f}")
    target = all((r["p99"] or 99) <= 1.0 for r in results if r["mode"] == "direct")
    print(f"  target p99 <= 1 s (direct): {'met' if target else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
