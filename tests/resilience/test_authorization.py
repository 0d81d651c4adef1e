"""Suite 7 of issue 13, authorization: kvdr run with identities the emulator's roles file limits
(emulator/authorization.py answers as Key Vault's RBAC does: 403 ``ForbiddenByRbac`` naming the
data action), through the `kvdr` command line and the local host, as an operator runs them.

* A replicator that may write the primary but only read the secondary: the full sync stops
  before its first write with one clear error (``vault.permission_denied``) naming the region
  and the role, nothing written to the secondary and no batch stored; given the role, the rerun
  completes.
* A read-only identity: `kvdr status` and ``GET /api/status`` succeed; the drill completes with
  every check, the RTO rehearsal's probe write reported as a finding naming the role (a
  failover with this identity would fail: the drill must say so); failover (planned and
  unplanned) and restore are refused with nothing switched or written anywhere.
* An identity that may write the new primary but not the old one: the failover completes, as
  when the old primary does not answer, and the report and `kvdr status` name the vault left
  holding the older record (``vault.permission_denied``).
* No traceback in any output; no seeded value in any output or in the state directory.

Sizes: ``fast`` (in ``make test``) and ``large`` (``KVDR_RESILIENCE_SIZE=large``: 2,000 items,
where the old behaviour was 2,000 refused writes); the figures are printed (``-s``).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from azure.keyvault.certificates import CertificatePolicy
from azure.keyvault.keys import KeyType
from resilience.authorization_support import (
    ADMIN,
    READER,
    REGIONS,
    REPLICATOR,
    ROLES,
    UNFENCING,
    World,
    snapshot,
    start_host,
    topology_records,
)

from emulator.server import VaultSpec
from emulator.testing import Emulator
from kvdr.services import local_runtime
from kvdr.topology.store import current_topology
from kvdr.vault.credentials import LocalTokenCredential
from kvdr_cli.emulated import emulator_document, to_toml
from support.leaks import LeakScanner, unique_secret_value

pytestmark = pytest.mark.slow

SIZE = os.environ.get("KVDR_RESILIENCE_SIZE", "fast").strip().lower() or "fast"
SECRETS = {"fast": 40, "large": 2000}[SIZE]
CERTIFICATES, KEYS = 2, 2
DISTINCT_VALUES = 20  # seeded values cycle through these (each a scanner needle)
OFFICER = {"secret": "Key Vault Secrets Officer", "certificate": "Key Vault Certificates Officer",
           "key": "Key Vault Crypto Officer"}
SCANNER = LeakScanner()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root = tmp_path_factory.mktemp("authz")
    started = time.monotonic()
    with Emulator([VaultSpec(name, geography="us") for name in REGIONS], roles=ROLES) as emu:
        config = root / "kvdr.toml"
        config.write_text(to_toml(emulator_document(
            {name: emu.url(name) for name in REGIONS}, emu.ca_cert)))
        values = [unique_secret_value(f"authz-{i}") for i in range(DISTINCT_VALUES)]
        for value in values:
            SCANNER.add(value)
        with (emu.secret_client("east", token=ADMIN) as secrets,
              emu.certificate_client("east", token=ADMIN) as certificates,
              emu.key_client("east", token=ADMIN) as keys):
            for i in range(SECRETS):
                secrets.set_secret(f"authz-{i:04d}", values[i % DISTINCT_VALUES],
                                   tags={"app": "authz"})
            for i in range(CERTIFICATES):
                certificates.begin_create_certificate(
                    f"authz-cert-{i}", CertificatePolicy.get_default()).result()
            for i in range(KEYS):
                keys.create_key(f"authz-key-{i}", KeyType.rsa)
        state = root / "state"
        runtime = local_runtime(config, state, credential=LocalTokenCredential(
            tuple(emu.url(n) for n in REGIONS), ADMIN))
        try:  # east primary at epoch 1 in both vaults, written by the admin
            current_topology(runtime.config, runtime.sessions())
        finally:
            runtime.close()
        world = World(emu, config, state)
        world.figures["items"] = SECRETS + CERTIFICATES + KEYS
        world.figures["setup_seconds"] = round(time.monotonic() - started)
        yield world
        _figures(world)


def _figures(world: World) -> None:
    refused = sum(world.refused(v) for v in REGIONS)
    print("\n" + json.dumps({"suite": "authorization", "size": SIZE, **world.figures,
                             "requests refused 403": refused,
                             "leak scan": SCANNER.summary()}))


def _no_traceback(run) -> None:
    assert "Traceback" not in run.output, f"kvdr {' '.join(run.args)} printed a traceback"


def _refused(run, region: str) -> dict:
    """The run's error: vault.permission_denied naming ``region`` and an Officer role."""
    _no_traceback(run)
    assert run.returncode == 1, run.output[-2000:]
    assert "[vault.permission_denied]" in run.output or "vault.permission_denied" in run.output
    assert f"region {region}" in run.output
    assert any(role in run.output for role in OFFICER.values())
    return {}


