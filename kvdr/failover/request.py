"""Failover and failback requests: what an operator, a pipeline or an alert asks for.

A request names the region that should become primary and why. It crosses the Durable boundary
as the failover orchestration's input, so it is a plain dataclass with ``to_dict``/``from_dict``
and carries no value. :func:`parse_request` validates an HTTP body strictly (an unknown field,
a wrong type or an unknown region is a :class:`RequestError`, answered 400 by the starters).

Kinds:

- ``planned``: both regions healthy (maintenance, evacuation). Steps: reconcile, drain, switch,
  verify.
- ``unplanned``: the primary is down (operator or alert). Steps: switch, verify; the old
  primary is fenced (given the new record) when it is reachable.
- ``failback``: back to the region that was primary before an unplanned failover. As planned;
  the reconcile step brings over what only the returning region holds, so nothing is lost.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from kvdr.request_body import RequestError, check_types, json_object
from kvdr.topology.settle import DEFAULT_SETTLE_SECONDS, MAX_SETTLE_SECONDS

__all__ = ["APPROVAL_EVENT", "DEFAULT_APPROVAL_TIMEOUT_SECONDS", "FailoverKind",
           "FailoverPhase", "FailoverRequest", "RequestError", "parse_request"]

APPROVAL_EVENT = "approval"  # the external event the approval gate waits for

DEFAULT_APPROVAL_TIMEOUT_SECONDS = 3600
MAX_APPROVAL_TIMEOUT_SECONDS = 7 * 24 * 3600
MAX_REASON_CHARS = 500


class FailoverKind(StrEnum):
    PLANNED = "planned"
    UNPLANNED = "unplanned"
    FAILBACK = "failback"


class FailoverPhase(StrEnum):
    """The ``phase`` of the runbook's custom status."""

    ASSESS = "assess"
    AWAITING_APPROVAL = "awaiting_approval"
    RECONCILE = "reconcile"
    DRAIN = "drain"
    SWITCH = "switch"
    SETTLE = "settle"  # the wait, then every vault read again: a rival switch is settled
    HANDOVER = "handover"  # renewal follows the new primary (decision 9)
    VERIFY = "verify"
    REPORT = "report"
    DONE = "done"


