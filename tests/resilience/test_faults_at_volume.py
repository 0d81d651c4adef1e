"""Suite 1 of issue 13, faults at volume: a full sync of mixed items (secrets with metadata,
exportable and non-exportable certificates, keys) and the event path, with the emulator
injecting 10 % faults (429, 500, 503, dropped connections, and connections dropped *after* the
server applied a write) under Key Vault's own throttling limits.

What is proved, by comparing both vaults' contents inside the test (no value is printed):
the sync converges to parity (rerun until a run writes nothing), no item is lost (every source
item is in the target with the same value and metadata), no version is duplicated (no two
target versions are copies of the same source version, and a copy holds one version per source
version copied). The event path does the same at 20 writes/s with duplicated and reordered
deliveries through the local host's Event Grid webhook. Every secret value is a unique value
(``support.leaks``), and each test ends with a leak scan (suite 6): the engines' state dirs
(SQLite histories, state files, reports), every orchestration's status, custom status and
history (in process, and through the event host's management API), the run records, the
captured logs at DEBUG and the custom events: none of the values, nor the private keys of the
seeded keys and certificates, may appear.

Sizes: ``fast`` (in ``make test``) and ``large`` (``KVDR_RESILIENCE_SIZE=large``); the figures
of a run are printed (``-s``) for the README's "Tested against" table.
"""

from __future__ import annotations

import json
import logging
import os
import random
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from azure.keyvault.certificates import CertificatePolicy, KeyType, WellKnownIssuerNames
from resilience.leaks_support import private_keys, scan_engine, scan_management_api

import function_app
from emulator.server import VaultSpec
from emulator.testing import Emulator
from emulator.throttle import ThrottleLimits
from engine.host import LocalHost
from kvdr.events.handler import reset_caches
from kvdr.vault.links import LINK_TAG, parse_link
from kvdr.vault.session import VaultSession
from support.leaks import LeakScanner, unique_secret_value
from support.sync import SyncEnv

SIZE = os.environ.get("KVDR_RESILIENCE_SIZE", "fast").strip().lower() or "fast"
ITEMS = {"fast": 150, "large": 2000}[SIZE]
EVENT_WRITES = {"fast": 100, "large": 1000}[SIZE]
FAULT_RATE = 0.10
FAULT_KINDS = ["429", "500", "503", "drop", "drop_after_write"]
VAULTS = (VaultSpec("east", geography="us"), VaultSpec("west", geography="us"))
# kvdr's backoff (1, 2, 4, 8, 16 s) scaled to a tenth: as many retries, a tenth of the wait; a
# 429's Retry-After (the emulator's throttle, 10 s windows) is still honoured in full
BACKOFF = (0.1, 0.2, 0.4, 0.8, 1.6)
MAX_RUNS = 4


@pytest.fixture
def fast_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    defaults = dict(VaultSession.__init__.__kwdefaults__ or {})
    defaults["retry_backoff"] = BACKOFF
    monkeypatch.setattr(VaultSession.__init__, "__kwdefaults__", defaults)


def _faulty_env(sync_env_factory: Any) -> SyncEnv:
    env: SyncEnv = sync_env_factory(VAULTS, throttle=ThrottleLimits(), seed=13,
                                    fault_kinds=FAULT_KINDS)
    return env


def _faults_on(env: SyncEnv, rate: float) -> None:
    for vault in ("east", "west"):
        env.emu.set_fault_rate(vault, rate)


def _cert_policy(exportable: bool, i: int) -> CertificatePolicy:
    return CertificatePolicy(issuer_name=WellKnownIssuerNames.self, subject=f"CN=vol-{i}.test",
                             validity_in_months=12, exportable=exportable, key_type=KeyType.ec,
                             key_curve_name="P-256")


@dataclass
class Seeded:
    secrets: list[str]
    certificates: list[str]
    non_exportable: list[str]
    keys: list[str]
    values: list[str]


