"""Renewal follows the switch (decision 9), through the engine and the emulator: a planned
failover arms the new primary and disarms the old one; an unplanned failover with the old
primary down arms the new primary from its own ledger and says when the old one is disarmed;
the report carries the hand-over; a rerun writes nothing; a hand-over that cannot reach the new
primary returns the error (the runbook reports it; the switch stands)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from azure.keyvault.certificates import CertificatePolicy, CertificatePolicyAction, LifetimeAction
from azure.keyvault.keys import KeyRotationLifetimeAction, KeyRotationPolicyAction

from activities.failover import FailoverActivities
from kvdr.events.handler import process_handler
from kvdr.failover.contracts import HandOverRequest
from kvdr.failover.report import FailoverReport
from kvdr.failover.request import FailoverKind, FailoverRequest
from kvdr.renewal.align import align_renewal
from kvdr.renewal.ledger import EntryState, read_ledger
from kvdr.renewal.ownership import read_policy
from kvdr.services import Runtime
from kvdr.vault.inventory import ItemKind
from kvdr.vault.session import VaultSession
from support.sync import SyncEnv

CERT, KEY = "tls-frontend", "signing-key"
SECRET_VALUE = "renewal-failover-value-51c2"
FAST_BACKOFF = (0.02, 0.05)


def run(env: SyncEnv, kind: FailoverKind = FailoverKind.PLANNED, target: str = "west"
        ) -> dict[str, Any]:
    request = FailoverRequest(kind=kind, target=target, reason="test", requested_by="pytest")
    return env.engine.result(env.engine.start_new("failover", request.to_dict()), timeout=180)


def renewal(env: SyncEnv, vault: str) -> dict[str, str]:
    """What each item's policy says in ``vault``: its lifetime actions, encoded."""
    session = env.runtime.session(vault)
    return {name: read_policy(session, kind, name).renewal.encode()
            for kind, name in ((ItemKind.CERTIFICATE, CERT), (ItemKind.KEY, KEY))}


def armed(env: SyncEnv, vault: str) -> dict[str, bool]:
    session = env.runtime.session(vault)
    return {name: read_policy(session, kind, name).renewal.armed
            for kind, name in ((ItemKind.CERTIFICATE, CERT), (ItemKind.KEY, KEY))}


@pytest.fixture
def renewing(sync_env: SyncEnv) -> SyncEnv:
    """east primary at epoch 1 renewing a self-signed certificate (AutoRenew at 80 %) and
    rotating a key (every 90 days); west holds both copies, disarmed, with east's armed forms in
    its ledger — what a sync's renewal step leaves (run here too, so the test does not depend
    on which sync step does it)."""
    env = sync_env
    env.emu.secret_client("east").set_secret("app-db-password", SECRET_VALUE)
    env.emu.certificate_client("east").begin_create_certificate(CERT, CertificatePolicy(
        "Self", subject=f"CN={CERT}", validity_in_months=12, lifetime_actions=[
            LifetimeAction(CertificatePolicyAction.auto_renew, lifetime_percentage=80)])
    ).result()
    keys = env.emu.key_client("east")
    keys.create_rsa_key(KEY)
    keys.update_key_rotation_policy(KEY, None, lifetime_actions=[KeyRotationLifetimeAction(
        KeyRotationPolicyAction.rotate, time_after_create="P90D")], expires_in="P1Y")
    assert env.sync()["status"] in ("succeeded", "partial")
    align_renewal(env.runtime.session("east"), env.runtime.session("west"), epoch=1)
    assert armed(env, "east") == {CERT: True, KEY: True}
    assert armed(env, "west") == {CERT: False, KEY: False}
    return env


def test_a_planned_failover_arms_the_new_primary_and_disarms_the_old(renewing: SyncEnv) -> None:
    report = run(renewing)

    assert report["outcome"] == "completed", report
    assert renewal(renewing, "west")[CERT] == "AutoRenew@80%"
    assert renewal(renewing, "east")[CERT] == "EmailContacts@80%"
    assert armed(renewing, "west") == {CERT: True, KEY: True}
    assert armed(renewing, "east") == {CERT: False, KEY: False}
    # east keeps its armed forms for the failback; west marks what it armed
    east_ledger = read_ledger(renewing.runtime.session("east"))
    west_ledger = read_ledger(renewing.runtime.session("west"))
    for kind, name in ((ItemKind.CERTIFICATE, CERT), (ItemKind.KEY, KEY)):
        assert east_ledger[(kind, name.lower())].state == EntryState.DISARMED
        assert east_ledger[(kind, name.lower())].policy.armed
        assert west_ledger[(kind, name.lower())].state == EntryState.ARMED

    handed = report["renewal"]
    assert handed["ok"] is True and handed["unreached"] == {}
    assert (handed["primary"]["region"], handed["primary"]["armed"]) == ("west", 2)
    [east] = handed["others"]
    assert (east["region"], east["disarmed"]) == ("east", 2)
    assert "handover" in report["timings"]
    assert not [m for m in report["messages"] if "renewal" in m]
    assert "renewal hand-over: west armed 2; east disarmed 2" in \
        FailoverReport.from_dict(report).render_text()
    assert renewing.runtime.state.get_json("failover/last-report.json")["renewal"] == handed
    assert SECRET_VALUE not in json.dumps(report)


