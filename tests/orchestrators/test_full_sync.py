"""The full sync runbook through the engine against the emulator."""

from __future__ import annotations

import json
import logging
import time
from datetime import UTC, datetime, timedelta

import pytest
from azure.keyvault.certificates import CertificatePolicy, WellKnownIssuerNames

from emulator.throttle import ThrottleLimits
from kvdr.vault.inventory import ItemKind
from kvdr.vault.session import VaultSession
from support.sync import WITH_EUROPE, SyncEnv

SEEDED_VALUES = ("v4lue-alpha-0001", "v4lue-beta-0002", "v4lue-gamma-0003")


def _cert_policy(**kwargs: object) -> CertificatePolicy:
    base: dict[str, object] = {"issuer_name": WellKnownIssuerNames.self,
                               "subject": "CN=kvdr.test", "validity_in_months": 6}
    base.update(kwargs)
    return CertificatePolicy(**base)  # type: ignore[arg-type]


def seed_every_kind(env: SyncEnv, vault: str = "east") -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    secrets = env.emu.secret_client(vault)
    secrets.set_secret("db-password", SEEDED_VALUES[0], content_type="text/plain",
                       tags={"owner": "team-a", "env": "prod"},
                       not_before=now - timedelta(days=1), expires_on=now + timedelta(days=90))
    secrets.set_secret("api-token", SEEDED_VALUES[1], enabled=True)
    secrets.set_secret("old-flag", SEEDED_VALUES[2])
    secrets.set_secret("old-flag", SEEDED_VALUES[2] + "-2")
    secrets.update_secret_properties("old-flag", content_type="application/x-flag")
    certs = env.emu.certificate_client(vault)
    certs.begin_create_certificate("web-tls", _cert_policy(), tags={"svc": "web"}).result()
    keys = env.emu.key_client(vault)
    keys.create_rsa_key("signing-key", size=2048, tags={"use": "sign"},
                        expires_on=now + timedelta(days=365))
    keys.create_ec_key("ec-key", curve="P-256")


def props(env: SyncEnv, vault: str) -> dict[str, dict]:
    """Comparable user-visible properties of every item (no link tag, no version)."""
    with VaultSession(env.config, vault, credential=env.runtime.credential) as session:
        inventory = session.inventory()
    out = {}
    for p in inventory.items:
        if p.name.startswith("kvdr-"):
            continue
        out[p.key] = {"enabled": p.enabled, "content_type": p.content_type,
                      "not_before": p.not_before, "expires": p.expires, "tags": dict(p.tags),
                      "managed": p.managed, "thumbprint": p.thumbprint,
                      "key_type": p.key_type}
    return out


def test_full_sync_round_trips_every_item_type_and_attribute(sync_env: SyncEnv) -> None:
    seed_every_kind(sync_env)
    started = time.monotonic()
    record = sync_env.sync()
    elapsed = time.monotonic() - started

    assert record["status"] == "succeeded", record
    assert record["counts"]["create"] == {"secret": 3, "certificate": 1, "key": 2}
    assert props(sync_env, "west") == props(sync_env, "east")
    west = sync_env.emu.secret_client("west")
    assert west.get_secret("db-password").value == SEEDED_VALUES[0]
    assert west.get_secret("old-flag").value == SEEDED_VALUES[2] + "-2"
    assert record["calls"]["east"] > 0 and record["calls"]["west"] > 0
    # the run's own duration: positive and inside the wall-clock time the test waited for it
    assert 0 < record["duration_seconds"] <= elapsed + 0.01
    assert sync_env.runtime.state.get_json("sync/last-report.json")["run_id"] == record["run_id"]
    assert sync_env.runtime.state.list_keys("plans/") == []  # the run's plans are deleted


