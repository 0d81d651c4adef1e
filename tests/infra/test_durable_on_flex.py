"""Durable Functions on Flex Consumption, as the platform recommends: one always-ready instance
for the `durable` group and a control-queue polling interval of at most 10 seconds, so that a
runbook started after idle does not wait for a cold start and a 30-second polling back-off."""

import json
import re

from support import bicep_model as bm

HOST_JSON = bm.REPO / "host.json"
DEPLOYMENT_MD = bm.REPO / "docs" / "deployment.md"


def _always_ready(count: int):
    file = bm.load("modules/functionApp.bicep")
    (site,) = file.resources("Microsoft.Web/sites")
    node = site.get("properties.functionAppConfig.scaleAndConcurrency.alwaysReady")
    return bm.evaluate(node, {"durableAlwaysReady": count}, file)


def test_durable_group_gets_always_ready_instances():
    assert _always_ready(1) == [{"name": "durable", "instanceCount": 1}]
    assert _always_ready(2) == [{"name": "durable", "instanceCount": 2}]
    assert _always_ready(0) == []  # opt out: no baseline cost


def test_one_always_ready_durable_instance_is_the_default_and_reaches_each_app():
    main = bm.load("main.bicep")
    param = main.named("param", "durableAlwaysReady")
    assert bm.evaluate(param.value, {}) == 1
    assert "@minValue(0)" in param.decorators
    (region,) = main.modules("modules/region.bicep")
    assert bm.text(region.get("params.durableAlwaysReady")) == "durableAlwaysReady"
    (app,) = bm.load("modules/region.bicep").modules("functionApp.bicep")
    assert bm.text(app.get("params.durableAlwaysReady")) == "durableAlwaysReady"


def _seconds(timespan: str) -> int:
    hours, minutes, seconds = (int(x) for x in re.fullmatch(r"(\d\d):(\d\d):(\d\d)",
                                                            timespan).groups())
    return hours * 3600 + minutes * 60 + seconds


def test_durable_queue_polling_interval_is_at_most_ten_seconds():
    provider = json.loads(HOST_JSON.read_text())["extensions"]["durableTask"]["storageProvider"]
    assert 0 < _seconds(provider["maxQueuePollingInterval"]) <= 10


def test_deployment_doc_states_the_always_ready_and_polling_cost():
    doc = DEPLOYMENT_MD.read_text()
    assert "durableAlwaysReady" in doc and "maxQueuePollingInterval" in doc
    assert re.search(r"always.ready.*GB-s", doc, re.I | re.S)
