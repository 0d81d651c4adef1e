"""Renewal follows the primary in the full sync (decision 9), through the engine against the
emulator: copies are imported disarmed, the pair's renewal step keeps them disarmed and
following the primary's policy, and the report's ``renewal`` section says what it did."""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from azure.keyvault.certificates import (
    CertificateContact,
    CertificatePolicy,
    CertificatePolicyAction,
    LifetimeAction,
)

from kvdr.renewal.ledger import EntryState, read_ledger
from kvdr.renewal.ownership import hand_over, read_policy
from kvdr.sync.contracts import PairInput
from kvdr.sync.model import SyncMode
from kvdr.topology.record import next_epoch
from kvdr.topology.store import current_topology, write_topology
from kvdr.vault.inventory import ItemKind
from kvdr.vault.session import VaultSession
from support.sync import SyncEnv

DAY = 86400


def _autorenew(name: str, **trigger: int) -> CertificatePolicy:
    trigger = trigger or {"lifetime_percentage": 80}
    return CertificatePolicy("Self", subject=f"CN={name}.contoso.com", validity_in_months=12,
                             lifetime_actions=[LifetimeAction(CertificatePolicyAction.auto_renew,
                                                              **trigger)])


def _versions(client, name: str) -> list[str]:  # type: ignore[no-untyped-def]
    return sorted(p.version for p in client.list_properties_of_certificate_versions(name))


def _session(env: SyncEnv, vault: str) -> VaultSession:
    return VaultSession(env.config, vault, credential=env.runtime.credential)


def _renewal_of(env: SyncEnv, vault: str, kind: ItemKind, name: str) -> str:
    with _session(env, vault) as session:
        return read_policy(session, kind, name).renewal.encode()


def _ledger_of(env: SyncEnv, vault: str):  # type: ignore[no-untyped-def]
    with _session(env, vault) as session:
        return read_ledger(session)


def test_only_the_primary_renews_a_synced_autorenew_certificate(sync_env: SyncEnv) -> None:
    """The bug of issue 11: a copy imported with the source's AutoRenew renewed on its own."""
    east = sync_env.emu.certificate_client("east")
    west = sync_env.emu.certificate_client("west")
    east.begin_create_certificate("web", _autorenew("web")).result()
    assert sync_env.sync()["status"] == "succeeded"
    before_east, before_west = _versions(east, "web"), _versions(west, "web")
    assert len(before_west) == 1

    sync_env.emu.advance(300 * DAY)  # ~10 months: past 80 % of 12 months, once

    assert len(_versions(east, "web")) == len(before_east) + 1  # the primary renewed
    assert _versions(west, "web") == before_west                 # the copy minted none
    record = sync_env.sync()
    assert record["status"] == "succeeded", record
    assert len(_versions(west, "web")) == 2
    assert west.get_certificate("web").properties.x509_thumbprint == \
        east.get_certificate("web").properties.x509_thumbprint  # a copy of the new version
    assert _renewal_of(sync_env, "west", ItemKind.CERTIFICATE, "web") == "EmailContacts@80%"


def test_a_copy_holds_the_disarmed_form_and_a_rerun_writes_nothing(sync_env: SyncEnv) -> None:
    sync_env.emu.certificate_client("east").begin_create_certificate(
        "api", _autorenew("api")).result()
    first = sync_env.sync()
    assert first["status"] == "succeeded", first

    assert _renewal_of(sync_env, "east", ItemKind.CERTIFICATE, "api") == "AutoRenew@80%"
    assert _renewal_of(sync_env, "west", ItemKind.CERTIFICATE, "api") == "EmailContacts@80%"
    entry = _ledger_of(sync_env, "west")[(ItemKind.CERTIFICATE, "api")]
    assert (entry.policy.encode(), entry.state) == ("AutoRenew@80%", EntryState.DISARMED)
    assert _ledger_of(sync_env, "east") == {}  # the primary keeps no entry for its own
    section = first["renewal"]["west"]
    assert section["primary"]["region"] == "east" and section["secondary"]["region"] == "west"
    assert section["contacts"] == "unchanged" and section["issuers"] == []

    sync_env.emu.reset_stats("east")
    sync_env.emu.reset_stats("west")
    again = sync_env.sync()
    assert again["status"] == "succeeded"
    assert sync_env.writes("east") == 0 and sync_env.writes("west") == 0
    assert sync_env.emu.count("west", "UpdateCertificatePolicy") == 0
    assert sync_env.emu.count("west", "SetSecret") == 0  # no ledger entry rewritten
    assert again["renewal"]["west"]["secondary"]["policies_updated"] == 0
    assert again["renewal"]["west"]["secondary"]["ledger_written"] == 0


