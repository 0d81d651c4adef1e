"""Azure Monitor webhook bodies in the common alert schema, shaped like the samples Microsoft
publishes (learn.microsoft.com, azure-monitor/alerts/alerts-payload-samples and
alerts-common-schema): a metric alert on a vault's Availability (what alerts.bicep deploys), a
Resource Health activity-log alert and its recovery notice, a Service Health incident, an
administrative activity-log alert, a log search alert on a workspace, and the action group's
test budget alert (null essentials).

Azure Monitor lowercases most of an ARM id in ``alertTargetIDs``; the samples do the same.
"""

from __future__ import annotations

import copy
import json
from typing import Any

SUBSCRIPTION = "00000000-0000-0000-0000-000000000000"


def vault_id(vault: str, *, sub: str = SUBSCRIPTION, group: str = "rg-kvdr") -> str:
    """The id as Azure Monitor sends it (lowercased)."""
    return (f"/subscriptions/{sub}/resourcegroups/{group}/providers/microsoft.keyvault/"
            f"vaults/{vault}").lower()


def metric_alert(target: str, *, condition: str = "Fired",
                 alert_guid: str = "6a1b3c4d-1111-4222-8333-944445555666",
                 rule: str = "kvdr-vault-availability-east") -> dict[str, Any]:
    essentials: dict[str, Any] = {
        "alertId": f"/subscriptions/{SUBSCRIPTION}/providers/Microsoft.AlertsManagement/"
                   f"alerts/{alert_guid}",
        "alertRule": rule,
        "alertRuleID": f"/subscriptions/{SUBSCRIPTION}/resourceGroups/rg-kvdr-west/providers/"
                       f"microsoft.insights/metricAlerts/{rule}",
        "severity": "Sev1",
        "signalType": "Metric",
        "monitorCondition": condition,
        "monitoringService": "Platform",
        "alertTargetIDs": [target],
        "configurationItems": [target.rsplit("/", 1)[-1]],
        "originAlertId": f"{SUBSCRIPTION}_rg-kvdr-west_microsoft.insights_metricAlerts_{rule}"
                         "_-1180427394",
        "firedDateTime": "2026-03-01T11:58:24.3713213Z",
        "description": "Key Vault east availability below 99%: kvdr in west evaluates a "
                       "failover.",
        "essentialsVersion": "1.0",
        "alertContextVersion": "1.0",
    }
    if condition == "Resolved":
        essentials["resolvedDateTime"] = "2026-03-01T12:14:16.2246313Z"
    return {
        "schemaId": "azureMonitorCommonAlertSchema",
        "data": {
            "essentials": essentials,
            "alertContext": {
                "properties": None,
                "conditionType": "SingleResourceMultipleMetricCriteria",
                "condition": {
                    "windowSize": "PT5M",
                    "allOf": [{
                        "metricName": "Availability",
                        "metricNamespace": "Microsoft.KeyVault/vaults",
                        "operator": "LessThan",
                        "threshold": "99",
                        "timeAggregation": "Average",
                        "dimensions": [],
                        "metricValue": 41.2,
                    }],
                    "windowStartTime": "2026-03-01T11:52:03.064Z",
                    "windowEndTime": "2026-03-01T11:57:03.064Z",
                },
            },
            "customProperties": None,
        },
    }


