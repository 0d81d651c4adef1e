"""The drill checks renewal ownership (decision 9) through the engine and the emulator: it fails,
naming the item and the vaults that renew it, when a secondary's copy has an armed AutoRenew,
and passes when only the primary renews; issuers that differ and keys whose versions diverged
are reported as warnings, which never fail the drill."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from azure.keyvault.certificates import CertificatePolicy, CertificatePolicyAction, LifetimeAction
from azure.keyvault.keys import KeyRotationLifetimeAction, KeyRotationPolicyAction

from kvdr.renewal.align import align_renewal
from support.sync import SyncEnv

CERT, KEY = "tls-frontend", "signing-key"


def run_drill(env: SyncEnv) -> dict[str, Any]:
    iid = env.engine.start_new("drill", {"run_id": f"drill-{uuid.uuid4().hex[:8]}"},
                               instance_id=f"drill-{uuid.uuid4().hex}")
    return env.engine.result(iid, timeout=120)


def checks(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {(f"{c['name']}:{c['region']}" if c.get("region") else c["name"]): c
            for c in report["checks"]}


def auto_renew(percentage: int = 80) -> list[LifetimeAction]:
    return [LifetimeAction(CertificatePolicyAction.auto_renew, lifetime_percentage=percentage)]


@pytest.fixture
def owned(sync_env: SyncEnv) -> SyncEnv:
    """east primary renewing a certificate and rotating a key; west holds disarmed copies."""
    env = sync_env
    env.emu.certificate_client("east").begin_create_certificate(CERT, CertificatePolicy(
        "Self", subject=f"CN={CERT}", validity_in_months=12, lifetime_actions=auto_renew())
    ).result()
    keys = env.emu.key_client("east")
    keys.create_rsa_key(KEY)
    keys.update_key_rotation_policy(KEY, None, lifetime_actions=[KeyRotationLifetimeAction(
        KeyRotationPolicyAction.rotate, time_after_create="P90D")], expires_in="P1Y")
    assert env.sync()["status"] in ("succeeded", "partial")
    align_renewal(env.runtime.session("east"), env.runtime.session("west"), epoch=1)
    return env


def test_the_drill_passes_when_only_the_primary_renews(owned: SyncEnv) -> None:
    report = run_drill(owned)
    found = checks(report)
    ownership = found["renewal_ownership"]
    assert ownership["status"] == "passed", ownership
    assert ownership["counts"] == {"items": 2, "problems": 0, "unreadable": 0}
    assert "only the primary east renews" in ownership["message"]
    assert found["issuers:west"]["status"] == "passed"
    assert found["key_versions:west"]["status"] == "passed"
    assert found["key_versions:west"]["counts"] == {"compared": 1}
    assert report["result"] == "passed", report["failed_checks"]
    assert report["warnings"] == []


def test_the_drill_fails_naming_a_copy_whose_auto_renew_was_armed_by_hand(
        owned: SyncEnv) -> None:
    owned.emu.certificate_client("west").update_certificate_policy(
        CERT, CertificatePolicy(lifetime_actions=auto_renew()))

    report = run_drill(owned)

    assert report["result"] == "failed"
    assert "renewal_ownership" in report["failed_checks"]
    ownership = checks(report)["renewal_ownership"]
    assert f"certificate '{CERT}' renews on its own in east, west" in ownership["message"]
    assert ownership["items"] == [{"kind": "certificate", "name": CERT,
                                   "armed_in": ["east", "west"], "problem": "armed-copy"}]
    assert ownership["counts"]["problems"] == 1
    # the other checks still ran and passed: only ownership failed
    assert [c for c in report["failed_checks"] if c != "renewal_ownership"] == []


def test_the_drill_fails_when_the_primary_no_longer_renews_what_its_ledger_says_it_should(
        owned: SyncEnv) -> None:
    """A hand-over that disarmed east but never armed west, as seen after a failover."""
    from activities.failover import FailoverActivities
    from kvdr.events.handler import process_handler
    from kvdr.failover.contracts import HandOverRequest

    # east stops renewing (disarmed, its armed form kept in its ledger) while still primary
    FailoverActivities(owned.runtime, process_handler()).hand_over(
        HandOverRequest("r1", "west", 1, ("east",)))
    owned.emu.certificate_client("west").update_certificate_policy(
        CERT, CertificatePolicy(lifetime_actions=[LifetimeAction(
            CertificatePolicyAction.email_contacts, lifetime_percentage=80)]))
    owned.emu.key_client("west").update_key_rotation_policy(KEY, None, lifetime_actions=[
        KeyRotationLifetimeAction(KeyRotationPolicyAction.notify, time_before_expiry="P30D")],
        expires_in="P1Y")

    report = run_drill(owned)

    ownership = checks(report)["renewal_ownership"]
    assert ownership["status"] == "failed"
    assert {(i["name"], i["problem"]) for i in ownership["items"]} == {
        (CERT, "primary-disarmed"), (KEY, "primary-disarmed")}


def test_issuers_and_diverged_keys_are_warnings_that_do_not_fail_the_drill(
        owned: SyncEnv) -> None:
    owned.emu.certificate_client("east").create_issuer("digicert-prod", "DigiCert")
    owned.emu.advance(2 * 86_400)  # versions are dated to the second: rotate two days later
    owned.emu.key_client("east").rotate_key(KEY)

    report = run_drill(owned)

    found = checks(report)
    issuers = found["issuers:west"]
    assert issuers["status"] == "warning"
    assert issuers["items"] == [{"name": "digicert-prod", "problem": "missing",
                                 "primary_provider": "DigiCert", "secondary_provider": None}]
    keys = found["key_versions:west"]
    assert keys["status"] == "warning"
    [diverged] = keys["items"]
    assert (diverged["name"], diverged["versions_behind"]) == (KEY, 1)
    assert diverged["seconds_behind"] >= 2 * 86_400
    assert f"{KEY} (1 version(s), 2.0 days behind)" in keys["message"]
    assert set(report["warnings"]) == {"issuers:west", "key_versions:west"}
    assert "issuers:west" not in report["failed_checks"]
    assert "key_versions:west" not in report["failed_checks"]
    assert found["renewal_ownership"]["status"] == "passed"
