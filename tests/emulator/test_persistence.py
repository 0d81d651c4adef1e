"""With a state directory, vault contents (live and soft-deleted) and TLS files survive restarts."""

from __future__ import annotations

from pathlib import Path

from azure.keyvault.certificates import CertificatePolicy
from azure.keyvault.keys.crypto import SignatureAlgorithm

from emulator.server import VaultSpec
from emulator.testing import Emulator


def test_contents_survive_a_restart(tmp_path: Path) -> None:
    specs = [VaultSpec("vault", geography="us")]
    with Emulator(specs, state_dir=tmp_path) as emu:
        ca_before = Path(emu.ca_cert).read_bytes()
        with emu.secret_client() as secrets, emu.key_client() as keys:
            first = secrets.set_secret("kept", "one")
            secrets.set_secret("kept", "two", tags={"t": "1"})
            secrets.set_secret("gone", "x")
            secrets.begin_delete_secret("gone").wait()
            secrets.set_secret("purged", "x")
            secrets.begin_delete_secret("purged").wait()
            secrets.purge_deleted_secret("purged")
            key = keys.create_rsa_key("signer")
        with emu.certificate_client() as certs:
            cert = certs.begin_create_certificate("cert", CertificatePolicy.get_default()).result()
    with Emulator(specs, state_dir=tmp_path) as emu:
        assert Path(emu.ca_cert).read_bytes() == ca_before
        with emu.secret_client() as secrets, emu.key_client() as keys:
            assert secrets.get_secret("kept").value == "two"
            assert secrets.get_secret("kept", first.properties.version).value == "one"
            assert secrets.get_secret("kept").properties.tags == {"t": "1"}
            assert secrets.get_deleted_secret("gone").name == "gone"
            assert "purged" not in {d.name for d in secrets.list_deleted_secrets()}
            assert keys.get_key("signer").key.n == key.key.n
            assert secrets.get_secret("cert").properties.managed is True
        with emu.certificate_client() as certs:
            assert certs.get_certificate("cert").cer == cert.cer
        with emu.key_client() as keys:
            key_id = keys.get_key("signer").id  # the same version; the port is new
        with emu.crypto_client(key_id) as crypto:
            assert crypto.sign(SignatureAlgorithm.rs256, b"\0" * 32).signature


def test_a_torn_last_journal_line_is_ignored(tmp_path: Path) -> None:
    with Emulator(["vault"], state_dir=tmp_path) as emu, emu.secret_client() as secrets:
        secrets.set_secret("kept", "v")
    journal = tmp_path / "vaults" / "vault.jsonl"
    with journal.open("a") as f:
        f.write('{"op": "put", "kind": "secr')
    with Emulator(["vault"], state_dir=tmp_path) as emu, emu.secret_client() as secrets:
        assert secrets.get_secret("kept").value == "v"