def resource_health_alert(target: str, *,
                          alert_guid: str = "0f9e8d7c-2222-4333-8444-b55556666777",
                          rule: str = "kvdr-vault-health-east", health: str = "Unavailable",
                          previous: str = "Available", status: str = "Active",
                          event: str = "Activated") -> dict[str, Any]:
    """Activity-log alerts are stateless: they are only ever ``Fired``, recoveries included
    (``health="Available", status="Resolved", event="Resolved"``)."""
    return {
        "schemaId": "azureMonitorCommonAlertSchema",
        "data": {
            "essentials": {
                "alertId": f"/subscriptions/{SUBSCRIPTION}/providers/"
                           f"Microsoft.AlertsManagement/alerts/{alert_guid}",
                "alertRule": rule,
                "severity": "Sev4",
                "signalType": "Activity Log",
                "monitorCondition": "Fired",
                "monitoringService": "Resource Health",
                "alertTargetIDs": [target],
                "configurationItems": [target.rsplit("/", 1)[-1]],
                "originAlertId": "a1b2c3d4-3333-4444-8555-c66667777888_"
                                 "9f0e1d2c3b4a59687766554433221100",
                "firedDateTime": "2026-03-01T11:56:54.074Z",
                "description": "Resource Health reports Key Vault east unavailable: kvdr in "
                               "west evaluates a failover.",
                "essentialsVersion": "1.0",
                "alertContextVersion": "1.0",
            },
            "alertContext": {
                "channels": "Admin, Operation",
                "correlationId": "5c4d3e2f-4444-4555-8666-d77778888999",
                "eventSource": "ResourceHealth",
                "eventTimestamp": "2026-03-01T11:56:54.074+00:00",
                "eventDataId": "7e6f5a4b-5555-4666-8777-e88889999000",
                "level": "Critical" if health == "Unavailable" else "Informational",
                "operationName": f"Microsoft.Resourcehealth/healthevent/{event}/action",
                "operationId": "7e6f5a4b-5555-4666-8777-e88889999000",
                "properties": {
                    "title": ("Key Vault is unavailable due to a platform issue"
                              if health == "Unavailable" else "Key Vault is available"),
                    "details": None,
                    "currentHealthStatus": health,
                    "previousHealthStatus": previous,
                    "type": "Downtime",
                    "cause": "PlatformInitiated",
                },
                "status": status,
                "submissionTimestamp": "2026-03-01T11:57:20.4488186+00:00",
            },
            "customProperties": None,
        },
    }


def resource_health_recovery(target: str, *,
                             alert_guid: str = "1a2b3c4d-6666-4777-8888-f99990000111"
                             ) -> dict[str, Any]:
    """The same rule, later: the vault is Available again. Still ``Fired``."""
    return resource_health_alert(target, alert_guid=alert_guid, health="Available",
                                 previous="Unavailable", status="Resolved", event="Resolved")


def service_health_alert(*, regions: tuple[str, ...] = ("East US",),
                         service: str = "Key Vault", incident_type: str = "Incident",
                         stage: str = "Active", status: str = "Active",
                         impacted_as_array: bool = False, sub: str = SUBSCRIPTION,
                         alert_guid: str = "2b3c4d5e-7777-4888-9999-a00001111222",
                         tracking_id: str = "VT9K-1Z8") -> dict[str, Any]:
    """A Service Health activity-log alert: it targets the subscription; the service and the
    regions are in ``alertContext.properties.impactedServices`` (a JSON string in real
    notifications, an array in the action group's test payload)."""
    impacted = [{"ImpactedRegions": [{"RegionName": r} for r in regions],
                 "ServiceName": service}]
    operation = {"Incident": "incident", "Maintenance": "maintenance"}.get(
        incident_type, incident_type.lower())
    return {
        "schemaId": "azureMonitorCommonAlertSchema",
        "data": {
            "essentials": {
                "alertId": f"/subscriptions/{sub}/providers/Microsoft.AlertsManagement/"
                           f"alerts/{alert_guid}",
                "alertRule": "kvdr-service-health",
                "severity": "Sev1",
                "signalType": "Activity Log",
                "monitorCondition": "Fired",
                "monitoringService": "ServiceHealth",
                "alertTargetIDs": [f"/subscriptions/{sub}"],
                "originAlertId": "b2c3d4e5-8888-4999-aaaa-b11112222333",
                "firedDateTime": "2026-03-01T11:59:02.1234567Z",
                "description": "Service Health incidents for Key Vault",
                "essentialsVersion": "1.0",
                "alertContextVersion": "1.0",
            },
            "alertContext": {
                "authorization": None,
                "channels": 1,
                "claims": None,
                "caller": None,
                "correlationId": "c3d4e5f6-9999-4aaa-bbbb-c22223333444",
                "eventSource": 2,
                "eventTimestamp": "2026-03-01T11:58:40.0312699+00:00",
                "httpRequest": None,
                "eventDataId": "d4e5f6a7-aaaa-4bbb-cccc-d33334444555",
                "level": 3,
                "operationName": f"Microsoft.ServiceHealth/{operation}/action",
                "operationId": "d4e5f6a7-aaaa-4bbb-cccc-d33334444555",
                "properties": {
                    "title": f"{service} - {', '.join(regions)} - Service degradation",
                    "service": service,
                    "region": regions[0] if regions else "Global",
                    "communication": "<p>Starting at 11:41 UTC customers may experience "
                                     "failures when accessing their vaults.</p>",
                    "incidentType": incident_type,
                    "trackingId": tracking_id,
                    "impactStartTime": "2026-03-01T11:41:00Z",
                    "impactedServices": impacted if impacted_as_array else json.dumps(
                        impacted, separators=(",", ":")),
                    "defaultLanguageTitle": f"{service} - {', '.join(regions)}",
                    "defaultLanguageContent": "<p>Engineers are investigating.</p>",
                    "stage": stage,
                    "communicationId": "11000012345678",
                    "isHIR": "false",
                    "version": "0.1.1",
                },
                "status": status,
                "subStatus": None,
                "submissionTimestamp": "2026-03-01T11:58:52.7147357+00:00",
                "ResourceType": None,
            },
        },
    }


