"""`kvdr sync`: run the full sync runbook on the local engine and print its report.

Only the local mode exists: the orchestration runs in this process on the embedded durable
engine (SQLite checkpoints under ``--state-dir``), against the configured vaults — the break-glass
path when Azure Functions is impaired (decision 2). To run it in Azure, call
``POST /api/runbooks/full-sync`` on the function app. A sync interrupted here (Ctrl-C, a crash)
resumes from its last checkpoint the next time ``kvdr sync`` runs with the same state directory.

Exit codes: 0 the sync succeeded; 1 it was partial or failed; 2 the configuration is invalid;
4 no Azure credential can get a token; 130 interrupted (Ctrl-C: it exits at once, a second
Ctrl-C is ignored).
"""

from __future__ import annotations

import argparse
import json
import sys
import uuid
from collections.abc import Sequence
from typing import Any

from kvdr.catalogue import FULL_SYNC_INSTANCE, Orchestrator
from kvdr.errors import AuthError, ConfigError
from kvdr.sync.contracts import FullSyncInput
from kvdr.sync.report import SyncReport
from kvdr_cli.commands import (
    EXIT_FAILED,
    EXIT_OK,
    add_common,
    interrupted,
    refused,
)
from kvdr_cli.commands.local import ProgressDisplay, follow, local_engine
from kvdr_cli.commands.operator_runtime import open_runtime_for_targets, setup_logging


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kvdr sync",
        description="Run the full sync runbook (inventory, plan, copy, verify, report) on the "
                    "local durable engine against the configured vaults (the emulator, or "
                    "real vaults with DefaultAzureCredential). Local mode is the only mode; "
                    "to run it in Azure, POST /api/runbooks/full-sync.")
    add_common(parser)
    parser.add_argument("--local", action="store_true", default=True,
                        help="run on the embedded engine (the default and only mode)")
    parser.add_argument("--dry-run", action="store_true",
                        help="plan and report; write nothing to any vault")
    parser.add_argument("--target", action="append", dest="targets", metavar="REGION",
                        help="sync only this target region (repeatable; default: every "
                             "region but the primary)")
    parser.add_argument("--quiet", action="store_true", help="no progress display")
    return parser


def render_record(record: dict[str, Any], regions: Sequence[str] = ()) -> str:
    """The run record as text. A run stopped before it knew its pairs (no topology, split
    brain) names the configured ``regions`` in its header instead of ``? -> ``."""
    report = SyncReport.from_dict(record)
    text = report.render_text()
    status = record.get("status")
    first, _, rest = text.partition("\n")
    for state in ("succeeded", "partial", "failed", "running"):
        first = first.replace(f": {state} in ", f": {status} in ")
    if not report.target_regions and regions:
        source = report.source_region if report.source_region in regions else None
        targets = ", ".join(r for r in regions if r != source)
        first = first.replace(f"sync {report.source_region} -> ",
                              f"sync {source or '(primary unknown)'} -> {targets}", 1)
    lines = [first, *([rest] if rest else [])]
    lines.append(f"  run {record.get('run_id')}, epoch {record.get('epoch')}, "
                 f"drift found {record.get('drift', 0)}")
    lines += [f"  error{' (' + e['target'] + ')' if e.get('target') else ''}: "
              f"{e.get('message')} [{e.get('code')}]" for e in record.get("errors", [])]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging()
    try:
        runtime = open_runtime_for_targets(args)
    except (ConfigError, AuthError) as exc:
        return refused(exc)
    regions = runtime.config.region_names

    display = ProgressDisplay(sys.stderr, enabled=not args.quiet)
    try:
        with local_engine(runtime, args) as engine:
            existing = engine.get_status(FULL_SYNC_INSTANCE)
            if (not args.dry_run and existing is not None
                    and not existing.runtime_status.is_terminal):
                print(f"kvdr: resuming the interrupted full sync (instance "
                      f"{FULL_SYNC_INSTANCE}, started {existing.created_time:%Y-%m-%d %H:%M:%S})",
                      file=sys.stderr)
                instance_id = FULL_SYNC_INSTANCE
            else:
                instance_id = (f"full-sync-dry-run-{uuid.uuid4().hex[:12]}" if args.dry_run
                               else FULL_SYNC_INSTANCE)
                run_id = f"cli-{uuid.uuid4().hex[:12]}"
                request = FullSyncInput(args.dry_run, tuple(args.targets) if args.targets
                                        else None, run_id)
                engine.start_new(Orchestrator.FULL_SYNC, request.to_dict(), instance_id=instance_id)
            try:
                status = follow(engine, instance_id, display)
            finally:
                display.close()
    except KeyboardInterrupt:
        interrupted("kvdr: interrupted; the sync resumes from its checkpoint on the next "
                    f"`kvdr sync` with --state-dir {args.state_dir}")
    if status.output is None or not isinstance(status.output, dict):
        print(f"kvdr: the full sync ended {status.runtime_status}: {status.output}",
              file=sys.stderr)
        return EXIT_FAILED
    record = status.output
    if args.json:
        print(json.dumps(record, indent=2))
    else:
        print(render_record(record, regions))
    return EXIT_OK if record.get("status") == "succeeded" else EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
