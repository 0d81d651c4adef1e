"""Azure Monitor alerts: the common alert schema, and whether an alert should start a failover.

Each region's app is told, through an action group webhook with ``useCommonAlertSchema``, when
the OTHER region's vault becomes unavailable (``infra/bicep/modules/alerts.bicep``: a metric
alert on the vault's Availability and a Resource Health activity-log alert). So the app that
starts a failover is never the one in the failing region, and the failover's target is always
this app's own region.

:func:`parse_alert` validates a webhook body into an :class:`AlertNotice`: the essentials, and
what ``alertContext`` says for activity-log alerts (:mod:`kvdr.alerts.context`: a Resource Health
recovery or a resolved incident arrives ``Fired`` too, activity-log alerts being stateless).
:func:`decide` is pure and does no vault I/O. :func:`confirm` then checks the decision against
the primary the webhook read from the topology records (bounded probes,
:mod:`kvdr.alerts.primary`): an alert about a vault that is no longer the primary starts nothing.
When the topology cannot be read, the failover orchestration decides: it receives the alerted
region as ``expected_primary`` and reports ``not_needed`` when the topology names another
primary. :func:`failover_request` builds that orchestration's input.

Error codes (:class:`AlertError`): ``alert.invalid`` (not JSON, not an object, essentials
missing or of the wrong type), ``alert.unsupported_schema`` (another ``schemaId``: the action
group's webhook does not use the common schema), ``alert.too_large`` (over 256 KiB, the
common schema's own limit per alert).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from kvdr.alerts.context import AlertContext, AlertKind, HealthStatus, parse_context, region_key
from kvdr.config.schema import Config
from kvdr.errors import KvdrError
from kvdr.failover.request import MAX_REASON_CHARS, FailoverKind, FailoverRequest

__all__ = ["COMMON_SCHEMA_ID", "MAX_ALERT_BYTES", "AlertDecision", "AlertError", "AlertNotice",
           "AlertOutcome", "MonitorCondition", "confirm", "decide", "failover_request",
           "parse_alert"]

COMMON_SCHEMA_ID = "azureMonitorCommonAlertSchema"
# Azure Monitor caps a common-schema alert at 256 KB; anything larger is not one of its alerts.
MAX_ALERT_BYTES = 256 * 1024
MAX_REQUESTED_BY_CHARS = 200   # what parse_request keeps of an operator's requested_by


class AlertError(KvdrError):
    """An alert body kvdr cannot read (HTTP 400, or 413 for ``alert.too_large``)."""

    default_code = "alert.invalid"


class MonitorCondition(StrEnum):
    FIRED = "Fired"
    RESOLVED = "Resolved"


@dataclass(frozen=True)
class AlertNotice:
    """``data.essentials`` of one common-schema alert. Timestamps are kept as sent (ISO 8601,
    UTC; Azure Monitor sends up to seven fractional digits, which ``fromisoformat`` reads)."""

    alert_id: str
    monitor_condition: MonitorCondition
    fired_at: str
    alert_target_ids: tuple[str, ...] = ()
    alert_rule: str | None = None
    severity: str | None = None
    signal_type: str | None = None
    monitoring_service: str | None = None
    resolved_at: str | None = None
    description: str | None = None
    context: AlertContext = field(default_factory=AlertContext)

    @property
    def rule_name(self) -> str:
        return self.alert_rule or "(unnamed rule)"

    def to_dict(self) -> dict[str, Any]:
        return {"alert_id": self.alert_id, "monitor_condition": str(self.monitor_condition),
                "fired_at": self.fired_at, "alert_target_ids": list(self.alert_target_ids),
                "alert_rule": self.alert_rule, "severity": self.severity,
                "signal_type": self.signal_type, "monitoring_service": self.monitoring_service,
                "resolved_at": self.resolved_at, "description": self.description,
                "context": self.context.to_dict()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AlertNotice:
        return cls(alert_id=data["alert_id"],
                   monitor_condition=MonitorCondition(data["monitor_condition"]),
                   fired_at=data["fired_at"],
                   alert_target_ids=tuple(data.get("alert_target_ids") or ()),
                   alert_rule=data.get("alert_rule"), severity=data.get("severity"),
                   signal_type=data.get("signal_type"),
                   monitoring_service=data.get("monitoring_service"),
                   resolved_at=data.get("resolved_at"), description=data.get("description"),
                   context=AlertContext.from_dict(data.get("context") or {}))


# essentials key -> AlertNotice field. These may be null or absent: the platform sends null
# alertRule/severity/signalType (and alertTargetIDs) for some alert types, e.g. budgets.
_OPTIONAL_STRINGS = {"alertRule": "alert_rule", "severity": "severity",
                     "signalType": "signal_type", "monitoringService": "monitoring_service",
                     "resolvedDateTime": "resolved_at", "description": "description"}


def parse_alert(raw: bytes) -> AlertNotice:
    """Validate a webhook body in the common alert schema::

        {"schemaId": "azureMonitorCommonAlertSchema",
         "data": {"essentials": {"alertId": …, "alertRule": …, "severity": "Sev1",
                                 "signalType": "Metric", "monitorCondition": "Fired",
                                 "monitoringService": "Platform", "alertTargetIDs": [<ARM id>],
                                 "firedDateTime": …, "resolvedDateTime": …, …},
                  "alertContext": {…}}}

    Required: ``alertId``, ``monitorCondition`` (``Fired`` or ``Resolved``), ``firedDateTime``
    and ``alertTargetIDs`` (an array of strings, or null). Unknown essentials are ignored: the
    schema grows (``alertRuleID``, ``investigationLink``, …).
    """
    if len(raw) > MAX_ALERT_BYTES:
        raise AlertError(f"the body is {len(raw)} bytes; an Azure Monitor alert is at most "
                         f"{MAX_ALERT_BYTES} bytes", code="alert.too_large")
    if not raw or not raw.strip():
        raise AlertError("send an Azure Monitor alert in the common alert schema as the body")
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise AlertError("the body is not JSON; Azure Monitor sends the common alert schema "
                         "as JSON") from None
    except RecursionError:  # json.loads recurses once per level: [[[[... is no alert
        raise AlertError("the body's JSON is nested too deeply to be an alert; Azure Monitor "
                         "sends the common alert schema") from None
    if not isinstance(body, dict):
        raise AlertError("the body must be a JSON object (the common alert schema)")
    schema = body.get("schemaId")
    if schema != COMMON_SCHEMA_ID:
        shown = repr(schema) if isinstance(schema, str) else "none"
        raise AlertError(f"schemaId is {shown[:100]}, not {COMMON_SCHEMA_ID!r}; enable the "
                         "common alert schema (useCommonAlertSchema) on the action group's "
                         "webhook receiver", code="alert.unsupported_schema")
    data = body.get("data")
    essentials = data.get("essentials") if isinstance(data, dict) else None
    if not isinstance(essentials, dict):
        raise AlertError("data.essentials is missing or not an object")

    alert_id = essentials.get("alertId")
    if not isinstance(alert_id, str) or not alert_id.strip():
        raise AlertError("data.essentials.alertId is missing or not a non-empty string")
    condition = essentials.get("monitorCondition")
    try:
        monitor_condition = MonitorCondition(condition)
    except ValueError:
        raise AlertError("data.essentials.monitorCondition must be \"Fired\" or \"Resolved\""
                         ) from None
    fired_at = essentials.get("firedDateTime")
    if not isinstance(fired_at, str) or not _is_timestamp(fired_at):
        raise AlertError("data.essentials.firedDateTime is missing or not an ISO 8601 time")
    if "alertTargetIDs" not in essentials:
        raise AlertError("data.essentials.alertTargetIDs is missing")
    targets = essentials["alertTargetIDs"]
    if targets is None:
        targets = []
    if not isinstance(targets, list) or not all(isinstance(t, str) for t in targets):
        raise AlertError("data.essentials.alertTargetIDs must be an array of resource IDs")
    optional: dict[str, str | None] = {}
    for key, name in _OPTIONAL_STRINGS.items():
        value = essentials.get(key)
        if value is not None and not isinstance(value, str):
            raise AlertError(f"data.essentials.{key} must be a string or null")
        optional[name] = value
    resolved_at = optional["resolved_at"]
    if resolved_at and not _is_timestamp(resolved_at):
        raise AlertError("data.essentials.resolvedDateTime is not an ISO 8601 time")
    return AlertNotice(alert_id=alert_id.strip(), monitor_condition=monitor_condition,
                       fired_at=fired_at, alert_target_ids=tuple(t.strip() for t in targets),
                       context=parse_context(data.get("alertContext"), essentials),
                       **optional)


def _is_timestamp(text: str) -> bool:
    try:
        datetime.fromisoformat(text)
    except ValueError:
        return False
    return True


class AlertOutcome(StrEnum):
    START_FAILOVER = "start_failover"
    RESOLVED = "resolved"              # the condition cleared: never an action
    UNKNOWN_TARGET = "unknown_target"  # no configured vault among the alert's targets
    LOCAL_VAULT = "local_vault"        # this app's own vault: the failing region never acts
    AMBIGUOUS_TARGET = "ambiguous_target"  # several other regions' vaults in one alert
    RECOVERED = "recovered"            # Fired, but the event is a recovery (activity log)
    NOT_AN_OUTAGE = "not_an_outage"    # an operation, maintenance, degraded, other services
    NOT_PRIMARY = "not_primary"        # the alerted vault is not the primary (topology read)


@dataclass(frozen=True)
class AlertDecision:
    """What the webhook does with an alert. ``region``: the region whose vault the alert is
    about (None when no configured vault matched, or, for a Service Health incident naming
    several regions, until :func:`confirm` picks the primary among ``regions``)."""

    outcome: AlertOutcome
    region: str | None
    message: str
    regions: tuple[str, ...] = ()   # candidate regions (the alerted vaults' regions)

    @property
    def starts_failover(self) -> bool:
        return self.outcome == AlertOutcome.START_FAILOVER

    def to_dict(self) -> dict[str, Any]:
        return {"outcome": str(self.outcome), "region": self.region, "message": self.message,
                "regions": list(self.regions)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AlertDecision:
        return cls(AlertOutcome(data["outcome"]), data.get("region"), data["message"],
                   tuple(data.get("regions") or ()))


def decide(notice: AlertNotice, config: Config, local_region: str) -> AlertDecision:
    """Whether an alert calls for a failover to ``local_region``, from the alert alone. First
    match wins: Resolved; an activity-log operation (never an outage); a Resource Health
    recovery or a health other than Unavailable; Service Health (:func:`_service_health`); no
    configured vault among the targets; this region's own vault among them (a region whose own
    vault is alerted must not make itself primary); more than one other region's vault (one
    alert rule per vault, as the Bicep deploys); otherwise start. ARM resource ids are
    case-insensitive (Azure Monitor often sends them lowercased)."""
    config.region(local_region)  # KeyError naming the configured regions
    rule = notice.rule_name
    ctx = notice.context
    if notice.monitor_condition == MonitorCondition.RESOLVED:
        return AlertDecision(AlertOutcome.RESOLVED, _region_of(notice, config),
                             f"alert '{rule}' resolved; a resolved alert never changes the "
                             "topology (fail back with POST /api/runbooks/failback)")
    if ctx.kind == AlertKind.ACTIVITY_LOG:
        return AlertDecision(AlertOutcome.NOT_AN_OUTAGE, _region_of(notice, config),
                             f"alert '{rule}' reports an operation "
                             f"({ctx.operation or 'unnamed'}, {ctx.event_status or 'no status'})"
                             ", not an outage; kvdr fails over on availability, Resource Health "
                             "and Service Health alerts only")
    if ctx.kind == AlertKind.SERVICE_HEALTH:
        return _service_health(notice, config, local_region)
    if ctx.kind == AlertKind.RESOURCE_HEALTH:
        region = _region_of(notice, config)
        if ctx.recovered:
            return AlertDecision(AlertOutcome.RECOVERED, region, (
                f"alert '{rule}' is a recovery notice: Resource Health reports the vault "
                f"{ctx.health_status or 'back'} ({ctx.event_status or 'resolved'}, was "
                f"{ctx.previous_health_status or 'unknown'}); it starts nothing (fail back with "
                "POST /api/runbooks/failback)"))
        if (ctx.health_status or "").lower() != HealthStatus.UNAVAILABLE.lower():
            return AlertDecision(AlertOutcome.NOT_AN_OUTAGE, region, (
                f"alert '{rule}': Resource Health reports the vault "
                f"{ctx.health_status or '(no currentHealthStatus)'}, not Unavailable; kvdr "
                "fails over only on an outage"))
    by_id = {r.resource_id.lower().rstrip("/"): r.name for r in config.regions}
    matched = list(dict.fromkeys(by_id[t] for t in (i.lower().rstrip("/")
                                                    for i in notice.alert_target_ids)
                                 if t in by_id))
    if not matched:
        return AlertDecision(AlertOutcome.UNKNOWN_TARGET, None,
                             f"alert '{rule}' is about no configured vault "
                             f"({len(notice.alert_target_ids)} target(s)); nothing to do")
    if local_region in matched:
        return AlertDecision(AlertOutcome.LOCAL_VAULT, local_region,
                             f"alert '{rule}' is about this region's own vault ({local_region});"
                             " only the app in another region may fail over away from it")
    if len(matched) > 1:
        return AlertDecision(AlertOutcome.AMBIGUOUS_TARGET, None,
                             f"alert '{rule}' names the vaults of {', '.join(matched)}; kvdr "
                             "acts on alerts about one vault only (one alert rule per vault)")
    region = matched[0]
    return AlertDecision(AlertOutcome.START_FAILOVER, region,
                         f"alert '{rule}' fired for the vault of {region}: unplanned failover "
                         f"to {local_region} requested", (region,))


def _service_health(notice: AlertNotice, config: Config, local_region: str) -> AlertDecision:
    """A Service Health alert targets the subscription; the service and the regions are in the
    context. Only an active ``Incident`` impacting Key Vault in another configured region (of
    a subscription that holds a configured vault) is a candidate; which of those regions holds
    the primary is :func:`confirm`'s business."""
    rule, ctx = notice.rule_name, notice.context
    subscriptions = {r.subscription_id for r in config.regions}
    targeted = {t.lower().rstrip("/").split("/")[2] for t in notice.alert_target_ids
                if t.lower().startswith("/subscriptions/") and len(t.split("/")) > 2}
    if notice.alert_target_ids and not targeted & subscriptions:
        return AlertDecision(AlertOutcome.UNKNOWN_TARGET, None,
                             f"Service Health alert '{rule}' is about another subscription "
                             "than the configured vaults'; nothing to do")
    kind = ctx.incident_type or "(no incidentType)"
    if kind.lower() != "incident":
        return AlertDecision(AlertOutcome.NOT_AN_OUTAGE, None,
                             f"Service Health alert '{rule}' is a {kind} notice, not an "
                             "incident; kvdr fails over only on an incident")
    if ctx.recovered:
        return AlertDecision(AlertOutcome.RECOVERED, None,
                             f"Service Health incident {ctx.tracking_id or ''} is over (stage "
                             f"{ctx.stage or '-'}, status {ctx.event_status or '-'}): a recovery "
                             "notice starts nothing (fail back with POST /api/runbooks/failback)")
    if (ctx.stage or "active").lower() != "active":
        return AlertDecision(AlertOutcome.NOT_AN_OUTAGE, None,
                             f"Service Health incident stage {ctx.stage!r} is not Active; kvdr "
                             "fails over only on an active incident")
    impacted = ctx.impacted_regions()
    if impacted is None:
        return AlertDecision(AlertOutcome.NOT_AN_OUTAGE, None,
                             f"Service Health incident {ctx.tracking_id or ''} does not impact "
                             "Key Vault; nothing to do")
    matched = [r.name for r in config.regions if region_key(r.name) in impacted]
    if not matched:
        return AlertDecision(AlertOutcome.UNKNOWN_TARGET, None,
                             f"Service Health incident {ctx.tracking_id or ''} impacts Key Vault "
                             f"in {', '.join(impacted) or 'no named region'}, where no "
                             "configured vault is; nothing to do")
    if local_region in matched:
        return AlertDecision(AlertOutcome.LOCAL_VAULT, local_region,
                             f"Service Health incident {ctx.tracking_id or ''} impacts Key Vault "
                             f"in this region ({local_region}) too; moving the primary here "
                             "would not escape it, so kvdr does not act on its own (fail over "
                             "by hand with POST /api/runbooks/failover if you decide to)")
    region = matched[0] if len(matched) == 1 else None
    return AlertDecision(AlertOutcome.START_FAILOVER, region,
                         f"Service Health incident {ctx.tracking_id or ''} impacts Key Vault in "
                         f"{', '.join(matched)}: unplanned failover to {local_region} requested",
                         tuple(matched))


