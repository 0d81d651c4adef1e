"""Certificate lifetime actions on the emulator's clock, seen through the SDK: AutoRenew mints a
new version (a new key pair) for Self-issued certificates and a pending request for other
issuers; EmailContacts sends one CertificateNearExpiry event. Time only moves by advancing the
emulator's clock."""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Iterator

import pytest
from azure.keyvault.certificates import (
    CertificatePolicy,
    CertificatePolicyAction,
    LifetimeAction,
)
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from emulator.testing import Emulator
from support.event_webhook import EventWebhook

DAY = 86400


@pytest.fixture
def emu(kv_emulator_factory) -> Emulator:
    return kv_emulator_factory(["kv-a", "kv-b"])


@pytest.fixture
def webhook() -> Iterator[EventWebhook]:
    hook = EventWebhook()
    yield hook
    hook.close()


def _policy(action: CertificatePolicyAction, issuer: str = "Self", **trigger: int
            ) -> CertificatePolicy:
    return CertificatePolicy(issuer_name=issuer, subject="CN=lifetime.contoso.com",
                             validity_in_months=12,
                             lifetime_actions=[LifetimeAction(action=action, **trigger)])


def _versions(client, name: str) -> list[str]:  # type: ignore[no-untyped-def]
    return [p.version for p in client.list_properties_of_certificate_versions(name)]


def test_autorenew_at_80_percent_mints_one_new_key_pair_per_version(emu) -> None:
    with emu.certificate_client("kv-a") as certs, emu.key_client("kv-a") as keys, \
            emu.secret_client("kv-a") as secrets:
        first = certs.begin_create_certificate(
            "web", _policy(CertificatePolicyAction.auto_renew, lifetime_percentage=80)).result()
        key1 = keys.get_key("web").key.n
        assert first.properties.expires_on - first.properties.not_before == dt.timedelta(days=365)
        due = first.properties.not_before + dt.timedelta(days=365 * 0.8)

        emu.advance(280 * DAY)  # not yet at 80 %
        assert _versions(certs, "web") == [first.properties.version]

        emu.advance(24 * DAY)  # ~10 months in: 80 % has passed
        second = certs.get_certificate("web")
        assert len(_versions(certs, "web")) == 2
        assert second.properties.version != first.properties.version
        assert second.properties.x509_thumbprint != first.properties.x509_thumbprint
        assert keys.get_key("web").key.n != key1
        assert keys.get_key("web").properties.version == second.properties.version
        assert secrets.get_secret("web").properties.version == second.properties.version
        # issued when the action ran (the clock stood at the due time), valid for 12 months
        assert second.properties.not_before == due - dt.timedelta(minutes=1)
        assert certs.get_certificate_policy("web").issuer_name == "Self"

        emu.advance(10 * DAY)  # the old version's action ran once: nothing more
        assert len(_versions(certs, "web")) == 2

        emu.advance(300 * DAY)  # past 80 % of the second version
        third = certs.get_certificate("web")
        assert len(_versions(certs, "web")) == 3
        assert len({first.properties.x509_thumbprint, second.properties.x509_thumbprint,
                    third.properties.x509_thumbprint}) == 3
    with emu.certificate_client("kv-b") as other:
        assert list(other.list_properties_of_certificates()) == []


def test_days_before_expiry_triggers_relative_to_exp(emu) -> None:
    with emu.certificate_client("kv-a") as certs:
        first = certs.begin_create_certificate(
            "api", _policy(CertificatePolicyAction.auto_renew, days_before_expiry=30)).result()
        emu.advance(334 * DAY)  # 31 days before expiry
        assert len(_versions(certs, "api")) == 1
        emu.advance(2 * DAY)
        assert len(_versions(certs, "api")) == 2
        renewed = certs.get_certificate("api").properties.not_before
        expected = first.properties.expires_on - dt.timedelta(days=30, minutes=1)
        assert renewed == expected


