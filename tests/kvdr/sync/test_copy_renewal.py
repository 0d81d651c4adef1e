"""The copier's side of decision 9 on the emulator, through the SDK: what the event path (and a
batch) imports into a secondary lands disarmed, with its armed form in the secondary's ledger —
the armed form being the source's own policy, or its ledger's when its arming did not
finish."""

from __future__ import annotations

from datetime import UTC, datetime

from azure.keyvault.certificates import CertificatePolicy, CertificatePolicyAction, LifetimeAction

from kvdr.renewal.ledger import (
    EntryState,
    LedgerEntry,
    armed_form,
    read_entry,
    write_entry,
)
from kvdr.renewal.ownership import read_policy
from kvdr.renewal.policy import RenewalPolicy
from kvdr.sync.model import PlanAction
from kvdr.sync.replicate import sync_item
from kvdr.topology.record import initial_record
from kvdr.vault.inventory import ItemKind

KEY = b"f" * 40


def _autorenew(name: str, percentage: int = 80) -> CertificatePolicy:
    return CertificatePolicy("Self", subject=f"CN={name}", validity_in_months=12,
                             lifetime_actions=[LifetimeAction(CertificatePolicyAction.auto_renew,
                                                              lifetime_percentage=percentage)])


def _renewal(session, name: str) -> str:  # type: ignore[no-untyped-def]
    return read_policy(session, ItemKind.CERTIFICATE, name).renewal.encode()


def test_the_event_path_copy_lands_disarmed_with_its_ledger_entry(config, sessions,
                                                                  unique) -> None:
    east, west = sessions["east"], sessions["west"]
    name = unique("evt-cert")
    east.certificates.begin_create_certificate(name, _autorenew(name)).result()
    topology = initial_record("east", changed_at=datetime.now(UTC))

    first = sync_item(config, sessions, topology, ItemKind.CERTIFICATE, name,
                      fingerprint_key=KEY)

    assert first["west"].action == PlanAction.CREATE and first["west"].ok
    for region in ("west", "europe"):
        assert _renewal(sessions[region], name) == "EmailContacts@80%"
        entry = read_entry(sessions[region], ItemKind.CERTIFICATE, name)
        assert (entry.policy.encode(), entry.state) == ("AutoRenew@80%", EntryState.DISARMED)
        assert entry.epoch == topology.epoch
    assert _renewal(east, name) == "AutoRenew@80%"
    assert read_entry(east, ItemKind.CERTIFICATE, name) is None

    # a new version (the primary renewed): the copy of it lands disarmed too, no entry rewritten
    entry_versions = len(list(west.secrets.list_properties_of_secret_versions(
        read_entry(west, ItemKind.CERTIFICATE, name).secret_name)))
    east.certificates.begin_create_certificate(name, _autorenew(name)).result()
    version = east.certificates.get_certificate(name).properties.version
    second = sync_item(config, sessions, topology, ItemKind.CERTIFICATE, name,
                       fingerprint_key=KEY, version=version)
    assert second["west"].action == PlanAction.UPDATE_VALUE and second["west"].ok
    assert west.certificates.get_certificate(name).properties.x509_thumbprint == \
        east.certificates.get_certificate(name).properties.x509_thumbprint
    assert _renewal(west, name) == "EmailContacts@80%"
    assert len(list(west.secrets.list_properties_of_secret_versions(
        read_entry(west, ItemKind.CERTIFICATE, name).secret_name))) == entry_versions


def test_a_new_version_disarms_a_copy_that_was_armed(config, sessions, unique) -> None:
    east, west = sessions["east"], sessions["west"]
    name = unique("armed-copy")
    topology = initial_record("east", changed_at=datetime.now(UTC))
    east.certificates.begin_create_certificate(name, _autorenew(name, 75)).result()
    sync_item(config, sessions, topology, ItemKind.CERTIFICATE, name, fingerprint_key=KEY)
    # a copy as kvdr left it before issue 11: the source's policy, armed
    west.certificates.update_certificate_policy(name, _autorenew(name, 75))
    assert _renewal(west, name) == "AutoRenew@75%"
    east.certificates.begin_create_certificate(name, _autorenew(name, 75)).result()

    outcome = sync_item(config, sessions, topology, ItemKind.CERTIFICATE, name,
                        fingerprint_key=KEY)

    assert outcome["west"].action == PlanAction.UPDATE_VALUE and outcome["west"].ok
    assert _renewal(west, name) == "EmailContacts@75%"
    assert read_entry(west, ItemKind.CERTIFICATE, name).policy.encode() == "AutoRenew@75%"


def test_a_source_whose_arming_did_not_finish_gives_its_ledgers_armed_form(config, sessions,
                                                                           unique) -> None:
    """The primary still holds the disarmed form it had as a copy (a hand-over stopped before
    arming it): its ledger's armed form is what the copy keeps, not the notification."""
    east, west = sessions["east"], sessions["west"]
    name = unique("half-armed")
    east.certificates.begin_create_certificate(name, CertificatePolicy(
        "Self", subject=f"CN={name}", validity_in_months=12, lifetime_actions=[LifetimeAction(
            CertificatePolicyAction.email_contacts, lifetime_percentage=90)])).result()
    armed = RenewalPolicy.decode(ItemKind.CERTIFICATE, "AutoRenew@90%")
    write_entry(east, LedgerEntry(ItemKind.CERTIFICATE, name, armed, EntryState.DISARMED, 1))

    outcome = sync_item(config, sessions, initial_record("east", changed_at=datetime.now(UTC)),
                        ItemKind.CERTIFICATE, name, fingerprint_key=KEY)

    assert outcome["west"].action == PlanAction.CREATE and outcome["west"].ok
    assert read_entry(west, ItemKind.CERTIFICATE, name).policy.encode() == "AutoRenew@90%"
    assert _renewal(west, name) == "EmailContacts@90%"


def test_armed_form_is_the_ledgers_only_for_its_own_disarmed_form() -> None:
    def policy(text: str) -> RenewalPolicy:
        return RenewalPolicy.decode(ItemKind.CERTIFICATE, text)

    def entry(text: str, state: EntryState) -> LedgerEntry:
        return LedgerEntry(ItemKind.CERTIFICATE, "c", policy(text), state)

    notify = policy("EmailContacts@80%")
    assert armed_form(notify, entry("AutoRenew@80%", EntryState.DISARMED)) == \
        policy("AutoRenew@80%")
    # kvdr armed it here already, or someone changed the policy since: the vault's own form
    assert armed_form(notify, entry("AutoRenew@80%", EntryState.ARMED)) == notify
    assert armed_form(notify, entry("AutoRenew@60%", EntryState.DISARMED)) == notify
    assert armed_form(notify, None) == notify