def confirm(decision: AlertDecision, primary: str | None, epoch: int | None) -> AlertDecision:
    """Check a ``start_failover`` decision against the primary read from the topology records
    (None: they could not be read; then the runbook re-checks, it receives the alerted region
    as ``expected_primary``)."""
    if not decision.starts_failover:
        return decision
    if primary is None:
        if decision.region is None:
            return AlertDecision(AlertOutcome.AMBIGUOUS_TARGET, None,
                                 f"{decision.message}, but the topology could not be read to "
                                 f"tell which of {', '.join(decision.regions)} is the primary; "
                                 "fail over by hand (POST /api/runbooks/failover)",
                                 decision.regions)
        return AlertDecision(decision.outcome, decision.region,
                             f"{decision.message} (the topology could not be read here; the "
                             f"runbook changes nothing if {decision.region} is not the primary)",
                             decision.regions)
    if primary in (decision.regions or (decision.region,)):
        return AlertDecision(decision.outcome, primary,
                             f"{decision.message}; {primary} is the primary at epoch {epoch}",
                             decision.regions)
    alerted = decision.region or ", ".join(decision.regions)
    return AlertDecision(AlertOutcome.NOT_PRIMARY, decision.region,
                         f"the alerted vault ({alerted}) is not the primary: {primary} is, at "
                         f"epoch {epoch}; nothing to fail over, nothing started",
                         decision.regions)


