"""The SDKs' async clients (aiohttp transport) against the emulator: a slice of each object
type, the async delete/recover pollers, and retry through throttling and faults."""

from __future__ import annotations

import asyncio
import base64
import hashlib

import pytest
from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.keyvault.certificates import CertificatePolicy
from azure.keyvault.keys.crypto import EncryptionAlgorithm, SignatureAlgorithm
from cryptography.hazmat.primitives.serialization import pkcs12

from emulator.testing import AioTimeSkippingTransport, Emulator, SkippedTime
from emulator.throttle import ThrottleLimits


async def test_async_secrets_lifecycle(kv_emulator: Emulator, name: str) -> None:
    async with kv_emulator.aio_secret_client("east") as client:
        first = await client.set_secret(name, "one", tags={"a": "b"})
        await client.set_secret(name, "two")
        assert (await client.get_secret(name)).value == "two"
        assert (await client.get_secret(name, first.properties.version)).value == "one"
        updated = await client.update_secret_properties(name, content_type="text/plain")
        assert updated.content_type == "text/plain"
        versions = [p async for p in client.list_properties_of_secret_versions(name)]
        assert len(versions) == 2
        assert name in {p.name async for p in client.list_properties_of_secrets()}
        blob = await client.backup_secret(name)
        deleted = await client.delete_secret(name)  # the async poller runs to completion
        assert deleted.recovery_id.endswith(f"/deletedsecrets/{name}")
        assert (await client.get_deleted_secret(name)).name == name
        with pytest.raises(ResourceExistsError):
            await client.set_secret(name, "blocked")
        await client.recover_deleted_secret(name)
        assert (await client.get_secret(name)).value == "two"
        await client.delete_secret(name)
        await client.purge_deleted_secret(name)
        with pytest.raises(ResourceNotFoundError):
            await client.get_deleted_secret(name)
        restored = await client.restore_secret_backup(blob)
        assert restored.name == name


async def test_async_keys_and_crypto(kv_emulator: Emulator, name: str) -> None:
    async with kv_emulator.aio_key_client("east") as client:
        key = await client.create_rsa_key(name, size=2048)
        assert key.key.d is None
        async with kv_emulator.aio_crypto_client(key.id) as crypto:
            encrypted = await crypto.encrypt(EncryptionAlgorithm.rsa_oaep, b"secret")
            decrypted = await crypto.decrypt(EncryptionAlgorithm.rsa_oaep, encrypted.ciphertext)
            assert decrypted.plaintext == b"secret"
            digest = hashlib.sha256(b"m").digest()
            signature = (await crypto.sign(SignatureAlgorithm.rs256, digest)).signature
            assert (await crypto.verify(SignatureAlgorithm.rs256, digest, signature)).is_valid
        deleted = await client.delete_key(name)
        assert deleted.recovery_id.endswith(f"/deletedkeys/{name}")
        recovered = await client.recover_deleted_key(name)
        assert recovered.key.n == key.key.n


async def test_async_certificates(kv_emulator: Emulator, name: str) -> None:
    async with kv_emulator.aio_certificate_client("east") as client:
        cert = await client.create_certificate(
            name, CertificatePolicy.get_default(), _polling_interval=0
        )
        assert cert.name == name and cert.cer
        policy = await client.get_certificate_policy(name)
        assert policy.issuer_name == "Self"
        async with kv_emulator.aio_secret_client("east") as secrets:
            secret = await secrets.get_secret(name)
        key, leaf, _ = pkcs12.load_key_and_certificates(base64.b64decode(secret.value), None)
        assert key is not None and leaf is not None
        deleted = await client.delete_certificate(name)
        assert deleted.recovery_id.endswith(f"/deletedcertificates/{name}")
        await client.recover_deleted_certificate(name)
        assert (await client.get_certificate(name)).cer == cert.cer


async def test_async_clients_run_concurrently(kv_emulator: Emulator, name: str) -> None:
    async with kv_emulator.aio_secret_client("west") as client:
        await asyncio.gather(*(client.set_secret(f"{name}-{i}", str(i)) for i in range(40)))
        values = await asyncio.gather(*(client.get_secret(f"{name}-{i}") for i in range(40)))
    assert [v.value for v in values] == [str(i) for i in range(40)]


async def test_async_retry_through_throttling_and_faults(kv_emulator_factory) -> None:
    # Time passes only while the SDK waits (Retry-After, backoff), so the create window fills
    # at the same requests however slowly they are sent.
    clock = SkippedTime()
    emu = kv_emulator_factory(
        ["vault"], throttle=ThrottleLimits(window_seconds=1, create=5), fault_rate=0.15, seed=5,
        throttle_clock=clock,
    )
    transport = AioTimeSkippingTransport(clock, emu.ca_cert)
    async with emu.aio_secret_client(transport=transport) as client:
        for i in range(12):
            await client.set_secret(f"s{i}", "v")
        names = {p.name async for p in client.list_properties_of_secrets()}
    assert names == {f"s{i}" for i in range(12)}
    assert emu.count("vault", "SetSecret", 429) >= 1
    assert sum(emu.stats()["faults"].values()) >= 1