def test_second_full_sync_writes_nothing(sync_env: SyncEnv) -> None:
    seed_every_kind(sync_env)
    sync_env.sync()
    sync_env.emu.reset_stats("west")
    sync_env.emu.reset_stats("east")

    record = sync_env.sync()

    assert record["status"] == "succeeded"
    # nothing executable: unchanged, and the certificate's backing secret and key skipped
    assert set(record["counts"]) == {"unchanged", "skip"}
    assert {n["name"] for n in record["skipped"]} == {"web-tls"}
    assert sum(record["counts"]["unchanged"].values()) >= 6
    assert sync_env.writes("west") == 0 and sync_env.writes("east") == 0
    # list calls, one read of the topology record (the secondary's twice: the renewal step's
    # fence), and the renewal step's policy reads (no value, no version of a secret)
    for vault, records in (("east", 1), ("west", 2)):
        ops = sync_env.emu.stats(vault)["operations"]
        assert not {"GetCertificate", "GetKey", "GetSecretVersions"} & set(ops)
        assert sync_env.emu.count(vault, "GetSecret", 200) == records


def test_dry_run_writes_nothing_and_reports_the_plan(sync_env: SyncEnv) -> None:
    seed_every_kind(sync_env)
    sync_env.emu.reset_stats("east")
    record = sync_env.sync(dry_run=True)

    assert record["dry_run"] is True and record["status"] == "succeeded"
    creates = record["counts"]["create"]
    assert creates["secret"] == 3 and creates["certificate"] == 1
    assert creates["key"] >= 2  # the lists cannot tell a certificate's backing key apart
    assert sync_env.writes("west") == 0 and sync_env.writes("east") == 0
    assert props(sync_env, "west") == {}
    assert sync_env.runtime.state.get_json("sync/last-report.json") is None
    assert sync_env.runtime.state.get_json("sync/last-dry-run.json")["run_id"] == \
        record["run_id"]


def test_a_soft_deleted_name_in_the_target_is_recovered_then_written(sync_env: SyncEnv) -> None:
    east, west = sync_env.emu.secret_client("east"), sync_env.emu.secret_client("west")
    east.set_secret("recycled", "new-value-1")
    west.set_secret("recycled", "old-value-1")
    west.begin_delete_secret("recycled").result()

    record = sync_env.sync()

    assert record["status"] == "succeeded", record
    assert record["counts"]["create"] == {"secret": 1}
    assert west.get_secret("recycled").value == "new-value-1"
    assert sync_env.emu.count("west", "RecoverDeletedSecret", 200) == 1


def test_non_exportable_certificates_and_cross_geography_keys_are_reported(
        sync_env_factory) -> None:
    env = sync_env_factory(WITH_EUROPE)
    env.emu.certificate_client("east").begin_create_certificate(
        "locked-cert", _cert_policy(exportable=False, key_type="RSA")).result()
    env.emu.key_client("east").create_rsa_key("geo-key", size=2048)

    record = env.sync()

    skipped = {(n["kind"], n["name"]): n["reason"] for n in record["skipped"]}
    assert "non-exportable" in skipped[("certificate", "locked-cert")]
    assert "geograph" in skipped[("key", "geo-key")]  # europe: another geography
    assert record["target_regions"] == ["west", "europe"] or \
        set(record["target_regions"]) == {"west", "europe"}
    assert record["counts"]["create"]["key"] == 1  # west shares the geography


def test_throttled_and_faulty_vaults_still_converge(sync_env_factory) -> None:
    env = sync_env_factory(
        sections={"pacing": {"batch_size": 5, "max_parallel": 3}},
        throttle=ThrottleLimits(window_seconds=1.0, create=8, other=60), fault_rate=0.05,
        seed=11)
    secrets = env.emu.secret_client("east", retry_total=10)
    for i in range(30):
        secrets.set_secret(f"busy-{i:02d}", f"busy-value-{i}")

    first = env.sync(timeout=300)
    env.emu.set_fault_rate("east", 0.0)
    env.emu.set_fault_rate("west", 0.0)
    second = env.sync(timeout=300)

    assert first["status"] in ("succeeded", "partial"), first
    assert second["status"] == "succeeded", second
    assert set(second["counts"]) == {"unchanged"}, (first, second)
    assert sum(second["counts"]["unchanged"].values()) == 30
    stats = env.emu.stats("west")
    assert stats["faults"] or env.emu.stats("east")["faults"]  # faults really happened


