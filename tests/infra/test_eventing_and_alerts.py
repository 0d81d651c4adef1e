"""Event Grid carries every change hint kvdr needs, with retries and a dead letter; private
mode delivers through a queue; each region's alerts call the OTHER region's app."""

import pytest

from support import bicep_model as bm

REQUIRED_EVENT_TYPES = {
    f"Microsoft.KeyVault.{kind}{event}"
    for kind in ("Secret", "Key", "Certificate")
    for event in ("NewVersionCreated", "NearExpiry", "Expired")
}


def _subscription():
    file = bm.load("modules/eventGrid.bicep")
    (sub,) = file.resources("Microsoft.EventGrid/systemTopics/eventSubscriptions")
    return file, sub


def test_system_topic_watches_the_vault():
    file = bm.load("modules/eventGrid.bicep")
    (topic,) = file.resources("Microsoft.EventGrid/systemTopics")
    assert bm.evaluate(topic.get("properties.topicType"), {}) == "Microsoft.KeyVault.vaults"
    assert bm.text(topic.get("properties.source")) == "vault.id"
    assert bm.evaluate(topic.get("identity.type"), {}) == "SystemAssigned"


def test_every_required_event_type_is_subscribed():
    file, sub = _subscription()
    filtered = sub.get("properties.filter.includedEventTypes")
    assert bm.text(filtered) == "includedEventTypes"
    subscribed = set(bm.evaluate(file.named("param", "includedEventTypes").value, {}))
    assert subscribed == REQUIRED_EVENT_TYPES
    # main.bicep must not narrow the list
    (module,) = bm.load("main.bicep").modules("modules/eventGrid.bicep")
    assert "includedEventTypes" not in bm.properties(module.get("params"))


def test_subscription_retries_for_24_hours_then_dead_letters_to_blob():
    _, sub = _subscription()
    assert bm.evaluate(sub.get("properties.retryPolicy"), {}) == {
        "maxDeliveryAttempts": 30, "eventTimeToLiveInMinutes": 1440}
    dead = sub.get("properties.deadLetterWithResourceIdentity")
    assert bm.evaluate(bm.prop(dead, "identity.type"), {}) == "SystemAssigned"
    assert bm.evaluate(bm.prop(dead, "deadLetterDestination.endpointType"), {}) == "StorageBlob"
    assert bm.text(bm.prop(dead, "deadLetterDestination.properties.blobContainerName")) == \
        "deadLetterContainerName"


@pytest.mark.parametrize("requested", ["auto", "function", "queue"])
def test_private_mode_always_delivers_through_the_storage_queue(requested):
    main = bm.load("main.bicep")
    delivery = main.named("var", "delivery").value
    assert bm.evaluate(delivery, {"networkMode": "private", "eventDelivery": requested},
                       main) == "queue"


def test_public_mode_pushes_to_the_event_grid_function_by_default():
    main = bm.load("main.bicep")
    delivery = main.named("var", "delivery").value
    assert bm.evaluate(delivery, {"networkMode": "public", "eventDelivery": "auto"},
                       main) == "function"


def test_queue_delivery_uses_the_topic_identity_with_sender_role_on_that_queue_only():
    file, sub = _subscription()
    with_identity = bm.text(sub.get("properties.deliveryWithResourceIdentity"))
    assert "delivery == 'queue'" in with_identity and "queueDestination" in with_identity
    queue = file.named("var", "queueDestination").value
    assert bm.evaluate(bm.prop(queue, "endpointType"), {}) == "StorageQueue"
    sender = file.named("resource", "topicSendsToQueue")
    assert bm.text(sender.get("scope")) == "eventsStorage::queueService::queue"
    assert bm.text(sender.get("properties.principalId")) == "topic.identity.principalId"


def test_function_delivery_targets_the_event_grid_function_of_the_same_region():
    file = bm.load("modules/eventGrid.bicep")
    dest = file.named("var", "functionDestination").value
    assert bm.evaluate(bm.prop(dest, "endpointType"), {}) == "AzureFunction"
    assert bm.text(bm.prop(dest, "properties.resourceId")) == \
        "'${app.id}/functions/${functionName}'"
    (module,) = bm.load("main.bicep").modules("modules/eventGrid.bicep")
    assert bm.text(module.get("params.appName")) == "region[i].outputs.appName"
    assert bm.text(module.get("params.vaultName")) == "region[i].outputs.vaultName"


def test_each_region_alerts_on_the_other_vault_and_calls_its_own_app():
    (module,) = bm.load("main.bicep").modules("modules/alerts.bicep")
    assert bm.text(module.get("params.watchedVaultId")) == "region[1 - i].outputs.vaultId"
    assert bm.text(module.get("params.appName")) == "region[i].outputs.appName"


def test_availability_alert_and_action_group_use_the_common_schema_and_the_alert_key():
    file = bm.load("modules/alerts.bicep")
    (metric,) = file.resources("Microsoft.Insights/metricAlerts")
    (criterion,) = bm.evaluate(metric.get("properties.criteria.allOf"),
                               {"availabilityThresholdPercent": 90}, file)
    assert criterion["metricName"] == "Availability"
    assert criterion["metricNamespace"] == "Microsoft.KeyVault/vaults"
    assert criterion["operator"] == "LessThan" and criterion["threshold"] == 90
    assert bm.text(metric.get("properties.scopes")).split() == ["[", "watchedVaultId", "]"]
    (group,) = file.resources("Microsoft.Insights/actionGroups")
    receivers = group.get("properties.webhookReceivers")
    (receiver,) = [c for c in receivers.child_by_field_name("consequence").children
                   if c.type == "object"]
    assert bm.evaluate(bm.prop(receiver, "useCommonAlertSchema"), {}) is True
    assert bm.text(bm.prop(receiver, "serviceUri")) == \
        "'https://${app.properties.defaultHostName}/api/alerts?code=${alertKey}'"
    # the key: tests/infra/test_alert_key.py


def test_drill_failure_alert_pages_operators_not_the_failover_webhook():
    file = bm.load("modules/operatorAlerts.bicep")
    (rule,) = file.resources("Microsoft.Insights/scheduledQueryRules")
    (criterion,) = [c for c in rule.get("properties.criteria.allOf").children
                    if c.type == "object"]
    query = bm.evaluate(bm.prop(criterion, "query"), {})
    assert 'name == "kvdr.drill.completed"' in query
    assert 'tostring(customDimensions.result) != "passed"' in query
    assert bm.text(rule.get("properties.actions.actionGroups")).split() == \
        ["[", "operators.id", "]"]


def test_app_reads_the_events_queue_of_its_own_region_with_its_identity():
    region = bm.load("modules/region.bicep")
    (app,) = region.modules("functionApp.bicep")
    assert bm.text(app.get("params.eventsQueueServiceUri")) == \
        "eventsStorage.outputs.queueEndpoint"
    fa = bm.load("modules/functionApp.bicep")
    (config,) = fa.resources("Microsoft.Web/sites/config")
    assert "KvdrEventsQueue__queueServiceUri: eventsQueueServiceUri" in \
        bm.text(config.get("properties"))
    (events,) = [m for m in region.modules("storage.bicep") if m.name == "eventsStorage"]
    assert "names.eventsQueue" in bm.text(events.get("params.queues"))