def test_one_advance_past_two_renewals_makes_both_in_time_order(emu) -> None:
    with emu.certificate_client("kv-a") as certs:
        certs.begin_create_certificate(
            "fast", _policy(CertificatePolicyAction.auto_renew, lifetime_percentage=50)).result()
        emu.advance(400 * DAY)  # 50 % at ~182 days, then again ~182 days later
        versions = list(certs.list_properties_of_certificate_versions("fast"))
        assert len(versions) == 3
        starts = sorted(v.not_before for v in versions)
        assert starts[2] - starts[1] == starts[1] - starts[0]


def test_email_contacts_sends_one_near_expiry_event(emu, webhook) -> None:
    emu.subscribe_events(webhook.url)
    with emu.certificate_client("kv-a") as certs:
        cert = certs.begin_create_certificate(
            "notify", _policy(CertificatePolicyAction.email_contacts, lifetime_percentage=50)
        ).result()
        emu.advance(200 * DAY)
        emu.advance(100 * DAY)  # still before 30 days to expiry
        assert _versions(certs, "notify") == [cert.properties.version]
    assert emu.wait_events_delivered(10)
    [event] = webhook.events("CertificateNearExpiry")
    assert event["subject"] == "notify"
    assert event["data"]["VaultName"] == "kv-a"
    assert event["data"]["Version"] == cert.properties.version
    assert event["data"]["EXP"] == int(cert.properties.expires_on.timestamp())


def _sign(csr_der: bytes, start: dt.datetime) -> bytes:
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test CA")])
    csr = x509.load_der_x509_csr(csr_der)
    cert = (x509.CertificateBuilder().subject_name(csr.subject).issuer_name(ca_name)
            .public_key(csr.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(start).not_valid_after(start + dt.timedelta(days=365))
            .sign(ca_key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.DER)


def test_other_issuers_get_a_pending_request_and_no_new_version(emu) -> None:
    # the SDK's poller waits for any issuer but Unknown: request with Unknown, then name one
    policy = _policy(CertificatePolicyAction.auto_renew, issuer="Unknown", lifetime_percentage=80)
    with emu.certificate_client("kv-a") as certs:
        first_csr = bytes(certs.begin_create_certificate("ca-signed", policy).result().csr)
        merged = certs.merge_certificate("ca-signed", [_sign(first_csr, emu.clock.now())])
        certs.update_certificate_policy("ca-signed", CertificatePolicy(issuer_name="DigiCert"))
        renewing = certs.get_certificate_policy("ca-signed")
        assert renewing.issuer_name == "DigiCert" and renewing.lifetime_actions
        emu.advance(300 * DAY)
        assert _versions(certs, "ca-signed") == [merged.properties.version]
        operation = certs.get_certificate_operation("ca-signed")
        assert operation.status == "inProgress" and operation.issuer_name == "DigiCert"
        assert bytes(operation.csr) != first_csr  # a new key pair asks to be signed
        emu.advance(30 * DAY)  # the request is still pending: nothing more happens
        assert certs.get_certificate_operation("ca-signed").request_id == operation.request_id

        renewed = certs.merge_certificate("ca-signed", [_sign(bytes(operation.csr),
                                                               emu.clock.now())])
        assert _versions(certs, "ca-signed") == [merged.properties.version,
                                                 renewed.properties.version]
        assert certs.get_certificate_operation("ca-signed").status == "completed"


def test_imported_certificates_default_to_email_contacts(emu) -> None:
    with emu.certificate_client("kv-a") as certs:
        created = certs.begin_create_certificate("source", _policy(
            CertificatePolicyAction.auto_renew, lifetime_percentage=80)).result()
        with emu.secret_client("kv-a") as secrets:
            pfx = secrets.get_secret("source").value
        imported = certs.import_certificate("copy", base64.b64decode(pfx))
        [action] = imported.policy.lifetime_actions
        assert action.action == CertificatePolicyAction.email_contacts
        assert action.lifetime_percentage == 80
        assert imported.policy.issuer_name == "Unknown"
        emu.advance(300 * DAY)
        assert len(_versions(certs, "copy")) == 1
        assert len(_versions(certs, "source")) == 2
        assert created.properties.version in _versions(certs, "source")
