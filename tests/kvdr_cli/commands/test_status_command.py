"""`kvdr status` as a monitoring probe: exit 0 only when every vault answers, the topology
records agree and every pair is within its RPO; otherwise exit 1 with each problem listed
(run as an operator runs it: a subprocess against emulated vaults)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from emulator.testing import Emulator
from kvdr.topology.record import TopologyRecord
from kvdr.vault.links import TOPOLOGY_SECRET_NAME
from support.cli import run_kvdr, two_regions, write_toml

T0 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    yield from two_regions()


@pytest.fixture
def synced(emulator: Emulator, tmp_path: Path) -> Path:
    """A kvdr.toml whose pair has just been synced (status healthy)."""
    config = write_toml(emulator, tmp_path / "kvdr.toml")
    emulator.secret_client("east").set_secret("app-setting", "value-1")
    assert run_kvdr("sync", "--config", str(config), "--quiet", cwd=tmp_path).returncode == 0
    return config


def status(config: Path, *extra: str):
    return run_kvdr("status", "--config", str(config), *extra, cwd=config.parent)


def put_record(emulator: Emulator, vault: str, primary: str, epoch: int) -> None:
    record = TopologyRecord(primary, epoch, T0 + timedelta(hours=epoch), "test", "test")
    with emulator.secret_client(vault) as client:
        client.set_secret(TOPOLOGY_SECRET_NAME, record.to_json())


def test_a_healthy_pair_exits_0(synced: Path) -> None:
    done = status(synced)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "problem" not in done.stdout


def test_an_unreachable_vault_exits_1_naming_it(emulator: Emulator, synced: Path) -> None:
    emulator.down("west")
    done = status(synced)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "problem: west: cannot read the topology record [vault.unreachable]" in done.stdout


def test_a_split_topology_exits_1(emulator: Emulator, synced: Path) -> None:
    put_record(emulator, "east", "east", 2)
    put_record(emulator, "west", "west", 2)
    done = status(synced, "--json")
    assert done.returncode == 1, done.stdout + done.stderr
    body = json.loads(done.stdout)
    assert body["topology"]["split_brain"] is True
    assert any("split brain" in p for p in body["problems"])


def test_a_stale_topology_record_exits_1_naming_the_region(emulator: Emulator,
                                                           synced: Path) -> None:
    put_record(emulator, "east", "east", 2)  # west still holds epoch 1
    done = status(synced)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "problem: west: holds topology epoch 1, older than epoch 2" in done.stdout


def test_a_pair_over_its_rpo_exits_1(synced: Path) -> None:
    report = synced.parent / ".kvdr" / "state" / "sync" / "last-report.json"
    record = json.loads(report.read_text())
    record["finished_at"] = "2000-01-01T00:00:00Z"  # the last full sync is long past the RPO
    report.write_text(json.dumps(record))
    done = status(synced)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "** over RPO **" in done.stdout
    assert "problem: east -> west is over its RPO" in done.stdout


def test_a_failed_drill_shows_no_missing_figures(emulator: Emulator, synced: Path) -> None:
    emulator.down("west")
    try:
        drill = run_kvdr("drill", "--config", str(synced), "--quiet", cwd=synced.parent)
    finally:
        emulator.up("west")
    assert drill.returncode == 1, drill.stdout + drill.stderr
    done = status(synced)
    drill_line = next(line for line in done.stdout.splitlines() if "last drill" in line)
    assert "failed" in drill_line and "None" not in drill_line


# --- renewal, from the stored records (status reads no policy) ----------------------------------

RENEWAL_SECTION = {
    "primary": {"region": "east", "armed": 0, "disarmed": 0, "policies_updated": 0,
                "ledger_written": 0, "left_alone": [], "failures": [], "omitted": 0},
    "secondary": {"region": "west", "armed": 0, "disarmed": 1, "policies_updated": 1,
                  "ledger_written": 1, "left_alone": [],
                  "failures": [{"kind": "certificate", "name": "tls-frontend",
                                "code": "vault.forbidden", "message": "denied"}],
                  "omitted": 0},
    "contacts": "copied",
    "issuers": [{"name": "digicert-prod", "problem": "missing", "primary_provider": "DigiCert",
                 "secondary_provider": None},
                {"name": "internal-ca", "problem": "different-provider",
                 "primary_provider": "OneCertV2-PrivateCA", "secondary_provider": "DigiCert"}],
    "diverged_keys": [{"name": "signing-key", "versions_behind": 2, "seconds_behind": 172800.0,
                       "primary_latest": "2026-01-03T00:00:00Z",
                       "copy_latest": "2026-01-01T00:00:00Z"}]}
HANDOVER = {"ok": True, "unreached": {},
            "primary": {"region": "west", "armed": 3, "disarmed": 0, "policies_updated": 3,
                        "ledger_written": 3, "left_alone": [], "failures": [], "omitted": 0},
            "others": [{"region": "east", "armed": 0, "disarmed": 3, "policies_updated": 3,
                        "ledger_written": 3, "left_alone": [], "failures": [], "omitted": 0}]}


def _state(config: Path) -> Path:
    return config.parent / ".kvdr" / "state"


def _edit_sync_report(config: Path, renewal: object) -> None:
    path = _state(config) / "sync" / "last-report.json"
    record = json.loads(path.read_text())
    if renewal is None:
        record.pop("renewal", None)
    else:
        record["renewal"] = renewal
    path.write_text(json.dumps(record))


def test_status_shows_the_last_syncs_renewal_section(synced: Path) -> None:
    _edit_sync_report(synced, {"west": RENEWAL_SECTION})
    failover = _state(synced) / "failover" / "last-report.json"
    failover.parent.mkdir(parents=True, exist_ok=True)
    failover.write_text(json.dumps({
        "run_id": "f1", "kind": "planned", "outcome": "completed", "source": "east",
        "target": "west", "epoch_before": 1, "epoch_after": 2,
        "finished_at": "2026-01-01T00:00:00Z", "renewal": HANDOVER}))

    done = status(synced)

    assert done.returncode == 1, done.stdout + done.stderr  # a renewal failure is a problem
    out = done.stdout
    assert ("renewal: issuers differ (2): digicert-prod missing (primary: DigiCert); "
            "internal-ca provider DigiCert, primary's OneCertV2-PrivateCA") in out
    assert "renewal: keys diverged (1): signing-key 2 version(s), 2.0 days behind" in out
    assert ("renewal: renewal failures: certificate 'tls-frontend' in west "
            "[vault.forbidden]") in out
    assert "renewal hand-over: west armed 3; east disarmed 3" in out
    assert "problem: east -> west: the last sync's renewal step failed for 1 item(s)" in out

    body = json.loads(status(synced, "--json").stdout)
    [pair] = body["pairs"]
    assert pair["renewal"] == RENEWAL_SECTION
    assert body["last_failover"]["renewal"] == HANDOVER


def test_status_without_a_renewal_section_shows_none_and_stays_healthy(synced: Path) -> None:
    _edit_sync_report(synced, None)  # a record written before renewal existed
    done = status(synced)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "renewal" not in done.stdout
    body = json.loads(status(synced, "--json").stdout)
    assert body["pairs"][0]["renewal"] is None


def test_a_clean_renewal_section_is_one_line_and_no_problem(synced: Path) -> None:
    clean = {**RENEWAL_SECTION, "issuers": [], "diverged_keys": [], "contacts": "unchanged",
             "secondary": {**RENEWAL_SECTION["secondary"], "failures": []}}
    _edit_sync_report(synced, {"west": clean})
    done = status(synced)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "renewal: in order (contacts unchanged)" in done.stdout
