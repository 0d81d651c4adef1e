"""The common alert schema parser, the failover decision and the request it builds."""

from __future__ import annotations

import pytest

from kvdr.alerts.context import AlertContext, AlertKind, region_key
from kvdr.alerts.notice import (
    MAX_ALERT_BYTES,
    AlertDecision,
    AlertError,
    AlertNotice,
    AlertOutcome,
    MonitorCondition,
    confirm,
    decide,
    failover_request,
    parse_alert,
)
from kvdr.config.loading import load_dict
from kvdr.config.schema import Config
from kvdr.failover.request import MAX_REASON_CHARS, FailoverKind, FailoverRequest
from support.alert_samples import (
    SUBSCRIPTION,
    administrative_alert,
    body,
    budget_test_alert,
    legacy_metric_alert,
    log_search_alert,
    metric_alert,
    resource_health_alert,
    resource_health_recovery,
    service_health_alert,
    vault_id,
    with_essentials,
    workspace_id,
)

EAST, WEST, EUROPE = vault_id("east"), vault_id("west"), vault_id("europe")


def _config(*regions: str) -> Config:
    names = regions or ("east", "west")
    return load_dict({
        "regions": {name: {
            "vault_url": f"https://127.0.0.1:{8443 + i}/",
            # configured with ARM's usual casing; alerts send it lowercased
            "resource_id": f"/subscriptions/{SUBSCRIPTION}/resourceGroups/rg-kvdr/providers/"
                           f"Microsoft.KeyVault/vaults/{name}",
            "geography": "us"} for i, name in enumerate(names)},
        "topology": {"initial_primary": names[0], "local_region": names[1]}})


# --- parser -------------------------------------------------------------------------------------


def test_a_fired_metric_alert_on_a_vaults_availability_is_read_from_its_essentials() -> None:
    notice = parse_alert(body(metric_alert(EAST)))
    assert notice == AlertNotice(
        alert_id=f"/subscriptions/{SUBSCRIPTION}/providers/Microsoft.AlertsManagement/alerts/"
                 "6a1b3c4d-1111-4222-8333-944445555666",
        monitor_condition=MonitorCondition.FIRED, fired_at="2026-03-01T11:58:24.3713213Z",
        alert_target_ids=(EAST,), alert_rule="kvdr-vault-availability-east", severity="Sev1",
        signal_type="Metric", monitoring_service="Platform", resolved_at=None,
        description="Key Vault east availability below 99%: kvdr in west evaluates a "
                    "failover.", context=AlertContext(kind=AlertKind.METRIC))
    assert AlertNotice.from_dict(notice.to_dict()) == notice


def test_a_resource_health_alert_is_an_activity_log_alert_that_fired() -> None:
    notice = parse_alert(body(resource_health_alert(EAST)))
    assert notice.signal_type == "Activity Log"
    assert notice.monitoring_service == "Resource Health"
    assert notice.monitor_condition == MonitorCondition.FIRED
    assert notice.alert_target_ids == (EAST,)
    assert notice.fired_at == "2026-03-01T11:56:54.074Z"


def test_a_resolved_alert_keeps_its_resolution_time() -> None:
    notice = parse_alert(body(metric_alert(EAST, condition="Resolved")))
    assert notice.monitor_condition == MonitorCondition.RESOLVED
    assert notice.resolved_at == "2026-03-01T12:14:16.2246313Z"


def test_null_essentials_that_the_platform_sends_for_budget_alerts_are_accepted() -> None:
    notice = parse_alert(body(budget_test_alert()))
    assert notice.alert_target_ids == ()
    assert (notice.alert_rule, notice.severity, notice.signal_type) == (None, None, None)
    assert notice.rule_name == "(unnamed rule)"


def test_unknown_essentials_and_any_alert_context_are_ignored() -> None:
    payload = with_essentials(metric_alert(EAST), investigationLink="https://portal/x",
                              targetResourceType="microsoft.keyvault/vaults")
    payload["data"]["alertContext"] = {"anything": [1, 2, 3]}
    assert parse_alert(body(payload)).alert_target_ids == (EAST,)