def test_a_change_of_the_primarys_policy_replicates_at_the_next_sync(sync_env: SyncEnv) -> None:
    east = sync_env.emu.certificate_client("east")
    east.begin_create_certificate("pay", _autorenew("pay")).result()
    sync_env.sync()
    east.update_certificate_policy("pay", CertificatePolicy(
        subject="CN=payments.contoso.com",
        lifetime_actions=[LifetimeAction(CertificatePolicyAction.auto_renew,
                                         days_before_expiry=45)]))

    record = sync_env.sync()

    assert record["status"] == "succeeded", record
    assert record["renewal"]["west"]["secondary"]["policies_updated"] == 1
    assert _renewal_of(sync_env, "west", ItemKind.CERTIFICATE, "pay") == "EmailContacts@45d"
    copy = sync_env.emu.certificate_client("west").get_certificate_policy("pay")
    assert copy.subject == "CN=payments.contoso.com"
    assert _ledger_of(sync_env, "west")[(ItemKind.CERTIFICATE, "pay")].policy.encode() == \
        "AutoRenew@45d"
    assert _renewal_of(sync_env, "east", ItemKind.CERTIFICATE, "pay") == "AutoRenew@45d"


def test_a_dry_run_counts_the_armed_copy_and_writes_nothing(sync_env: SyncEnv) -> None:
    east = sync_env.emu.certificate_client("east")
    east.begin_create_certificate("old", _autorenew("old")).result()
    # a copy as kvdr made it before issue 11: imported with the source's policy, armed
    backing = sync_env.emu.secret_client("east").get_secret("old")
    sync_env.emu.certificate_client("west").import_certificate(
        "old", base64.b64decode(backing.value), policy=east.get_certificate_policy("old"))
    sync_env.emu.reset_stats("east")
    sync_env.emu.reset_stats("west")

    record = sync_env.sync(dry_run=True)

    assert record["dry_run"] is True
    assert record["renewal"]["west"]["secondary"]["disarmed"] == 1
    assert sync_env.writes("east") == 0 and sync_env.writes("west") == 0
    assert sync_env.emu.count("west", "UpdateCertificatePolicy") == 0
    assert _renewal_of(sync_env, "west", ItemKind.CERTIFICATE, "old") == "AutoRenew@80%"
    assert _ledger_of(sync_env, "west") == {}

    real = sync_env.sync()  # and the real run disarms it
    assert real["renewal"]["west"]["secondary"]["disarmed"] == 1
    assert _renewal_of(sync_env, "west", ItemKind.CERTIFICATE, "old") == "EmailContacts@80%"


def test_contacts_issuers_and_diverged_keys_are_in_the_report(sync_env: SyncEnv) -> None:
    certs = sync_env.emu.certificate_client("east")
    certs.set_contacts([CertificateContact(email="pki@contoso.com", name="PKI")])
    certs.create_issuer("digicert-prod", "DigiCert", account_id="acct", password="pw-never-read")
    keys = sync_env.emu.key_client("east")
    keys.create_rsa_key("signer", size=2048)

    first = sync_env.sync()

    section = first["renewal"]["west"]
    assert section["contacts"] == "copied"
    assert [c.email for c in sync_env.emu.certificate_client("west").get_contacts()] == \
        ["pki@contoso.com"]
    assert section["issuers"] == [{"name": "digicert-prod", "problem": "missing",
                                   "primary_provider": "DigiCert", "secondary_provider": None}]
    assert section["diverged_keys"] == []
    assert first["status"] == "succeeded"  # a difference to report, no failure

    sync_env.emu.advance(60)  # the rotation is a later version, not one of the same second
    keys.rotate_key("signer")
    second = sync_env.sync()

    section = second["renewal"]["west"]
    assert section["contacts"] == "unchanged"
    assert [(k["name"], k["versions_behind"]) for k in section["diverged_keys"]] == \
        [("signer", 1)]
    assert section["diverged_keys"][0]["seconds_behind"] >= 60
    stored = sync_env.runtime.state.get_json("sync/last-report.json")
    assert stored["renewal"] == second["renewal"]  # the last-sync record keeps the section
    assert "pw-never-read" not in str(second)


