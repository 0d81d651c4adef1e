"""The drill runbook end to end: the real function app on the local engine, the emulator's
vaults through the SDK clients, the custom event through an OpenTelemetry logger provider.

What it proves: a drill on an in-sync pair passes with RPO 0 and changes nothing but the probe;
old pending changes fail the RPO check; an unreachable secondary fails the drill and the report
is still written; the probe is written once per run; a step that fails for good is a failed
check, not a lost drill; no secret value reaches the report, output, custom status or event."""

from __future__ import annotations

import json
import uuid
from typing import Any

import azure.durable_functions as df
import pytest
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter

from activities.drill import DrillActivities
from kvdr.drill.contracts import MeasureRequest
from kvdr.drill.measure import PROBE_RUN_TAG, PROBE_SECRET_NAME
from kvdr.drill.report import LAST_REPORT_KEY, report_key
from kvdr.services import Runtime
from kvdr.vault.links import TOPOLOGY_SECRET_NAME
from kvdr.vault.session import VaultSession
from support.sync import SyncEnv
from support.telemetry import custom_events

VALUE = "drill-test-Zq8#unmistakable-value-4471"
FAST_BACKOFF = (0.02, 0.05)


@pytest.fixture
def fast_sessions(monkeypatch) -> None:
    """Vault sessions with a short retry backoff, so an unreachable vault fails in ms."""
    def open_session(self: Runtime, region: str, *, probe: bool = False) -> VaultSession:
        self.config.region(region)
        return VaultSession(self.config, region, credential=self.credential,
                            pacers=self.pacers, retry_backoff=FAST_BACKOFF)

    monkeypatch.setattr(Runtime, "open_session", open_session)


def run_drill(env: SyncEnv, **body: Any) -> tuple[dict[str, Any], Any]:
    run_id = f"drill-test-{uuid.uuid4().hex[:8]}"
    iid = env.engine.start_new("drill", {"run_id": run_id, **body},
                               instance_id=f"drill-{uuid.uuid4().hex}")
    output = env.engine.result(iid, timeout=120)
    return output, env.engine.get_status(iid).custom_status


def drill_events(exporter: InMemoryLogRecordExporter, run_id: str) -> list[dict[str, Any]]:
    return custom_events(exporter, "kvdr.drill.completed", run_id)


