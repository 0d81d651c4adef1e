"""handle_event against a real emulator and real runtime objects: what replicates, and what is
recognised and causes no write (duplicate, stale, self-written, non-primary, expiry notices,
backing objects, unknown vaults) — proved by the emulator's own counters and version lists."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from azure.keyvault.certificates import CertificatePolicy

from emulator.eventgrid import build_event
from emulator.server import VaultSpec
from emulator.testing import Emulator
from kvdr.config.schema import Config
from kvdr.events.caches import TopologyCache
from kvdr.events.handler import (
    EventFailed,
    EventHandler,
    handle_event,
    handle_payload,
    reset_caches,
)
from kvdr.events.model import EventStatus, IgnoreReason
from kvdr.events.parse import parse_delivery
from kvdr.events.stats import STATS_KEY
from kvdr.services import Runtime, local_runtime
from kvdr.vault.session import VaultSession
from kvdr_cli import emulated

VAULTS = {"eastus": "kv-east", "westus": "kv-west"}
FAST_BACKOFF = (0.02, 0.05)


class FastRuntime(Runtime):
    """A runtime whose sessions retry after milliseconds (a vault that is down fails fast)."""

    def open_session(self, region: str, *, probe: bool = False) -> VaultSession:
        self.config.region(region)
        return VaultSession(self.config, region, credential=self.credential,
                            pacers=self.pacers, retry_backoff=FAST_BACKOFF)


class ProbesOnlyRuntime(FastRuntime):
    """Counts the probe sessions it opens; its cached full sessions must not read topology."""

    probes = 0

    def open_probe(self, region: str) -> VaultSession:
        self.probes += 1
        return super().open_probe(region)

    def session(self, region: str) -> VaultSession:
        raise AssertionError("the topology was read through a session with the full backoff")


def emulator_config(emu: Emulator, primary: str = "eastus") -> Config:
    return emulated.emulator_config({r: emu.url(v) for r, v in VAULTS.items()}, emu.ca_cert,
                                    vault_names=VAULTS, primary=primary)


@pytest.fixture(scope="module")
def emu() -> Iterator[Emulator]:
    with Emulator([VaultSpec(v, geography="us") for v in VAULTS.values()]) as emulator:
        yield emulator


@pytest.fixture
def runtime(emu, tmp_path) -> Iterator[Runtime]:
    base = local_runtime(emulator_config(emu), tmp_path, env={})
    rt = FastRuntime(config=base.config, credential=base.credential, state=base.state,
                     fingerprint_key=b"k" * 40)
    reset_caches()
    yield rt
    rt.close()
    reset_caches()


@pytest.fixture
def name() -> str:
    return f"ev-{uuid.uuid4().hex[:10]}"


def event_for(emu: Emulator, vault: str, kind: str, name: str, version: str,
              change: str = "NewVersionCreated"):
    raw = build_event(vault, emu.url(vault), kind, name, version, change)
    [event] = parse_delivery([raw]).events
    return event


def writes(emu: Emulator, vault: str) -> int:
    ops = emu.stats(vault)["operations"]
    return sum(sum(ops.get(op, {}).values()) for op in (
        "SetSecret", "UpdateSecret", "ImportCertificate", "RestoreKey", "RestoreSecret",
        "UpdateCertificate", "UpdateKey", "RestoreCertificate"))


def versions(emu: Emulator, vault: str, name: str) -> int:
    store = emu.store(vault)
    with store.lock:
        item = store.get("secrets", name)
        return len(item.versions) if item else 0


def test_a_new_secret_version_on_the_primary_is_copied(emu, runtime, name) -> None:
    with emu.secret_client("kv-east") as east:
        version = east.set_secret(name, "value-one").properties.version
    outcome = handle_event(runtime, event_for(emu, "kv-east", "secrets", name, version))
    assert outcome.status == EventStatus.REPLICATED and outcome.region == "eastus"
    assert outcome.targets == {"westus": "create"}
    with emu.secret_client("kv-west") as west:
        assert west.get_secret(name).value == "value-one"
    stats = runtime.state.get_json(STATS_KEY)
    assert stats["replicated"] == 1 and stats["pending"] == 0 and stats["received"] == 1
    assert stats["last_event"]["name"] == name and stats["lag_seconds_p50"] is not None


def test_duplicates_cause_no_write(emu, runtime, name) -> None:
    with emu.secret_client("kv-east") as east:
        version = east.set_secret(name, "dup-value").properties.version
    event = event_for(emu, "kv-east", "secrets", name, version)
    assert handle_event(runtime, event).status == EventStatus.REPLICATED
    emu.reset_stats("kv-west")
    emu.reset_stats("kv-east")
    again = handle_event(runtime, event)  # same process: known event id, no vault call
    assert (again.status, again.reason) == (EventStatus.IGNORED, IgnoreReason.DUPLICATE)
    assert emu.stats("kv-east")["total"] == emu.stats("kv-west")["total"] == 0
    another_process = EventHandler()  # caches of its own: the copy is found in sync
    other = another_process.handle(runtime, event_for(emu, "kv-east", "secrets", name, version))
    assert (other.status, other.reason) == (EventStatus.IGNORED, IgnoreReason.DUPLICATE)
    assert writes(emu, "kv-west") == 0 and versions(emu, "kv-west", name) == 1


def test_a_stale_event_replicates_the_latest_version_then_writes_nothing(emu, runtime,
                                                                        name) -> None:
    # an event is a hint: one naming an older version still brings the latest across
    with emu.secret_client("kv-east") as east:
        old = east.set_secret(name, "old-value").properties.version
        store = emu.store("kv-east")
        with store.lock:  # the old version was created a second earlier
            store.get("secrets", name).versions[old].attributes["created"] -= 5
        east.set_secret(name, "new-value")
    outcome = handle_event(runtime, event_for(emu, "kv-east", "secrets", name, old))
    assert outcome.status == EventStatus.REPLICATED, outcome
    with emu.secret_client("kv-west") as west:
        assert west.get_secret(name).value == "new-value"
    emu.reset_stats("kv-west")
    again = handle_event(runtime, event_for(emu, "kv-east", "secrets", name, old))
    assert (again.status, again.reason) == (EventStatus.IGNORED, IgnoreReason.STALE)
    assert writes(emu, "kv-west") == 0 and versions(emu, "kv-west", name) == 1


@pytest.mark.parametrize("kind", ["secrets", "keys"])
def test_an_event_for_a_version_the_primary_does_not_hold_replicates_its_latest(
        emu, runtime, name, kind) -> None:
    # e.g. delivered before the version is visible to reads: the vault is the truth
    if kind == "secrets":
        with emu.secret_client("kv-east") as east:
            east.set_secret(name, "held-value")
    else:
        with emu.key_client("kv-east") as keys:
            held = keys.create_rsa_key(name).properties.version
    outcome = handle_event(runtime, event_for(emu, "kv-east", kind, name, "0" * 32))
    assert outcome.status == EventStatus.REPLICATED, outcome
    if kind == "secrets":
        with emu.secret_client("kv-west") as west:
            assert west.get_secret(name).value == "held-value"
    else:
        with emu.key_client("kv-west") as keys:
            assert keys.get_key(name).properties.version == held  # restored from backup


def test_two_versions_created_in_the_same_second_both_replicate(emu, runtime, name) -> None:
    # list APIs give no version ids, so version tokens are creation seconds: the event's real
    # version id is what tells these two versions apart
    store = emu.store("kv-east")
    with emu.secret_client("kv-east") as east:
        first = east.set_secret(name, "same-second-one").properties.version
        assert handle_event(runtime, event_for(emu, "kv-east", "secrets", name, first)
                            ).status == EventStatus.REPLICATED
        second = east.set_secret(name, "same-second-two").properties.version
    with store.lock:
        item = store.get("secrets", name)
        created = item.versions[first].attributes["created"]
        item.versions[second].attributes["created"] = created
        item.versions[second].attributes["updated"] = created
    reset_caches()
    outcome = handle_event(runtime, event_for(emu, "kv-east", "secrets", name, second))
    assert outcome.status == EventStatus.REPLICATED, outcome
    with emu.secret_client("kv-west") as west:
        assert west.get_secret(name).value == "same-second-two"
    emu.reset_stats("kv-west")
    reset_caches()  # the first version's event, delivered late, writes nothing
    late = handle_event(runtime, event_for(emu, "kv-east", "secrets", name, first))
    assert late.status == EventStatus.IGNORED
    assert writes(emu, "kv-west") == 0 and versions(emu, "kv-west", name) == 2


def test_events_from_a_non_primary_vault_cause_no_write(emu, runtime, name) -> None:
    with emu.secret_client("kv-west") as west:
        version = west.set_secret(name, "drift-value").properties.version
    emu.reset_stats("kv-east")
    outcome = handle_event(runtime, event_for(emu, "kv-west", "secrets", name, version))
    assert (outcome.status, outcome.reason) == (EventStatus.IGNORED, IgnoreReason.NON_PRIMARY)
    assert writes(emu, "kv-east") == 0 and versions(emu, "kv-east", name) == 0


def test_a_version_the_replicator_wrote_is_self_written(emu, runtime, name) -> None:
    from kvdr.topology.record import next_epoch
    from kvdr.topology.store import current_topology, write_topology

    with emu.secret_client("kv-east") as east:
        version = east.set_secret(name, "copied-value").properties.version
    assert handle_event(runtime, event_for(emu, "kv-east", "secrets", name, version)).wrote
    sessions = runtime.sessions()
    current = current_topology(runtime.config, sessions).current
    failover = next_epoch(current, "westus", changed_at=datetime.now(UTC), changed_by="test",
                          reason="self-written test")
    try:
        for session in sessions.values():
            write_topology(session, failover)
        reset_caches()
        with emu.secret_client("kv-west") as west:
            copy = west.get_secret(name).properties.version
        emu.reset_stats("kv-east")
        outcome = handle_event(runtime, event_for(emu, "kv-west", "secrets", name, copy))
        assert (outcome.status, outcome.reason) == (EventStatus.IGNORED,
                                                    IgnoreReason.SELF_WRITTEN)
        assert writes(emu, "kv-east") == 0 and versions(emu, "kv-east", name) == 1
    finally:
        back = next_epoch(failover, "eastus", changed_at=datetime.now(UTC), changed_by="test",
                          reason="restore")
        for session in sessions.values():
            write_topology(session, back)
        reset_caches()


def test_expiry_notices_are_counted_and_logged_not_copied(emu, runtime, name, caplog) -> None:
    emu.reset_stats("kv-east")
    emu.reset_stats("kv-west")
    caplog.set_level(logging.INFO, logger="kvdr.events.handler")
    near = handle_event(runtime, event_for(emu, "kv-east", "secrets", name, "abc",
                                           "NearExpiry"))
    gone = handle_event(runtime, event_for(emu, "kv-east", "certificates", name, "abc",
                                           "Expired"))
    assert (near.reason, gone.reason) == (IgnoreReason.NEAR_EXPIRY, IgnoreReason.EXPIRED)
    assert emu.stats("kv-east")["total"] == emu.stats("kv-west")["total"] == 0
    assert f"near-expiry: Microsoft.KeyVault.SecretNearExpiry kv-east/{name}" in caplog.text
    stats = runtime.state.get_json(STATS_KEY)
    assert stats["ignored"] == {"near-expiry": 1, "expired": 1}


def test_unknown_vaults_and_other_event_types_are_ignored(emu, runtime, name) -> None:
    unknown = event_for(emu, "kv-east", "secrets", name, "abc")
    unknown = type(unknown).from_dict({**unknown.to_dict(), "vault_name": "kv-elsewhere",
                                       "topic": "", "object_id": None})
    assert handle_event(runtime, unknown).reason == IgnoreReason.UNKNOWN_VAULT
    other = build_event("kv-east", emu.url("kv-east"), "secrets", name, "abc")
    other["eventType"] = "Microsoft.KeyVault.VaultAccessPolicyChanged"
    [outcome] = handle_payload(runtime, [other])
    assert outcome.reason == IgnoreReason.UNSUPPORTED
    assert runtime.state.get_json(STATS_KEY)["ignored"] == {"unknown-vault": 1,
                                                            "unsupported-type": 1}


def test_a_certificates_backing_secret_is_left_to_the_certificate(emu, runtime, name) -> None:
    with emu.certificate_client("kv-east") as certs:
        cert = certs.begin_create_certificate(name, CertificatePolicy.get_default()).result()
    emu.reset_stats("kv-west")
    version = cert.properties.version
    for kind in ("secrets", "keys"):
        outcome = handle_event(runtime, event_for(emu, "kv-east", kind, name, version))
        assert outcome.reason == IgnoreReason.BACKING_OBJECT
    assert writes(emu, "kv-west") == 0
    outcome = handle_event(runtime, event_for(emu, "kv-east", "certificates", name, version))
    assert outcome.status == EventStatus.REPLICATED
    with emu.certificate_client("kv-west") as west:
        copy = west.get_certificate(name)
    assert copy.properties.x509_thumbprint == cert.properties.x509_thumbprint


def test_an_unreachable_target_raises_so_event_grid_retries(emu, runtime, name) -> None:
    with emu.secret_client("kv-east") as east:
        version = east.set_secret(name, "retry-value").properties.version
    event = event_for(emu, "kv-east", "secrets", name, version)
    handle_event(runtime, event_for(emu, "kv-east", "secrets", "warm-" + name[3:], "x"))
    emu.down("kv-west", "503")
    try:
        with pytest.raises(EventFailed):
            handle_event(runtime, event)
    finally:
        emu.up("kv-west")
    stats = runtime.state.get_json(STATS_KEY)
    assert stats["failed"] == 1 and stats["pending"] == 0
    assert handle_event(runtime, event).status == EventStatus.REPLICATED  # the retry


def test_the_event_path_reads_the_topology_through_probe_sessions(emu, runtime) -> None:
    # the one rule for who is primary (kvdr.topology.reading): probe sessions, so a dead vault
    # costs the event path seconds, not the full 1, 2, 4, 8, 16 s backoff of a cached session
    probing = ProbesOnlyRuntime(config=runtime.config, credential=runtime.credential,
                                state=runtime.state, fingerprint_key=runtime.fingerprint_key)
    record = TopologyCache().get(probing)
    assert record.primary == "eastus"
    assert probing.probes == len(runtime.config.region_names)


def test_no_value_reaches_logs_or_state(emu, runtime, name, caplog, tmp_path) -> None:
    caplog.set_level(logging.DEBUG)
    seeded = f"SEEDED-{uuid.uuid4().hex}"
    with emu.secret_client("kv-east") as east:
        version = east.set_secret(name, seeded).properties.version
    outcome = handle_event(runtime, event_for(emu, "kv-east", "secrets", name, version))
    assert outcome.wrote
    assert seeded not in caplog.text
    assert seeded not in json.dumps(outcome.to_dict())
    for path in Path(tmp_path).rglob("*"):
        if path.is_file():
            assert seeded.encode() not in path.read_bytes(), path


def test_an_unsupported_event_type_is_a_warning(emu, runtime, name, caplog) -> None:
    # the subscription filters to item events: another type means it was changed, and the
    # Functions host shows WARNING and above by default, so INFO would hide it
    other = build_event("kv-east", emu.url("kv-east"), "secrets", name, "abc")
    other["eventType"] = "Microsoft.KeyVault.VaultAccessPolicyChanged"
    caplog.set_level(logging.WARNING, logger="kvdr.events.handler")
    handle_payload(runtime, [other])
    [record] = [r for r in caplog.records if r.name == "kvdr.events.handler"]
    assert record.levelno == logging.WARNING
    assert "unsupported-type" in record.getMessage()
    assert "VaultAccessPolicyChanged" in record.getMessage()
