"""`kvdr sync`: run the full sync runbook on the local engine and print its report.

Only the local mode exists: the orchestration runs in this process on the embedded durable
engine (SQLite checkpoints under ``--state-dir``), against the configured vaults — the break-glass
path when Azure Functions is impaired (decision 2). To run it in Azure, call
``POST /api/runbooks/full-sync`` on the function app. A sync interrupted here (Ctrl-C, a crash)
resumes from its last checkpoint the next time ``kvdr sync`` runs with the same state directory.

Exit codes: 0 the sync succeeded; 1 it was partial or failed; 2 the configuration is invalid.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
import uuid
from collections.abc import Sequence
from typing import Any, TextIO

from kvdr.commands import EXIT_FAILED, EXIT_OK, add_common, config_error
from kvdr.errors import ConfigError
from kvdr.progress import combine, render_line

FULL_SYNC_INSTANCE = "full-sync"  # the same singleton id the function app uses


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


class ProgressDisplay:
    """One updating line on a terminal; otherwise a line whenever progress changes, at most
    every ``interval`` seconds."""

    def __init__(self, stream: TextIO, *, interval: float = 2.0, enabled: bool = True) -> None:
        self.stream = stream
        self.tty = stream.isatty()
        self.interval = interval
        self.enabled = enabled
        self._last_line = ""
        self._last_time = 0.0
        self._width = 0

    def show(self, line: str) -> None:
        if not self.enabled or line == self._last_line:
            return
        now = time.monotonic()
        if self.tty:
            self.stream.write("\r" + line.ljust(self._width))
            self._width = len(line)
        elif now - self._last_time >= self.interval or not self._last_line:
            self.stream.write(line + "\n")
            self._last_time = now
        else:
            return
        self._last_line = line
        self.stream.flush()

    def close(self) -> None:
        if self.enabled and self.tty and self._last_line:
            self.stream.write("\n")
            self.stream.flush()


def follow(engine: Any, instance_id: str, display: ProgressDisplay, *,
           poll: float = 0.25) -> Any:
    """Wait for the run, showing its progress; returns its final status."""
    from engine import RuntimeStatus

    while True:
        status = engine.get_status(instance_id)
        if status is not None and status.runtime_status.is_terminal:
            return status
        phase = (status.custom_status or {}).get("phase") if status is not None else None
        children = engine.list_instances([RuntimeStatus.RUNNING, RuntimeStatus.PENDING,
                                          RuntimeStatus.COMPLETED],
                                         prefix=f"{instance_id}:")
        recent = [c for c in children if status is None
                  or c.created_time >= status.created_time]
        display.show(render_line(phase, combine(c.custom_status for c in recent)))
        time.sleep(poll)


def render_record(record: dict[str, Any]) -> str:
    from kvdr.report import SyncReport

    text = SyncReport.from_dict(record).render_text()
    status = record.get("status")
    first, _, rest = text.partition("\n")
    for state in ("succeeded", "partial", "failed", "running"):
        first = first.replace(f": {state} in ", f": {status} in ")
    lines = [first, *([rest] if rest else [])]
    lines.append(f"  run {record.get('run_id')}, epoch {record.get('epoch')}, "
                 f"drift found {record.get('drift', 0)}")
    lines += [f"  error{' (' + e['target'] + ')' if e.get('target') else ''}: "
              f"{e.get('message')} [{e.get('code')}]" for e in record.get("errors", [])]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format="%(levelname)s %(name)s: %(message)s")
    from kvdr.runtime import configure, local_runtime

    try:
        runtime = local_runtime(args.config, args.state_dir)
    except ConfigError as exc:
        return config_error(exc)
    if args.targets:
        unknown = [t for t in args.targets if t not in runtime.config.region_names]
        if unknown:
            return config_error(ConfigError(
                "--target", f"unknown region(s) {', '.join(unknown)}; configured: "
                f"{', '.join(runtime.config.region_names)}"))
    configure(runtime)
    import function_app
    from engine import Engine
    from orchestrators.full_sync import FullSyncInput

    display = ProgressDisplay(sys.stderr, enabled=not args.quiet)
    try:
        with Engine(function_app.app, args.state_dir / "engine",
                    max_activity_concurrency=max(8, runtime.config.pacing.max_parallel * 2)
                    ) as engine:
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
                engine.start_new("full_sync", request.to_dict(), instance_id=instance_id)
            try:
                status = follow(engine, instance_id, display)
            finally:
                display.close()
    except KeyboardInterrupt:
        print("kvdr: interrupted; the sync resumes from its checkpoint on the next `kvdr sync` "
              f"with --state-dir {args.state_dir}", file=sys.stderr)
        return 130
    finally:
        configure(None)
        runtime.close()
    if status.output is None or not isinstance(status.output, dict):
        print(f"kvdr: the full sync ended {status.runtime_status}: {status.output}",
              file=sys.stderr)
        return EXIT_FAILED
    record = status.output
    if args.json:
        print(json.dumps(record, indent=2))
    else:
        print(render_record(record))
    return EXIT_OK if record.get("status") == "succeeded" else EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
