"""The store's change hook: every stored new version is announced (for Event Grid later)."""

from __future__ import annotations

from azure.keyvault.certificates import CertificatePolicy

from emulator.testing import Emulator


def test_observers_hear_every_new_version_and_nothing_else(kv_emulator_factory) -> None:
    emu: Emulator = kv_emulator_factory(["vault"])
    heard: list[tuple[str, str, str, str]] = []
    emu.store().observers.append(lambda *event: heard.append(event))
    with emu.secret_client() as secrets:
        created = secrets.set_secret("s", "v")
        secrets.update_secret_properties("s", enabled=False)  # attributes: no event
        secrets.begin_delete_secret("s").wait()  # deletions: no event
    with emu.certificate_client() as certs:
        cert = certs.begin_create_certificate("c", CertificatePolicy.get_default()).result()
    version = cert.properties.version
    assert heard == [
        ("vault", "secrets", "s", created.properties.version),
        ("vault", "keys", "c", version),
        ("vault", "secrets", "c", version),
        ("vault", "certificates", "c", version),
    ]
