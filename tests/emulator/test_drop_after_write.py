"""The "dropped after write" fault: the server applies a write, then drops the connection
before answering — the client cannot tell that it landed (what makes a blind retry of a
version-creating write leave a second version)."""

from __future__ import annotations

import datetime as dt

import pytest
import requests
from azure.core.exceptions import ServiceResponseError
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from emulator.__main__ import build_server, parse_args
from emulator.faults import DEFAULT_KINDS, Fault, FaultSchedule, parse_kinds
from emulator.testing import Emulator

AUTH = {"Authorization": "Bearer t", "Connection": "close"}


def _versions(emu: Emulator, collection: str, name: str) -> int:
    store = emu.store()
    with store.lock:
        item = store.get(collection, name)
        return len(item.versions) if item else 0


def _put_secret(emu: Emulator, name: str, value: str) -> str:
    try:
        response = requests.put(emu.url() + f"secrets/{name}?api-version=7.5",
                                json={"value": value}, headers=AUTH, verify=emu.ca_cert,
                                timeout=10)
        return str(response.status_code)
    except requests.ConnectionError:
        return "dropped"


def test_a_put_is_applied_and_the_client_sees_a_dropped_connection(kv_emulator_factory) -> None:
    emu = kv_emulator_factory(["vault"], fault_rate=1.0, fault_kinds=["drop_after_write"])
    assert _put_secret(emu, "landed", "v1") == "dropped"
    assert _versions(emu, "secrets", "landed") == 1  # the write happened all the same
    assert emu.stats()["faults"] == {"drop_after_write": 1}
    assert emu.count("vault", "SetSecret", 200) == 1  # counted with the status it never sent
    # a blind retry is what leaves a second version
    assert _put_secret(emu, "landed", "v1") == "dropped"
    assert _versions(emu, "secrets", "landed") == 2


def test_reads_under_drop_after_write_are_plain_drops_and_change_nothing(
        kv_emulator_factory) -> None:
    emu = kv_emulator_factory(["vault"])
    with emu.secret_client() as client:
        client.set_secret("kept", "v")
    emu.set_fault_rate("vault", 1.0, ["drop_after_write"])
    with pytest.raises(requests.ConnectionError):
        requests.get(emu.url() + "secrets/kept?api-version=7.5", headers=AUTH,
                     verify=emu.ca_cert, timeout=10)
    assert emu.stats()["faults"] == {"drop": 1}
    assert _versions(emu, "secrets", "kept") == 1


def test_the_sdk_sees_the_drop_for_post_patch_and_delete_which_all_landed(
        kv_emulator_factory) -> None:
    emu = kv_emulator_factory(["vault"])
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "drop.example")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(7).not_valid_before(now)
            .not_valid_after(now + dt.timedelta(days=30)).sign(key, hashes.SHA256()))
    pfx = pkcs12.serialize_key_and_certificates(b"c", key, cert, None,
                                                serialization.NoEncryption())
    with emu.secret_client("vault", retry_total=0) as secrets, \
            emu.certificate_client("vault", retry_total=0) as certs:
        secrets.set_secret("doomed", "v")
        emu.set_fault_rate("vault", 1.0, ["drop_after_write"])
        with pytest.raises(ServiceResponseError):           # POST
            certs.import_certificate("imported", pfx)
        with pytest.raises(ServiceResponseError):           # PATCH
            secrets.update_secret_properties("doomed", tags={"t": "1"})
        with pytest.raises(ServiceResponseError):           # DELETE
            secrets.begin_delete_secret("doomed")
        emu.set_fault_rate("vault", 0.0)
        assert certs.get_certificate("imported").properties.x509_thumbprint == \
            cert.fingerprint(hashes.SHA1())
        assert [d.name for d in secrets.list_deleted_secrets()] == ["doomed"]
        assert secrets.get_deleted_secret("doomed").properties.tags == {"t": "1"}
    assert emu.stats()["faults"] == {"drop_after_write": 3}


def test_the_default_mix_is_unchanged_and_kinds_are_validated() -> None:
    assert DEFAULT_KINDS == (Fault.THROTTLED, Fault.INTERNAL, Fault.UNAVAILABLE, Fault.DROP)
    assert FaultSchedule(0.5, 3).kinds == DEFAULT_KINDS
    assert parse_kinds("429, drop_after_write,429") == (Fault.THROTTLED, Fault.DROP_AFTER_WRITE)
    with pytest.raises(ValueError, match="known: 429, 500, 503, drop, drop_after_write"):
        parse_kinds("teapot")
    with pytest.raises(ValueError):
        parse_kinds([])
    # a seed draws the same schedule as before the new kind existed, when it is not chosen
    old = FaultSchedule(0.5, 3)
    new = FaultSchedule(0.5, 3, [f.value for f in DEFAULT_KINDS])
    assert [old.next("PUT") for _ in range(50)] == [new.next("PUT") for _ in range(50)]


def test_serve_takes_the_fault_mix_from_the_command_line(capsys) -> None:
    args = parse_args(["serve", "--vault", "kv-a=0", "--fault-rate", "0.1",
                       "--fault-kinds", "500,drop_after_write"])
    server = build_server(args)
    assert server.vaults["kv-a"].faults.kinds == (Fault.INTERNAL, Fault.DROP_AFTER_WRITE)
    assert build_server(parse_args(["serve", "--vault", "kv-a=0"])).vaults[
        "kv-a"].faults.kinds == DEFAULT_KINDS
    with pytest.raises(SystemExit):
        parse_args(["serve", "--vault", "kv-a=0", "--fault-kinds", "later"])
    assert "unknown fault kind 'later'" in capsys.readouterr().err


def test_the_admin_api_changes_the_mix(kv_emulator_factory) -> None:
    emu = kv_emulator_factory(["vault"])
    answer = requests.post(emu.url() + "_emulator/faults",
                           json={"rate": 1.0, "kinds": ["drop_after_write"]},
                           verify=emu.ca_cert, timeout=10)
    assert answer.status_code == 200
    assert _put_secret(emu, "via-admin", "v") == "dropped"
    assert _versions(emu, "secrets", "via-admin") == 1
    bad = requests.post(emu.url() + "_emulator/faults", json={"rate": 0.1, "kinds": ["nope"]},
                        verify=emu.ca_cert, timeout=10)
    assert bad.status_code == 400


def test_an_injected_fault_hits_exactly_the_chosen_request(kv_emulator_factory) -> None:
    emu = kv_emulator_factory(["vault"])
    emu.inject_fault("vault", "drop_after_write", path="/secrets/chosen")
    emu.inject_fault("vault", "503", method="GET", path="/secrets/other", count=2)
    assert _put_secret(emu, "other", "v") == "200"     # not the chosen path
    assert _put_secret(emu, "chosen", "v") == "dropped"
    assert _put_secret(emu, "chosen", "v") == "200"    # once only
    assert _versions(emu, "secrets", "chosen") == 2
    statuses = [requests.get(emu.url() + "secrets/other?api-version=7.5", headers=AUTH,
                             verify=emu.ca_cert, timeout=10).status_code for _ in range(3)]
    assert statuses == [503, 503, 200]
    assert emu.stats()["faults"] == {"drop_after_write": 1, "503": 2}
    with pytest.raises(ValueError):
        emu.inject_fault("vault", "teapot")
