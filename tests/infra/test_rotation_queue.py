"""The rotation queue in the template: a `kvdr-rotation` queue in each region's events storage
account, each app allowed to enqueue there and nothing more (Message Sender on that queue), the
app settings that point kvdr at it through the events account's connection, the queue URLs as
an output, and consumers' receive role only when asked for."""

from kvdr.config.loading import load_app_settings
from kvdr.rotation.publisher import DEFAULT_QUEUE
from support import bicep_model as bm


def test_each_regions_events_account_holds_the_rotation_queue():
    main = bm.load("main.bicep")
    assert bm.evaluate(main.named("var", "rotationQueue").value, {}) == DEFAULT_QUEUE
    regions = bm.text(main.named("var", "regions").value)
    assert "rotationQueue: rotationQueue" in regions
    region = bm.load("modules/region.bicep")
    (events,) = [m for m in region.modules("storage.bicep")
                 if bm.text(m.get("params.accountName")) == "names.eventsStorage"]
    assert "names.rotationQueue" in bm.text(events.get("params.queues"))
    output = region.named("output", "rotationQueueUrl")
    assert bm.text(output.value) == "'${eventsStorage.outputs.queueEndpoint}${names.rotationQueue}'"


def test_the_settings_point_kvdr_at_it_through_the_events_accounts_connection(app_settings):
    main = bm.load("main.bicep")
    settings = main.named("var", "kvdrSettings").value
    env = {"rotationQueue": DEFAULT_QUEUE}
    queue = bm.evaluate(bm.prop(settings, "KVDR_ROTATION_QUEUE"), env, main)
    connection = bm.evaluate(bm.prop(settings, "KVDR_ROTATION_CONNECTION"), env, main)
    assert (queue, connection) == (DEFAULT_QUEUE, "KvdrEventsQueue")
    # the app sets that connection identity-based (the queue trigger's own)
    app = bm.load("modules/functionApp.bicep")
    assert f"{connection}__queueServiceUri" in bm.text(app.named(
        "resource", "appSettings").get("properties"))
    # and kvdr accepts both as app settings
    config = load_app_settings({**app_settings, "KVDR_ROTATION_QUEUE": queue,
                                "KVDR_ROTATION_CONNECTION": connection})
    assert (config.rotation.queue, config.rotation.connection) == (queue, connection)


def test_each_app_may_only_send_to_its_regions_rotation_queue():
    access = bm.load("modules/access.bicep")
    send = access.named("resource", "appSendsRotation")
    assert bm.text(send.get("scope")) == "eventsStorage::queueService::rotationQueue"
    assert bm.text(send.get("properties.roleDefinitionId")).endswith(
        "roleIds.storageQueueDataMessageSender)")
    assert bm.text(send.get("properties.principalId")) == "appPrincipalId"
    assert send.condition is None  # always granted
    queue = bm.text(access.named("resource", "eventsStorage").body)
    assert "name: rotationQueueName" in queue
    (module,) = bm.load("main.bicep").modules("modules/access.bicep")
    assert bm.text(module.get("params.rotationQueueName")) == "r.rotationQueue"


def test_rotation_jobs_get_receive_rights_on_the_queue_only_when_named():
    access = bm.load("modules/access.bicep")
    consumers = access.named("resource", "consumersReceiveRotation")
    body = bm.text(consumers.node)
    assert "for principal in rotationConsumerPrincipalIds" in body
    assert bm.text(consumers.get("scope")) == "eventsStorage::queueService::rotationQueue"
    assert "roleIds.storageQueueDataMessageProcessor" in bm.text(
        consumers.get("properties.roleDefinitionId"))
    main = bm.load("main.bicep")
    assert bm.evaluate(main.named("param", "rotationConsumerPrincipalIds").value, {}) == []


def test_the_queue_urls_are_an_output_per_region():
    main = bm.load("main.bicep")
    output = bm.text(main.named("output", "rotationQueues").node)
    assert "region[i].outputs.rotationQueueUrl" in output and "location: r.location" in output
