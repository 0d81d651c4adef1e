"""The runbook catalogue: every orchestrator and activity by its Durable function name, the
singleton instance ids, the runtime statuses that count as "still running", and which runbook
may not start while another runs.

Triggers, orchestrators and the command line all name runbooks through this module, never a
string literal, so a renamed function or a new conflict rule is changed in one place. The
names are the functions the blueprints register (``function_app``); a test checks that each
one is registered.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Orchestrator(StrEnum):
    """The orchestrator functions, by their registered names."""

    FULL_SYNC = "full_sync"
    FULL_SYNC_PAIR = "full_sync_pair"
    FULL_SYNC_BATCHES = "full_sync_batches"
    FAILOVER = "failover"
    DRILL = "drill"
    RESTORE = "restore"


class Activity(StrEnum):
    """The activity functions, by their registered names."""

    SYNC_READ_TOPOLOGY = "sync_read_topology"
    SYNC_PLAN_PAIR = "sync_plan_pair"
    SYNC_ALIGN_RENEWAL = "sync_align_renewal"
    SYNC_EXECUTE_BATCH = "sync_execute_batch"
    SYNC_FAIL_BATCH = "sync_fail_batch"
    SYNC_VERIFY_PAIR = "sync_verify_pair"
    SYNC_SAVE_REPORT = "sync_save_report"
    FAILOVER_ASSESS = "failover_assess"
    FAILOVER_SWITCH = "failover_switch"
    FAILOVER_SETTLE = "failover_settle"
    FAILOVER_HANDOVER = "failover_handover"
    FAILOVER_VERIFY = "failover_verify"
    FAILOVER_SAVE_REPORT = "failover_save_report"
    DRILL_PREFLIGHT = "drill_preflight"
    DRILL_CHECK_RENEWAL = "drill_check_renewal"
    DRILL_MEASURE_RPO = "drill_measure_rpo"
    DRILL_REHEARSE_RTO = "drill_rehearse_rto"
    DRILL_SAVE_REPORT = "drill_save_report"
    DRILL_EMIT_EVENT = "drill_emit_event"
    ROTATION_SCAN = "rotation_scan"
    RESTORE_PLAN = "restore_plan"
    RESTORE_EXECUTE_BATCH = "restore_execute_batch"
    RESTORE_SAVE_REPORT = "restore_save_report"


FULL_SYNC_INSTANCE = "full-sync"  # a real (not dry-run) full sync: the HTTP starter and timer
DRILL_INSTANCE = "drill"          # every drill, started over HTTP, by the timer or the CLI


class RuntimeStatus(StrEnum):
    """The Durable runtime statuses, spelled as the extension's HTTP API spells them (the
    Durable SDK's ``OrchestrationRuntimeStatus`` values and the local engine's statuses)."""

    PENDING = "Pending"
    RUNNING = "Running"
    COMPLETED = "Completed"
    CONTINUED_AS_NEW = "ContinuedAsNew"
    FAILED = "Failed"
    TERMINATED = "Terminated"
    SUSPENDED = "Suspended"


# not finished: a suspended runbook still holds its place (resume or terminate it first)
ACTIVE_STATUSES: tuple[RuntimeStatus, ...] = (
    RuntimeStatus.PENDING, RuntimeStatus.RUNNING, RuntimeStatus.SUSPENDED)


def is_active(status: object) -> bool:
    """Whether a runtime status (a string, a ``StrEnum`` or the SDK's ``Enum``) is one that
    holds a runbook's place."""
    return str(getattr(status, "value", status)) in ACTIVE_STATUSES


@dataclass(frozen=True)
class Runbook:
    """A runbook a starter may start: its orchestrator, the singleton instance id it runs under
    (None: an id per run), and the runbooks whose active instances keep it from starting."""

    orchestrator: Orchestrator
    singleton: str | None = None
    blocked_by: frozenset[Orchestrator] = frozenset()


# The conflict rules. A full sync runs once at a time (its singleton). At most one topology
# runbook (failover or failback: one orchestrator) runs at a time. A drill runs once at a time
# and never while a failover/failback runs (it would measure a topology in motion); a drill
# does not block a failover: recovery comes first.
FULL_SYNC = Runbook(Orchestrator.FULL_SYNC, singleton=FULL_SYNC_INSTANCE)
FAILOVER = Runbook(Orchestrator.FAILOVER, blocked_by=frozenset({Orchestrator.FAILOVER}))
DRILL = Runbook(Orchestrator.DRILL, singleton=DRILL_INSTANCE,
                blocked_by=frozenset({Orchestrator.FAILOVER}))
# A restore runs once at a time (two would write the same items) and never while a
# failover/failback runs (it writes to the primary); a restore does not block a failover: its
# batches are fenced by the epoch, so a failover stops it cleanly.
RESTORE = Runbook(Orchestrator.RESTORE,
                  blocked_by=frozenset({Orchestrator.FAILOVER, Orchestrator.RESTORE}))
RUNBOOKS: tuple[Runbook, ...] = (FULL_SYNC, FAILOVER, DRILL, RESTORE)