def checks(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {(f"{c['name']}:{c['region']}" if c.get("region") else c["name"]): c
            for c in report["checks"]}


def versions(env: SyncEnv, vault: str, name: str) -> list[str]:
    client = env.emu.secret_client(vault)
    return sorted(p.version for p in client.list_properties_of_secret_versions(name))


def user_items(env: SyncEnv, vault: str) -> dict[str, Any]:
    client = env.emu.secret_client(vault)
    return {p.name: (p.updated_on, dict(p.tags or {}))
            for p in client.list_properties_of_secrets() if not p.name.startswith("kvdr-")}


def assert_no_value(*documents: Any) -> None:
    for document in documents:
        assert VALUE not in json.dumps(document, default=str)


def test_a_drill_on_an_in_sync_pair_passes_and_changes_nothing_but_the_probe(
        sync_env: SyncEnv, events) -> None:
    env = sync_env
    env.emu.secret_client("east").set_secret("db-password", VALUE)
    env.sync()
    writes = {v: env.writes(v) for v in ("east", "west")}
    topology = {v: versions(env, v, TOPOLOGY_SECRET_NAME) for v in ("east", "west")}
    items = {v: user_items(env, v) for v in ("east", "west")}

    report, status = run_drill(env)

    assert report["result"] == "passed", report["failed_checks"]
    found = checks(report)
    assert set(found) == {"vaults_reachable", "current_primary", "no_split_brain",
                          "records_current", "renewal_ownership", "issuers:west",
                          "key_versions:west", "rpo:west", "rto:west"}
    assert found["rpo:west"]["measured_seconds"] == 0.0
    assert found["rpo:west"]["counts"]["pending"] == 0
    assert set(found["rto:west"]["steps"]) == {"read_topology", "write_probe", "read_back"}
    assert found["rto:west"]["measured_seconds"] is not None
    assert (report["primary"], report["epoch"], report["targets"]) == ("east", 1, ["west"])
    assert report["objectives"] == {"rpo_seconds": 3600, "rto_seconds": 900}
    assert report["calls"]["east"] > 0 and report["calls"]["west"] > 0
    # nothing changed but one probe version in the secondary
    assert env.writes("east") == writes["east"]
    assert env.writes("west") == writes["west"] + 1
    assert {v: versions(env, v, TOPOLOGY_SECRET_NAME) for v in ("east", "west")} == topology
    assert {v: user_items(env, v) for v in ("east", "west")} == items
    probe = env.emu.secret_client("west").get_secret(PROBE_SECRET_NAME)
    assert probe.properties.tags[PROBE_RUN_TAG] == report["run_id"]
    assert probe.properties.tags["kvdr-record"] == "drill-probe"
    assert PROBE_SECRET_NAME not in {p.name for p in
                                     env.emu.secret_client("east").list_properties_of_secrets()}
    # the report is kept, the status says done, the event says passed
    assert env.runtime.state.get_json(report_key(report["run_id"])) == report
    assert env.runtime.state.get_json(LAST_REPORT_KEY) == report
    assert status == {"phase": "done", "run_id": report["run_id"], "targets": ["west"],
                      "checks_failed": 0, "result": "passed"}
    (event,) = drill_events(events, report["run_id"])
    assert event["result"] == "passed" and event["regions"] == "east,west"
    assert event["rpo_measured_seconds"] == 0.0 and event["checks_failed"] == 0
    assert_no_value(report, status, event)
    assert probe.value not in json.dumps(report) + json.dumps(event)


def test_a_non_exportable_certificate_is_not_a_pending_change(sync_env: SyncEnv,
                                                              events) -> None:
    """Lists cannot tell exportability; such a certificate is never copied, so counting it as
    pending would make the measured RPO grow until every drill fails."""
    from azure.keyvault.certificates import CertificatePolicy

    env = sync_env
    policy = CertificatePolicy(issuer_name="Self", subject="CN=hsm-bound.contoso.test",
                               exportable=False, key_type="RSA", key_size=2048,
                               validity_in_months=12)
    env.emu.certificate_client("east").begin_create_certificate("hsm-bound", policy).result()
    env.sync()
    store = env.emu.store("east")
    with store.locked():  # made long ago: as pending it would exceed the objective
        attributes = store.get("certificates", "hsm-bound").get().attributes
        attributes["created"] -= 7200
        attributes["updated"] -= 7200

    report, _ = run_drill(env)

    rpo = checks(report)["rpo:west"]
    assert report["result"] == "passed", report["failed_checks"]
    assert rpo["counts"]["pending"] == 0 and rpo["counts"]["not_replicated"] >= 1


def test_pending_changes_older_than_the_rpo_objective_fail_the_drill(sync_env: SyncEnv,
                                                                     events) -> None:
    env = sync_env
    env.sync()  # the topology record exists; nothing to copy yet
    env.emu.secret_client("east").set_secret("late", VALUE)
    store = env.emu.store("east")
    with store.locked():  # the change was made two hours ago (the emulator's own clock)
        attributes = store.get("secrets", "late").get().attributes
        attributes["created"] -= 7200
        attributes["updated"] -= 7200

    report, status = run_drill(env)

    assert report["result"] == "failed"
    assert report["failed_checks"] == ["rpo:west"]
    rpo = checks(report)["rpo:west"]
    assert rpo["status"] == "failed" and rpo["counts"]["pending"] == 1
    assert rpo["measured_seconds"] >= 7200 and rpo["objective_seconds"] == 3600
    assert "1 pending changes" in rpo["message"] and "a failover now would lose" in rpo["message"]
    assert checks(report)["rto:west"]["status"] == "passed"
    assert report["measured"]["pending_changes"] == 1
    assert "late" not in user_items(env, "west")
    assert not env.runtime.state.list_keys(f"plans/{report['run_id']}")
    (event,) = drill_events(events, report["run_id"])
    assert event["result"] == "failed" and event["failed_checks"] == "rpo:west"
    assert_no_value(report, status, event)


def test_an_unreachable_secondary_fails_the_drill_and_the_report_is_still_written(
        sync_env: SyncEnv, events, fast_sessions) -> None:
    env = sync_env
    env.sync()
    env.emu.down("west")
    try:
        report, status = run_drill(env)
    finally:
        env.emu.up("west")

    assert report["result"] == "failed"
    found = checks(report)
    assert found["vaults_reachable"]["status"] == "failed"
    assert "west [vault.unreachable]" in found["vaults_reachable"]["message"]
    assert found["rpo:west"]["status"] == found["rto:west"]["status"] == "skipped"
    assert "a failover to it could not run now" in found["rto:west"]["message"]
    assert env.runtime.state.get_json(report_key(report["run_id"])) == report
    assert status["phase"] == "done" and status["result"] == "failed"
    (event,) = drill_events(events, report["run_id"])
    assert event["result"] == "failed"
    assert "vaults_reachable" in event["failed_checks"]


def test_the_probe_is_written_once_per_run_even_when_the_rehearsal_is_retried(
        sync_env: SyncEnv) -> None:
    env = sync_env
    env.sync()
    request = MeasureRequest("drill-retried", "east", "west", 1)
    rehearse_rto = DrillActivities(env.runtime).rehearse_rto
    first = rehearse_rto(request)
    writes = env.writes("west")
    again = rehearse_rto(request)  # at-least-once: the same run, delivered twice

    assert first.check.passed and again.check.passed
    assert env.writes("west") == writes
    assert "not written again" in again.check.message
    assert len(versions(env, "west", PROBE_SECRET_NAME)) == 1
    rehearse_rto(MeasureRequest("drill-next", "east", "west", 1))
    assert len(versions(env, "west", PROBE_SECRET_NAME)) == 2


def test_a_step_that_fails_for_good_is_a_failed_check_and_the_drill_still_reports(
        sync_env: SyncEnv, events, monkeypatch) -> None:
    import orchestrators.drill

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("inventory exploded")

    monkeypatch.setattr(DrillActivities, "measure_rpo", broken)
    monkeypatch.setattr(orchestrators.drill, "RETRY", df.RetryOptions(
        first_retry_interval_in_milliseconds=10, max_number_of_attempts=2))
    sync_env.sync()

    report, _status = run_drill(sync_env)

    rpo = checks(report)["rpo:west"]
    assert rpo["status"] == "failed" and rpo["code"] == "drill.step_failed"
    assert "inventory exploded" in rpo["message"]
    assert checks(report)["rto:west"]["status"] == "passed"
    assert sync_env.runtime.state.get_json(LAST_REPORT_KEY) == report
    (event,) = drill_events(events, report["run_id"])
    assert event["result"] == "failed"


def test_a_drill_never_bootstraps_the_topology_record(sync_env: SyncEnv, events) -> None:
    report, _status = run_drill(sync_env)  # a fresh deployment: no full sync yet

    assert report["result"] == "failed"
    primary = checks(report)["current_primary"]
    assert primary["status"] == "failed" and "a full sync bootstraps" in primary["message"]
    for vault in ("east", "west"):
        names = {p.name for p in sync_env.emu.secret_client(vault).list_properties_of_secrets()}
        assert names == set()
        assert sync_env.writes(vault) == 0
    (event,) = drill_events(events, report["run_id"])
    assert event["result"] == "failed" and "primary" not in event
