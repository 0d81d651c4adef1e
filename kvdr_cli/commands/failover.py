"""`kvdr failover` and `kvdr failback`: run the failover runbook on the local engine, the
break-glass path when Azure Functions is impaired (decision 2).

The orchestration is the one ``POST /api/runbooks/{failover|failback}`` starts: assess, plan,
approval gate, reconcile, drain, switch, verify, report. Unless ``--yes`` or ``--dry-run`` is
given, the command uses the runbook's own approval gate: it shows the plan the runbook made and
asks "Proceed? [y/N]"; the answer is raised as the approval (so the report records who decided,
and the runbook plans again after the answer, as it does for an approval over HTTP). Without a
terminal to ask on, ``--yes`` is required.

Exit codes: 0 completed, not needed or planned only (dry run); 1 failed; 2 bad usage or
configuration; 3 blocked, rejected, approval timed out, or another failover/failback is in
progress in this state directory; 4 no Azure credential can get a token (``auth.failed``); 130
interrupted (the run resumes from its checkpoint when the same command runs again with the same
``--state-dir``).
"""

from __future__ import annotations

import argparse
import getpass
import json
import socket
import sys
from collections.abc import Mapping, Sequence
from typing import Any, TextIO

from engine import Engine, InstanceStatus
from kvdr.catalogue import ACTIVE_STATUSES, FAILOVER
from kvdr.errors import AuthError, ConfigError
from kvdr.failover.report import FailoverOutcome, FailoverReport
from kvdr.failover.request import (
    FailoverKind,
    FailoverPhase,
    RequestError,
    parse_request,
)
from kvdr.sync.progress import combine
from kvdr_cli.commands import (
    EXIT_CONFIG,
    EXIT_FAILED,
    EXIT_OK,
    add_common,
    interrupted,
    refused,
)
from kvdr_cli.commands.approval import follow_with_approval
from kvdr_cli.commands.local import (
    LineRenderer,
    ProgressDisplay,
    local_engine,
    phase_of,
)
from kvdr_cli.commands.operator_runtime import open_runtime, setup_logging
from triggers.failover import failover_instance_id

EXIT_NOT_DONE = 3
EXIT_CODES = {
    FailoverOutcome.COMPLETED: EXIT_OK, FailoverOutcome.NOT_NEEDED: EXIT_OK,
    FailoverOutcome.PLANNED_ONLY: EXIT_OK, FailoverOutcome.FAILED: EXIT_FAILED,
    FailoverOutcome.BLOCKED: EXIT_NOT_DONE, FailoverOutcome.REJECTED: EXIT_NOT_DONE,
    FailoverOutcome.APPROVAL_TIMED_OUT: EXIT_NOT_DONE,
    FailoverOutcome.LOST_RACE: EXIT_NOT_DONE,  # another region's runbook switched instead
}


def build_parser(kind: FailoverKind) -> argparse.ArgumentParser:
    name = "failback" if kind is FailoverKind.FAILBACK else "failover"
    what = ("make the region that was primary before an unplanned failover primary again "
            "(reconcile what only it holds, drain, switch, verify)"
            if kind is FailoverKind.FAILBACK else
            "make another region primary: planned (reconcile, drain, switch, verify) or, with "
            "--unplanned, when the primary is down (switch, verify)")
    parser = argparse.ArgumentParser(
        prog=f"kvdr {name}",
        description=f"Run the {name} runbook on the local durable engine: {what}. The "
                    "topology epoch rises by exactly one. To run it in Azure, POST "
                    f"/api/runbooks/{name}.",
        epilog="exit codes: 0 completed, not needed or dry run; 1 failed; 2 bad usage or "
               "configuration; 3 blocked, rejected, approval timed out or lost the race to "
               "another region's runbook; 4 no Azure "
               "credential can get a token; 130 interrupted")
    parser.add_argument("--target", required=True, metavar="REGION",
                        help="the region to make primary")
    parser.add_argument("--reason", required=True, metavar="TEXT",
                        help="why the primary changes (recorded in every vault's topology "
                             "record and in the report)")
    if kind is not FailoverKind.FAILBACK:
        parser.add_argument("--unplanned", action="store_true",
                            help="the primary is down: switch without reconcile and drain, "
                                 "accepting the loss of what it has not replicated yet")
    parser.add_argument("--dry-run", action="store_true",
                        help="assess and plan, print the plan; change nothing")
    parser.add_argument("--yes", action="store_true",
                        help="do not ask before switching (required without a terminal)")
    parser.add_argument("--expected-epoch", type=int, metavar="N",
                        help="refuse (blocked) unless the topology is still at epoch N")
    add_common(parser)
    parser.add_argument("--quiet", action="store_true", help="no progress display")
    return parser


