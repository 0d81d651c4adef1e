"""The Azure Monitor alert webhook, ``POST /api/alerts``, through the local host.

The app plays the one deployed in ``west`` (``topology.local_region``), watching ``east``, the
primary (``westus``/``eastus`` for Service Health, whose region names map to region keys). What
a started runbook then does is the failover orchestration's business
(tests/orchestrators/test_failover.py); these tests assert on what was started and with what
input, except where the webhook's answer depends on a failover having completed before.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import azure.functions as func
import pytest

from emulator.server import VaultSpec
from engine.host import LocalHost
from kvdr.alerts.notice import MAX_ALERT_BYTES
from kvdr.services import configure, local_runtime
from kvdr.topology.store import current_topology
from kvdr_cli import emulated
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
from support.runbooks import call
from support.sync import US_PAIR, SyncEnv, start_env

EAST, WEST = vault_id("east"), vault_id("west")
Host = tuple[SyncEnv, LocalHost]


def _topology(local: str | None, primary: str = "east") -> dict[str, Any]:
    topology: dict[str, Any] = {"initial_primary": primary}
    if local:
        topology["local_region"] = local
    return topology


@pytest.fixture
def host_factory(tmp_path: Path) -> Iterator[Callable[..., Host]]:
    """``host_factory(approval="required", local="west", vaults=US_PAIR)``: the emulator, the
    runtime and the real function app on a LocalHost; the first vault is the primary, and every
    vault holds its topology record (epoch 1)."""
    opened: list[tuple[Iterator[SyncEnv], LocalHost]] = []

    def start(approval: str = "required", local: str | None = "west",
              vaults: tuple[VaultSpec, ...] = US_PAIR) -> Host:
        sections = {"topology": _topology(local, vaults[0].name),
                    "policies": {"approval": approval}}
        gen = start_env(tmp_path / f"env{len(opened)}", vaults, sections=sections)
        env = next(gen)
        env.engine.stop()  # the host runs its own engine on another directory
        # the initial topology record (epoch 1), as the first full sync writes it
        current_topology(env.config, env.runtime.sessions())
        from azure.durable_functions.models.utils import http_utils

        import function_app

        # the Durable client's aiohttp session is bound to the loop of the host that made it
        http_utils._client_session = None
        host = LocalHost(function_app.app, state_dir=env.state_dir / "host", port=0).start()
        opened.append((gen, host))
        return env, host

    yield start
    for gen, host in reversed(opened):
        _settle(host)
        host.stop()
        gen.close()


def _settle(host: LocalHost, deadline_seconds: float = 120) -> None:
    """Let started runbooks reach a point with no activity in flight (finished, or waiting for
    an approval) before the host and the emulator stop: an activity abandoned mid-request
    leaves the emulator's request handler pending. Synchronisation only, never an assertion."""
    deadline = time.monotonic() + deadline_seconds
    while time.monotonic() < deadline:
        busy = [s for s in _started(host) if not s.runtime_status.is_terminal
                and not (isinstance(s.custom_status, dict)
                         and s.custom_status.get("phase") == "awaiting_approval")]
        if not busy:
            return
        time.sleep(0.1)


@pytest.fixture
def hosted(host_factory) -> Host:
    return host_factory()


