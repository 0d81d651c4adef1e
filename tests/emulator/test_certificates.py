"""Certificates through the real CertificateClient, with their backing secret and key."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib

import pytest
from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError
from azure.keyvault.certificates import (
    CertificateContentType,
    CertificatePolicy,
    WellKnownIssuerNames,
)
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from emulator.testing import Emulator


@pytest.fixture
def client(kv_emulator: Emulator):  # type: ignore[no-untyped-def]
    with kv_emulator.certificate_client("east") as c:
        yield c


def _policy(**kwargs: object) -> CertificatePolicy:
    base: dict[str, object] = {
        "issuer_name": WellKnownIssuerNames.self,
        "subject": "CN=emulator.test",
        "san_dns_names": ["emulator.test"],
        "validity_in_months": 6,
    }
    base.update(kwargs)
    return CertificatePolicy(**base)  # type: ignore[arg-type]


def _self_signed(common_name: str) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    return key, cert


def test_self_signed_creation_completes_through_the_poller(client, name: str) -> None:
    poller = client.begin_create_certificate(name, _policy(), tags={"t": "1"}, _polling_interval=0)
    cert = poller.result()
    assert poller.status() == "completed"
    assert cert.name == name
    assert cert.properties.tags == {"t": "1"}
    loaded = x509.load_der_x509_certificate(bytes(cert.cer))
    assert loaded.subject.rfc4514_string() == "CN=emulator.test"
    assert cert.properties.x509_thumbprint == hashlib.sha1(bytes(cert.cer)).digest()
    assert cert.policy.issuer_name == "Self" and cert.policy.validity_in_months == 6
    assert cert.key_id.endswith(f"/keys/{name}/{cert.properties.version}")
    assert cert.secret_id.endswith(f"/secrets/{name}/{cert.properties.version}")
    operation = client.get_certificate_operation(name)
    assert operation.status == "completed" and operation.target.endswith(f"/certificates/{name}")


def test_other_issuers_stay_pending_with_a_pending_operation(client, name: str) -> None:
    poller = client.begin_create_certificate(name, _policy(issuer_name="Unknown"))
    operation = poller.result()
    assert operation.status == "inProgress"
    assert operation.issuer_name == "Unknown"
    assert operation.id.endswith(f"/certificates/{name}/pending")
    csr = x509.load_der_x509_csr(bytes(operation.csr))
    assert csr.subject.rfc4514_string() == "CN=emulator.test"
    assert client.get_certificate_operation(name).status == "inProgress"
    with pytest.raises(ResourceNotFoundError):
        client.get_certificate(name)


def test_a_pending_request_can_be_cancelled_and_deleted(client, name: str) -> None:
    client.begin_create_certificate(name, _policy(issuer_name="DigiCertIssuer"))
    cancelled = client.cancel_certificate_operation(name)
    assert cancelled.cancellation_requested is True
    client.delete_certificate_operation(name)
    with pytest.raises(ResourceNotFoundError):
        client.get_certificate_operation(name)


def test_merging_a_signed_certificate_completes_a_pending_request(client, name: str) -> None:
    operation = client.begin_create_certificate(name, _policy(issuer_name="Unknown")).result()
    csr = x509.load_der_x509_csr(bytes(operation.csr))
    ca_key, ca_cert = _self_signed("test CA")
    now = dt.datetime.now(dt.UTC)
    signed = (
        x509.CertificateBuilder()
        .subject_name(csr.subject)
        .issuer_name(ca_cert.subject)
        .public_key(csr.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(days=10))
        .sign(ca_key, hashes.SHA256())
    )
    merged = client.merge_certificate(name, [signed.public_bytes(serialization.Encoding.DER)])
    assert bytes(merged.cer) == signed.public_bytes(serialization.Encoding.DER)
    assert client.get_certificate_operation(name).status == "completed"


def test_backing_secret_is_a_loadable_pfx_and_backing_key_is_managed(
    kv_emulator: Emulator, client, name: str
) -> None:
    cert = client.begin_create_certificate(name, _policy()).result()
    with kv_emulator.secret_client("east") as secrets, kv_emulator.key_client("east") as keys:
        secret = secrets.get_secret(name)
        key = keys.get_key(name)
    assert secret.properties.content_type == "application/x-pkcs12"
    assert secret.properties.managed is True
    assert secret.properties.key_id == cert.key_id
    pkey, leaf, _ = pkcs12.load_key_and_certificates(base64.b64decode(secret.value), None)
    assert pkey is not None and leaf is not None
    assert leaf.public_bytes(serialization.Encoding.DER) == bytes(cert.cer)
    assert key.properties.managed is True
    assert key.key.n == leaf.public_key().public_numbers().n.to_bytes(256, "big")


def test_pem_policy_backs_with_a_pem_secret(kv_emulator: Emulator, client, name: str) -> None:
    client.begin_create_certificate(
        name,
        _policy(content_type=CertificateContentType.pem, key_type="EC", key_curve_name="P-256"),
    ).result()
    with kv_emulator.secret_client("east") as secrets:
        secret = secrets.get_secret(name)
    assert secret.properties.content_type == "application/x-pem-file"
    assert "PRIVATE KEY" in secret.value and "BEGIN CERTIFICATE" in secret.value


def test_non_exportable_policy_leaves_the_private_key_out(
    kv_emulator: Emulator, client, name: str
) -> None:
    # the SDK sends key properties only when something truthy is among them: name the key type
    certificate = client.begin_create_certificate(
        name, _policy(exportable=False, key_type="RSA")).result()
    with kv_emulator.secret_client("east") as secrets:
        value = secrets.get_secret(name).value
    pkey, leaf, extra = pkcs12.load_key_and_certificates(base64.b64decode(value), None)
    assert pkey is None
    # without a key the certificate has no local key id, so PKCS#12 reads it as an extra one
    assert leaf is None
    assert [c.public_bytes(serialization.Encoding.DER) for c in extra] == [certificate.cer]


def test_managed_secrets_and_keys_cannot_be_written_directly(
    kv_emulator: Emulator, client, name: str
) -> None:
    client.begin_create_certificate(name, _policy()).result()
    with kv_emulator.secret_client("east") as secrets, kv_emulator.key_client("east") as keys:
        with pytest.raises(HttpResponseError) as err:
            secrets.set_secret(name, "overwrite")
        assert err.value.status_code == 403
        with pytest.raises(HttpResponseError):
            secrets.begin_delete_secret(name)
        with pytest.raises(HttpResponseError):
            keys.begin_delete_key(name)


def test_import_pfx_with_password(client, name: str) -> None:
    key, cert = _self_signed("imported.pfx")
    pfx = pkcs12.serialize_key_and_certificates(
        b"x", key, cert, None, serialization.BestAvailableEncryption(b"pw")
    )
    imported = client.import_certificate(name, pfx, password="pw")
    assert bytes(imported.cer) == cert.public_bytes(serialization.Encoding.DER)
    assert imported.policy.content_type == CertificateContentType.pkcs12
    assert imported.policy.subject == "CN=imported.pfx"
    assert imported.properties.x509_thumbprint == cert.fingerprint(hashes.SHA1())


def test_import_pem(kv_emulator: Emulator, client, name: str) -> None:
    key, cert = _self_signed("imported.pem")
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ) + cert.public_bytes(serialization.Encoding.PEM)
    policy = _policy(content_type=CertificateContentType.pem, issuer_name="Unknown")
    imported = client.import_certificate(name, pem, policy=policy)
    assert bytes(imported.cer) == cert.public_bytes(serialization.Encoding.DER)
    with kv_emulator.secret_client("east") as secrets:
        secret = secrets.get_secret(name)
    assert secret.properties.content_type == "application/x-pem-file"
    assert "BEGIN CERTIFICATE" in secret.value


def test_importing_garbage_or_a_wrong_password_is_a_bad_parameter(client, name: str) -> None:
    key, cert = _self_signed("pw")
    pfx = pkcs12.serialize_key_and_certificates(
        b"x", key, cert, None, serialization.BestAvailableEncryption(b"right")
    )
    for data, password in ((b"not a certificate", None), (pfx, "wrong")):
        with pytest.raises(HttpResponseError) as err:
            client.import_certificate(name, data, password=password)
        assert err.value.status_code == 400 and err.value.error.code == "BadParameter"


def test_policy_get_and_update(client, name: str) -> None:
    client.begin_create_certificate(name, _policy()).result()
    policy = client.get_certificate_policy(name)
    assert policy.subject == "CN=emulator.test" and policy.san_dns_names == ["emulator.test"]
    updated = client.update_certificate_policy(name, _policy(validity_in_months=24))
    assert updated.validity_in_months == 24
    assert client.get_certificate_policy(name).validity_in_months == 24


def test_versions_list_and_update_properties(client, name: str) -> None:
    first = client.begin_create_certificate(name, _policy()).result()
    second = client.begin_create_certificate(name, _policy()).result()
    versions = {p.version for p in client.list_properties_of_certificate_versions(name)}
    assert versions == {first.properties.version, second.properties.version}
    assert client.get_certificate(name).properties.version == second.properties.version
    older = client.get_certificate_version(name, first.properties.version)
    assert older.cer == first.cer
    listed = {p.name: p for p in client.list_properties_of_certificates()}
    assert listed[name].x509_thumbprint == second.properties.x509_thumbprint
    updated = client.update_certificate_properties(name, tags={"env": "test"}, enabled=False)
    assert updated.properties.tags == {"env": "test"} and updated.properties.enabled is False


def test_delete_recover_purge_carry_the_backing_objects(
    kv_emulator: Emulator, client, name: str
) -> None:
    client.begin_create_certificate(name, _policy()).result()
    deleted = client.begin_delete_certificate(name).result()
    assert deleted.recovery_id.endswith(f"/deletedcertificates/{name}")
    with kv_emulator.secret_client("east") as secrets:
        with pytest.raises(ResourceNotFoundError):
            secrets.get_secret(name)
        assert client.get_deleted_certificate(name).name == name
        assert name in {c.name for c in client.list_deleted_certificates()}
        with pytest.raises(ResourceExistsError):
            client.begin_create_certificate(name, _policy())
        client.begin_recover_deleted_certificate(name).wait()
        assert secrets.get_secret(name).properties.managed is True
        client.begin_delete_certificate(name).wait()
        client.purge_deleted_certificate(name)
        with pytest.raises(ResourceNotFoundError):
            client.get_deleted_certificate(name)
        with pytest.raises(ResourceNotFoundError):
            secrets.get_deleted_secret(name)


def test_backup_restore_same_geography_only(kv_emulator: Emulator, client, name: str) -> None:
    cert = client.begin_create_certificate(name, _policy()).result()
    blob = client.backup_certificate(name)
    with pytest.raises(ResourceExistsError):
        client.restore_certificate_backup(blob)
    with kv_emulator.certificate_client("west") as west:
        restored = west.restore_certificate_backup(blob)
        assert restored.cer == cert.cer
        with kv_emulator.secret_client("west") as secrets:
            assert secrets.get_secret(name).properties.managed is True
    with kv_emulator.certificate_client("europe") as europe, pytest.raises(HttpResponseError) as e:
        europe.restore_certificate_backup(blob)
    assert e.value.status_code == 400 and e.value.error.code == "BadParameter"


def test_missing_certificate_errors(client, name: str) -> None:
    with pytest.raises(ResourceNotFoundError) as err:
        client.get_certificate(name)
    assert err.value.error.code == "CertificateNotFound"
    for call in (
        lambda: client.get_certificate_policy(name),
        lambda: client.get_certificate_operation(name),
        lambda: client.begin_delete_certificate(name),
        lambda: client.get_deleted_certificate(name),
        lambda: client.backup_certificate(name),
    ):
        with pytest.raises(ResourceNotFoundError):
            call()


def test_a_name_used_by_a_plain_secret_cannot_become_a_certificate(
    kv_emulator: Emulator, client, name: str
) -> None:
    with kv_emulator.secret_client("east") as secrets:
        secrets.set_secret(name, "plain")
    with pytest.raises(ResourceExistsError):
        client.begin_create_certificate(name, _policy())