# --- the replicator without write on the secondary ----------------------------------------------


def test_a_sync_to_a_secondary_it_may_not_write_stops_before_writing_naming_the_role(
        world: World) -> None:
    west_before = snapshot(world.emu, "west")
    refused_before = world.refused("west")
    run = world.kvdr(REPLICATOR, "sync", "--json", "--quiet")
    world.figures["sync_refused_seconds"] = round(run.seconds, 1)
    _no_traceback(run)
    assert run.returncode == 1, run.output[-2000:]
    record = run.json()
    assert record["status"] == "failed"
    [error] = record["errors"]
    assert error["target"] == "west" and error["code"] == "vault.permission_denied"
    for kind, role in OFFICER.items():  # every kind the plan writes, in one error
        assert role in error["message"], kind
    assert "region west" in error["message"]
    # one refused request per kind checked, not one per item; nothing written, nothing stored
    assert world.refused("west") - refused_before == len(OFFICER)
    assert snapshot(world.emu, "west") == west_before
    assert not list(world.state.rglob("*plans*")), "batches were stored for a refused sync"
    world.figures["writes_refused_instead_of_items"] = world.refused("west") - refused_before


def test_given_the_role_the_rerun_copies_everything(world: World) -> None:
    run = world.kvdr(ADMIN, "sync", "--json", "--quiet")
    world.figures["sync_admin_seconds"] = round(run.seconds, 1)
    _no_traceback(run)
    assert run.returncode == 0, run.output[-2000:]
    assert run.json()["status"] == "succeeded"
    east, west = snapshot(world.emu, "east"), snapshot(world.emu, "west")
    copied = {k for k in west if k.startswith("live ") and "authz" in k}
    assert copied == {k for k in east if k.startswith("live ") and "authz" in k}


# --- the read-only identity ---------------------------------------------------------------------


def test_a_read_only_identity_reads_the_status_on_the_command_line_and_over_http(
        world: World) -> None:
    before = {v: snapshot(world.emu, v) for v in REGIONS}
    run = world.kvdr(READER, "status", "--json")
    _no_traceback(run)
    assert run.returncode == 0, run.output[-2000:]
    status = run.json()
    assert status["primary"] == "east"
    host = start_host(world, READER, world.state)
    try:
        code, body, text = host.get("/api/status")
        SCANNER.scan_text("GET /api/status", text)
    finally:
        host.stop()
    assert code == 200 and body["primary"] == "east", text[-2000:]
    assert {v: snapshot(world.emu, v) for v in REGIONS} == before


def test_the_drill_with_a_read_only_identity_reports_the_missing_role_as_a_finding(
        world: World) -> None:
    before = {v: snapshot(world.emu, v) for v in REGIONS}
    run = world.kvdr(READER, "drill", "--json", "--quiet")
    _no_traceback(run)
    report = run.json()
    checks = {c["name"] + (f":{c['region']}" if c.get("region") else ""): c
              for c in report["checks"]}
    rto = checks["rto:west"]
    assert rto["status"] == "failed" and rto["code"] == "vault.permission_denied"
    assert "Key Vault Secrets Officer" in rto["message"] and "region west" in rto["message"]
    # every other check ran and passed: the drill is not cut short by the finding
    others = {n: c["status"] for n, c in checks.items() if n != "rto:west"}
    assert others and set(others.values()) == {"passed"}, others
    assert run.returncode == 1  # a failed check fails the drill, as a failover would fail
    assert {v: snapshot(world.emu, v) for v in REGIONS} == before


