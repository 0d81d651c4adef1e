"""Region-wide Key Vault incidents reach the webhook: each region's alerts module holds a Service
Health rule on the subscription for Key Vault incidents in the OTHER region, wired to the action
group that calls this region's app, and names that region as Service Health does (its display
name), which the webhook maps back to the ARM location name kvdr's regions are keyed by."""

import json

import pytest

from kvdr.alerts.context import KEY_VAULT_SERVICE, region_key
from support import bicep_model as bm

ALERT_TYPE = "Microsoft.Insights/activityLogAlerts"
REGION_FIELD = "properties.impactedServices[*].ImpactedRegions[*].RegionName"
SERVICE_FIELD = "properties.impactedServices[*].ServiceName"


def _rule():
    file = bm.load("modules/alerts.bicep")
    rules = [r for r in file.resources(ALERT_TYPE)
             if "ServiceHealth" in bm.text(r.get("properties.condition"))]
    assert len(rules) == 1, "one Service Health rule per alerts module (i.e. per watched region)"
    return file, rules[0]


def _conditions(watched: str = "East US 2") -> list[dict]:
    file, rule = _rule()
    return bm.evaluate(rule.get("properties.condition.allOf"),
                       {"watchedRegionDisplayName": watched}, file)


def _json(name: str) -> dict[str, str]:
    data = json.loads((bm.BICEP_DIR / name).read_text())
    return {k: v for k, v in data.items() if not k.startswith("_")}


def test_one_rule_per_region_watches_the_other_region():
    (module,) = bm.load("main.bicep").modules("modules/alerts.bicep")
    assert bm.body_of(module.node)[2], "the alerts module is deployed once per region"
    assert bm.text(module.get("scope")) == "regionRgs[i]"
    assert bm.text(module.get("params.watchedRegion")) == "regions[1 - i].location"
    assert bm.text(module.get("params.watchedRegionDisplayName")) == \
        "regionDisplayNameOf[regions[1 - i].location]"
    main = bm.load("main.bicep")
    names = bm.text(main.named("var", "regionDisplayNameOf").value)
    assert names == "union(loadJsonContent('regionDisplayNames.json'), regionDisplayNames)"
    _, rule = _rule()
    assert "watchedRegion" in bm.text(rule.get("name"))


def test_rule_targets_the_subscription_it_is_created_in_from_global():
    # Service Health rules: one subscription, the rule's own; location Global only.
    _, rule = _rule()
    assert rule.api_version == "2020-10-01"
    assert bm.evaluate(rule.get("location"), {}) == "Global"
    assert bm.text(rule.get("properties.scopes")).split() == ["[", "subscription().id", "]"]
    assert bm.evaluate(rule.get("properties.enabled"), {}) is True


def test_rule_filters_key_vault_incidents_in_the_watched_region_by_display_name():
    conditions = _conditions("East US 2")
    assert conditions == [
        {"field": "category", "equals": "ServiceHealth"},
        {"field": "properties.incidentType", "equals": "Incident"},
        {"field": SERVICE_FIELD, "containsAny": ["Key Vault"]},
        {"field": REGION_FIELD, "containsAny": ["East US 2"]},
    ]
    # the service name is the one the webhook looks for among the impacted services
    assert conditions[2]["containsAny"] == [KEY_VAULT_SERVICE]


def test_rule_calls_the_watching_regions_app_through_the_failover_action_group():
    file, rule = _rule()
    groups = rule.get("properties.actions.actionGroups")
    ids = [bm.text(bm.prop(g, "actionGroupId")) for g in groups.children if g.type == "object"]
    assert ids == ["failoverActionGroup.id", "operatorsActionGroupId"]
    (group,) = file.resources("Microsoft.Insights/actionGroups")
    assert group.name == "failoverActionGroup"
    # the group (and so the rule) always exists; only its webhook waits for the code, like the
    # metric and Resource Health rules: until then the operators alone are notified
    assert group.condition is None and rule.condition is None
    receivers = group.get("properties.webhookReceivers")
    assert bm.text(receivers.child_by_field_name("condition")) == "alertFunctionDeployed"
    (receiver,) = [c for c in receivers.child_by_field_name("consequence").children
                   if c.type == "object"]
    assert bm.evaluate(bm.prop(receiver, "useCommonAlertSchema"), {}) is True
    (module,) = bm.load("main.bicep").modules("modules/alerts.bicep")
    assert bm.text(module.get("params.appName")) == "region[i].outputs.appName"
    assert bm.text(module.get("params.alertFunctionDeployed")) == "appCodeDeployed"


def test_every_location_with_a_geography_has_a_display_name():
    assert _json("regionDisplayNames.json").keys() == _json("geographies.json").keys()


@pytest.mark.parametrize("location,display", sorted(_json("regionDisplayNames.json").items()))
def test_display_name_maps_back_to_its_location_as_the_webhook_reads_it(location, display):
    # kvdr/alerts/context.py turns Service Health's "East US 2" into the region key "eastus2"
    assert region_key(display) == location
    assert display == display.strip() and "  " not in display
