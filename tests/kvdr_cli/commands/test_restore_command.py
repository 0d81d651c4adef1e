"""`kvdr restore` end to end, the way an operator runs it (a subprocess on the local engine)
against emulated vaults: after a bad night — ten secrets overwritten, three deleted, one
deleted and purged, two created, a certificate renewed — a restore to the moment before brings
back values, metadata and the certificate, recovers, restores the purged one from the
secondary's copy, reports the new ones without deleting them; a rerun writes nothing, and a
restore to the moment just before the restore undoes it. Usage errors and the confirmation
prompt are driven in-process."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from azure.keyvault.certificates import CertificatePolicy

from emulator.testing import Emulator
from kvdr.restore.marks import MARK_TAG
from kvdr.services import local_runtime
from kvdr.topology.store import current_topology
from kvdr_cli.commands import restore as command
from support.cli import run_kvdr, two_regions, write_toml
from support.sync import WRITE_OPS

GOOD, BAD = "good-restore-value-6b1f", "bad-restore-value-0e7d"  # never printed
SECRETS = tuple(f"app-secret-{i:02d}" for i in range(30))
ROTATED, DELETED, PURGED = SECRETS[:10], SECRETS[10:13], SECRETS[13]
NEW = ("app-new-0", "app-new-1")
CERTS = ("web-tls", "api-tls")
EXP = datetime(2031, 6, 1, tzinfo=UTC)


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    yield from two_regions()


@pytest.fixture
def options(emulator: Emulator, tmp_path: Path) -> list[str]:
    config = write_toml(emulator, tmp_path / "kvdr.toml")
    state = tmp_path / "state"
    runtime = local_runtime(config, state)
    try:
        current_topology(runtime.config, runtime.sessions())
    finally:
        runtime.close()
    return ["--config", str(config), "--state-dir", str(state)]


def writes(emu: Emulator, vault: str = "east") -> int:
    ops = emu.stats(vault)["operations"]
    return sum(sum(ops.get(op, {}).values()) for op in WRITE_OPS)


def metadata(props: Any) -> tuple[Any, ...]:
    tags = {k: v for k, v in (props.tags or {}).items() if k != MARK_TAG}
    return props.content_type, props.enabled, props.expires_on, tags


def seed(emu: Emulator) -> dict[str, Any]:
    """30 secrets (content types, tags, some with an expiry) and 2 exportable certificates in
    east; returns what each looked like (metadata, thumbprints)."""
    east, certs = emu.secret_client("east"), emu.certificate_client("east")
    seen: dict[str, Any] = {}
    for i, name in enumerate(SECRETS):
        props = east.set_secret(name, f"{GOOD}-{name}",
                                content_type="text/plain" if i % 2 else "application/json",
                                tags={"app": "shop", "n": str(i)},
                                expires_on=EXP if i % 5 == 0 else None).properties
        seen[name] = metadata(props)
    for name in CERTS:
        cert = certs.begin_create_certificate(name, CertificatePolicy.get_default(),
                                              tags={"svc": name}).result()
        seen[name] = cert.properties.x509_thumbprint
    return seen


def damage(emu: Emulator) -> None:
    """The bad night: overwrite 10 (value and metadata), soft-delete 3, delete and purge 1
    (west holds its copy), create 2, renew a certificate."""
    east, certs = emu.secret_client("east"), emu.certificate_client("east")
    for name in ROTATED:
        east.set_secret(name, f"{BAD}-{name}", content_type="application/x-bad",
                        tags={"app": "oops"}, expires_on=EXP + timedelta(days=1))
    for name in (*DELETED, PURGED):
        east.begin_delete_secret(name).wait()
    east.purge_deleted_secret(PURGED)
    for name in NEW:
        east.set_secret(name, f"{BAD}-{name}")
    certs.begin_create_certificate(CERTS[0], CertificatePolicy.get_default()).result()


def moment(emu: Emulator) -> str:
    """A moment two seconds clear of the writes on either side (versions are dated to the
    second), as ISO 8601."""
    emu.advance(2)
    at = emu.clock.now()
    emu.advance(2)
    return at.isoformat()


@pytest.mark.slow
def test_a_restore_undoes_a_bad_night_a_rerun_writes_nothing_and_it_can_be_undone(
        emulator: Emulator, options: list[str], tmp_path: Path) -> None:
    emu = emulator
    before = seed(emu)
    synced = run_kvdr("sync", *options, cwd=tmp_path)
    assert synced.returncode == 0, synced.stderr
    at = emu.clock.now().isoformat()  # T
    emu.advance(60)
    damage(emu)
    just_before_the_restore = moment(emu)

    done = run_kvdr("restore", "--as-of", at, "--yes", "--reason", "bad rotation job",
                    "--json", *options, cwd=tmp_path)

    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["outcome"] == "succeeded", report
    assert report["plan_counts"]["roll_back"] == {"secret": 10, "certificate": 1}
    assert report["plan_counts"]["recover"] == {"secret": 3}
    assert report["plan_counts"]["from_secondary"] == {"secret": 1}
    assert report["plan_counts"]["report_new"] == {"secret": 2}
    assert report["counts"] == {"done": 15, "already": 0, "failed": 0, "cannot": 0, "new": 2}
    assert report["reason"] == "bad rotation job"
    assert report["requested_by"].endswith("(kvdr cli)")
    east = emu.secret_client("east")
    for name in (*ROTATED, *DELETED, PURGED):
        secret = east.get_secret(name)
        assert secret.value == f"{GOOD}-{name}", name
        assert metadata(secret.properties) == before[name], name
    certs = emu.certificate_client("east")
    assert certs.get_certificate(CERTS[0]).properties.x509_thumbprint == before[CERTS[0]]
    assert certs.get_certificate(CERTS[1]).properties.x509_thumbprint == before[CERTS[1]]
    new = {o["name"]: o for o in report["outcomes"] if o["action"] == "report_new"}
    assert set(new) == set(NEW)
    for name in NEW:  # reported, never deleted (nor disabled unless asked)
        assert east.get_secret(name).properties.enabled is True
    purged = next(o for o in report["outcomes"] if o["name"] == PURGED)
    assert purged["action"] == "from_secondary" and "west" in purged["source"]
    for run in (synced, done):
        assert GOOD not in run.stdout + run.stderr and BAD not in run.stdout + run.stderr

    # a rerun plans every item unchanged and writes nothing
    quiet = writes(emu)
    again = run_kvdr("restore", "--as-of", at, "--yes", *options, cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert ": succeeded" in again.stdout and "restored 0" in again.stdout
    assert writes(emu) == quiet

    # the status shows the last restore
    status = run_kvdr("status", "--json", *options, cwd=tmp_path)
    last = json.loads(status.stdout)["last_restore"]
    assert (last["outcome"], last["primary"]) == ("succeeded", "east")
    assert last["counts"]["done"] == 0  # the rerun is the last one
    text = run_kvdr("status", *options, cwd=tmp_path).stdout
    assert "last restore" in text and "succeeded (east as of" in text

    # the restored versions replicate through the normal paths: the next full sync copies them
    resynced = run_kvdr("sync", *options, cwd=tmp_path)
    assert resynced.returncode == 0, resynced.stdout + resynced.stderr
    west = emu.secret_client("west")
    for name in (*ROTATED, *DELETED, PURGED):
        assert west.get_secret(name).value == f"{GOOD}-{name}", name
    west_certs = emu.certificate_client("west")
    assert west_certs.get_certificate(CERTS[0]).properties.x509_thumbprint == before[CERTS[0]]

    # a restore is undoable: back to just before it, the bad values return
    undo = run_kvdr("restore", "--as-of", just_before_the_restore, "--yes", "--names",
                    "app-secret-*", "web-tls", *options, cwd=tmp_path)
    assert undo.returncode == 0, undo.stderr
    for name in ROTATED:
        assert east.get_secret(name).value == f"{BAD}-{name}", name
    assert certs.get_certificate(CERTS[0]).properties.x509_thumbprint != before[CERTS[0]]
    for name in (*DELETED, PURGED):  # an undo never deletes what the restore brought back
        assert east.get_secret(name).value == f"{GOOD}-{name}"


@pytest.mark.slow
def test_a_dry_run_prints_the_plan_and_writes_nothing(emulator: Emulator, options: list[str],
                                                       tmp_path: Path) -> None:
    east = emulator.secret_client("east")
    east.set_secret("dry-one", GOOD)
    at = moment(emulator)
    east.set_secret("dry-one", BAD)
    quiet = writes(emulator)

    result = run_kvdr("restore", "--as-of", at, "--dry-run", *options, cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    assert "planned_only (dry run)" in result.stdout
    assert "roll_back" in result.stdout and "dry-one" in result.stdout
    assert "Proceed?" not in result.stderr
    assert writes(emulator) == quiet
    assert east.get_secret("dry-one").value == BAD


def test_without_a_terminal_it_asks_for_yes_exits_2_and_starts_nothing(
        options: list[str], tmp_path: Path) -> None:
    result = run_kvdr("restore", "--as-of", "1h", *options, cwd=tmp_path)
    assert result.returncode == 2
    assert "--yes" in result.stderr and "--dry-run" in result.stderr
    assert not (tmp_path / "state" / "engine").exists()


@pytest.mark.slow
def test_at_the_prompt_a_no_restores_nothing_and_exits_3(
        emulator: Emulator, options: list[str], capsys) -> None:
    east = emulator.secret_client("east")
    east.set_secret("asked", GOOD)
    at = moment(emulator)
    east.set_secret("asked", BAD)

    code = command.main(["--as-of", at, "--quiet", *options], stdin=Terminal("n\n"))

    assert code == 3
    err = capsys.readouterr()
    assert "plan: restore east (epoch 1)" in err.err and "Proceed? [y/N]" in err.err
    assert "secret asked" in err.err  # the preview names it
    assert ": rejected" in err.out
    assert east.get_secret("asked").value == BAD


@pytest.mark.slow
def test_at_the_prompt_a_yes_restores(emulator: Emulator, options: list[str], capsys) -> None:
    east = emulator.secret_client("east")
    east.set_secret("asked", GOOD)
    at = moment(emulator)
    east.set_secret("asked", BAD)

    assert command.main(["--as-of", at, "--quiet", *options], stdin=Terminal("y\n")) == 0
    assert "approval: approved by" in capsys.readouterr().out
    assert east.get_secret("asked").value == GOOD


@pytest.mark.parametrize(("argv", "says"), [
    ([], "--as-of"),
    (["--as-of", "tomorrow"], "neither an ISO 8601 time"),
    (["--as-of", "2025-03-01T02:00:00"], "has no time zone"),
    (["--as-of", "2999-01-01T00:00:00Z"], "in the future"),
    (["--as-of", "120d"], "more than 90 days ago"),
    (["--as-of", "1h", "--kinds", "passwords"], "unknown kind(s)"),
    (["--as-of", "1h", "--names", "bad_name"], "is not one kvdr can match"),
], ids=["no-time", "not-a-time", "no-zone", "future", "too-old", "bad-kind", "bad-glob"])
def test_bad_usage_exits_2_saying_what_is_wrong_and_starts_nothing(
        argv: list[str], says: str, tmp_path: Path, capsys) -> None:
    options = ["--config", str(tmp_path / "absent.toml"), "--state-dir", str(tmp_path / "s")]
    try:
        code = command.main([*argv, "--yes", *options])
    except SystemExit as exc:  # argparse's usage errors
        code = int(exc.code or 0)
    assert code == 2
    assert says in capsys.readouterr().err
    assert not (tmp_path / "s").exists()


def test_a_missing_configuration_exits_2(tmp_path: Path, capsys) -> None:
    argv = ["--as-of", "1h", "--yes", "--config", str(tmp_path / "nope.toml"),
            "--state-dir", str(tmp_path / "s")]
    assert command.main(argv) == 2
    assert "configuration error" in capsys.readouterr().err