def settle_seconds(value: Any) -> float:
    """The settle wait of an orchestration input, bounded (a missing or bad value: default)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return DEFAULT_SETTLE_SECONDS
    return float(min(max(value, 0.0), MAX_SETTLE_SECONDS))


@dataclass(frozen=True)
class FailoverRequest:
    """The failover orchestration's input.

    ``target``: the region to make primary. ``expected_primary``: the primary the requester
    believes is in force (an alert names the failing vault's region); when the topology says
    otherwise the runbook changes nothing and reports ``not_needed``. ``expected_epoch``: the
    epoch the requester saw; a different one aborts (someone else changed the topology).
    ``approval_required``: wait for ``POST /api/runbooks/{id}/approve`` before the switch.
    ``fired_at``: when the alert fired (RTO is measured from it when given).
    ``settle_seconds``: the wait after the switch before every vault is read again, so that
    a runbook of another region switching at the same epoch is seen and the one rule picks
    the winner (0 to 30; an input without it, from before the field, gets the default).
    """

    kind: FailoverKind
    target: str
    reason: str
    requested_by: str
    approval_required: bool = False
    approval_timeout_seconds: int = DEFAULT_APPROVAL_TIMEOUT_SECONDS
    dry_run: bool = False
    expected_primary: str | None = None
    expected_epoch: int | None = None
    run_id: str | None = None
    alert_id: str | None = None
    fired_at: str | None = None
    settle_seconds: float = DEFAULT_SETTLE_SECONDS

    def to_dict(self) -> dict[str, Any]:
        return {"kind": str(self.kind), "target": self.target, "reason": self.reason,
                "requested_by": self.requested_by,
                "approval_required": self.approval_required,
                "approval_timeout_seconds": self.approval_timeout_seconds,
                "dry_run": self.dry_run, "expected_primary": self.expected_primary,
                "expected_epoch": self.expected_epoch, "run_id": self.run_id,
                "alert_id": self.alert_id, "fired_at": self.fired_at,
                "settle_seconds": self.settle_seconds}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FailoverRequest:
        return cls(kind=FailoverKind(data["kind"]), target=data["target"],
                   reason=data["reason"], requested_by=data.get("requested_by", ""),
                   approval_required=bool(data.get("approval_required", False)),
                   approval_timeout_seconds=int(data.get(
                       "approval_timeout_seconds", DEFAULT_APPROVAL_TIMEOUT_SECONDS)),
                   dry_run=bool(data.get("dry_run", False)),
                   expected_primary=data.get("expected_primary"),
                   expected_epoch=data.get("expected_epoch"), run_id=data.get("run_id"),
                   alert_id=data.get("alert_id"), fired_at=data.get("fired_at"),
                   settle_seconds=settle_seconds(data.get("settle_seconds")))


_FIELDS: dict[str, tuple[type, ...]] = {
    "target": (str,), "reason": (str,), "requested_by": (str,), "dry_run": (bool,),
    "approval_required": (bool,), "approval_timeout_seconds": (int,),
    "expected_epoch": (int,), "mode": (str,)}
def parse_request(raw: bytes, kind: FailoverKind, regions: Sequence[str], *,
                  default_approval: bool, caller: str = "operator") -> FailoverRequest:
    """Validate the body of ``POST /api/runbooks/{failover|failback}``::

        {"target": "<region>", "reason": "<why>", "mode": "planned"|"unplanned" (failover
         only; default planned), "dry_run": false,
         "approval_required": <bool, default from the approval policy for alerts, false for
         operators>, "approval_timeout_seconds": 3600, "expected_epoch": <int>,
         "requested_by": "<who>"}

    ``target`` and ``reason`` are required: a topology change must say where and why.
    """
    body = json_object(raw, _FIELDS, required=True,
                       example='{"target": "<region>", "reason": "<why>"} (regions: '
                               f'{", ".join(regions)})')
    assert body is not None
    check_types(body, _FIELDS)
    mode = body.get("mode")
    if mode is not None:
        if kind == FailoverKind.FAILBACK:
            raise RequestError("mode is not allowed for a failback (it is always planned: the "
                               "returning region must be reachable)")
        if mode not in (FailoverKind.PLANNED, FailoverKind.UNPLANNED):
            raise RequestError('mode must be "planned" or "unplanned"')
        kind = FailoverKind(mode)
    target, reason = body.get("target"), (body.get("reason") or "").strip()
    if not target:
        raise RequestError(f"target is required: the region to make primary "
                           f"({', '.join(regions)})")
    if target not in regions:
        raise RequestError(f"unknown target region {target!r}; configured: "
                           f"{', '.join(regions)}")
    if not reason:
        raise RequestError("reason is required: say why the primary changes (it is recorded "
                           "in the topology record and the report)")
    if len(reason) > MAX_REASON_CHARS:
        raise RequestError(f"reason is longer than {MAX_REASON_CHARS} characters")
    timeout = body.get("approval_timeout_seconds", DEFAULT_APPROVAL_TIMEOUT_SECONDS)
    if not 60 <= timeout <= MAX_APPROVAL_TIMEOUT_SECONDS:
        raise RequestError(f"approval_timeout_seconds must be between 60 and "
                           f"{MAX_APPROVAL_TIMEOUT_SECONDS}")
    epoch = body.get("expected_epoch")
    if epoch is not None and epoch < 1:
        raise RequestError("expected_epoch must be >= 1")
    requested_by = (body.get("requested_by") or caller).strip()[:200] or caller
    return FailoverRequest(kind=kind, target=target, reason=reason, requested_by=requested_by,
                           approval_required=body.get("approval_required", default_approval),
                           approval_timeout_seconds=timeout,
                           dry_run=body.get("dry_run", False), expected_epoch=epoch)