def _post(host: LocalHost, raw: bytes) -> tuple[int, Any, dict[str, str]]:
    request = urllib.request.Request(host.base_url + "/api/alerts?code=alert-key", data=raw,
                                     method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            text = response.read()
            return response.status, json.loads(text) if text else None, dict(response.headers)
    except urllib.error.HTTPError as exc:
        text = exc.read()
        return exc.code, json.loads(text) if text else None, dict(exc.headers)


def _started(host: LocalHost) -> list[Any]:
    """Every failover instance the engine holds (sync children excluded)."""
    return [s for s in host.engine.list_instances() if s.name == "failover"]


# --- starting -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("approval", "required"), [("required", True), ("auto", False)])
def test_a_fired_alert_about_the_other_regions_vault_starts_one_unplanned_failover_here(
        host_factory, approval: str, required: bool) -> None:
    _env, host = host_factory(approval=approval)
    payload = metric_alert(EAST)
    status, answer, headers = _post(host, body(payload))
    assert status == 202, answer
    assert answer["outcome"] == "started" and answer["region"] == "east"
    assert answer["approval_required"] is required
    assert answer["alert_id"] == payload["data"]["essentials"]["alertId"]
    instance_id = answer["instance_id"]
    assert instance_id.startswith("failover-alert-")
    assert {"statusQueryGetUri", "sendEventPostUri", "terminatePostUri"} <= set(answer)
    assert headers["Location"] == answer["statusQueryGetUri"]

    (instance,) = _started(host)
    assert instance.instance_id == instance_id
    run = host.engine.get_status(instance_id).input
    assert run["kind"] == "unplanned" and run["target"] == "west"
    assert run["expected_primary"] == "east"
    assert run["approval_required"] is required
    assert run["alert_id"] == payload["data"]["essentials"]["alertId"]
    assert run["fired_at"] == "2026-03-01T11:58:24.3713213Z"
    assert run["requested_by"] == "alert:kvdr-vault-availability-east"
    assert run["reason"] == ("Azure Monitor alert 'kvdr-vault-availability-east' (Metric, "
                             "severity Sev1) fired at 2026-03-01T11:58:24.3713213Z for east")
    assert run["run_id"] == instance_id and run["dry_run"] is False


def test_a_resource_health_alert_starts_the_failover_too(hosted: Host) -> None:
    _env, host = hosted
    status, answer, _ = _post(host, body(resource_health_alert(EAST)))
    assert status == 202 and answer["outcome"] == "started"
    (instance,) = _started(host)
    run = instance.input
    assert (run["kind"], run["target"], run["expected_primary"]) == ("unplanned", "west", "east")
    assert run["requested_by"] == "alert:kvdr-vault-health-east"


def test_a_redelivered_alert_starts_nothing_new(hosted: Host) -> None:
    _env, host = hosted
    raw = body(metric_alert(EAST))
    status, first, _ = _post(host, raw)
    assert status == 202
    for _ in range(2):
        status, again, _ = _post(host, raw)
        assert status == 200
        assert again["outcome"] == "duplicate"
        assert again["instance_id"] == first["instance_id"]
    assert [s.instance_id for s in _started(host)] == [first["instance_id"]]


def test_concurrent_deliveries_of_one_alert_start_one_runbook(hosted: Host) -> None:
    _env, host = hosted
    raw = body(metric_alert(EAST))
    with ThreadPoolExecutor(max_workers=6) as pool:
        answers = list(pool.map(lambda _: _post(host, raw), range(6)))
    statuses = sorted(status for status, _, _ in answers)
    assert statuses == [200] * 5 + [202], answers
    assert {a["outcome"] for s, a, _ in answers if s == 200} == {"duplicate"}
    ids = {a["instance_id"] for _, a, _ in answers}
    assert len(ids) == 1
    assert [s.instance_id for s in _started(host)] == list(ids)


def test_another_alert_while_a_failover_runs_is_200_already_running(hosted: Host) -> None:
    _env, host = hosted
    # approval required: the first runbook waits for an operator, so it is still running
    status, first, _ = _post(host, body(metric_alert(EAST)))
    assert status == 202
    status, second, _ = _post(host, body(resource_health_alert(EAST)))
    assert status == 200, second
    assert second["outcome"] == "already_running"
    assert second["instance_id"] == first["instance_id"]
    assert [s.instance_id for s in _started(host)] == [first["instance_id"]]


# --- ignoring -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("payload", "outcome", "region"), [
    (metric_alert(EAST, condition="Resolved"), "resolved", "east"),
    (metric_alert(WEST), "local_vault", "west"),
    (resource_health_alert(WEST), "local_vault", "west"),
    (metric_alert(vault_id("east", sub="11111111-1111-1111-1111-111111111111")),
     "unknown_target", None),
    (metric_alert(f"/subscriptions/{SUBSCRIPTION}/resourcegroups/rg-kvdr/providers/"
                  "microsoft.compute/virtualmachines/east"), "unknown_target", None),
    (budget_test_alert(), "unknown_target", None),
])
def test_alerts_that_call_for_no_failover_are_200_and_start_nothing(
        hosted: Host, payload: dict[str, Any], outcome: str, region: str | None) -> None:
    _env, host = hosted
    status, answer, _ = _post(host, body(payload))
    assert status == 200, answer
    assert answer["outcome"] == outcome and answer["region"] == region
    assert answer["message"]
    assert host.engine.list_instances() == []


# --- acting only on a real outage ---------------------------------------------------------------


def _records(env: SyncEnv) -> dict[str, tuple[str, int]]:
    from kvdr.topology.store import read_topology

    out = {}
    for name in env.config.region_names:
        record = read_topology(env.runtime.session(name))
        assert record is not None
        out[name] = (record.primary, record.epoch)
    return out


def _complete(host: LocalHost, instance_id: str) -> dict[str, Any]:
    return host.engine.wait_for_completion(instance_id, timeout=180).output