def test_a_restored_key_copy_does_not_rotate(sync_env: SyncEnv) -> None:
    from azure.keyvault.keys import KeyRotationLifetimeAction, KeyRotationPolicyAction

    keys = sync_env.emu.key_client("east")
    keys.create_ec_key("rotating", curve="P-256")
    keys.update_key_rotation_policy("rotating", None, lifetime_actions=[
        KeyRotationLifetimeAction(KeyRotationPolicyAction.rotate, time_after_create="P30D")],
        expires_in="P90D")

    assert sync_env.sync()["status"] == "succeeded"
    copy = _renewal_of(sync_env, "west", ItemKind.KEY, "rotating")
    assert "Rotate" not in copy
    entry = _ledger_of(sync_env, "west")[(ItemKind.KEY, "rotating")]
    assert entry.policy.armed and entry.state == EntryState.DISARMED

    west = sync_env.emu.key_client("west")
    before = len(list(west.list_properties_of_key_versions("rotating")))
    sync_env.emu.advance(40 * DAY)
    assert len(list(west.list_properties_of_key_versions("rotating"))) == before
    assert len(list(keys.list_properties_of_key_versions("rotating"))) == 2  # the primary did


def test_a_large_vault_is_aligned_in_chunks(sync_env: SyncEnv,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    east = sync_env.emu.certificate_client("east")
    names = [f"chunked-{i}" for i in range(5)]
    for name in names:
        east.begin_create_certificate(name, _autorenew(name)).result()
    sync_env.sync()
    for name in names:
        east.update_certificate_policy(name, CertificatePolicy(lifetime_actions=[LifetimeAction(
            CertificatePolicyAction.auto_renew, lifetime_percentage=60)]))
    monkeypatch.setattr("activities.sync.renewal.RENEWAL_CHUNK", 2)  # three chunks

    record = sync_env.sync()

    assert record["status"] == "succeeded", record
    assert record["renewal"]["west"]["secondary"]["policies_updated"] == 5
    assert {_renewal_of(sync_env, "west", ItemKind.CERTIFICATE, n) for n in names} == \
        {"EmailContacts@60%"}
    assert sync_env.runtime.state.list_keys("plans/") == []  # the kept item list is deleted


def _run_pair(env: SyncEnv, source: str, target: str, mode: SyncMode, epoch: int
              ) -> dict[str, Any]:
    """``full_sync_pair`` as the failover runbook starts it; its PairResult."""
    run_id = f"{mode}-{uuid.uuid4().hex[:8]}"
    started = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    pair = PairInput(run_id, source, target, False, epoch, started, mode=mode)
    return env.engine.result(env.engine.start_new("full_sync_pair", pair.to_dict(),
                                                  instance_id=run_id), timeout=120)


def _fail_over_to_west_with_east_unreachable(env: SyncEnv) -> int:
    """The topology at the next epoch in both vaults, and the switch's hand-over as it runs
    when the old primary cannot be reached: west armed from its ledger, east left armed."""
    sessions = {v: _session(env, v) for v in ("east", "west")}
    try:
        current = current_topology(env.config, sessions).current
        record = next_epoch(current, "west", changed_at=datetime.now(UTC), changed_by="test",
                            reason="test failover")
        for session in sessions.values():
            write_topology(session, record)
        assert hand_over(sessions["west"], {"east": None}, epoch=record.epoch).ok
    finally:
        for session in sessions.values():
            session.close()
    return record.epoch


def test_failback_reconcile_disarms_the_old_primary_and_keeps_the_primary_armed(
        sync_env: SyncEnv) -> None:
    east = sync_env.emu.certificate_client("east")
    west = sync_env.emu.certificate_client("west")
    east.begin_create_certificate("shared", _autorenew("shared")).result()
    assert sync_env.sync()["status"] == "succeeded"
    epoch = _fail_over_to_west_with_east_unreachable(sync_env)
    assert _renewal_of(sync_env, "west", ItemKind.CERTIFICATE, "shared") == "AutoRenew@80%"
    assert _renewal_of(sync_env, "east", ItemKind.CERTIFICATE, "shared") == "AutoRenew@80%"

    # the outage, seen from the unreachable old primary: a renewal, with another policy, and a
    # certificate created there
    sync_env.emu.advance(60)
    east.begin_create_certificate("shared", _autorenew("shared", days_before_expiry=30)).result()
    east.begin_create_certificate("outage", _autorenew("outage", lifetime_percentage=70)
                                  ).result()

    result = _run_pair(sync_env, "east", "west", SyncMode.RECONCILE, epoch)

    report = result["report"]
    assert not report.get("failures"), report
    section = report["renewal"]["east"]  # the secondary of a reconcile is its source
    assert (section["primary"]["region"], section["secondary"]["region"]) == ("west", "east")
    assert section["secondary"]["disarmed"] == 1
    assert _renewal_of(sync_env, "east", ItemKind.CERTIFICATE, "shared") == "EmailContacts@80%"
    entry = _ledger_of(sync_env, "east")[(ItemKind.CERTIFICATE, "shared")]
    assert (entry.policy.encode(), entry.state) == ("AutoRenew@80%", EntryState.DISARMED)
    # the primary took the old primary's renewal, and kept renewing under its own policy
    assert west.get_certificate("shared").properties.x509_thumbprint == \
        east.get_certificate("shared").properties.x509_thumbprint
    assert _renewal_of(sync_env, "west", ItemKind.CERTIFICATE, "shared") == "AutoRenew@80%"
    # what only the old primary held arrives armed in the primary, the one that renews now
    assert _renewal_of(sync_env, "west", ItemKind.CERTIFICATE, "outage") == "AutoRenew@70%"

    drained = _run_pair(sync_env, "west", "east", SyncMode.DRAIN, epoch)
    assert drained["report"]["renewal"]["east"]["secondary"]["disarmed"] == 1
    assert _renewal_of(sync_env, "east", ItemKind.CERTIFICATE, "outage") == "EmailContacts@70%"
    assert _renewal_of(sync_env, "west", ItemKind.CERTIFICATE, "outage") == "AutoRenew@70%"


def test_a_fenced_renewal_step_writes_nothing_and_makes_the_run_partial(
        sync_env: SyncEnv) -> None:
    east = sync_env.emu.certificate_client("east")
    east.begin_create_certificate("fenced", _autorenew("fenced")).result()
    sync_env.sync()
    east.update_certificate_policy("fenced", CertificatePolicy(lifetime_actions=[LifetimeAction(
        CertificatePolicyAction.auto_renew, lifetime_percentage=50)]))
    epoch = _fail_over_to_west_with_east_unreachable(sync_env)
    sync_env.emu.reset_stats("east")
    sync_env.emu.reset_stats("west")

    # a pair planned before the failover (epoch - 1) runs after it
    result = _run_pair(sync_env, "east", "west", SyncMode.SYNC, epoch - 1)

    section = result["report"]["renewal"]["west"]
    assert section["error"]["code"] == "topology.fenced"
    assert result["report"]["status"] == "partial"
    assert sync_env.emu.count("west", "UpdateCertificatePolicy") == 0
    assert sync_env.emu.count("west", "SetSecret") == 0
    assert _renewal_of(sync_env, "west", ItemKind.CERTIFICATE, "fenced") == "AutoRenew@80%"


def test_the_renewal_step_lists_no_vault_twice(sync_env: SyncEnv) -> None:
    """The step's items and both ledgers come from the inventories the plan listed: a vault
    of many secrets is listed once per sync, not a second time for its few ledger entries."""
    with sync_env.emu.secret_client("east") as client:
        for i in range(60):  # three pages of 25
            client.set_secret(f"many-{i:02d}", f"value-{i}")
    assert sync_env.sync()["status"] == "succeeded"
    for vault in ("east", "west"):
        sync_env.emu.reset_stats(vault)
    assert sync_env.sync()["status"] == "succeeded"
    for vault in ("east", "west"):
        listings = sum(sync_env.emu.stats(vault)["operations"].get("GetSecrets", {}).values())
        assert listings == 3, (vault, sync_env.emu.stats(vault)["operations"])
