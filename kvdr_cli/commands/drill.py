"""`kvdr drill`: run the DR drill runbook on the local engine and print its report.

The same non-disruptive drill the monthly timer starts in Azure (``POST /api/runbooks/drill``),
run from an operator's machine against the configured vaults: it never changes the topology
and never writes a user item (only the reserved probe secret in each secondary).

Exit codes: 0 the drill passed; 1 it failed (a check failed or could not be measured); 2 the
configuration or a ``--target`` is invalid; 4 no Azure credential can get a token; 130
interrupted (it resumes on the next run).
"""

from __future__ import annotations

import argparse
import json
import sys
import uuid
from collections.abc import Sequence

from kvdr.catalogue import DRILL_INSTANCE, Orchestrator
from kvdr.drill.contracts import DrillInput
from kvdr.drill.report import DrillReport, DrillResult
from kvdr.errors import AuthError, ConfigError
from kvdr_cli.commands import (
    EXIT_FAILED,
    EXIT_OK,
    add_common,
    interrupted,
    refused,
)
from kvdr_cli.commands.local import ProgressDisplay, follow, local_engine, phase_of
from kvdr_cli.commands.operator_runtime import open_runtime_for_targets, setup_logging


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kvdr drill",
        description="Run the DR drill (preflight, RPO per secondary, RTO rehearsal, report) on "
                    "the local durable engine against the configured vaults. In Azure, the "
                    "monthly timer runs it, or POST /api/runbooks/drill.")
    add_common(parser)
    parser.add_argument("--target", action="append", dest="targets", metavar="REGION",
                        help="rehearse only this secondary (repeatable; default: all)")
    parser.add_argument("--quiet", action="store_true", help="no progress display")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging()
    try:
        runtime = open_runtime_for_targets(args)
    except (ConfigError, AuthError) as exc:
        return refused(exc)
    display = ProgressDisplay(sys.stderr, enabled=not args.quiet)
    try:
        with local_engine(runtime, args) as engine:
            existing = engine.get_status(DRILL_INSTANCE)
            if existing is not None and not existing.runtime_status.is_terminal:
                print("kvdr: resuming the interrupted drill", file=sys.stderr)
            else:  # a finished drill's id is reused (its report stays in the state store)
                request = DrillInput(tuple(args.targets) if args.targets else None,
                                     f"cli-drill-{uuid.uuid4().hex[:12]}")
                engine.start_new(Orchestrator.DRILL, request.to_dict(),
                                 instance_id=DRILL_INSTANCE)
            try:
                status = follow(engine, DRILL_INSTANCE, display,
                                line=lambda st, _children: f"drill: {phase_of(st) or 'starting'}")
            finally:
                display.close()
    except KeyboardInterrupt:
        interrupted("kvdr: interrupted; the drill resumes from its checkpoint on the next "
                    f"`kvdr drill` with --state-dir {args.state_dir}")
    if not isinstance(status.output, dict):
        print(f"kvdr: the drill ended {status.runtime_status}: {status.output}",
              file=sys.stderr)
        return EXIT_FAILED
    report = DrillReport.from_dict(status.output)
    print(json.dumps(status.output, indent=2) if args.json else report.render_text())
    return EXIT_OK if report.result == DrillResult.PASSED else EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
