"""`kvdr restore`: run the restore runbook on the local engine — put the primary's secrets and
certificates back as they were at a moment (roll back, recover, bring back from a secondary's
copy), report what was created since and what cannot go back.

The orchestration is the one ``POST /api/runbooks/restore`` starts: plan, approval gate,
execute the batches, report. Unless ``--yes`` or ``--dry-run`` is given, the command uses the
runbook's own approval gate, as `kvdr failover` does: it shows the plan and asks "Proceed?
[y/N]"; the answer is raised as the approval. Without a terminal to ask on, ``--yes`` is
required.

Exit codes: 0 completed (succeeded) or planned only (dry run); 1 failed, partial (an item
failed, or the plan could not read everything) or fenced (a failover happened during the run);
2 bad usage or configuration (a TIME kvdr refuses included); 3 rejected, approval timed out, or
another restore or a failover/failback is unfinished in this state directory; 4 no Azure
credential can get a token (``auth.failed``); 130 interrupted (the run resumes from its
checkpoint when the same command runs again with the same ``--state-dir``).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, TextIO

from engine import Engine, InstanceStatus
from kvdr.catalogue import ACTIVE_STATUSES, RESTORE, Orchestrator
from kvdr.config.durations import parse_duration
from kvdr.errors import AuthError, ConfigError
from kvdr.restore.contracts import APPROVAL_TIMED_OUT, RestorePhase, render_record
from kvdr.restore.report import RestoreRunOutcome
from kvdr.restore.request import RestoreRequestError, parse_request
from kvdr_cli.commands import (
    EXIT_CONFIG,
    EXIT_FAILED,
    EXIT_OK,
    add_common,
    interrupted,
    refused,
)
from kvdr_cli.commands.approval import follow_with_approval
from kvdr_cli.commands.failover import EXIT_NOT_DONE, operator
from kvdr_cli.commands.local import ProgressDisplay, local_engine, phase_of
from kvdr_cli.commands.operator_runtime import open_runtime, setup_logging
from triggers.restore import restore_instance_id

EXIT_CODES: dict[str, int] = {
    RestoreRunOutcome.SUCCEEDED: EXIT_OK, RestoreRunOutcome.PLANNED_ONLY: EXIT_OK,
    RestoreRunOutcome.PARTIAL: EXIT_FAILED, RestoreRunOutcome.FAILED: EXIT_FAILED,
    RestoreRunOutcome.FENCED: EXIT_FAILED, RestoreRunOutcome.REJECTED: EXIT_NOT_DONE,
    APPROVAL_TIMED_OUT: EXIT_NOT_DONE,
}
EPILOG = ("exit codes: 0 completed or dry run; 1 failed, partial or fenced by a failover; 2 bad "
          "usage or configuration; 3 rejected, approval timed out, or another runbook is "
          "unfinished in --state-dir; 4 no Azure credential can get a token; 130 interrupted")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kvdr restore",
        description="Run the restore runbook on the local durable engine: make the primary's "
                    "secrets and certificates what they were at TIME — roll back what was "
                    "overwritten, recover what was deleted, bring back what was purged from a "
                    "secondary's copy — and report what was created since (never deleted) and "
                    "what cannot go back (keys). To run it in Azure, POST "
                    "/api/runbooks/restore. See docs/restore.md.",
        epilog=EPILOG)
    parser.add_argument("--as-of", required=True, metavar="TIME",
                        help="an ISO 8601 time with a zone (2025-03-01T02:00:00Z) or a "
                             "duration ago (2h, 30m, 1d)")
    parser.add_argument("--names", nargs="+", action="extend", metavar="GLOB",
                        help="only items whose name matches one of these globs (app-*, db-?); "
                             "default: every item")
    parser.add_argument("--kinds", metavar="KINDS",
                        help="comma-separated: secrets,certificates,keys (default: all; keys "
                             "are only reported)")
    parser.add_argument("--disable-new", action="store_true",
                        help="disable the items created after TIME (default: only report them;"
                             " nothing is ever deleted)")
    parser.add_argument("--dry-run", action="store_true",
                        help="plan and print the plan; change nothing")
    parser.add_argument("--yes", action="store_true",
                        help="do not ask before restoring (required without a terminal)")
    parser.add_argument("--reason", default="", metavar="TEXT",
                        help="why (recorded in the report)")
    add_common(parser)
    parser.add_argument("--quiet", action="store_true", help="no progress display")
    return parser


def render_plan(plan: Mapping[str, Any]) -> str:
    """The plan as the operator sees it before deciding."""
    counts = plan.get("counts") or {}
    lines = [f"plan: restore {plan.get('primary')} (epoch {plan.get('epoch')}) to "
             f"{plan.get('as_of')}: {plan.get('items', 0)} item(s) to write in "
             f"{plan.get('batches', 0)} batch(es)"
             + ("" if plan.get("complete", True) else " (INCOMPLETE: some reads failed)")]
    preview = plan.get("preview") or {}
    for action in sorted(counts):
        by_kind = ", ".join(f"{n} {kind}" for kind, n in sorted(counts[action].items()))
        lines.append(f"  {action}: {by_kind}")
        names = preview.get(action) or []
        if names:
            more = sum(counts[action].values()) > len(names)
            lines.append("    " + ", ".join(names) + (", …" if more else ""))
    for region, code in sorted((plan.get("unreached") or {}).items()):
        lines.append(f"  note: {region} did not answer [{code}]; its copies were not consulted")
    return "\n".join(lines)


def progress_line(status: InstanceStatus | None, _children: Sequence[InstanceStatus]) -> str:
    phase = phase_of(status) or "starting"
    custom = status.custom_status if status is not None else None
    done = custom.get("progress") if isinstance(custom, dict) else None
    if phase == RestorePhase.EXECUTE and isinstance(done, dict):
        return (f"restore: execute: batch {done.get('batches_done')}/{done.get('batches')}, "
                f"items {done.get('items_done')}/{done.get('items')}")
    return f"restore: {phase}"


def _awaiting_approval(status: InstanceStatus) -> bool:
    return phase_of(status) == RestorePhase.AWAITING_APPROVAL


def _unfinished(engine: Engine) -> InstanceStatus | None:
    """A restore or failover/failback this state directory has not finished."""
    return next((s for s in engine.list_instances(ACTIVE_STATUSES)
                 if s.name in RESTORE.blocked_by), None)


def _body(args: argparse.Namespace, interactive: bool) -> dict[str, Any]:
    body: dict[str, Any] = {"as_of": args.as_of, "dry_run": args.dry_run,
                            "disable_new": args.disable_new, "approval_required": interactive,
                            "reason": args.reason}
    if args.names:
        body["names"] = list(args.names)
    if args.kinds is not None:
        body["kinds"] = args.kinds
    return body


def _is_time(text: str) -> bool:
    """Whether TIME was given as a time (not a duration ago)."""
    try:
        parse_duration(text.strip())
    except ValueError:
        return True
    return text.strip().isdigit()


def main(argv: Sequence[str] | None = None, *, stdin: TextIO | None = None) -> int:
    stdin = stdin or sys.stdin
    args = build_parser().parse_args(argv)
    setup_logging()
    interactive = not (args.yes or args.dry_run)
    # the request is read before anything else: bad input is reported without a vault call
    try:
        request = parse_request(json.dumps(_body(args, interactive)).encode(),
                                now=datetime.now(UTC), default_approval=interactive,
                                caller=operator())
    except RestoreRequestError as exc:
        print(f"kvdr restore: {exc.message} [{exc.code}]", file=sys.stderr)
        return EXIT_CONFIG
    if interactive and not stdin.isatty():
        print("kvdr restore: no terminal to ask for confirmation on; review the plan with "
              "--dry-run, then pass --yes to proceed without asking", file=sys.stderr)
        return EXIT_CONFIG
    try:
        runtime = open_runtime(args)
    except (ConfigError, AuthError) as exc:
        return refused(exc)

    display = ProgressDisplay(sys.stderr, enabled=not args.quiet)
    instance_id = ""
    try:
        with local_engine(runtime, args) as engine:
            active = _unfinished(engine)
            if active is not None and (active.name != Orchestrator.RESTORE or args.dry_run
                                       or not _same(active.input, request.to_dict(),
                                                    moment_given=_is_time(args.as_of))):
                held = active.input or {}
                what = (f"restore to {held.get('as_of')}" if active.name == Orchestrator.RESTORE
                        else f"{held.get('kind')} runbook (target {held.get('target')})")
                print(f"kvdr restore: an unfinished {what}, instance {active.instance_id}, holds "
                      f"{args.state_dir}; at most one runs at a time: finish it first (run the "
                      "same command again)", file=sys.stderr)
                return EXIT_NOT_DONE
            if active is not None:
                instance_id = active.instance_id
                print(f"kvdr restore: resuming the unfinished restore to "
                      f"{(active.input or {}).get('as_of')} (instance {instance_id})",
                      file=sys.stderr)
            else:
                instance_id = restore_instance_id()
                engine.start_new(RESTORE.orchestrator, {**request.to_dict(),
                                                        "run_id": instance_id},
                                 instance_id=instance_id)
            status = follow_with_approval(
                engine, instance_id, display, line=progress_line,
                awaiting=_awaiting_approval, render_plan=render_plan, yes=args.yes,
                stdin=stdin, stderr=sys.stderr, requested_by=request.requested_by)
    except KeyboardInterrupt:
        interrupted("kvdr restore: interrupted; the runbook"
                    f"{f' {instance_id}' if instance_id else ''} resumes from its checkpoint "
                    f"when `kvdr restore` runs again with the same --as-of, scope and "
                    f"--state-dir {args.state_dir}")
    if not isinstance(status.output, dict):
        print(f"kvdr restore: the runbook ended {status.runtime_status}: {status.output}",
              file=sys.stderr)
        return EXIT_FAILED
    if args.json:
        print(json.dumps(status.output, indent=2))
    else:
        if status.output.get("outcome") == RestoreRunOutcome.PLANNED_ONLY and \
                status.output.get("plan"):
            print(render_plan(status.output["plan"]))
        print(render_record(status.output))
    return EXIT_CODES.get(str(status.output.get("outcome")), EXIT_FAILED)


def _same(held: Any, asked: Mapping[str, Any], *, moment_given: bool) -> bool:
    """Whether an unfinished restore is the one asked for again (so it resumes): the same
    scope and handling of new items, and the same moment when TIME was a time (a duration
    ago names a new moment at every run: it resumes whatever moment the first run took)."""
    if not isinstance(held, Mapping):
        return False
    keys = ("scope", "disable_new", *(("as_of",) if moment_given else ()))
    return all(held.get(k) == asked.get(k) for k in keys)

if __name__ == "__main__":
    sys.exit(main())