def seed_mixed(emu: Emulator, n: int, prefix: str) -> Seeded:
    """``n`` items in east: 80 % secrets (a third with content type, tags, nbf and exp; some
    with two versions; some with 15 user tags, no room for kvdr's link), 10 % exportable and
    3 % non-exportable certificates, 7 % keys. Values are unique (``unique_secret_value``)."""
    rng = random.Random(n)
    now = datetime.now(UTC).replace(microsecond=0)
    seeded = Seeded([], [], [], [], [])
    n_certs, n_nonexp, n_keys = max(2, n // 10), max(1, n * 3 // 100), max(2, n * 7 // 100)
    n_secrets = n - n_certs - n_nonexp - n_keys
    with emu.secret_client("east", retry_total=20) as secrets:
        for i in range(n_secrets):
            name = f"{prefix}-s{i:05d}"
            value = unique_secret_value(f"vol-s{i}")
            kwargs: dict[str, Any] = {}
            if i % 3 == 0:
                kwargs = {"content_type": rng.choice(["text/plain", "application/json"]),
                          "tags": {"owner": f"team-{i % 7}", "env": "prod"},
                          "not_before": now - timedelta(days=1),
                          "expires_on": now + timedelta(days=30 + i % 300)}
            elif i % 17 == 1:
                kwargs = {"tags": {f"t{j:02d}": f"v{j}" for j in range(15)}}  # no room
            if i % 11 == 2:  # an older version first: only the latest is copied
                old = unique_secret_value(f"vol-old{i}")
                seeded.values.append(old)
                secrets.set_secret(name, old, **kwargs)
            secrets.set_secret(name, value, **kwargs)
            seeded.values.append(value)
            seeded.secrets.append(name)
    with emu.certificate_client("east", retry_total=20) as certs:
        for i in range(n_certs + n_nonexp):
            exportable = i < n_certs
            name = f"{prefix}-c{i:04d}"
            certs.begin_create_certificate(name, _cert_policy(exportable, i),
                                           tags={"svc": f"svc-{i % 5}"}).result()
            (seeded.certificates if exportable else seeded.non_exportable).append(name)
    with emu.key_client("east", retry_total=40) as keys:
        for i in range(n_keys):
            name = f"{prefix}-k{i:04d}"
            if i % 2:
                keys.create_rsa_key(name, size=2048, tags={"use": "sign"},
                                    expires_on=now + timedelta(days=365))
            else:
                keys.create_ec_key(name, curve="P-256")
            seeded.keys.append(name)
    return seeded


def leak_scan(env: SyncEnv, values: list[str | bytes], caplog: pytest.LogCaptureFixture,
              events: Any, *, host: LocalHost | None = None) -> dict[str, Any]:
    """Scan everything the runs left for the seeded values; fails on a hit; the figures."""
    scanner = LeakScanner(values)
    scanner.scan_path(env.state_dir)  # the engine's SQLite, the state store, the reports
    instances = scan_engine(scanner, env.engine)
    if host is not None:
        scanner.scan_path(host.engine.state_dir)
        instances += scan_management_api(scanner, host.base_url)
    scanner.scan_json("run records", env.records, kind="report")
    scanner.scan_records("captured logs (DEBUG)", caplog.records)
    scanner.scan_spans(events)
    summary = scanner.summary()
    scanner.assert_clean()
    return {**summary, "instances": instances, "log_records": len(caplog.records)}


# ---- comparing the two vaults (inside the test; nothing is printed) ----------------------------

def _user_tags(tags: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in tags.items() if k != LINK_TAG}


def _live(emu: Emulator, vault: str, kind: str, name: str) -> Any:
    store = emu.store(vault)
    with store.lock:
        return store.live[kind].get(name.lower()) or store.live[kind].get(name)


def _duplicated_origins(item: Any) -> list[tuple[str, str, str | None]]:
    """Source versions that two or more versions of a copy were written from."""
    origins = Counter()
    for version in item.versions.values():
        link = parse_link(version.tags.get(LINK_TAG))
        if link is not None:
            origins[(link.origin_region, link.origin_version, link.origin_id)] += 1
    return [origin for origin, n in origins.items() if n > 1]


@dataclass
class Parity:
    lost: list[str]
    different: list[str]
    duplicated: list[str]
    copies: int

    @property
    def ok(self) -> bool:
        return not (self.lost or self.different or self.duplicated)


def _secret_view(v: Any) -> tuple[Any, ...]:
    a = v.attributes
    return (v.data.get("value"), v.data.get("contentType"), a.get("enabled"), a.get("nbf"),
            a.get("exp"), _user_tags(v.tags))


def compare(emu: Emulator, seeded: Seeded, *, versions_per_copy: int | None = 1) -> Parity:
    """Every seeded item against its copy in west. ``versions_per_copy``: the versions each
    secret or certificate copy must hold (None: any number, each from a distinct source
    version — the event path may copy several versions of one item)."""
    lost, different, duplicated = [], [], []
    copies = 0
    for kind, names, view in (("secrets", seeded.secrets, _secret_view),
                              ("certificates", seeded.certificates,
                               lambda v: (v.data.get("cer"), v.attributes.get("enabled"),
                                          _user_tags(v.tags))),
                              ("keys", seeded.keys,
                               lambda v: (v.data.get("jwk"), v.attributes.get("enabled"),
                                          v.attributes.get("exp"), _user_tags(v.tags)))):
        for name in names:
            source, copy = _live(emu, "east", kind, name), _live(emu, "west", kind, name)
            if copy is None:
                lost.append(f"{kind}/{name}")
                continue
            copies += 1
            if view(source.get()) != view(copy.get()):
                different.append(f"{kind}/{name}")
            if kind == "keys":  # restored from a backup: the very same versions
                if list(copy.versions) != list(source.versions):
                    duplicated.append(f"{kind}/{name}")
            elif _duplicated_origins(copy) or (
                    versions_per_copy is not None and len(copy.versions) != versions_per_copy):
                duplicated.append(f"{kind}/{name}")
    for name in seeded.non_exportable:  # never copied: the report says "provision independently"
        if _live(emu, "west", "certificates", name) is not None:
            different.append(f"certificates/{name} (non-exportable, copied)")
    return Parity(lost, different, duplicated, copies)


def _sync_until_quiet(env: SyncEnv) -> list[dict[str, Any]]:
    """Full syncs until one writes nothing to the target (at most MAX_RUNS)."""
    runs = []
    for _ in range(MAX_RUNS):
        before = env.writes("west")
        started = time.monotonic()
        record = env.sync(timeout=3600)
        runs.append({"status": record["status"], "counts": record["counts"],
                     "writes": env.writes("west") - before, "failures": record.get("failures"),
                     "seconds": round(time.monotonic() - started, 1)})
        if runs[-1]["writes"] == 0:
            break
    return runs


def _faults(env: SyncEnv) -> dict[str, int]:
    total: Counter[str] = Counter()
    for vault in ("east", "west"):
        total.update(env.emu.stats(vault)["faults"])
    return dict(total)


def test_a_full_sync_under_10_percent_faults_and_throttling_loses_and_duplicates_nothing(
        sync_env_factory, fast_backoff, caplog, events) -> None:
    caplog.set_level(logging.DEBUG)
    env = _faulty_env(sync_env_factory)
    seeded = seed_mixed(env.emu, ITEMS, "vol")
    for vault in ("east", "west"):
        env.emu.reset_stats(vault)
    _faults_on(env, FAULT_RATE)
    started = time.monotonic()
    runs = _sync_until_quiet(env)
    elapsed = time.monotonic() - started
    faults = _faults(env)
    _faults_on(env, 0.0)

    parity = compare(env.emu, seeded)
    keys = private_keys(env.emu, "east", seeded.keys + seeded.certificates + seeded.non_exportable)
    leaks = leak_scan(env, [*seeded.values, *keys], caplog, events)
    print(json.dumps({"suite": "faults at volume: full sync", "size": SIZE, "items": ITEMS,
                      "faults": faults, "runs": runs, "seconds": round(elapsed, 1),
                      "lost": len(parity.lost), "different": len(parity.different),
                      "duplicated": len(parity.duplicated), "leaks": leaks}))
    assert runs[-1]["writes"] == 0, runs            # converged: the last run wrote nothing
    assert runs[-1]["status"] == "succeeded", runs
    assert parity.lost == [] and parity.different == [] and parity.duplicated == [], parity
    assert parity.copies == len(seeded.secrets) + len(seeded.certificates) + len(seeded.keys)
    # the faults really happened, every kind of them, the ambiguous writes included
    assert set(faults) == set(FAULT_KINDS), faults
    assert faults["drop_after_write"] >= 1


# ---- the event path ----------------------------------------------------------------------------

@pytest.fixture
def event_host(tmp_path: Path) -> Iterator[LocalHost]:
    reset_caches()
    host = LocalHost(function_app.app, state_dir=tmp_path / "host", port=0).start()
    yield host
    host.stop()
    reset_caches()


def test_the_event_path_at_20_writes_a_second_with_faults_duplicates_and_reordering(
        sync_env_factory, fast_backoff, event_host, caplog, events) -> None:
    caplog.set_level(logging.DEBUG)
    env = _faulty_env(sync_env_factory)
    env.sync()  # bootstraps the topology record in both vaults (no items yet)
    webhook = (f"{event_host.base_url}/runtime/webhooks/EventGrid"
               "?functionName=event_grid_sync")
    env.emu.subscribe_events(webhook, vault="east", duplicate_rate=0.3, reorder=True,
                             reorder_window=2.0, seed=5)
    for vault in ("east", "west"):
        env.emu.reset_stats(vault)
    _faults_on(env, FAULT_RATE)

    # EVENT_WRITES writes at 20/s over a third as many names: most names get several versions,
    # whose events arrive duplicated and out of order
    names = [f"ev-{i:04d}" for i in range(max(1, EVENT_WRITES // 3))]
    rng = random.Random(7)
    values: list[str | bytes] = []
    started = time.monotonic()
    with env.emu.secret_client("east", retry_total=20) as east:
        for i in range(EVENT_WRITES):
            due = started + i / 20
            time.sleep(max(0.0, due - time.monotonic()))
            name = names[i % len(names)] if i < len(names) else rng.choice(names)
            values.append(unique_secret_value(f"ev-{i}"))
            east.set_secret(name, values[-1], content_type="text/plain",
                            tags={"round": str(i // len(names))})
    write_seconds = time.monotonic() - started
    assert env.emu.wait_events_delivered(600)
    elapsed = time.monotonic() - started
    faults = _faults(env)
    _faults_on(env, 0.0)
    subscription = env.emu.event_subscriptions()[0]

    seeded = Seeded(names, [], [], [], values)
    parity = compare(env.emu, seeded, versions_per_copy=None)
    print(json.dumps({"suite": "faults at volume: event path", "size": SIZE,
                      "writes": EVENT_WRITES, "names": len(names),
                      "write_seconds": round(write_seconds, 1), "seconds": round(elapsed, 1),
                      "deliveries": subscription["attempts"],
                      "duplicates": subscription["duplicates"],
                      "dead_lettered": len(subscription["dead_lettered"]), "faults": faults,
                      "lost": len(parity.lost), "different": len(parity.different),
                      "duplicated": len(parity.duplicated)}))
    assert subscription["dead_lettered"] == []
    assert subscription["duplicates"] >= 1
    assert parity.lost == [] and parity.different == [] and parity.duplicated == [], parity
    assert faults.get("drop_after_write", 0) >= 1, faults
    # the event path reached parity by itself: a full sync then finds nothing to write
    before = env.writes("west")
    record = env.sync()
    assert record["status"] == "succeeded", record
    assert env.writes("west") == before, record["counts"]
    leaks = leak_scan(env, values, caplog, events, host=event_host)
    print(json.dumps({"suite": "faults at volume: event path", "leaks": leaks}))
