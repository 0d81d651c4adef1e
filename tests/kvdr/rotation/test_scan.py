"""The rotation scan at the end of every full sync (the engine runs the real ``full_sync``
orchestrator, which calls ``rotation_scan``): what events missed is announced once, by kind and
reason; reserved items and a certificate's backing secret and key never; a marker a secondary
lacks is written there; a dry run announces nothing."""

from __future__ import annotations

import datetime as dt

from azure.keyvault.certificates import CertificatePolicy
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import NoEncryption, pkcs12
from cryptography.x509.oid import NameOID

from kvdr.rotation.announce import latest_version
from kvdr.rotation.markers import marker_name, read_marker
from kvdr.rotation.message import DueReason, Source
from kvdr.vault.inventory import ItemKind

from .conftest import RotationEnv


def _pfx(days: int) -> bytes:
    """A self-signed certificate (PFX, no password) valid for ``days`` more days."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "short.example.test")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=days)).sign(key, hashes.SHA256()))
    return pkcs12.serialize_key_and_certificates(None, key, cert, None, NoEncryption())


def test_the_scan_announces_what_events_missed_once(rotation_env: RotationEnv) -> None:
    env = rotation_env.sync
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)  # the emulator's clock: not advanced
    with env.emu.secret_client("east") as secrets:
        secrets.set_secret("missed", "v", expires_on=now + dt.timedelta(days=10))
        secrets.set_secret("already-expired", "v", expires_on=now - dt.timedelta(days=1))
        secrets.set_secret("later", "v", expires_on=now + dt.timedelta(days=60))
        secrets.set_secret("no-expiry", "v")
        secrets.set_secret("kvdr-reserved-thing", "v", expires_on=now + dt.timedelta(days=5))
    with env.emu.certificate_client("east") as certificates:
        certificates.import_certificate(
            "short-cert", _pfx(10),
            policy=CertificatePolicy(issuer_name="Unknown", content_type="application/x-pkcs12"))
    with env.emu.secret_client("east") as secrets:  # the backing secret is listed, and due
        backing = next(p for p in secrets.list_properties_of_secrets() if p.name == "short-cert")
        assert backing.managed and backing.expires_on is not None

    dry = env.sync(dry_run=True)
    assert "rotation" not in dry and rotation_env.messages() == []

    first = env.sync()
    assert first["status"] == "succeeded"
    scan = first["rotation"]
    assert (scan["ok"], scan["due"], scan["published"], scan["announced"]) == (True, 3, 3, 0)
    got = {(m.kind, m.name, m.reason) for m in rotation_env.messages()}
    assert got == {(ItemKind.SECRET, "missed", DueReason.NEAR_EXPIRY),
                   (ItemKind.SECRET, "already-expired", DueReason.EXPIRED),
                   (ItemKind.CERTIFICATE, "short-cert", DueReason.NEAR_EXPIRY)}
    assert {m.source for m in rotation_env.messages()} == {Source.SCAN}
    assert {m.region for m in rotation_env.messages()} == {"east"}

    # the markers reached the secondary too: a failover would find them
    west = env.runtime.session("west")
    assert read_marker(west, ItemKind.SECRET, "missed") is not None
    assert read_marker(west, ItemKind.CERTIFICATE, "short-cert") is not None

    second = env.sync()
    assert (second["rotation"]["published"], second["rotation"]["announced"]) == (0, 3)
    assert len(rotation_env.messages()) == 3


def test_a_marker_the_secondary_lost_is_written_again_by_the_next_scan(
        rotation_env: RotationEnv) -> None:
    env = rotation_env.sync
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    with env.emu.secret_client("east") as secrets:
        secrets.set_secret("token", "v", expires_on=now + dt.timedelta(days=3))
    assert env.sync()["rotation"]["published"] == 1
    with env.emu.secret_client("west") as west:  # someone deleted the copy of the marker
        west.begin_delete_secret(marker_name(ItemKind.SECRET, "token")).wait()
    assert read_marker(env.runtime.session("west"), ItemKind.SECRET, "token") is None

    scan = env.sync()["rotation"]
    assert (scan["published"], scan["announced"], scan["repaired"]) == (0, 1, 1)
    marker = read_marker(env.runtime.session("west"), ItemKind.SECRET, "token")
    assert marker is not None and marker.announces(now + dt.timedelta(days=3))
    assert len(rotation_env.messages()) == 1


def test_after_a_failover_the_new_primarys_scan_announces_only_the_next_expiry(
        rotation_env: RotationEnv) -> None:
    env = rotation_env.sync
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    with env.emu.secret_client("east") as secrets:
        secrets.set_secret("cert-password", "v1", expires_on=now + dt.timedelta(days=5))
    assert env.sync()["rotation"]["published"] == 1
    [first] = rotation_env.messages()

    record = rotation_env.fail_over("west")
    after = env.sync()  # now from west, whose copy carries the same, announced expiry
    assert after["status"] == "succeeded"
    assert (after["rotation"]["primary"], after["rotation"]["epoch"]) == ("west", record.epoch)
    assert (after["rotation"]["published"], after["rotation"]["announced"]) == (0, 1)
    assert rotation_env.messages() == [first]

    with env.emu.secret_client("west") as secrets:  # rotated in the new primary
        secrets.set_secret("cert-password", "v2", expires_on=now + dt.timedelta(days=20))
    rotated = env.sync()
    assert rotated["rotation"]["published"] == 1, rotated
    first_again, second = rotation_env.messages()
    assert first_again == first
    assert (second.name, second.region, second.epoch) == ("cert-password", "west", record.epoch)
    assert second.expires == now + dt.timedelta(days=20) and second.id != first.id


def test_two_versions_of_one_second_announce_the_latest_the_listing_shows(
        rotation_env: RotationEnv) -> None:
    # version lists order by creation time in whole seconds: two versions of one second tie
    env = rotation_env.sync
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    with env.emu.secret_client("east") as secrets:
        for attempt in range(20):
            name = f"same-second-{attempt}"
            older = secrets.set_secret(name, "v1", expires_on=now + dt.timedelta(days=3))
            newer = secrets.set_secret(name, "v2", expires_on=now + dt.timedelta(days=12))
            if older.properties.created_on == newer.properties.created_on:
                break
            secrets.begin_delete_secret(name).wait()
        else:
            raise AssertionError("could not create two versions within one second")
    latest = latest_version(env.runtime.session("east"), ItemKind.SECRET, name,
                            expires=int((now + dt.timedelta(days=12)).timestamp()))
    assert latest is not None and latest.version == newer.properties.version

    assert env.sync()["rotation"]["published"] == 1
    [message] = [m for m in rotation_env.messages() if m.name == name]
    assert (message.version, message.expires) == (newer.properties.version,
                                                  now + dt.timedelta(days=12))


def test_the_scan_lists_nothing_the_syncs_plan_listed_already(rotation_env: RotationEnv) -> None:
    """The scan reads what the plan kept of its listing of the primary: a vault of many
    secrets is listed once per sync, with rotation on, and a due item is still announced."""
    env = rotation_env.sync
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    with env.emu.secret_client("east") as secrets:
        for i in range(60):  # three pages of 25
            secrets.set_secret(f"bulk-{i:02d}", "v")
        secrets.set_secret("due-soon", "v", expires_on=now + dt.timedelta(days=7))
    first = env.sync()
    assert first["rotation"]["published"] == 1
    env.emu.reset_stats("east")
    again = env.sync()
    assert again["rotation"]["announced"] == 1 and again["rotation"]["published"] == 0
    listings = sum(env.emu.stats("east")["operations"].get("GetSecrets", {}).values())
    assert listings == 3, env.emu.stats("east")["operations"]