@pytest.mark.parametrize("raw", [
    b"",
    b"   ",
    b"not json",
    b"\xff\xfe{",
    b"[1, 2]",
    b'"azureMonitorCommonAlertSchema"',
    body({"schemaId": "azureMonitorCommonAlertSchema"}),
    body({"schemaId": "azureMonitorCommonAlertSchema", "data": []}),
    body({"schemaId": "azureMonitorCommonAlertSchema", "data": {"essentials": "x"}}),
    body(with_essentials(metric_alert(EAST), alertId=...)),
    body(with_essentials(metric_alert(EAST), alertId="  ")),
    body(with_essentials(metric_alert(EAST), alertId=42)),
    body(with_essentials(metric_alert(EAST), monitorCondition=...)),
    body(with_essentials(metric_alert(EAST), monitorCondition="Acknowledged")),
    body(with_essentials(metric_alert(EAST), monitorCondition=True)),
    body(with_essentials(metric_alert(EAST), firedDateTime=...)),
    body(with_essentials(metric_alert(EAST), firedDateTime="yesterday")),
    body(with_essentials(metric_alert(EAST), firedDateTime=1711111111)),
    body(with_essentials(metric_alert(EAST), alertTargetIDs=...)),
    body(with_essentials(metric_alert(EAST), alertTargetIDs=EAST)),
    body(with_essentials(metric_alert(EAST), alertTargetIDs=[EAST, 7])),
    body(with_essentials(metric_alert(EAST), alertRule=["r"])),
    body(with_essentials(metric_alert(EAST), severity=1)),
    body(with_essentials(metric_alert(EAST), signalType={})),
    body(with_essentials(metric_alert(EAST, condition="Resolved"), resolvedDateTime="soon")),
    b"[" * 100_000,  # nested deeper than json.loads can recurse (was a RecursionError: a 500)
])
def test_a_body_that_is_not_a_readable_alert_is_alert_invalid(raw: bytes) -> None:
    with pytest.raises(AlertError) as caught:
        parse_alert(raw)
    assert caught.value.code == "alert.invalid"
    assert caught.value.message


@pytest.mark.parametrize("payload", [
    legacy_metric_alert(EAST),
    {"data": metric_alert(EAST)["data"]},
    {**metric_alert(EAST), "schemaId": "Microsoft.Insights/activityLogs"},
    {**metric_alert(EAST), "schemaId": 3},
])
def test_another_schema_is_alert_unsupported_schema_and_says_how_to_fix_it(payload) -> None:
    with pytest.raises(AlertError) as caught:
        parse_alert(body(payload))
    assert caught.value.code == "alert.unsupported_schema"
    assert "useCommonAlertSchema" in caught.value.message


def test_a_body_over_256_kib_is_alert_too_large() -> None:
    payload = metric_alert(EAST)
    payload["data"]["alertContext"]["padding"] = "x" * MAX_ALERT_BYTES
    with pytest.raises(AlertError) as caught:
        parse_alert(body(payload))
    assert caught.value.code == "alert.too_large"


# --- decision -----------------------------------------------------------------------------------


@pytest.mark.parametrize("payload", [metric_alert(EAST), resource_health_alert(EAST)])
def test_a_fired_alert_about_the_other_regions_vault_starts_a_failover(payload) -> None:
    decision = decide(parse_alert(body(payload)), _config(), "west")
    assert decision.outcome == AlertOutcome.START_FAILOVER and decision.starts_failover
    assert decision.region == "east"
    assert AlertDecision.from_dict(decision.to_dict()) == decision


def test_resource_ids_are_compared_case_insensitively() -> None:
    mixed = (f"/SUBSCRIPTIONS/{SUBSCRIPTION}/resourceGroups/RG-KVDR/providers/"
             "Microsoft.KeyVault/vaults/EAST")
    for target in (mixed, mixed.lower(), mixed + "/"):
        decision = decide(parse_alert(body(metric_alert(target))), _config(), "west")
        assert decision.outcome == AlertOutcome.START_FAILOVER, target


def test_a_resolved_alert_is_ignored() -> None:
    decision = decide(parse_alert(body(metric_alert(EAST, condition="Resolved"))), _config(),
                      "west")
    assert decision.outcome == AlertOutcome.RESOLVED and not decision.starts_failover
    assert decision.region == "east"


@pytest.mark.parametrize("payload", [
    metric_alert(vault_id("east", sub="11111111-1111-1111-1111-111111111111")),
    metric_alert(vault_id("east", group="rg-other")),
    metric_alert(f"/subscriptions/{SUBSCRIPTION}/resourcegroups/rg-kvdr/providers/"
                 "microsoft.compute/virtualmachines/east"),
    budget_test_alert(),
    with_essentials(metric_alert(EAST), alertTargetIDs=[]),
])
def test_an_alert_about_no_configured_vault_is_ignored(payload) -> None:
    decision = decide(parse_alert(body(payload)), _config(), "west")
    assert decision.outcome == AlertOutcome.UNKNOWN_TARGET and decision.region is None


