"""Certificate contacts and issuers through the SDK's CertificateClient: round trips, the
service's not-found errors, and issuer passwords that are accepted but never returned."""

from __future__ import annotations

import json

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.keyvault.certificates import AdministratorContact, CertificateContact

from emulator.testing import Emulator


@pytest.fixture
def emu(kv_emulator_factory) -> Emulator:
    return kv_emulator_factory(["kv-a", "kv-b"])


def test_contacts_round_trip_and_are_per_vault(emu) -> None:
    wanted = [CertificateContact(email="ops@contoso.com", name="Ops", phone="1111"),
              CertificateContact(email="sec@contoso.com", name="Security")]
    with emu.certificate_client("kv-a") as a, emu.certificate_client("kv-b") as b:
        set_ = a.set_contacts(wanted)
        assert [(c.email, c.name, c.phone) for c in set_] == [
            ("ops@contoso.com", "Ops", "1111"), ("sec@contoso.com", "Security", None)]
        got = a.get_contacts()
        assert [(c.email, c.name, c.phone) for c in got] == [
            (c.email, c.name, c.phone) for c in set_]
        with pytest.raises(ResourceNotFoundError) as other:
            b.get_contacts()
        assert other.value.error.code == "ContactsNotFound"
        a.set_contacts([CertificateContact(email="only@contoso.com")])  # replaces the list
        assert [c.email for c in a.get_contacts()] == ["only@contoso.com"]
        deleted = a.delete_contacts()
        assert [c.email for c in deleted] == ["only@contoso.com"]
        with pytest.raises(ResourceNotFoundError):
            a.get_contacts()
        with pytest.raises(ResourceNotFoundError):
            a.delete_contacts()
    assert emu.count("kv-a", "SetCertificateContacts", 200) == 2
    assert emu.count("kv-a", "GetCertificateContacts", 404) == 1


def test_issuers_round_trip_without_their_password(emu) -> None:
    admins = [AdministratorContact(first_name="John", last_name="Doe", email="admin@contoso.com",
                                   phone="4255555555")]
    with emu.certificate_client("kv-a") as client:
        created = client.create_issuer("digicert", "DigiCert", account_id="kvuser",
                                       password="s3cret-pwd", organization_id="org-1",
                                       admin_contacts=admins, enabled=True)
        assert created.id == f"{client.vault_url}/certificates/issuers/digicert"
        assert (created.name, created.provider, created.account_id) == (
            "digicert", "DigiCert", "kvuser")
        assert created.password is None
        assert created.organization_id == "org-1"
        assert [(a.first_name, a.last_name, a.email, a.phone) for a in created.admin_contacts] == [
            ("John", "Doe", "admin@contoso.com", "4255555555")]
        assert created.enabled is True and created.created_on is not None

        got = client.get_issuer("digicert")
        assert (got.provider, got.account_id, got.password) == ("DigiCert", "kvuser", None)

        updated = client.update_issuer("digicert", account_id="kvuser2", password="other",
                                       enabled=False)
        assert (updated.provider, updated.account_id, updated.enabled) == (
            "DigiCert", "kvuser2", False)
        assert updated.organization_id == "org-1"  # what the update left out is kept
        assert updated.password is None

        client.create_issuer("globalsign", "GlobalSign")
        listed = sorted((i.name, i.provider) for i in client.list_properties_of_issuers())
        assert listed == [("digicert", "DigiCert"), ("globalsign", "GlobalSign")]

        deleted = client.delete_issuer("globalsign")
        assert deleted.provider == "GlobalSign"
        with pytest.raises(ResourceNotFoundError) as missing:
            client.get_issuer("globalsign")
        assert missing.value.error.code == "CertificateIssuerNotFound"
        with pytest.raises(ResourceNotFoundError):
            client.update_issuer("globalsign", provider="x")
    assert "s3cret-pwd" not in json.dumps(
        [i.to_dict() for i in emu.store("kv-a").live["certificate-issuers"].values()])


def test_an_issuer_needs_a_provider(emu) -> None:
    with emu.certificate_client("kv-a") as client, pytest.raises(HttpResponseError) as err:
        client.create_issuer("nameless", "")
    assert err.value.status_code == 400


def test_issuers_page_like_other_lists(emu) -> None:
    with emu.certificate_client("kv-a") as client:
        for i in range(30):
            client.create_issuer(f"issuer-{i:02d}", "Test")
        names = [i.name for i in client.list_properties_of_issuers()]
    assert names == [f"issuer-{i:02d}" for i in range(30)]
    assert emu.count("kv-a", "GetCertificateIssuers", 200) == 2


def test_contacts_and_issuers_survive_a_restart(kv_emulator_factory, tmp_path) -> None:
    state = tmp_path / "state"
    first = kv_emulator_factory(["kv-a"], state_dir=state)
    with first.certificate_client("kv-a") as client:
        client.set_contacts([CertificateContact(email="ops@contoso.com")])
        client.create_issuer("digicert", "DigiCert", account_id="kvuser", password="pwd")
    first.stop()
    second = kv_emulator_factory(["kv-a"], state_dir=state)
    with second.certificate_client("kv-a") as client:
        assert [c.email for c in client.get_contacts()] == ["ops@contoso.com"]
        assert client.get_issuer("digicert").account_id == "kvuser"
