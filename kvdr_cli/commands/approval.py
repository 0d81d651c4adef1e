"""The runbook's own approval gate, answered at the terminal: `kvdr failover`, `failback` and
`restore` follow their run until it waits for an approval, show the plan it made, ask (or take
``--yes``) and raise the answer as the approval event, so the report records who decided."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TextIO

from engine import Engine, InstanceStatus
from kvdr.failover.request import APPROVAL_EVENT
from kvdr_cli.commands import arm_interrupt
from kvdr_cli.commands.local import LineRenderer, ProgressDisplay, follow

POLL_SECONDS = 0.05  # a switch takes well under a second: poll often enough to show each phase


def ask(question: str, stdin: TextIO, stderr: TextIO) -> bool:
    """``[y/N]`` on the terminal: only y/yes is a yes; end of input or Ctrl-C is a no."""
    stderr.write(question)
    stderr.flush()
    try:
        answer = stdin.readline()
    except KeyboardInterrupt:
        stderr.write("\n")
        arm_interrupt()  # the no is an answer: a later Ctrl-C still interrupts the run
        return False
    return answer.strip().lower() in ("y", "yes")


def follow_with_approval(engine: Engine, instance_id: str, display: ProgressDisplay, *,
                         line: LineRenderer, awaiting: Callable[[InstanceStatus], bool],
                         render_plan: Callable[[Mapping[str, Any]], str], yes: bool,
                         stdin: TextIO, stderr: TextIO, requested_by: str) -> InstanceStatus:
    """Follow the run to its end, answering its approval gate on the way (the plan it shows
    is the custom status's ``plan``)."""
    try:
        status = follow(engine, instance_id, display, line=line, until=awaiting,
                        poll=POLL_SECONDS)
        if awaiting(status):
            display.close()
            custom = status.custom_status or {}
            print(render_plan(custom.get("plan") or {}), file=stderr)
            if custom.get("approval_deadline"):
                print(f"  the runbook waits for an answer until {custom['approval_deadline']}",
                      file=stderr)
            approved = yes or ask("Proceed? [y/N] ", stdin, stderr)
            engine.raise_event(instance_id, APPROVAL_EVENT, {
                "approved": approved, "by": requested_by,
                "comment": "--yes" if yes else "answered at the kvdr prompt"})
            status = follow(engine, instance_id, display, line=line, poll=POLL_SECONDS)
    finally:
        display.close()
    return status
