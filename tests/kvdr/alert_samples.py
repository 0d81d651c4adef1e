"""Azure Monitor webhook bodies in the common alert schema, shaped like the samples Microsoft
publishes (learn.microsoft.com, azure-monitor/alerts/alerts-payload-samples and
alerts-common-schema): a metric alert on a vault's Availability (what alerts.bicep deploys), a
Resource Health activity-log alert, and the action group's test budget alert (null essentials).

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
                          rule: str = "kvdr-vault-health-east") -> dict[str, Any]:
    """Activity-log alerts are stateless: they are only ever ``Fired``."""
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
                "level": "Critical",
                "operationName": "Microsoft.Resourcehealth/healthevent/Activated/action",
                "operationId": "7e6f5a4b-5555-4666-8777-e88889999000",
                "properties": {
                    "title": "Key Vault is unavailable due to a platform issue",
                    "details": None,
                    "currentHealthStatus": "Unavailable",
                    "previousHealthStatus": "Available",
                    "type": "Downtime",
                    "cause": "PlatformInitiated",
                },
                "status": "Active",
                "submissionTimestamp": "2026-03-01T11:57:20.4488186+00:00",
            },
            "customProperties": None,
        },
    }


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