def operator() -> str:
    """Who runs the command, as the topology record and the report name them."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no login name (some containers)
        user = "unknown"
    return f"{user}@{socket.gethostname()} (kvdr cli)"


def render_plan(plan: Mapping[str, Any]) -> str:
    """The plan as the operator sees it before deciding (and after a dry run)."""
    lines = [f"plan: {plan['kind']} {plan.get('source') or '?'} -> {plan['target']}, "
             f"epoch {plan['epoch_before']} -> {plan['epoch_after']}"
             + (" (split brain)" if plan.get("split_brain") else "")]
    if plan.get("steps"):
        lines.append("  steps: " + ", ".join(plan["steps"]))
    if plan.get("fence"):
        lines.append("  fence: " + ", ".join(plan["fence"]) + " (receive the new record after "
                     f"{plan['target']})")
    lines += [f"  note: {reason}" for reason in plan.get("reasons", ())]
    return "\n".join(lines)


def progress_line(kind: str) -> LineRenderer:
    """The runbook's phase and, during reconcile and drain, that step's sync progress."""

    def line(status: InstanceStatus | None, children: Sequence[InstanceStatus]) -> str:
        phase = phase_of(status) or "starting"
        if status is not None and phase in (FailoverPhase.RECONCILE, FailoverPhase.DRAIN):
            step = f"{status.instance_id}:{phase}"
            progress = combine(c.custom_status for c in children
                               if c.instance_id.startswith(step))
            parts = [p.render() for t, p in sorted(progress.items()) if t]
            if parts:
                return f"{kind}: {phase}: " + "; ".join(parts)
        return f"{kind}: {phase}"

    return line


def _awaiting_approval(status: InstanceStatus) -> bool:
    return phase_of(status) == FailoverPhase.AWAITING_APPROVAL


def _active_runbook(engine: Engine) -> InstanceStatus | None:
    """A failover/failback this state directory has not finished (at most one runs)."""
    return next((s for s in engine.list_instances(ACTIVE_STATUSES)
                 if s.name in FAILOVER.blocked_by), None)


def main(argv: Sequence[str] | None = None, *, kind: FailoverKind = FailoverKind.PLANNED,
         stdin: TextIO | None = None) -> int:
    stdin = stdin or sys.stdin
    name = "failback" if kind is FailoverKind.FAILBACK else "failover"
    args = build_parser(kind).parse_args(argv)
    setup_logging()
    interactive = not (args.yes or args.dry_run)
    try:
        runtime = open_runtime(args)
    except (ConfigError, AuthError) as exc:
        return refused(exc)
    body: dict[str, Any] = {"target": args.target, "reason": args.reason,
                            "dry_run": args.dry_run, "approval_required": interactive,
                            "expected_epoch": args.expected_epoch}
    if getattr(args, "unplanned", False):
        body["mode"] = str(FailoverKind.UNPLANNED)
    try:
        request = parse_request(json.dumps(body).encode(), kind, runtime.config.region_names,
                                default_approval=interactive, caller=operator())
    except RequestError as exc:
        runtime.close()
        print(f"kvdr {name}: {exc.message}", file=sys.stderr)
        return EXIT_CONFIG
    if interactive and not stdin.isatty():
        runtime.close()
        print(f"kvdr {name}: no terminal to ask for confirmation on; review the plan with "
              "--dry-run, then pass --yes to proceed without asking", file=sys.stderr)
        return EXIT_CONFIG

    display = ProgressDisplay(sys.stderr, enabled=not args.quiet)
    instance_id = ""
    try:
        with local_engine(runtime, args) as engine:
            active = _active_runbook(engine)
            if active is not None:
                held = active.input or {}
                if args.dry_run or (held.get("kind"), held.get("target")) != (
                        str(request.kind), request.target):
                    print(f"kvdr {name}: an unfinished {held.get('kind')} runbook (target "
                          f"{held.get('target')}, instance {active.instance_id}) holds "
                          f"{args.state_dir}; at most one runs at a time: resume it with the "
                          "same kind and --target first", file=sys.stderr)
                    return EXIT_NOT_DONE
                instance_id = active.instance_id
                print(f"kvdr {name}: resuming the unfinished {held.get('kind')} runbook to "
                      f"{held.get('target')} (instance {instance_id})", file=sys.stderr)
            else:
                instance_id = failover_instance_id(request)
                engine.start_new(FAILOVER.orchestrator, {**request.to_dict(),
                                                         "run_id": instance_id},
                                 instance_id=instance_id)
            status = follow_with_approval(
                engine, instance_id, display, line=progress_line(name),
                awaiting=_awaiting_approval, render_plan=render_plan, yes=args.yes,
                stdin=stdin, stderr=sys.stderr, requested_by=request.requested_by)
    except KeyboardInterrupt:
        interrupted(f"kvdr {name}: interrupted; the runbook"
                    f"{f' {instance_id}' if instance_id else ''} resumes from its checkpoint "
                    f"when `kvdr {name}` runs again with the same --target"
                    f"{' --unplanned' if getattr(args, 'unplanned', False) else ''} and "
                    f"--state-dir {args.state_dir}")
    if not isinstance(status.output, dict):
        print(f"kvdr {name}: the runbook ended {status.runtime_status}: {status.output}",
              file=sys.stderr)
        return EXIT_FAILED
    report = FailoverReport.from_dict(status.output)
    if args.json:
        print(json.dumps(status.output, indent=2))
    else:
        if report.outcome is FailoverOutcome.PLANNED_ONLY and report.plan:
            print(render_plan(report.plan))
        print(report.render_text())
    return EXIT_CODES[report.outcome] if report.outcome else EXIT_FAILED


def failback_main(argv: Sequence[str] | None = None) -> int:
    return main(argv, kind=FailoverKind.FAILBACK)


if __name__ == "__main__":
    sys.exit(main())
