"""Keys through the real KeyClient and CryptographyClient: real key material and operations."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError
from azure.core.rest import HttpRequest
from azure.keyvault.keys import JsonWebKey, KeyCurveName, KeyType
from azure.keyvault.keys.crypto import EncryptionAlgorithm, KeyWrapAlgorithm, SignatureAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from emulator.testing import Emulator


@pytest.fixture
def client(kv_emulator: Emulator):  # type: ignore[no-untyped-def]
    with kv_emulator.key_client("east") as c:
        yield c


@pytest.fixture(scope="module")
def rsa_key(kv_emulator: Emulator) -> Any:
    with kv_emulator.key_client("east") as c:
        return c.create_rsa_key("crypto-rsa-shared", size=2048)


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _int_bytes(i: int) -> bytes:
    return i.to_bytes((i.bit_length() + 7) // 8, "big")


def _remote(client, key_id: str, op: str, body: dict[str, Any]) -> Any:  # type: ignore[no-untyped-def]
    """Call a key operation on the vault itself (the SDK would do public-key ones locally)."""
    path = key_id.split("/keys/", 1)[1]
    response = client.send_request(
        HttpRequest("POST", f"/keys/{path}/{op}?api-version=7.5", json=body)
    )
    return response


def test_create_rsa_key_returns_public_parts_only(client, name: str) -> None:
    key = client.create_rsa_key(name, size=3072, tags={"a": "b"})
    assert key.key_type == KeyType.rsa
    assert len(key.key.n) == 384 and key.key.e == b"\x01\x00\x01"
    assert key.key.d is None and key.key.p is None
    assert set(key.key_operations) >= {"sign", "verify", "encrypt", "decrypt"}
    assert key.properties.tags == {"a": "b"}
    got = client.get_key(name)
    assert got.id == key.id and got.key.n == key.key.n and got.key.d is None
    assert len(got.properties.version) == 32


def test_create_ec_key_on_each_curve(client, name: str) -> None:
    for curve, size in ((KeyCurveName.p_256, 32), (KeyCurveName.p_384, 48)):
        key = client.create_ec_key(f"{name}-{size}", curve=curve)
        assert key.key_type == KeyType.ec and key.key.crv == curve
        assert len(key.key.x) == size and key.key.d is None


def test_import_jwk_and_the_vault_signs_with_the_imported_key(
    kv_emulator: Emulator, client, name: str
) -> None:
    private = rsa.generate_private_key(65537, 2048)
    nums = private.private_numbers()
    jwk = JsonWebKey(
        kty="RSA",
        n=_int_bytes(nums.public_numbers.n),
        e=_int_bytes(nums.public_numbers.e),
        d=_int_bytes(nums.d),
        p=_int_bytes(nums.p),
        q=_int_bytes(nums.q),
        dp=_int_bytes(nums.dmp1),
        dq=_int_bytes(nums.dmq1),
        qi=_int_bytes(nums.iqmp),
    )
    imported = client.import_key(name, jwk)
    assert imported.key.n == _int_bytes(nums.public_numbers.n) and imported.key.d is None
    digest = hashlib.sha256(b"imported").digest()
    with kv_emulator.crypto_client(imported.id) as crypto:
        signature = crypto.sign(SignatureAlgorithm.rs256, digest).signature
    private.public_key().verify(signature, b"imported", padding.PKCS1v15(), hashes.SHA256())


def test_import_ec_jwk(client, name: str) -> None:
    private = ec.generate_private_key(ec.SECP256R1())
    nums = private.private_numbers()
    jwk = JsonWebKey(
        kty="EC",
        crv="P-256",
        x=nums.public_numbers.x.to_bytes(32, "big"),
        y=nums.public_numbers.y.to_bytes(32, "big"),
        d=nums.private_value.to_bytes(32, "big"),
    )
    imported = client.import_key(name, jwk, hardware_protected=True)
    assert imported.key_type == KeyType.ec_hsm
    assert imported.key.x == nums.public_numbers.x.to_bytes(32, "big")


def test_import_without_private_material_is_a_bad_parameter(client, name: str) -> None:
    with pytest.raises(HttpResponseError) as err:
        client.import_key(name, JsonWebKey(kty="RSA", n=b"\x01" * 256, e=b"\x01\x00\x01"))
    assert err.value.status_code == 400 and err.value.error.code == "BadParameter"


def test_invalid_key_type_size_or_curve_is_a_bad_parameter(client, name: str) -> None:
    for call in (
        lambda: client.create_key(name, "oct"),
        lambda: client.create_rsa_key(name, size=1000),
        lambda: client.create_ec_key(name, curve="P-999"),
    ):
        with pytest.raises(HttpResponseError) as err:
            call()
        assert err.value.status_code == 400 and err.value.error.code == "BadParameter"


def test_versions_list_and_update(client, name: str) -> None:
    first = client.create_ec_key(name)
    second = client.create_ec_key(name)
    versions = {p.version for p in client.list_properties_of_key_versions(name)}
    assert versions == {first.properties.version, second.properties.version}
    assert name in {p.name for p in client.list_properties_of_keys()}
    updated = client.update_key_properties(
        name, first.properties.version, enabled=False, tags={"x": "1"}
    )
    assert updated.properties.enabled is False and updated.properties.tags == {"x": "1"}
    assert client.get_key(name, first.properties.version).properties.enabled is False
    assert client.get_key(name).properties.version == second.properties.version
    assert len(list(client.list_properties_of_key_versions(name))) == 2


def test_delete_recover_purge(client, name: str) -> None:
    client.create_ec_key(name)
    deleted = client.begin_delete_key(name).result()
    assert deleted.recovery_id.endswith(f"/deletedkeys/{name}")
    with pytest.raises(ResourceNotFoundError) as err:
        client.get_key(name)
    assert err.value.error.code == "KeyNotFound"
    assert name in {k.name for k in client.list_deleted_keys()}
    with pytest.raises(ResourceExistsError):
        client.create_ec_key(name)
    client.begin_recover_deleted_key(name).wait()
    assert client.get_key(name).name == name
    client.begin_delete_key(name).wait()
    client.purge_deleted_key(name)
    with pytest.raises(ResourceNotFoundError):
        client.get_deleted_key(name)


def test_backup_restore_same_geography_only_and_not_over_an_existing_name(
    kv_emulator: Emulator, client, name: str
) -> None:
    key = client.create_rsa_key(name)
    blob = client.backup_key(name)
    with pytest.raises(ResourceExistsError):
        client.restore_key_backup(blob)
    with kv_emulator.key_client("west") as west:
        restored = west.restore_key_backup(blob)
        assert restored.key.n == key.key.n
        assert restored.properties.version == key.properties.version
    with kv_emulator.key_client("europe") as europe, pytest.raises(HttpResponseError) as err:
        europe.restore_key_backup(blob)
    assert err.value.status_code == 400 and err.value.error.code == "BadParameter"


@pytest.mark.parametrize(
    "alg",
    [EncryptionAlgorithm.rsa_oaep, EncryptionAlgorithm.rsa_oaep_256, EncryptionAlgorithm.rsa1_5],
)
def test_encrypt_then_decrypt(kv_emulator: Emulator, rsa_key: Any, alg: str) -> None:
    with kv_emulator.crypto_client(rsa_key.id) as crypto:
        encrypted = crypto.encrypt(alg, b"plaintext")
        assert crypto.decrypt(alg, encrypted.ciphertext).plaintext == b"plaintext"


def test_the_vault_encrypts_and_verifies_remotely(
    kv_emulator: Emulator, client, rsa_key: Any
) -> None:
    response = _remote(
        client, rsa_key.id, "encrypt", {"alg": "RSA-OAEP-256", "value": _b64url(b"hi")}
    )
    assert response.status_code == 200
    ciphertext = response.json()["value"]
    with kv_emulator.crypto_client(rsa_key.id) as crypto:
        plain = crypto.decrypt(EncryptionAlgorithm.rsa_oaep_256, _unb64url(ciphertext))
        assert plain.plaintext == b"hi"
        digest = hashlib.sha384(b"m").digest()
        signature = crypto.sign(SignatureAlgorithm.ps384, digest).signature
    ok = _remote(
        client,
        rsa_key.id,
        "verify",
        {"alg": "PS384", "digest": _b64url(digest), "value": _b64url(signature)},
    ).json()
    bad = _remote(
        client,
        rsa_key.id,
        "verify",
        {"alg": "PS384", "digest": _b64url(digest), "value": _b64url(b"\0" * len(signature))},
    ).json()
    assert ok == {"value": True} and bad == {"value": False}


@pytest.mark.parametrize("alg", [SignatureAlgorithm.rs256, SignatureAlgorithm.ps256])
def test_sign_then_verify_rsa(kv_emulator: Emulator, rsa_key: Any, alg: str) -> None:
    digest = hashlib.sha256(b"message").digest()
    with kv_emulator.crypto_client(rsa_key.id) as crypto:
        signature = crypto.sign(alg, digest).signature
        assert crypto.verify(alg, digest, signature).is_valid
        assert not crypto.verify(alg, hashlib.sha256(b"other").digest(), signature).is_valid


def test_sign_with_ec_key_yields_a_raw_signature_the_public_key_verifies(
    kv_emulator: Emulator, client, name: str
) -> None:
    key = client.create_ec_key(name, curve=KeyCurveName.p_256)
    digest = hashlib.sha256(b"ec message").digest()
    with kv_emulator.crypto_client(key.id) as crypto:
        signature = crypto.sign(SignatureAlgorithm.es256, digest).signature
        assert crypto.verify(SignatureAlgorithm.es256, digest, signature).is_valid
    assert len(signature) == 64
    public = ec.EllipticCurvePublicNumbers(
        int.from_bytes(key.key.x, "big"), int.from_bytes(key.key.y, "big"), ec.SECP256R1()
    ).public_key()
    der = encode_dss_signature(
        int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
    )
    public.verify(der, b"ec message", ec.ECDSA(hashes.SHA256()))


def test_wrap_then_unwrap(kv_emulator: Emulator, client, rsa_key: Any) -> None:
    cek = bytes(range(32))
    with kv_emulator.crypto_client(rsa_key.id) as crypto:
        wrapped = crypto.wrap_key(KeyWrapAlgorithm.rsa_oaep_256, cek)
        assert crypto.unwrap_key(KeyWrapAlgorithm.rsa_oaep_256, wrapped.encrypted_key).key == cek
    response = _remote(client, rsa_key.id, "wrapkey", {"alg": "RSA-OAEP", "value": _b64url(cek)})
    with kv_emulator.crypto_client(rsa_key.id) as crypto:
        unwrapped = crypto.unwrap_key(
            KeyWrapAlgorithm.rsa_oaep, _unb64url(response.json()["value"])
        )
    assert unwrapped.key == cek


def test_operations_on_a_disabled_key_are_forbidden(
    kv_emulator: Emulator, client, name: str
) -> None:
    key = client.create_rsa_key(name, enabled=False)
    with kv_emulator.crypto_client(key.id) as crypto, pytest.raises(HttpResponseError) as err:
        crypto.sign(SignatureAlgorithm.rs256, hashlib.sha256(b"x").digest())
    assert err.value.status_code == 403 and err.value.error.code == "Forbidden"


def test_operations_outside_key_ops_are_forbidden(kv_emulator: Emulator, client, name: str) -> None:
    key = client.create_rsa_key(name, key_operations=["encrypt"])
    assert key.key_operations == ["encrypt"]
    with kv_emulator.crypto_client(key.id) as crypto, pytest.raises(HttpResponseError) as err:
        crypto.decrypt(EncryptionAlgorithm.rsa_oaep, b"\0" * 256)
    assert err.value.status_code == 403


def test_bad_algorithm_digest_and_ciphertext_are_bad_parameters(
    kv_emulator: Emulator, client, rsa_key: Any
) -> None:
    bad = [
        {"op": "sign", "body": {"alg": "ES256", "value": _b64url(b"\0" * 32)}},
        {"op": "sign", "body": {"alg": "RS256", "value": _b64url(b"\0" * 5)}},
        {"op": "decrypt", "body": {"alg": "RSA-OAEP", "value": _b64url(b"\0" * 256)}},
        {"op": "encrypt", "body": {"alg": "A128GCM", "value": _b64url(b"x")}},
        {"op": "encrypt", "body": {"alg": "RSA-OAEP", "value": "***"}},
        {"op": "encrypt", "body": {"value": _b64url(b"x")}},
    ]
    for case in bad:
        response = _remote(client, rsa_key.id, case["op"], case["body"])
        assert response.status_code == 400, case
        assert response.json()["error"]["code"] == "BadParameter"


def test_missing_key_version_is_key_not_found(client, rsa_key: Any) -> None:
    with pytest.raises(ResourceNotFoundError) as err:
        client.get_key(rsa_key.name, "f" * 32)
    assert err.value.error.code == "KeyNotFound"