def test_the_app_in_the_alerted_region_never_starts_the_failover() -> None:
    decision = decide(parse_alert(body(metric_alert(WEST))), _config(), "west")
    assert decision.outcome == AlertOutcome.LOCAL_VAULT and decision.region == "west"
    both = with_essentials(metric_alert(EAST), alertTargetIDs=[EAST, WEST])
    assert decide(parse_alert(body(both)), _config(), "west").outcome == AlertOutcome.LOCAL_VAULT


def test_an_alert_about_two_other_regions_vaults_is_ambiguous_and_ignored() -> None:
    config = _config("east", "west", "europe")
    payload = with_essentials(metric_alert(EAST), alertTargetIDs=[EAST, EUROPE])
    decision = decide(parse_alert(body(payload)), config, "west")
    assert decision.outcome == AlertOutcome.AMBIGUOUS_TARGET and decision.region is None
    one = decide(parse_alert(body(metric_alert(EUROPE))), config, "west")
    assert (one.outcome, one.region) == (AlertOutcome.START_FAILOVER, "europe")


def test_an_unknown_local_region_is_a_programming_error() -> None:
    with pytest.raises(KeyError):
        decide(parse_alert(body(metric_alert(EAST))), _config(), "mars")


# --- what alertContext says ------------------------------------------------------------------


def test_a_resource_health_recovery_notice_is_fired_but_starts_nothing() -> None:
    notice = parse_alert(body(resource_health_recovery(EAST)))
    assert notice.monitor_condition == MonitorCondition.FIRED   # activity log: stateless
    assert notice.context.kind == AlertKind.RESOURCE_HEALTH and notice.context.recovered
    decision = decide(notice, _config(), "west")
    assert decision.outcome == AlertOutcome.RECOVERED and not decision.starts_failover
    assert decision.region == "east" and "Available" in decision.message


@pytest.mark.parametrize("changes", [
    {"health": "Available", "status": "Active", "event": "Updated"},
    {"health": "Unavailable", "status": "Resolved", "event": "Resolved"},
])
def test_any_recovery_signal_of_resource_health_starts_nothing(changes) -> None:
    notice = parse_alert(body(resource_health_alert(EAST, **changes)))
    assert decide(notice, _config(), "west").outcome == AlertOutcome.RECOVERED


@pytest.mark.parametrize("health", ["Degraded", "Unknown"])
def test_resource_health_other_than_unavailable_is_not_an_outage(health: str) -> None:
    notice = parse_alert(body(resource_health_alert(EAST, health=health)))
    decision = decide(notice, _config(), "west")
    assert decision.outcome == AlertOutcome.NOT_AN_OUTAGE and health in decision.message


def test_resource_health_without_a_health_status_is_not_an_outage() -> None:
    payload = resource_health_alert(EAST)
    payload["data"]["alertContext"] = None
    decision = decide(parse_alert(body(payload)), _config(), "west")
    assert decision.outcome == AlertOutcome.NOT_AN_OUTAGE


@pytest.mark.parametrize("operation", ["Microsoft.KeyVault/vaults/write",
                                       "Microsoft.KeyVault/vaults/delete",
                                       "Microsoft.KeyVault/vaults/accessPolicies/write"])
def test_an_administrative_operation_on_the_primarys_vault_is_not_an_outage(
        operation: str) -> None:
    decision = decide(parse_alert(body(administrative_alert(EAST, operation=operation))),
                      _config(), "west")
    assert decision.outcome == AlertOutcome.NOT_AN_OUTAGE and operation in decision.message


def test_a_log_search_alert_on_a_workspace_names_no_vault() -> None:
    notice = parse_alert(body(log_search_alert(workspace_id())))
    assert notice.context.kind == AlertKind.LOG
    assert decide(notice, _config(), "west").outcome == AlertOutcome.UNKNOWN_TARGET


def test_a_log_search_alert_scoped_to_the_vault_is_treated_like_a_metric_alert() -> None:
    payload = with_essentials(log_search_alert(workspace_id()), alertTargetIDs=[EAST])
    assert decide(parse_alert(body(payload)), _config(), "west").region == "east"


@pytest.mark.parametrize(("name", "key"), [("East US", "eastus"), ("East US 2", "eastus2"),
                                            ("West Europe", "westeurope"),
                                            ("eastus", "eastus")])
def test_service_health_region_names_map_to_region_keys(name: str, key: str) -> None:
    assert region_key(name) == key


US = ("eastus", "westus")


@pytest.mark.parametrize("as_array", [False, True])
def test_a_key_vault_incident_in_the_primarys_region_starts_a_failover(as_array: bool) -> None:
    notice = parse_alert(body(service_health_alert(impacted_as_array=as_array)))
    assert notice.alert_target_ids == (f"/subscriptions/{SUBSCRIPTION}",)
    decision = decide(notice, _config(*US), "westus")
    assert decision.outcome == AlertOutcome.START_FAILOVER
    assert (decision.region, decision.regions) == ("eastus", ("eastus",))
    request = failover_request(notice, decision, "westus", approval_required=True)
    assert (request.target, request.expected_primary) == ("westus", "eastus")