def test_a_resource_health_recovery_notice_starts_nothing_even_with_auto_approval(
        host_factory) -> None:
    env, host = host_factory(approval="auto")
    before = _records(env)
    status, answer, _ = _post(host, body(resource_health_recovery(EAST)))
    assert status == 200, answer
    assert answer["outcome"] == "recovered" and answer["region"] == "east"
    assert "Available" in answer["message"]
    assert host.engine.list_instances() == []
    assert _records(env) == before == {"east": ("east", 1), "west": ("east", 1)}


@pytest.mark.parametrize("payload", [
    administrative_alert(EAST),
    administrative_alert(EAST, operation="Microsoft.KeyVault/vaults/delete"),
    resource_health_alert(EAST, health="Degraded"),
    log_search_alert(workspace_id()),
])
def test_operations_degradations_and_workspace_alerts_start_nothing(
        hosted: Host, payload: dict[str, Any]) -> None:
    _env, host = hosted
    status, answer, _ = _post(host, body(payload))
    assert status == 200, answer
    assert answer["outcome"] in ("not_an_outage", "unknown_target") and answer["message"]
    assert host.engine.list_instances() == []


def test_after_a_completed_failover_an_alert_about_the_old_primary_is_200_not_primary(
        host_factory) -> None:
    env, host = host_factory(approval="auto")
    status, first, _ = _post(host, body(metric_alert(EAST)))
    assert status == 202, first
    assert _complete(host, first["instance_id"])["outcome"] == "completed"
    assert _records(env)["west"] == ("west", 2)

    # the Resource Health alert of the same outage arrives after the switch
    status, later, _ = _post(host, body(resource_health_alert(EAST)))
    assert status == 200, later
    assert later["outcome"] == "not_primary"
    assert (later["region"], later["primary"], later["epoch"]) == ("east", "west", 2)
    assert "instance_id" not in later
    assert [s.instance_id for s in _started(host)] == [first["instance_id"]]

    code, report = call(host, "GET", "/api/status")
    assert code == 200
    last = report["last_failover"]
    assert (last["outcome"], last["source"], last["target"]) == ("completed", "east", "west")


def test_a_runbook_that_changes_nothing_does_not_replace_the_last_failover_in_status(
        host_factory) -> None:
    _env, host = host_factory(approval="auto")
    status, first, _ = _post(host, body(metric_alert(EAST)))
    assert status == 202
    assert _complete(host, first["instance_id"])["outcome"] == "completed"
    code, started = call(host, "POST", "/api/runbooks/failover",
                         {"target": "west", "reason": "make sure west is primary"})
    assert code == 202, started
    assert _complete(host, started["id"])["outcome"] == "not_needed"

    code, report = call(host, "GET", "/api/status")
    assert code == 200
    last = report["last_failover"]
    assert (last["run_id"], last["outcome"]) == (first["instance_id"], "completed")
    assert (last["source"], last["target"]) == ("east", "west")


def test_with_the_alerted_vault_down_the_webhook_reads_the_survivor_and_starts(
        hosted: Host) -> None:
    env, host = hosted
    env.emu.down("east")
    try:
        status, answer, _ = _post(host, body(metric_alert(EAST)))
    finally:
        env.emu.up("east")
    assert status == 202, answer
    assert answer["outcome"] == "started" and "east is the primary" in answer["message"]


def test_with_no_topology_readable_the_webhook_starts_the_runbook_which_rechecks(
        hosted: Host) -> None:
    env, host = hosted
    for name in ("east", "west"):
        env.emu.down(name)
    try:
        status, answer, _ = _post(host, body(metric_alert(EAST)))
    finally:
        for name in ("east", "west"):
            env.emu.up(name)
    assert status == 202, answer
    assert answer["outcome"] == "started" and "could not be read" in answer["message"]
    (instance,) = _started(host)
    assert instance.input["expected_primary"] == "east"


AZURE_PAIR = (VaultSpec("eastus", geography="us"), VaultSpec("westus", geography="us"))


@pytest.mark.parametrize("as_array", [False, True])
def test_a_key_vault_incident_in_the_primarys_region_starts_a_failover_here(
        host_factory, as_array: bool) -> None:
    _env, host = host_factory(local="westus", vaults=AZURE_PAIR)
    status, answer, _ = _post(host, body(service_health_alert(impacted_as_array=as_array)))
    assert status == 202, answer
    assert answer["outcome"] == "started" and answer["region"] == "eastus"
    (instance,) = _started(host)
    run = instance.input
    assert (run["kind"], run["target"], run["expected_primary"]) == (
        "unplanned", "westus", "eastus")


