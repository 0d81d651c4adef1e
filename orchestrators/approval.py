"""The approval gate the failover/failback and restore runbooks wait at: the plan is shown in
the custom status (with the deadline), then the first of an operator's decision (the external
event ``approval``, raised by ``POST /api/runbooks/{id}/approve`` or the CLI's prompt) and the
timeout wins. Deterministic: time from the context, the timer cancelled once decided."""

from __future__ import annotations

import json
from collections.abc import Callable, Generator, Mapping
from datetime import timedelta
from typing import Any

import azure.durable_functions as df

from kvdr.failover.report import Approval
from kvdr.failover.request import APPROVAL_EVENT
from kvdr.vault.inventory import format_time


def approval_gate(context: df.DurableOrchestrationContext, timeout_seconds: int,
                  status: Callable[[str | None], Mapping[str, Any]]
                  ) -> Generator[Any, Any, Approval]:
    """Wait for the decision (``yield from``). ``status(deadline)`` is the custom status to
    show while waiting. Returns the approval; ``approved`` is None when nobody decided in
    time."""
    asked = context.current_utc_datetime
    deadline = asked + timedelta(seconds=timeout_seconds)
    context.set_custom_status(dict(status(format_time(deadline))))
    timeout = context.create_timer(deadline)
    decision_task = context.wait_for_external_event(APPROVAL_EVENT)
    winner = yield context.task_any([decision_task, timeout])
    waited = (context.current_utc_datetime - asked).total_seconds()
    if winner is not decision_task:
        return Approval(True, None, wait_seconds=waited)
    timeout.cancel()
    decision = _decision(decision_task.result)
    return Approval(True, bool(decision.get("approved")), str(decision.get("by", "")),
                    str(decision.get("comment", "")), context.current_utc_datetime, waited)


def _decision(raw: Any) -> Mapping[str, Any]:
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            return {}
    return raw if isinstance(raw, Mapping) else {}