def administrative_alert(target: str, *,
                         operation: str = "Microsoft.KeyVault/vaults/write") -> dict[str, Any]:
    """An activity-log alert on an administrative operation against a vault."""
    return {
        "schemaId": "azureMonitorCommonAlertSchema",
        "data": {
            "essentials": {
                "alertId": f"/subscriptions/{SUBSCRIPTION}/providers/"
                           "Microsoft.AlertsManagement/alerts/3c4d5e6f-bbbb-4ccc-dddd-e44445555666",
                "alertRule": "kvdr-vault-admin-east",
                "severity": "Sev4",
                "signalType": "Activity Log",
                "monitorCondition": "Fired",
                "monitoringService": "Activity Log - Administrative",
                "alertTargetIDs": [target],
                "configurationItems": [target.rsplit("/", 1)[-1]],
                "originAlertId": "e5f6a7b8-cccc-4ddd-eeee-f55556666777_1234567890abcdef",
                "firedDateTime": "2026-03-01T11:50:21.386Z",
                "description": "Key Vault configuration changed",
                "essentialsVersion": "1.0",
                "alertContextVersion": "1.0",
            },
            "alertContext": {
                "authorization": {"action": operation, "scope": target},
                "channels": "Operation",
                "claims": "{}",
                "caller": "admin@contoso.com",
                "correlationId": "f6a7b8c9-dddd-4eee-ffff-a66667777888",
                "eventSource": "Administrative",
                "eventTimestamp": "2026-03-01T11:50:21.386Z",
                "eventDataId": "a7b8c9d0-eeee-4fff-aaaa-b77778888999",
                "level": "Informational",
                "operationName": operation,
                "operationId": "b8c9d0e1-ffff-4aaa-bbbb-c88889999000",
                "properties": {"eventCategory": "Administrative", "entity": target,
                               "message": operation},
                "status": "Succeeded",
                "subStatus": "",
                "submissionTimestamp": "2026-03-01T11:50:41.067593Z",
            },
        },
    }