@pytest.mark.parametrize(("payload", "outcome"), [
    (service_health_alert(stage="Resolved", status="Resolved"), "recovered"),
    (service_health_alert(incident_type="Maintenance", stage="Planned"), "not_an_outage"),
    (service_health_alert(service="Virtual Machines"), "not_an_outage"),
    (service_health_alert(regions=("West US",)), "local_vault"),
    (service_health_alert(regions=("North Europe",)), "unknown_target"),
])
def test_service_health_notices_other_than_an_active_key_vault_incident_start_nothing(
        host_factory, payload: dict[str, Any], outcome: str) -> None:
    _env, host = host_factory(local="westus", vaults=AZURE_PAIR)
    status, answer, _ = _post(host, body(payload))
    assert status == 200, answer
    assert answer["outcome"] == outcome and answer["message"]
    assert host.engine.list_instances() == []


# --- rejecting ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("raw", "code"), [
    (b"", "alert.invalid"),
    (b"not json", "alert.invalid"),
    (b"[1, 2]", "alert.invalid"),
    (body({"schemaId": "azureMonitorCommonAlertSchema", "data": {}}), "alert.invalid"),
    (body(with_essentials(metric_alert(EAST), monitorCondition="Sleeping")), "alert.invalid"),
    (body(with_essentials(metric_alert(EAST), alertTargetIDs=EAST)), "alert.invalid"),
    (body(with_essentials(metric_alert(EAST), alertId=...)), "alert.invalid"),
    (body(legacy_metric_alert(EAST)), "alert.unsupported_schema"),
])
def test_a_body_that_is_not_a_readable_alert_is_400_and_starts_nothing(
        hosted: Host, raw: bytes, code: str) -> None:
    _env, host = hosted
    status, answer, _ = _post(host, raw)
    assert status == 400
    assert answer["error"]["code"] == code and answer["error"]["message"]
    assert host.engine.list_instances() == []


def test_a_body_over_256_kib_is_413_and_starts_nothing(hosted: Host) -> None:
    _env, host = hosted
    payload = metric_alert(EAST)
    payload["data"]["alertContext"]["padding"] = "x" * MAX_ALERT_BYTES
    status, answer, _ = _post(host, body(payload))
    assert status == 413
    assert answer["error"]["code"] == "alert.too_large"
    assert host.engine.list_instances() == []


def test_without_a_local_region_the_webhook_is_500_config_missing(host_factory) -> None:
    _env, host = host_factory(local=None)
    status, answer, _ = _post(host, body(metric_alert(EAST)))
    assert status == 500
    assert answer["error"]["code"] == "config.missing"
    assert "KVDR_LOCAL_REGION" in answer["error"]["message"]
    assert host.engine.list_instances() == []


# --- the task hub misbehaving (the function called directly, with a fake Durable client) --------


class FlakyClient:
    """A Durable client whose task hub fails (``fail``) or refuses the start of an instance
    that another delivery has just created (``race``)."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.created: list[str] = []

    async def get_status(self, instance_id: str) -> Any:
        if self.mode == "fail":
            raise ConnectionError("task hub unreachable")
        return SimpleNamespace(instance_id=instance_id) if self.created else None

    async def get_status_by(self, runtime_status: Any = None) -> list[Any]:
        return []

    async def start_new(self, name: str, instance_id: str, body: Any) -> str:
        self.created.append(instance_id)  # the racing delivery's start, which won
        raise Exception(f"instance {instance_id!r} is still running")


@pytest.fixture
def webhook(tmp_path: Path) -> Iterator[Callable[[Any, bytes], Any]]:
    import function_app  # noqa: F401  (imports the blueprints)
    import triggers.alerts

    config = emulated.emulator_config(
        {"east": "https://127.0.0.1:18443/", "west": "https://127.0.0.1:18444/"},
        str(tmp_path / "ca.pem"), topology=_topology("west"))
    previous = configure(local_runtime(config, tmp_path, env={}))
    handler = inspect.unwrap(triggers.alerts.alert_webhook._function.get_user_function())

    def call(client: Any, raw: bytes) -> Any:
        req = func.HttpRequest("POST", "http://127.0.0.1/api/alerts", body=raw, headers={})
        return asyncio.run(handler(req=req, client=client))

    yield call
    configure(previous)


def test_a_task_hub_that_does_not_answer_is_503_which_azure_monitor_retries(webhook) -> None:
    response = webhook(FlakyClient("fail"), body(metric_alert(EAST)))
    assert response.status_code == 503
    assert json.loads(response.get_body())["error"]["code"] == "alert.start_failed"


def test_a_delivery_that_loses_the_race_to_start_is_answered_duplicate(webhook) -> None:
    client = FlakyClient("race")
    response = webhook(client, body(metric_alert(EAST)))
    assert response.status_code == 200
    answer = json.loads(response.get_body())
    assert answer["outcome"] == "duplicate" and answer["instance_id"] == client.created[0]
