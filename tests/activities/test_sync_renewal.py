"""The renewal step's activity called directly, as a retry or a re-delivery would call it."""

from __future__ import annotations

import base64

from azure.keyvault.certificates import CertificatePolicy, CertificatePolicyAction, LifetimeAction

from activities.sync import SyncActivities
from kvdr.sync.contracts import RenewalRequest, TopologyRequest
from support.sync import SyncEnv


def test_running_the_renewal_step_twice_writes_once(sync_env: SyncEnv) -> None:
    east = sync_env.emu.certificate_client("east")
    east.begin_create_certificate("twice", CertificatePolicy(
        "Self", subject="CN=twice", validity_in_months=12, lifetime_actions=[LifetimeAction(
            CertificatePolicyAction.auto_renew, lifetime_percentage=80)])).result()
    backing = sync_env.emu.secret_client("east").get_secret("twice")
    sync_env.emu.certificate_client("west").import_certificate(  # an armed copy
        "twice", base64.b64decode(backing.value), policy=east.get_certificate_policy("twice"))
    activities = SyncActivities(sync_env.runtime)
    topo = activities.read_topology(TopologyRequest())  # bootstraps the record (epoch 1)
    request = RenewalRequest("run-r", topo.primary, "west", topo.epoch)

    first = activities.align_renewal(request)
    sync_env.emu.reset_stats("west")
    again = activities.align_renewal(request)

    assert first.next_cursor is None and first.secondary == "west"
    assert first.section["secondary"]["disarmed"] == 1
    assert first.section["secondary"]["ledger_written"] == 1
    assert again.section["secondary"]["policies_updated"] == 0
    assert again.section["secondary"]["ledger_written"] == 0
    assert sync_env.writes("west") == 0
    assert sync_env.emu.count("west", "UpdateCertificatePolicy") == 0
    assert again.calls["west"] > 0 and again.calls["east"] > 0
    assert sync_env.emu.certificate_client("west").get_certificate_policy(
        "twice").lifetime_actions[0].action == CertificatePolicyAction.email_contacts