def log_search_alert(workspace_id: str) -> dict[str, Any]:
    """A log search alert (Log Alerts V2) scoped to a Log Analytics workspace."""
    return {
        "schemaId": "azureMonitorCommonAlertSchema",
        "data": {
            "essentials": {
                "alertId": f"/subscriptions/{SUBSCRIPTION}/providers/"
                           "Microsoft.AlertsManagement/alerts/4d5e6f70-cccc-4ddd-eeee-f5555666677a",
                "alertRule": "kvdr-vault-errors-east",
                "severity": "Sev2",
                "signalType": "Log",
                "monitorCondition": "Fired",
                "monitoringService": "Log Alerts V2",
                "alertTargetIDs": [workspace_id],
                "configurationItems": ["east"],
                "originAlertId": "22222222-2222-2222-2222-222222222222",
                "firedDateTime": "2026-03-01T11:55:03.626Z",
                "description": "Key Vault east: 5xx responses in AzureDiagnostics",
                "essentialsVersion": "1.0",
                "alertContextVersion": "1.0",
            },
            "alertContext": {
                "properties": {},
                "conditionType": "LogQueryCriteria",
                "condition": {
                    "windowSize": "PT5M",
                    "allOf": [{
                        "searchQuery": "AzureDiagnostics | where ResourceProvider == "
                                       "'MICROSOFT.KEYVAULT' and httpStatusCode_d >= 500",
                        "metricMeasureColumn": None,
                        "targetResourceTypes": "['Microsoft.OperationalInsights/workspaces']",
                        "operator": "GreaterThan", "threshold": "10",
                        "timeAggregation": "Count", "dimensions": [], "metricValue": 42.0,
                        "failingPeriods": {"numberOfEvaluationPeriods": 1,
                                           "minFailingPeriodsToAlert": 1}}],
                    "windowStartTime": "2026-03-01T11:50:03.626Z",
                    "windowEndTime": "2026-03-01T11:55:03.626Z",
                },
            },
        },
    }


def workspace_id(name: str = "law-kvdr") -> str:
    return (f"/subscriptions/{SUBSCRIPTION}/resourcegroups/rg-kvdr/providers/"
            f"microsoft.operationalinsights/workspaces/{name}")


def budget_test_alert() -> dict[str, Any]:
    """The action group's "test" budget alert: null rule, severity, signal and targets."""
    return {
        "schemaId": "azureMonitorCommonAlertSchema",
        "data": {
            "essentials": {
                "monitoringService": "CostAlerts",
                "firedDateTime": "2025-04-15T17:49:34.022Z",
                "description": "Delivery Confirmation: This is a sample budget alert from "
                               "Azure Monitor Action Groups.",
                "essentialsVersion": "1.0",
                "alertContextVersion": "1.0",
                "alertId": f"/subscriptions/{SUBSCRIPTION}/providers/"
                           "Microsoft.CostManagement/alerts/Test_Alert",
                "alertRule": None,
                "severity": None,
                "signalType": None,
                "monitorCondition": "Fired",
                "alertTargetIDs": None,
                "configurationItems": ["budgets"],
                "originAlertId": None,
            },
            "alertContext": {"AlertCategory": "budgets", "AlertData": {
                "Scope": f"/subscriptions/{SUBSCRIPTION}/", "ThresholdType": "Forecasted",
                "BudgetType": "Cost", "BudgetName": "Test_forcasted_budget"}},
        },
    }


def legacy_metric_alert(target: str) -> dict[str, Any]:
    """The pre-common-schema metric alert webhook (useCommonAlertSchema false)."""
    return {
        "schemaId": "AzureMonitorMetricAlert",
        "data": {
            "version": "2.0",
            "status": "Activated",
            "context": {
                "timestamp": "2026-03-01T11:58:24.3713213Z",
                "id": f"/subscriptions/{SUBSCRIPTION}/resourceGroups/rg-kvdr-west/providers/"
                      "microsoft.insights/metricAlerts/kvdr-vault-availability-east",
                "name": "kvdr-vault-availability-east",
                "conditionType": "SingleResourceMultipleMetricCriteria",
                "severity": "1",
                "resourceId": target,
                "portalLink": "https://portal.azure.com/#resource" + target,
            },
        },
    }


def with_essentials(payload: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """A deep copy with essentials keys replaced (a value of ``...`` removes the key)."""
    out = copy.deepcopy(payload)
    essentials = out["data"]["essentials"]
    for key, value in changes.items():
        if value is ...:
            essentials.pop(key, None)
        else:
            essentials[key] = value
    return out


def body(payload: Any) -> bytes:
    return json.dumps(payload).encode()
