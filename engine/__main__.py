"""`python -m engine host [--app module:attr] [--state-dir DIR] [--port 7071]`."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import logging
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from engine.host import LocalHost

DEFAULT_APP = "function_app:app"
DEFAULT_STATE_DIR = ".kvdr/engine"


def load_app(spec: str) -> Any:
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise SystemExit(f"--app must be module:attribute, got {spec!r}")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    module = importlib.import_module(module_name)
    try:
        return getattr(module, attribute)
    except AttributeError:
        raise SystemExit(f"module {module_name!r} has no attribute {attribute!r}") from None


def _host(args: argparse.Namespace) -> int:
    app = load_app(args.app)
    host = LocalHost(app, state_dir=Path(args.state_dir), port=args.port,
                     max_activity_concurrency=args.max_activities)

    def on_ready(running: LocalHost) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, running.request_stop)
        print(f"engine: state in {Path(args.state_dir).resolve()}/engine.sqlite", flush=True)
        print(f"listening on {running.base_url}", flush=True)
        for line in running.describe():
            print(f"  {line}", flush=True)
        print("ready", flush=True)

    host.serve_forever(on_ready)
    print("stopped", flush=True)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m engine",
                                     description="The local durable host for a DFApp.")
    sub = parser.add_subparsers(dest="command", required=True)
    host = sub.add_parser("host", help="serve a DFApp's functions with the local engine")
    host.add_argument("--app", default=DEFAULT_APP,
                      help=f"the DFApp as module:attribute (default {DEFAULT_APP})")
    host.add_argument("--state-dir", default=os.environ.get("DURABLE_ENGINE_STATE_DIR",
                                                            DEFAULT_STATE_DIR),
                      help="where engine.sqlite lives (default $DURABLE_ENGINE_STATE_DIR or "
                           f"{DEFAULT_STATE_DIR}); restart on the same directory to resume")
    host.add_argument("--port", type=int, default=7071, help="loopback port (default 7071)")
    host.add_argument("--max-activities", type=int, default=8,
                      help="activities run at once (host.json maxConcurrentActivityFunctions)")
    host.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    return _host(args)


if __name__ == "__main__":
    sys.exit(main())