def test_no_seeded_value_reaches_history_status_logs_or_report(
        sync_env: SyncEnv, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    seed_every_kind(sync_env)
    record = sync_env.sync()
    sync_env.sync(dry_run=True)

    engine_bytes = b"".join(p.read_bytes() for p in (sync_env.state_dir / "engine").iterdir()
                            if p.is_file())
    state_bytes = b"".join(p.read_bytes() for p in (sync_env.state_dir / "state").rglob("*")
                           if p.is_file())
    statuses = json.dumps([s.custom_status for s in sync_env.engine.list_instances()])
    for value in SEEDED_VALUES:
        assert value.encode() not in engine_bytes
        assert value.encode() not in state_bytes
        assert value not in statuses
        assert value not in caplog.text
        assert value not in json.dumps(record)


def test_custom_status_is_small_progress_without_names(sync_env: SyncEnv) -> None:
    secrets = sync_env.emu.secret_client("east")
    for i in range(12):
        secrets.set_secret(f"progress-{i}", "x")
    sync_env.sync()
    statuses = [s.custom_status for s in sync_env.engine.list_instances()]
    assert statuses
    for status in statuses:
        assert len(json.dumps(status)) < 16 * 1024
        assert set(status) == {"phase", "target", "batches_done", "batches_total",
                               "items_done", "items_total"}
    assert {"progress" not in json.dumps(s) for s in statuses} == {True}


def test_an_unknown_or_primary_target_fails_the_run_with_a_code(sync_env: SyncEnv) -> None:
    record = sync_env.sync(targets=["east"])
    assert record["status"] == "failed"
    assert record["errors"][0]["code"] == "runbook.bad_target"


def test_kinds_are_all_listed(sync_env: SyncEnv) -> None:
    assert [str(k) for k in ItemKind] == ["secret", "certificate", "key"]


def test_a_long_plan_runs_in_groups_and_continues_as_new_without_losing_items(
        sync_env_factory, monkeypatch) -> None:
    # the bounds that keep histories small at 100,000s of items, shrunk so a small vault
    # crosses them: 2 batches per group, 2 groups per execution of the pair orchestration
    import orchestrators.full_sync as full_sync

    monkeypatch.setattr(full_sync, "GROUP_SIZE", 2)
    monkeypatch.setattr(full_sync, "MAX_GROUPS_PER_EXECUTION", 2)
    env = sync_env_factory(sections={"pacing": {"batch_size": 2, "max_parallel": 2}})
    with env.emu.secret_client("east") as east:
        for i in range(19):
            east.set_secret(f"bounded-{i:02d}", f"bounded-value-{i}")

    record = env.sync()

    assert record["status"] == "succeeded", record
    assert record["counts"]["create"] == {"secret": 19}
    with env.emu.secret_client("west") as west:
        assert sorted(p.name for p in west.list_properties_of_secrets()
                      if p.name.startswith("bounded-")) == [f"bounded-{i:02d}" for i in range(19)]
    # 10 batches -> 5 groups -> the pair orchestration continued as new twice
    pair = [s for s in env.engine.list_instances() if s.name == "full_sync_pair"]
    groups = [s for s in env.engine.list_instances() if s.name == "full_sync_batches"]
    assert len(groups) == 5
    [pair_status] = pair
    assert pair_status.runtime_status.value == "Completed"
    # the last execution started from what the previous ones carried: batches 0-7 were done
    assert pair_status.input["next_batch"] == 8 and pair_status.input["items_done"] == 16
    assert env.sync()["counts"].get("unchanged") == {"secret": 19}