def _region_of(notice: AlertNotice, config: Config) -> str | None:
    ids = {i.lower().rstrip("/") for i in notice.alert_target_ids}
    names = [r.name for r in config.regions if r.resource_id.lower().rstrip("/") in ids]
    return names[0] if len(names) == 1 else None


def failover_request(notice: AlertNotice, decision: AlertDecision, local_region: str, *,
                     approval_required: bool) -> FailoverRequest:
    """The failover orchestration's input for a ``start_failover`` decision."""
    if not decision.starts_failover or decision.region is None:
        raise ValueError(f"decision {decision.outcome} does not start a failover")
    tail = (f"' ({notice.signal_type or 'unknown signal'}, severity "
            f"{notice.severity or 'unknown'}) fired at {notice.fired_at} for "
            f"{decision.region}")
    head = "Azure Monitor alert '"
    # rule names may be 260 characters; keep the reason within the request limit
    room = max(MAX_REASON_CHARS - len(head) - len(tail), 20)
    rule = notice.rule_name
    if len(rule) > room:
        rule = rule[:room - 1] + "…"
    return FailoverRequest(
        kind=FailoverKind.UNPLANNED, target=local_region,
        reason=(head + rule + tail)[:MAX_REASON_CHARS],
        requested_by=f"alert:{notice.rule_name}"[:MAX_REQUESTED_BY_CHARS],
        approval_required=approval_required, expected_primary=decision.region,
        alert_id=notice.alert_id, fired_at=notice.fired_at)
