"""Renewal ownership on the emulator, through the SDK: a copy's AutoRenew is disarmed with the
armed form kept in the vault's ledger, a hand-over arms the new primary from that ledger alone,
and every step is idempotent."""

from __future__ import annotations

from azure.keyvault.certificates import CertificatePolicy, CertificatePolicyAction, LifetimeAction
from azure.keyvault.keys import KeyRotationLifetimeAction, KeyRotationPolicyAction

from kvdr.renewal.align import align_renewal
from kvdr.renewal.compare import key_divergence
from kvdr.renewal.ledger import EntryState, ledger_name, read_ledger
from kvdr.renewal.ownership import disarm_item, hand_over, read_policy
from kvdr.renewal.policy import RenewalPolicy
from kvdr.vault.inventory import ItemKind


def _self_signed(session, name: str, percentage: int = 80) -> None:
    policy = CertificatePolicy("Self", subject=f"CN={name}", validity_in_months=12,
                               lifetime_actions=[LifetimeAction(
                                   CertificatePolicyAction.auto_renew,
                                   lifetime_percentage=percentage)])
    session.certificates.begin_create_certificate(name, policy).result()


def _import_copy(source, target, name: str) -> None:
    """What the copier does today: the same certificate, imported with the source's policy."""
    backing = source.secrets.get_secret(name)
    policy = source.certificates.get_certificate_policy(name)
    import base64
    target.certificates.import_certificate(name, base64.b64decode(backing.value), policy=policy)


def test_a_copy_is_disarmed_and_its_armed_form_kept_in_the_ledger(sessions, unique):
    east, west = sessions["east"], sessions["west"]
    name = unique("cert")
    _self_signed(east, name)
    _import_copy(east, west, name)
    assert read_policy(west, ItemKind.CERTIFICATE, name).renewal.armed  # today's bug

    first = align_renewal(east, west, epoch=1)
    assert first.secondary.disarmed >= 1
    copy = read_policy(west, ItemKind.CERTIFICATE, name).renewal
    assert not copy.armed and copy.encode() == "EmailContacts@80%"
    entry = read_ledger(west)[(ItemKind.CERTIFICATE, name.lower())]
    assert entry.policy.encode() == "AutoRenew@80%" and entry.state == EntryState.DISARMED
    assert read_policy(east, ItemKind.CERTIFICATE, name).renewal.armed  # the primary renews

    again = align_renewal(east, west, epoch=1)
    assert again.secondary.policies_updated == 0 and again.secondary.ledger_written == 0


def test_a_policy_change_in_the_primary_replicates_disarmed(sessions, unique):
    east, west = sessions["east"], sessions["west"]
    name = unique("cert")
    _self_signed(east, name)
    _import_copy(east, west, name)
    align_renewal(east, west, epoch=1)
    east.certificates.update_certificate_policy(name, CertificatePolicy(
        lifetime_actions=[LifetimeAction(CertificatePolicyAction.auto_renew,
                                         days_before_expiry=45)]))
    align_renewal(east, west, epoch=1)
    assert read_policy(west, ItemKind.CERTIFICATE, name).renewal.encode() == "EmailContacts@45d"
    assert read_ledger(west)[(ItemKind.CERTIFICATE, name.lower())].policy.encode() == \
        "AutoRenew@45d"


def test_hand_over_arms_the_new_primary_from_its_ledger_and_disarms_the_old(sessions, unique):
    east, west = sessions["east"], sessions["west"]
    name = unique("cert")
    _self_signed(east, name)
    _import_copy(east, west, name)
    align_renewal(east, west, epoch=1)

    result = hand_over(west, {"east": east}, epoch=2)
    assert result.ok, result.to_dict()
    assert read_policy(west, ItemKind.CERTIFICATE, name).renewal.encode() == "AutoRenew@80%"
    assert read_policy(east, ItemKind.CERTIFICATE, name).renewal.encode() == \
        "EmailContacts@80%"
    assert read_ledger(east)[(ItemKind.CERTIFICATE, name.lower())].state == EntryState.DISARMED
    assert read_ledger(west)[(ItemKind.CERTIFICATE, name.lower())].state == EntryState.ARMED

    again = hand_over(west, {"east": east}, epoch=2)
    assert again.primary.policies_updated == 0
    assert all(o.policies_updated == 0 for o in again.others)


def test_unplanned_hand_over_needs_only_the_new_primary(sessions, unique):
    east, west = sessions["east"], sessions["west"]
    name = unique("cert")
    _self_signed(east, name, percentage=70)
    _import_copy(east, west, name)
    align_renewal(east, west, epoch=1)
    result = hand_over(west, {"east": None}, epoch=2)
    assert result.unreached == {"east": "vault.unreachable"}
    assert read_policy(west, ItemKind.CERTIFICATE, name).renewal.encode() == "AutoRenew@70%"


def test_a_copied_keys_rotation_policy_loses_its_rotate_action(sessions, unique):
    east, west = sessions["east"], sessions["west"]
    name = unique("key")
    east.keys.create_rsa_key(name)
    east.keys.update_key_rotation_policy(name, None, lifetime_actions=[
        KeyRotationLifetimeAction(KeyRotationPolicyAction.rotate, time_after_create="P90D")],
        expires_in="P1Y")
    west.keys.restore_key_backup(east.keys.backup_key(name))
    align_renewal(east, west, epoch=1)
    copy = read_policy(west, ItemKind.KEY, name).renewal
    assert not copy.armed and copy.expires_in == "P1Y"
    entry = read_ledger(west)[(ItemKind.KEY, name.lower())]
    assert entry.policy.armed
    assert ledger_name(ItemKind.KEY, name).startswith("kvdr-renewal-k-")
    hand_over(west, {"east": east}, epoch=2)
    assert read_policy(west, ItemKind.KEY, name).renewal.same_as(
        RenewalPolicy.decode("key", "Rotate@+P90D,Notify@-P30D;P1Y"))
    assert not read_policy(east, ItemKind.KEY, name).renewal.armed



def test_a_policy_without_lifetime_actions_is_not_rewritten_at_every_sync(sessions, unique):
    """The SDK cannot send an empty list and an import defaults to a notification: the copy of
    a certificate whose primary policy has no lifetime actions keeps its unarmed policy instead
    of being rewritten at every sync."""
    east, west = sessions["east"], sessions["west"]
    name = unique("cert")
    _self_signed(east, name)
    _import_copy(east, west, name)
    nothing = RenewalPolicy(ItemKind.CERTIFICATE, ())
    first = disarm_item(west, ItemKind.CERTIFICATE, name, nothing, epoch=1, ledger={})
    assert first == ["policy"]  # the armed copy is disarmed once
    assert not read_policy(west, ItemKind.CERTIFICATE, name).renewal.armed
    assert disarm_item(west, ItemKind.CERTIFICATE, name, nothing, epoch=1, ledger={}) == []


def test_a_key_rotated_in_the_same_second_as_its_copy_is_still_diverged(sessions, unique):
    """Versions of one second tie in a version list: divergence is decided by version ids
    (a restored copy keeps the primary's), not by picking "the latest" of a tie."""
    east, west = sessions["east"], sessions["west"]
    name = unique("key")
    east.keys.create_rsa_key(name)
    west.keys.restore_key_backup(east.keys.backup_key(name))
    assert key_divergence(east, west, name) is None
    east.keys.rotate_key(name)  # most likely within the same second as the create
    found = key_divergence(east, west, name)
    assert found is not None and found.versions_behind == 1