@pytest.mark.parametrize(("payload", "outcome"), [
    (service_health_alert(incident_type="Maintenance", stage="Planned"),
     AlertOutcome.NOT_AN_OUTAGE),
    (service_health_alert(incident_type="Informational"), AlertOutcome.NOT_AN_OUTAGE),
    (service_health_alert(incident_type="ActionRequired"), AlertOutcome.NOT_AN_OUTAGE),
    (service_health_alert(stage="Resolved", status="Resolved"), AlertOutcome.RECOVERED),
    (service_health_alert(stage="Active", status="Resolved"), AlertOutcome.RECOVERED),
    (service_health_alert(stage="RCA"), AlertOutcome.RECOVERED),
    (service_health_alert(stage="Mitigated"), AlertOutcome.RECOVERED),
    (service_health_alert(service="Virtual Machines"), AlertOutcome.NOT_AN_OUTAGE),
    (service_health_alert(regions=("East US 2",)), AlertOutcome.UNKNOWN_TARGET),
    (service_health_alert(regions=("East US", "West US")), AlertOutcome.LOCAL_VAULT),
    (service_health_alert(sub="11111111-1111-1111-1111-111111111111"),
     AlertOutcome.UNKNOWN_TARGET),
])
def test_service_health_notices_that_are_not_an_active_key_vault_incident_elsewhere_start_nothing(
        payload, outcome: AlertOutcome) -> None:
    decision = decide(parse_alert(body(payload)), _config(*US), "westus")
    assert decision.outcome == outcome and decision.message


def test_confirm_starts_only_when_the_alerted_vault_is_the_primary() -> None:
    start = decide(parse_alert(body(metric_alert(EAST))), _config(), "west")
    assert confirm(start, "east", 1).outcome == AlertOutcome.START_FAILOVER
    moved = confirm(start, "west", 2)
    assert moved.outcome == AlertOutcome.NOT_PRIMARY and not moved.starts_failover
    assert "west" in moved.message and "epoch 2" in moved.message
    unread = confirm(start, None, None)       # the runbook re-checks
    assert unread.outcome == AlertOutcome.START_FAILOVER and unread.region == "east"


def test_confirm_picks_the_primary_among_the_regions_of_a_service_health_incident() -> None:
    config = _config("eastus", "westus", "centralus")
    start = decide(parse_alert(body(service_health_alert(regions=("East US", "Central US")))),
                   config, "westus")
    assert start.starts_failover and start.region is None
    assert confirm(start, "centralus", 3).region == "centralus"
    assert confirm(start, "westus", 4).outcome == AlertOutcome.NOT_PRIMARY
    assert confirm(start, None, None).outcome == AlertOutcome.AMBIGUOUS_TARGET


# --- the failover request -----------------------------------------------------------------------


@pytest.mark.parametrize("approval", [True, False])
def test_the_request_is_an_unplanned_failover_to_this_region_expecting_the_alerted_primary(
        approval: bool) -> None:
    notice = parse_alert(body(metric_alert(EAST)))
    request = failover_request(notice, decide(notice, _config(), "west"), "west",
                               approval_required=approval)
    assert request == FailoverRequest(
        kind=FailoverKind.UNPLANNED, target="west",
        reason="Azure Monitor alert 'kvdr-vault-availability-east' (Metric, severity Sev1) "
               "fired at 2026-03-01T11:58:24.3713213Z for east",
        requested_by="alert:kvdr-vault-availability-east", approval_required=approval,
        expected_primary="east", alert_id=notice.alert_id,
        fired_at="2026-03-01T11:58:24.3713213Z")
    assert FailoverRequest.from_dict(request.to_dict()) == request


def test_a_long_rule_name_keeps_the_reason_and_requester_within_the_request_limits() -> None:
    notice = parse_alert(body(metric_alert(EAST, rule="r" * 260)))
    request = failover_request(notice, decide(notice, _config(), "west"), "west",
                               approval_required=True)
    assert len(request.reason) <= MAX_REASON_CHARS
    assert request.reason.endswith("fired at 2026-03-01T11:58:24.3713213Z for east")
    assert len(request.requested_by) <= 200


def test_only_a_start_decision_builds_a_request() -> None:
    notice = parse_alert(body(metric_alert(WEST)))
    with pytest.raises(ValueError):
        failover_request(notice, decide(notice, _config(), "west"), "west",
                         approval_required=True)
