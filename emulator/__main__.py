"""``python -m emulator serve --vault NAME=PORT …``: serve vaults until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys
from pathlib import Path

from emulator import authorization
from emulator.faults import parse_kinds
from emulator.server import EmulatorServer
from emulator.throttle import ThrottleLimits
from emulator.vaults import DEFAULT_GEOGRAPHY, VaultSpec


def _pair(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name or not value:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    return name, value


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m emulator", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="serve vaults on 127.0.0.1 until SIGINT/SIGTERM")
    serve.add_argument(
        "--vault",
        action="append",
        type=_pair,
        required=True,
        metavar="NAME=PORT",
        help="a vault and its port (0 picks a free port); repeat for more vaults",
    )
    serve.add_argument(
        "--geography",
        action="append",
        type=_pair,
        default=[],
        metavar="NAME=GEO",
        help=f"the vault's geography for backup/restore (default {DEFAULT_GEOGRAPHY})",
    )
    serve.add_argument("--state-dir", type=Path, help="keep TLS files and vault contents here")
    serve.add_argument("--throttle", choices=["realistic", "off"], default="off")
    serve.add_argument("--throttle-window", type=float, default=10.0, metavar="SECONDS")
    serve.add_argument("--limit-create", type=int, default=300, metavar="N")
    serve.add_argument("--limit-key-create", type=int, default=20, metavar="N")
    serve.add_argument("--limit-other", type=int, default=4000, metavar="N")
    serve.add_argument("--fault-rate", type=float, default=0.0, metavar="R")
    serve.add_argument("--fault-kinds", metavar="K,K…",
                       help="the fault mix, from 429,500,503,drop,drop_after_write "
                            "(default 429,500,503,drop)")
    serve.add_argument("--seed", type=int, default=0)
    serve.add_argument("--roles", type=Path, metavar="FILE",
                       help='JSON {"token": "read"|"full"} or per vault '
                            '{"token": {"vault": "read"|"full"}}')
    serve.add_argument("--admin-port", type=int, metavar="P")
    serve.add_argument("--log-level", default="WARNING")
    serve.add_argument("--event-webhook", action="append", default=[], metavar="URL",
                       help="deliver Event Grid events of every vault to this webhook")
    serve.add_argument("--event-duplicate-rate", type=float, default=0.0, metavar="R")
    serve.add_argument("--event-reorder", action="store_true")
    args = parser.parse_args(argv)
    if not 0.0 <= args.fault_rate <= 1.0:
        parser.error("--fault-rate must be between 0 and 1")
    if args.fault_kinds is not None:
        try:
            parse_kinds(args.fault_kinds)
        except ValueError as exc:
            parser.error(f"--fault-kinds: {exc}")
    return args


def build_server(args: argparse.Namespace) -> EmulatorServer:
    geographies = dict(args.geography)
    unknown = set(geographies) - {name for name, _ in args.vault}
    if unknown:
        raise SystemExit(f"--geography names unknown vaults: {sorted(unknown)}")
    specs = [
        VaultSpec(name, int(port), geographies.get(name, DEFAULT_GEOGRAPHY))
        for name, port in args.vault
    ]
    limits = None
    if args.throttle == "realistic":
        limits = ThrottleLimits(
            args.throttle_window, args.limit_create, args.limit_key_create, args.limit_other
        )
    roles = None
    if args.roles is not None:
        roles = json.loads(args.roles.read_text(encoding="utf-8"))
        if not isinstance(roles, dict):
            raise SystemExit('--roles FILE must hold a JSON object {"token": "read" | "full"}')
        try:
            authorization.parse_roles(roles)
        except ValueError as exc:
            raise SystemExit(f"--roles FILE: {exc}") from None
    server = EmulatorServer(
        specs,
        state_dir=args.state_dir.resolve() if args.state_dir else None,
        throttle=limits,
        fault_rate=args.fault_rate,
        seed=args.seed,
        fault_kinds=args.fault_kinds,
        roles=roles,
        admin_port=args.admin_port,
    )
    server.event_webhooks = list(args.event_webhook)  # type: ignore[attr-defined]
    server.event_duplicate_rate = args.event_duplicate_rate  # type: ignore[attr-defined]
    server.event_reorder = args.event_reorder  # type: ignore[attr-defined]
    server.event_seed = args.seed  # type: ignore[attr-defined]
    return server


async def serve(server: EmulatorServer) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await server.start()
    assert server.tls is not None
    for url in getattr(server, "event_webhooks", ()):  # validated in the background
        server.events.subscribe(url, duplicate_rate=server.event_duplicate_rate,
                                reorder=server.event_reorder, seed=server.event_seed)
    for vault in server.vaults.values():
        print(json.dumps(vault.info(server.tls.ca_cert.resolve())), flush=True)
    if server.admin_port is not None:
        admin = f"https://127.0.0.1:{server.admin_port}/_emulator/"
        print(f"emulator: admin API at {admin}", file=sys.stderr, flush=True)
    print("ready", flush=True)
    try:
        await stop.wait()
    finally:
        await server.stop()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr)
    server = build_server(args)
    try:
        asyncio.run(serve(server))
    except OSError as exc:
        print(f"emulator: cannot start: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