@pytest.mark.parametrize(("token", "mode"), [
    (READER, "planned"), (READER, "unplanned"), (REPLICATOR, "planned"),
    (REPLICATOR, "unplanned")])
def test_a_failover_without_write_on_the_new_primary_is_refused_with_nothing_switched(
        world: World, token: str, mode: str) -> None:
    records = topology_records(world.emu)
    before = {v: snapshot(world.emu, v) for v in REGIONS}
    extra = ("--unplanned",) if mode == "unplanned" else ()
    run = world.kvdr(token, "failover", "--target", "west", "--reason", "authz suite",
                     "--yes", "--json", "--quiet", *extra)
    _no_traceback(run)
    assert run.returncode == 1, run.output[-2000:]
    report = run.json()
    assert report["outcome"] == "failed"
    assert report["error"]["code"] == "vault.permission_denied"
    assert "region west" in report["error"]["message"]
    assert "Key Vault Secrets Officer" in report["error"]["message"]
    assert topology_records(world.emu) == records  # no vault switched, none fenced
    assert {v: snapshot(world.emu, v) for v in REGIONS} == before
    world.figures["failovers_refused"] += 1


def test_a_restore_with_a_read_only_identity_is_refused_before_any_write(
        world: World) -> None:
    time.sleep(1.1)  # Key Vault dates versions to the second: TIME strictly before the change
    as_of = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    time.sleep(1.1)
    with world.emu.secret_client("east", token=ADMIN) as secrets:
        changed = unique_secret_value("authz-changed")
        SCANNER.add(changed)
        secrets.set_secret("authz-0000", changed)  # a bad night to undo
    before = {v: snapshot(world.emu, v) for v in REGIONS}
    run = world.kvdr(READER, "restore", "--as-of", as_of, "--yes", "--json", "--quiet")
    _no_traceback(run)
    assert run.returncode == 1, run.output[-2000:]
    report = run.json()
    error = report.get("error") or {}
    assert error.get("code") == "vault.permission_denied", report
    assert "region east" in error["message"] and "Key Vault Secrets Officer" in error["message"]
    assert {v: snapshot(world.emu, v) for v in REGIONS} == before


def test_a_failover_that_may_not_fence_the_old_primary_switches_and_says_so(
        world: World) -> None:
    """Last (it changes the primary): the identity may write the new primary but not the old
    one. As with an old primary that does not answer, the switch stands and the report and
    `kvdr status` name the vault left holding the older record and why."""
    run = world.kvdr(UNFENCING, "failover", "--target", "west", "--reason", "authz suite",
                     "--yes", "--json", "--quiet")
    _no_traceback(run)
    assert run.returncode == 0, run.output[-2000:]
    report = run.json()
    assert report["outcome"] == "completed"
    assert report["unreached"] == {"east": "vault.permission_denied"}
    records = topology_records(world.emu)
    assert records["west"][1:] == ("west", 2) and records["east"][1:] == ("east", 1)
    status = world.kvdr(ADMIN, "status")
    _no_traceback(status)
    assert "east: holds topology epoch 1, older than epoch 2" in status.output
    world.figures["failovers_unfenced_reported"] += 1


# --- leaks ----------------------------------------------------------------------------------------


def test_no_seeded_value_in_any_output_or_state(world: World) -> None:
    assert world.runs
    for i, run in enumerate(world.runs):
        SCANNER.scan_text(f"run {i} (kvdr {run.args[0]}) stdout", run.stdout)
        SCANNER.scan_text(f"run {i} (kvdr {run.args[0]}) stderr", run.stderr)
    SCANNER.scan_path(world.state)
    SCANNER.assert_clean()


def test_the_scan_finds_a_planted_value(tmp_path: Path) -> None:
    planted = unique_secret_value("authz-planted")
    scanner = LeakScanner([planted])
    (tmp_path / "report.json").write_text(json.dumps({"message": planted}))
    assert scanner.scan_path(tmp_path)