def test_failing_back_hands_renewal_back(renewing: SyncEnv) -> None:
    assert run(renewing)["outcome"] == "completed"
    back = run(renewing, FailoverKind.PLANNED, target="east")
    assert back["outcome"] == "completed", back
    assert renewal(renewing, "east")[CERT] == "AutoRenew@80%"
    assert armed(renewing, "east") == {CERT: True, KEY: True}
    assert armed(renewing, "west") == {CERT: False, KEY: False}
    assert back["renewal"]["primary"]["armed"] == 2


def test_an_unplanned_failover_with_the_old_primary_down_arms_the_new_primary_alone(
        renewing: SyncEnv) -> None:
    renewing.emu.down("east")
    try:
        report = run(renewing, FailoverKind.UNPLANNED)
        assert report["outcome"] == "completed", report
        # armed from west's own ledger: the old primary was never asked
        assert renewal(renewing, "west")[CERT] == "AutoRenew@80%"
        assert armed(renewing, "west") == {CERT: True, KEY: True}
    finally:
        renewing.emu.up("east")
    handed = report["renewal"]
    assert handed["primary"]["armed"] == 2 and handed["others"] == []
    assert handed["unreached"] == {"east": "vault.unreachable"}
    [note] = [m for m in report["messages"] if m.startswith("renewal hand-over")]
    assert "east [vault.unreachable] not reached" in note
    assert ("disarmed by the next sync that reaches them (at the latest at failback's "
            "reconcile)") in note
    # nothing was written to east: it still renews until a sync reaches it
    assert armed(renewing, "east") == {CERT: True, KEY: True}


def test_a_second_hand_over_changes_nothing(renewing: SyncEnv) -> None:
    report = run(renewing)
    again = FailoverActivities(renewing.runtime, process_handler()).hand_over(
        HandOverRequest(report["run_id"], "west", 2, ("east",)))
    assert again.error is None
    for changes in (again.renewal["primary"], *again.renewal["others"]):
        assert (changes["policies_updated"], changes["ledger_written"]) == (0, 0), changes
    assert armed(renewing, "west") == {CERT: True, KEY: True}


@pytest.fixture
def fast_sessions(monkeypatch: pytest.MonkeyPatch) -> None:
    """Vault sessions with a short retry backoff, so a vault that is down fails in ms."""
    def open_session(self: Runtime, region: str, *, probe: bool = False) -> VaultSession:
        self.config.region(region)
        return VaultSession(self.config, region, credential=self.credential,
                            pacers=self.pacers, retry_backoff=FAST_BACKOFF)

    monkeypatch.setattr(Runtime, "open_session", open_session)


def test_a_hand_over_whose_new_primary_cannot_be_reached_returns_its_error(
        renewing: SyncEnv, fast_sessions: None) -> None:
    renewing.emu.down("west")
    try:
        result = FailoverActivities(renewing.runtime, process_handler()).hand_over(
            HandOverRequest("r1", "west", 2, ("east",)))
    finally:
        renewing.emu.up("west")
    assert result.renewal is None and result.error["code"] == "vault.unreachable"
    assert result.calls["west"] >= 1
    # the others are disarmed first (never two vaults renewing); the next sync arms west
    assert armed(renewing, "east") == {CERT: False, KEY: False}
    assert armed(renewing, "west") == {CERT: False, KEY: False}


def _cert_versions(env: SyncEnv, vault: str) -> list[Any]:
    with env.emu.certificate_client(vault) as client:
        return sorted(client.list_properties_of_certificate_versions(CERT),
                      key=lambda p: p.created_on)


def test_a_renewal_the_unreachable_old_primary_made_is_reported_at_failback_never_lost(
        renewing: SyncEnv) -> None:
    """east is cut off, still armed (nobody could disarm it), and renews anyway while west,
    the new primary, renews too. The failback reports east's outage renewal, makes the
    primary's renewal current everywhere, and keeps east's own version in its history."""
    renewing.emu.down("east")
    try:
        assert run(renewing, FailoverKind.UNPLANNED)["outcome"] == "completed"
        renewing.emu.advance(300 * 86400)  # both vaults pass 80 % of the validity
    finally:
        renewing.emu.up("east")
    assert renewing.emu.wait_events_delivered(30)
    east_before = _cert_versions(renewing, "east")
    west_before = _cert_versions(renewing, "west")
    assert len(east_before) == 2 and len(west_before) == 2  # each renewed once
    outage_version = east_before[-1]
    assert outage_version.x509_thumbprint != west_before[-1].x509_thumbprint

    back = run(renewing, FailoverKind.FAILBACK, target="east")
    assert back["outcome"] == "completed", back
    reconcile = back["steps"]["reconcile"]
    assert CERT in json.dumps(reconcile.get("conflicts", [])), reconcile  # reported
    # the renewal step ran first in the reconcile: east was disarmed before anything moved
    assert reconcile["renewal"]["east"]["secondary"]["disarmed"] >= 1
    east_after = _cert_versions(renewing, "east")
    assert east_after[-1].x509_thumbprint == west_before[-1].x509_thumbprint  # primary's wins
    kept = [p.version for p in east_after]
    assert outage_version.version in kept  # east's outage renewal is still in its history
    assert armed(renewing, "east")[CERT] and not armed(renewing, "west")[CERT]
