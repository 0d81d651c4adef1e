"""``data.alertContext`` of a common-schema alert: what kind of alert it is, and what an
activity-log alert (Resource Health, Service Health, administrative operations) says happened.

Activity-log alerts are stateless: they always arrive with ``monitorCondition: Fired``, also
when the event they carry is a recovery (a vault ``Available`` again, an incident ``Resolved``).
So for them the essentials alone cannot tell an outage from its end; the context can.

Shapes (learn.microsoft.com, azure-monitor/alerts/alerts-payload-samples)::

    Resource Health: {"eventSource": "ResourceHealth", "status": "Active|Resolved|In Progress|
      Updated", "operationName": "Microsoft.Resourcehealth/healthevent/<Activated|Resolved|
      Updated|InProgress>/action", "properties": {"currentHealthStatus": "Available|
      Unavailable|Degraded|Unknown", "previousHealthStatus": …, "type": …, "cause": …}}
    Service Health: {"operationName": "Microsoft.ServiceHealth/<incident|maintenance|…>/action",
      "status": "Active|Resolved", "properties": {"incidentType": "Incident|Maintenance|
      Informational|ActionRequired|Security", "stage": "Active|Resolved|RCA|…", "trackingId",
      "impactedServices": "<JSON string, or an array>: [{ServiceName, ImpactedRegions:
      [{RegionName: "East US"}]}]"}}
    Administrative: {"eventSource": "Administrative", "operationName": "Microsoft.KeyVault/
      vaults/write", "status": "Succeeded", …}

Parsing never rejects an alert: the context is not validated by Azure Monitor's contract the
way the essentials are, so anything unreadable is simply absent (and then decides nothing).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

__all__ = ["KEY_VAULT_SERVICE", "AlertContext", "AlertKind", "parse_context", "region_key"]

KEY_VAULT_SERVICE = "Key Vault"   # ServiceName in Service Health's impactedServices
_TEXT_LIMIT = 200                 # what is kept of any context string (it may be echoed)


class AlertKind(StrEnum):
    METRIC = "metric"
    LOG = "log"
    RESOURCE_HEALTH = "resource_health"
    SERVICE_HEALTH = "service_health"
    ACTIVITY_LOG = "activity_log"   # administrative, policy, security, autoscale operations
    OTHER = "other"


class HealthStatus(StrEnum):
    AVAILABLE = "Available"
    UNAVAILABLE = "Unavailable"


# Service Health stages and event statuses that mean the incident is over (RCA: the
# post-incident review, published after resolution).
_OVER = frozenset({"resolved", "mitigated", "rca", "complete", "completed", "canceled",
                   "cancelled"})


@dataclass(frozen=True)
class AlertContext:
    kind: AlertKind = AlertKind.OTHER
    operation: str | None = None        # operationName
    event_status: str | None = None     # status (Active, Resolved, Succeeded, …)
    health_status: str | None = None    # Resource Health currentHealthStatus
    previous_health_status: str | None = None
    incident_type: str | None = None    # Service Health
    stage: str | None = None
    tracking_id: str | None = None
    impacted: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (service, region display names)

    @property
    def recovered(self) -> bool:
        """The event reports the end of a problem, not its start."""
        if self.kind == AlertKind.RESOURCE_HEALTH:
            return (_same(self.health_status, HealthStatus.AVAILABLE)
                    or _lower(self.event_status) == "resolved"
                    or "/resolved/" in _lower(self.operation))
        if self.kind == AlertKind.SERVICE_HEALTH:
            return _lower(self.stage) in _OVER or _lower(self.event_status) in _OVER
        return False

    def impacted_regions(self, service: str = KEY_VAULT_SERVICE) -> tuple[str, ...] | None:
        """Region keys (``eastus``) where ``service`` is impacted; None when the service is
        not among the impacted services at all."""
        found: list[str] | None = None
        for name, regions in self.impacted:
            if region_key(name) == region_key(service):
                found = (found or []) + [region_key(r) for r in regions]
        return None if found is None else tuple(dict.fromkeys(found))

    def to_dict(self) -> dict[str, Any]:
        return {"kind": str(self.kind), "operation": self.operation,
                "event_status": self.event_status, "health_status": self.health_status,
                "previous_health_status": self.previous_health_status,
                "incident_type": self.incident_type, "stage": self.stage,
                "tracking_id": self.tracking_id,
                "impacted": [[s, list(r)] for s, r in self.impacted]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AlertContext:
        return cls(AlertKind(data.get("kind", AlertKind.OTHER)), data.get("operation"),
                   data.get("event_status"), data.get("health_status"),
                   data.get("previous_health_status"), data.get("incident_type"),
                   data.get("stage"), data.get("tracking_id"),
                   tuple((s, tuple(r)) for s, r in data.get("impacted") or ()))


def region_key(name: str) -> str:
    """``"East US 2"`` -> ``"eastus2"``: Service Health's display names to ARM location names
    (and so to kvdr's region keys, which are ARM location names)."""
    return "".join(ch for ch in name.lower() if ch.isalnum())


def parse_context(context: Any, essentials: Mapping[str, Any]) -> AlertContext:
    """The context of one alert; ``essentials`` tell the kind (``monitoringService``,
    ``signalType``), the context's ``operationName`` confirms it."""
    ctx = context if isinstance(context, dict) else {}
    props = ctx.get("properties") if isinstance(ctx.get("properties"), dict) else {}
    operation = _text(ctx.get("operationName"))
    kind = _kind(_lower(essentials.get("monitoringService")),
                 _lower(essentials.get("signalType")), _lower(operation))
    base = AlertContext(kind=kind, operation=operation, event_status=_text(ctx.get("status")))
    if kind == AlertKind.RESOURCE_HEALTH:
        return AlertContext(**{**base.__dict__,
                               "health_status": _text(props.get("currentHealthStatus")),
                               "previous_health_status": _text(
                                   props.get("previousHealthStatus"))})
    if kind == AlertKind.SERVICE_HEALTH:
        return AlertContext(**{**base.__dict__,
                               "incident_type": _text(props.get("incidentType")),
                               "stage": _text(props.get("stage")),
                               "tracking_id": _text(props.get("trackingId")),
                               "impacted": _impacted(props.get("impactedServices"))})
    return base


def _kind(service: str, signal: str, operation: str) -> AlertKind:
    if service in ("resource health", "resourcehealth") \
            or operation.startswith("microsoft.resourcehealth/"):
        return AlertKind.RESOURCE_HEALTH
    if service in ("servicehealth", "service health") \
            or operation.startswith("microsoft.servicehealth/"):
        return AlertKind.SERVICE_HEALTH
    if service.startswith("activity log") or signal.replace(" ", "") == "activitylog":
        return AlertKind.ACTIVITY_LOG
    if signal == "metric":
        return AlertKind.METRIC
    if signal == "log":
        return AlertKind.LOG
    return AlertKind.OTHER


def _impacted(raw: Any) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """``impactedServices`` is a JSON string in real notifications and an array in the action
    group's test payload: accept both; skip whatever is not shaped as documented."""
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            return ()
    if not isinstance(raw, list):
        return ()
    out = []
    for entry in raw:
        if not isinstance(entry, dict) or not isinstance(entry.get("ServiceName"), str):
            continue
        regions = entry.get("ImpactedRegions")
        names = tuple(r["RegionName"][:_TEXT_LIMIT] for r in regions or ()
                      if isinstance(r, dict) and isinstance(r.get("RegionName"), str)) \
            if isinstance(regions, list) else ()
        out.append((entry["ServiceName"][:_TEXT_LIMIT], names))
    return tuple(out)


def _text(value: Any) -> str | None:
    return value.strip()[:_TEXT_LIMIT] if isinstance(value, str) and value.strip() else None


def _lower(value: Any) -> str:
    return value.strip().lower() if isinstance(value, str) else ""


def _same(value: str | None, expected: str) -> bool:
    return _lower(value) == expected.lower()
