"""Suite 3 of issue 13, outages mid-runbook: the target goes down during a full sync, the primary
during a planned failover's drain, the new primary between the switch and the verification (a
failover's and a failback's).

Each runbook runs on the local engine against emulated vaults; the vault goes down at a chosen
point (``Emulator.down_after_writes``: right after the n-th copy is stored, or the switch's
record), as connection refused, 503 or a vault that accepts and never answers (``hang``). What is
proved: the runbook retries (attempts counted by the emulator), each failing call no more than
its schedule allows, then ends cleanly (a final status, no traceback) with a report that says
what was done and what was not — and claims nothing that did not happen; once the vault is back
the rerun finishes: parity, no duplicate version, the epoch raised exactly once. One variant per
runbook brings the vault back while the runbook still retries: it recovers without a rerun.
Every run ends with a leak scan of the engine's SQLite histories, the state store, the reports,
the logs and the output. Retries keep their number and a tenth of their wait
(``support.outages.short_retries``).

Sizes: ``fast`` (in ``make test``) and ``large`` (``KVDR_RESILIENCE_SIZE=large``: more items and
more outage points); ``-s`` prints each run's figures.
"""

from __future__ import annotations

import json
import logging
import os
import time
import uuid
from typing import Any

import pytest

from emulator.server import DownMode
from kvdr.failover.report import FailoverReport
from kvdr.failover.request import FailoverKind, FailoverRequest
from kvdr.sync.contracts import BATCH_FAILED_CODE
from support.leaks import LeakScanner, unique_secret_value
from support.outages import (
    ATTEMPTS,
    OUTAGE_CODES,
    UpAfter,
    failure_codes,
    has_traceback,
    outage_requests,
    present,
    seed_secrets,
    short_retries,
    topology_epochs,
)
from support.parity import secret_parity
from support.sync import US_PAIR, SyncEnv

SIZE = os.environ.get("KVDR_RESILIENCE_SIZE", "fast").strip().lower() or "fast"
SYNC_ITEMS = {"fast": 20, "large": 240}[SIZE]
DRAIN_ITEMS = {"fast": 25, "large": 120}[SIZE]  # more than two batches: some wait
# where the outage starts: after this fraction of the copies was stored
POINTS = {"fast": (1 / 3,), "large": (0.1, 1 / 3, 0.75)}[SIZE]
PACING = {"pacing": {"batch_size": 10, "max_parallel": 2}}
# 503 is in every size's drain and come-back tests; the sync's fast size takes the other two
SYNC_MODES = {"fast": (DownMode.REFUSE, DownMode.HANG),
              "large": (DownMode.REFUSE, DownMode.UNAVAILABLE, DownMode.HANG)}[SIZE]
RUN_TIMEOUT = 900
# the most one failed item may ask a down vault: a version-creating write is sent once, then
# whether it landed anyway is read with the whole schedule (kvdr.sync.copier.checked_write)
PER_ITEM = 2 * ATTEMPTS
NOT_SENT = BATCH_FAILED_CODE  # a batch not sent to a target that had stopped answering


@pytest.fixture
def env(sync_env_factory: Any, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> SyncEnv:
    short_retries(monkeypatch)
    caplog.set_level(logging.INFO)
    environment: SyncEnv = sync_env_factory(US_PAIR, sections=PACING)
    return environment


def _values(prefix: str, n: int) -> dict[str, str]:
    return {f"{prefix}-{i:04d}": unique_secret_value(f"outage-{prefix}") for i in range(n)}


def _figures(**figures: Any) -> None:
    print(json.dumps({"suite": "outages mid-runbook", "size": SIZE, **figures}))


def _ended_cleanly(env: SyncEnv, iid: str, output: dict[str, Any]) -> None:
    """A final status, no exception stuck in the engine, no traceback in what users see."""
    status = env.engine.get_status(iid)
    assert status.runtime_status.name == "COMPLETED", status.runtime_status
    assert (status.custom_status or {}).get("phase") == "done", status.custom_status
    assert not has_traceback(output, status.custom_status)


def _leak_scan(env: SyncEnv, values: dict[str, str], caplog: pytest.LogCaptureFixture,
               capsys: pytest.CaptureFixture[str], **outputs: Any) -> dict[str, Any]:
    scanner = LeakScanner(values.values())
    scanner.scan_path(env.state_dir)  # the engine's SQLite histories and the state store
    for where, output in outputs.items():
        scanner.scan_json(where, output)
    scanner.scan_records("logs", caplog.records)
    captured = capsys.readouterr()
    scanner.scan_text("stdout", captured.out)
    scanner.scan_text("stderr", captured.err)
    print(captured.out, end="")  # what was printed still reaches -s
    scanner.assert_clean()
    return scanner.summary()


def _run(env: SyncEnv, orchestrator: str, body: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    iid = env.engine.start_new(orchestrator, body, instance_id=f"{orchestrator}-"
                               f"{uuid.uuid4().hex[:10]}")
    return iid, env.engine.result(iid, timeout=RUN_TIMEOUT)


def _failover(target: str = "west") -> dict[str, Any]:
    return FailoverRequest(kind=FailoverKind.PLANNED, target=target, reason="outages suite",
                           requested_by="pytest").to_dict()


# ---- the target goes down during a full sync ----------------------------------------------------

@pytest.mark.parametrize("point", POINTS, ids=lambda p: f"at{round(p * 100)}pct")
@pytest.mark.parametrize("mode", SYNC_MODES, ids=str)
def test_a_sync_whose_target_goes_down_ends_cleanly_says_what_was_copied_and_the_rerun_finishes(
        env: SyncEnv, mode: DownMode, point: float, caplog: pytest.LogCaptureFixture,
        capsys: pytest.CaptureFixture[str]) -> None:
    values = _values("sync", SYNC_ITEMS)
    seed_secrets(env.emu, "east", values)
    down = env.emu.down_after_writes("west", max(1, int(SYNC_ITEMS * point)), mode,
                                     prefix="sync-")
    env.emu.reset_stats("west")
    started = time.monotonic()
    iid, record = _run(env, "full_sync", {})
    seconds = time.monotonic() - started
    attempts = outage_requests(env.emu, "west", mode)
    stored = present(env.emu, "west", values)

    assert down.is_set()
    _ended_cleanly(env, iid, record)
    copied = sum(record["counts"].get("create", {}).values())
    # partial when a copy was finished before the outage (copies in flight then may not be)
    assert record["status"] == ("partial" if copied else "failed"), record["status"]
    # what was and was not done: every item either counted as copied or as failed, and each
    # failure listed with the outage's code (the list keeps MAX_LISTED, says how many more)
    failed = {n["name"] for n in record["failures"] if n["name"] in values}
    failed_count = sum(record["counts"].get("failed", {}).values())
    assert copied + failed_count == SYNC_ITEMS, record["counts"]
    # the counts are items: a verification that could not run is no failed secret
    assert len(failed) + record["omitted"] == failed_count, (len(failed), record["omitted"])
    assert [n["name"] for n in record["failures"] if n["name"] not in values] == []
    # and it is said: the copies to west could not be verified
    assert [(e["target"], e["code"]) for e in record["errors"]] in (
        [], [("west", "vault.unreachable")], [("west", "vault.unavailable")]), record["errors"]
    assert set(failure_codes(record["failures"])) <= OUTAGE_CODES | {NOT_SENT}, \
        record["failures"][:3]
    assert all("not attempted" in n["reason"] for n in record["failures"]
               if n["code"] == NOT_SENT)
    # nothing claimed that did not happen: whatever is not counted failed is in the target
    assert copied <= len(stored)
    if not record["omitted"]:
        assert set(values) - failed <= stored
    # retried: at least one failing call went through its whole schedule; within the budget:
    # each failed item (and the verification) cost at most PER_ITEM attempts
    if attempts is not None:
        assert ATTEMPTS <= attempts <= PER_ITEM * (failed_count + 1), attempts

    env.emu.up("west")
    rerun_iid, rerun = _run(env, "full_sync", {})
    _ended_cleanly(env, rerun_iid, rerun)
    parity = secret_parity(env.emu, ("east", "west"))
    assert rerun["status"] == "succeeded", rerun
    assert parity.ok and parity.compared == SYNC_ITEMS, parity
    # the rerun wrote what the first run did not finish, and nothing the first run did
    rewritten = sum(sum(rerun["counts"].get(a, {}).values())
                    for a in ("create", "update_value", "update_attributes"))
    assert rewritten <= failed_count

    leaks = _leak_scan(env, values, caplog, capsys, record=record, rerun=rerun)
    _figures(scenario="target down during a full sync", mode=str(mode), items=SYNC_ITEMS,
             down_after=int(SYNC_ITEMS * point), stored_before_rerun=len(stored), copied=copied,
             failed=failed_count, not_sent=failure_codes(record["failures"])[NOT_SENT],
             outage_attempts=attempts, calls_west=record["calls"].get("west"),
             seconds=round(seconds, 1), rerun_writes=rewritten, lost=len(parity.lost),
             different=len(parity.different), duplicated=len(parity.duplicated), leaks=leaks)


def test_a_sync_sends_no_more_batches_to_a_target_that_stopped_answering(
        sync_env_factory: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
        capsys: pytest.CaptureFixture[str]) -> None:
    """Once a whole batch failed because the target did not answer through its retries, the
    batches not sent yet fail at once ("not attempted"): the run gives up in a time that does
    not grow with the vault (each of them used to pay the whole retry schedule again)."""
    short_retries(monkeypatch)
    caplog.set_level(logging.INFO)
    batch, parallel, n = 5, 2, 40
    env = sync_env_factory(US_PAIR, sections={"pacing": {"batch_size": batch,
                                                         "max_parallel": parallel}})
    values = _values("stop", n)
    seed_secrets(env.emu, "east", values)
    down = env.emu.down_after_writes("west", batch, DownMode.UNAVAILABLE, prefix="stop-")
    env.emu.reset_stats("west")
    iid, record = _run(env, "full_sync", {})
    attempts = outage_requests(env.emu, "west", DownMode.UNAVAILABLE)

    assert down.is_set()
    _ended_cleanly(env, iid, record)
    assert record["status"] in ("partial", "failed")  # partial when a copy of batch 0 landed
    codes = failure_codes(record["failures"])
    # at most the batches in flight, and one sent before the first whole failure came back,
    # were tried; the other batches were not sent
    assert codes[NOT_SENT] >= n - (parallel + 2) * batch, codes
    assert sum(codes[c] for c in OUTAGE_CODES) <= (parallel + 2) * batch, codes
    assert attempts is not None and attempts <= PER_ITEM * ((parallel + 2) * batch + 1)
    env.emu.up("west")
    assert env.sync()["status"] == "succeeded"
    parity = secret_parity(env.emu, ("east", "west"))
    assert parity.ok and parity.compared == n, parity
    leaks = _leak_scan(env, values, caplog, capsys, record=record)
    _figures(scenario="no more batches to a silent target", mode="503", items=n,
             batches=n // batch, not_sent=codes[NOT_SENT], outage_attempts=attempts,
             lost=len(parity.lost), duplicated=len(parity.duplicated), leaks=leaks)


def test_a_sync_whose_target_comes_back_while_it_retries_finishes_without_a_rerun(
        env: SyncEnv, caplog: pytest.LogCaptureFixture,
        capsys: pytest.CaptureFixture[str]) -> None:
    values = _values("back", SYNC_ITEMS)
    seed_secrets(env.emu, "east", values)
    down = env.emu.down_after_writes("west", SYNC_ITEMS // 3, DownMode.UNAVAILABLE,
                                     prefix="back-")
    env.emu.reset_stats("west")
    back = UpAfter(env.emu, "west", DownMode.UNAVAILABLE, 3, down)
    try:
        iid, record = _run(env, "full_sync", {})
    finally:
        back.stop()

    assert back.seen is not None and back.seen >= 3  # it was down, and asked again meanwhile
    _ended_cleanly(env, iid, record)
    assert record["status"] == "succeeded", record["failures"][:3]
    assert sum(record["counts"].get("create", {}).values()) == SYNC_ITEMS
    parity = secret_parity(env.emu, ("east", "west"))
    assert parity.ok and parity.compared == SYNC_ITEMS, parity
    leaks = _leak_scan(env, values, caplog, capsys, record=record)
    _figures(scenario="target back while the sync retries", mode="503", items=SYNC_ITEMS,
             outage_attempts=back.seen, lost=len(parity.lost), duplicated=len(parity.duplicated),
             leaks=leaks)


# ---- the primary goes down during a planned failover's drain ------------------------------------

def _synced_then_written(env: SyncEnv, n: int) -> tuple[dict[str, str], dict[str, str]]:
    """A synced pair, then ``n`` secrets written to the primary that the drain must carry."""
    base = _values("base", 5)
    seed_secrets(env.emu, "east", base)
    assert env.sync()["status"] == "succeeded"
    late = _values("late", n)
    seed_secrets(env.emu, "east", late)
    return base, late


@pytest.mark.parametrize("mode", (DownMode.REFUSE, DownMode.UNAVAILABLE), ids=str)
def test_a_planned_failover_whose_primary_goes_down_in_the_drain_switches_nothing_and_the_rerun_completes(  # noqa: E501
        env: SyncEnv, mode: DownMode, caplog: pytest.LogCaptureFixture,
        capsys: pytest.CaptureFixture[str]) -> None:
    base, late = _synced_then_written(env, DRAIN_ITEMS)
    # east goes down once west has stored a third of the drain's copies
    down = env.emu.down_after_writes("east", DRAIN_ITEMS // 3, mode, prefix="late-",
                                     watch="west")
    env.emu.reset_stats("east")
    iid, report = _run(env, "failover", _failover())
    attempts = outage_requests(env.emu, "east", mode)

    assert down.is_set()
    _ended_cleanly(env, iid, report)
    assert report["outcome"] == "failed", report["outcome"]
    assert report["error"]["code"] == "failover.step_failed", report["error"]
    drain = report["steps"]["drain"]
    failed = {n["name"] for n in drain["failures"] if n["name"] in late}
    copied = sum(drain["counts"].get("create", {}).values())
    assert failed and copied + len(failed) == DRAIN_ITEMS, drain["counts"]
    assert set(failure_codes(drain["failures"])) <= OUTAGE_CODES | {NOT_SENT}
    assert set(late) - failed <= present(env.emu, "west", late)  # what it claims, it did
    # nothing switched, and the report does not claim a switch
    assert "switch" not in report["timings"] and report["fenced"] == []
    env.emu.up("east")
    assert topology_epochs(env.emu, "east")[-1] == topology_epochs(env.emu, "west")[-1] == 1
    if attempts is not None:
        assert ATTEMPTS <= attempts <= PER_ITEM * (len(failed) + 1), attempts

    rerun_iid, rerun = _run(env, "failover", _failover())
    _ended_cleanly(env, rerun_iid, rerun)
    assert rerun["outcome"] == "completed", rerun.get("error")
    assert (rerun["epoch_before"], rerun["epoch_after"]) == (1, 2)
    # the epoch rose exactly once overall: one record at epoch 2 in each vault
    assert topology_epochs(env.emu, "east").count(2) == 1
    assert topology_epochs(env.emu, "west").count(2) == 1
    parity = secret_parity(env.emu, ("east", "west"))
    assert parity.ok and parity.compared == len(base) + DRAIN_ITEMS, parity

    leaks = _leak_scan(env, {**base, **late}, caplog, capsys, report=report, rerun=rerun)
    _figures(scenario="primary down during a planned failover's drain", mode=str(mode),
             items=DRAIN_ITEMS, drained=copied, failed=len(failed), outage_attempts=attempts,
             calls_east=drain["calls"].get("east"), rerun=rerun["outcome"],
             lost=len(parity.lost), duplicated=len(parity.duplicated), leaks=leaks)


def test_a_planned_failover_whose_primary_comes_back_during_the_drain_completes_without_a_rerun(
        env: SyncEnv, caplog: pytest.LogCaptureFixture,
        capsys: pytest.CaptureFixture[str]) -> None:
    base, late = _synced_then_written(env, DRAIN_ITEMS)
    down = env.emu.down_after_writes("east", DRAIN_ITEMS // 3, DownMode.UNAVAILABLE,
                                     prefix="late-", watch="west")
    env.emu.reset_stats("east")
    back = UpAfter(env.emu, "east", DownMode.UNAVAILABLE, 3, down)
    try:
        iid, report = _run(env, "failover", _failover())
    finally:
        back.stop()

    assert back.seen is not None and back.seen >= 3
    _ended_cleanly(env, iid, report)
    assert report["outcome"] == "completed", report.get("error")
    assert report["steps"]["drain"]["failures"] == []
    assert topology_epochs(env.emu, "west").count(2) == 1
    parity = secret_parity(env.emu, ("east", "west"))
    assert parity.ok and parity.compared == len(base) + DRAIN_ITEMS, parity
    leaks = _leak_scan(env, {**base, **late}, caplog, capsys, report=report)
    _figures(scenario="primary back while the drain retries", mode="503", items=DRAIN_ITEMS,
             outage_attempts=back.seen, lost=len(parity.lost),
             duplicated=len(parity.duplicated), leaks=leaks)


# ---- the new primary goes down between the switch and the verification --------------------------

def _down_after_the_switch(env: SyncEnv, mode: DownMode) -> Any:
    """west goes down right after the switch stored the new record there (the first write of
    the topology record after the setup)."""
    return env.emu.down_after_writes("west", 1, mode, prefix="kvdr-topology")


def test_a_failover_whose_new_primary_goes_down_after_the_switch_keeps_the_switch_and_the_rerun_finds_it_done(  # noqa: E501
        env: SyncEnv, caplog: pytest.LogCaptureFixture,
        capsys: pytest.CaptureFixture[str]) -> None:
    base, late = _synced_then_written(env, 5)
    down = _down_after_the_switch(env, DownMode.REFUSE)
    iid, report = _run(env, "failover", _failover())

    assert down.is_set()
    _ended_cleanly(env, iid, report)
    env.emu.up("west")
    # the switch happened and stands: both vaults hold the new record, once; west could not
    # be read back, so the switch is not called verified
    assert report["outcome"] == "failed", report["outcome"]
    assert report["error"]["code"] == "topology.unverified", report["error"]
    assert "switch" in report["timings"] and "west" in report["fenced"]
    assert topology_epochs(env.emu, "west").count(2) == 1
    assert topology_epochs(env.emu, "east").count(2) == 1
    # the hand-over could not reach west: said, with the way it gets finished
    assert report["renewal"]["ok"] is False
    assert report["renewal"]["error"]["code"] in OUTAGE_CODES

    rerun_iid, rerun = _run(env, "failover", _failover())
    _ended_cleanly(env, rerun_iid, rerun)
    assert rerun["outcome"] == "not_needed" and rerun["epoch_before"] == 2
    assert topology_epochs(env.emu, "west").count(2) == 1  # not raised again
    # the next sync (from the new primary) finds the pair in parity
    again = env.sync()
    assert again["status"] == "succeeded" and again["source_region"] == "west"
    parity = secret_parity(env.emu, ("east", "west"))
    assert parity.ok and parity.compared == len(base) + len(late), parity
    leaks = _leak_scan(env, {**base, **late}, caplog, capsys, report=report, rerun=rerun)
    _figures(scenario="new primary down between switch and verify", mode="refuse",
             outcome=report["outcome"], unreached=report["unreached"],
             handover=report["renewal"]["error"]["code"], rerun=rerun["outcome"],
             lost=len(parity.lost), duplicated=len(parity.duplicated), leaks=leaks)


def test_a_failover_whose_new_primary_is_down_at_verification_does_not_report_it_verified(
        env: SyncEnv, caplog: pytest.LogCaptureFixture,
        capsys: pytest.CaptureFixture[str]) -> None:
    """The verification used to read the vaults that answered and pass on east's fenced record
    alone: 'completed', unreached {}, although west's own record was never read back. West is
    now read with the whole retry schedule, and a west that never answers fails the run with
    topology.unverified, west in unreached, and says the switch stands."""
    base, late = _synced_then_written(env, 3)
    down = _down_after_the_switch(env, DownMode.REFUSE)
    iid, report = _run(env, "failover", _failover())
    env.emu.up("west")
    assert down.is_set()
    _ended_cleanly(env, iid, report)
    # what was not done is said: west's record was not read back
    assert "west" in report["unreached"], report["unreached"]
    assert report["unreached"]["west"] in OUTAGE_CODES, report["unreached"]
    assert report["outcome"] == "failed", report["outcome"]
    assert report["error"]["code"] == "topology.unverified", report["error"]
    assert "west" in report["error"]["message"], report["error"]
    assert report["rto_seconds"] is None  # no verified switch, no RTO claimed
    assert any("verif" in m and "west" in m for m in report["messages"]), report["messages"]
    # and what was done: the switch stands, said in the text the CLI prints
    assert "switch" in report["timings"] and "west" in report["fenced"]
    text = FailoverReport.from_dict(report).render_text()
    assert "switched, epoch 1 -> 2, not verified" in text.splitlines()[0], text
    assert topology_epochs(env.emu, "west").count(2) == 1
    assert topology_epochs(env.emu, "east").count(2) == 1

    # the rerun, with west back, finds the switch done and raises nothing
    rerun_iid, rerun = _run(env, "failover", _failover())
    _ended_cleanly(env, rerun_iid, rerun)
    assert rerun["outcome"] == "not_needed" and rerun["epoch_before"] == 2, rerun
    assert topology_epochs(env.emu, "west").count(2) == 1
    leaks = _leak_scan(env, {**base, **late}, caplog, capsys, report=report, rerun=rerun)
    _figures(scenario="new primary down at the verification", mode="refuse",
             outcome=report["outcome"], error=report["error"]["code"],
             unreached=report["unreached"], verify_seconds=report["timings"].get("verify"),
             rerun=rerun["outcome"], leaks=leaks)


def test_a_failback_whose_new_primary_is_down_at_verification_does_not_report_it_verified(
        env: SyncEnv, caplog: pytest.LogCaptureFixture,
        capsys: pytest.CaptureFixture[str]) -> None:
    """Failback takes the same verify step: east, back from its outage, takes the record,
    then goes down before it is read back; the failback says so and its rerun finds it done."""
    base, late = _synced_then_written(env, 3)
    env.emu.down("east")
    try:
        iid, unplanned = _run(env, "failover", FailoverRequest(
            kind=FailoverKind.UNPLANNED, target="west", reason="outages suite",
            requested_by="pytest").to_dict())
    finally:
        env.emu.up("east")
    assert unplanned["outcome"] == "completed", unplanned.get("error")
    failback = FailoverRequest(kind=FailoverKind.FAILBACK, target="east", reason="outages suite",
                               requested_by="pytest").to_dict()
    # east goes down right after the switch stored its record there (epoch 3)
    down = env.emu.down_after_writes("east", 1, DownMode.REFUSE, prefix="kvdr-topology")
    iid, report = _run(env, "failover", failback)
    env.emu.up("east")
    assert down.is_set()
    _ended_cleanly(env, iid, report)
    assert (report["kind"], report["epoch_before"], report["epoch_after"]) == ("failback", 2, 3)
    assert report["outcome"] == "failed", report["outcome"]
    assert report["error"]["code"] == "topology.unverified", report["error"]
    assert report["unreached"].get("east") in OUTAGE_CODES, report["unreached"]
    assert "east" in report["fenced"] and report["rto_seconds"] is None
    assert any(m.startswith("switched but not verified") and "east" in m
               for m in report["messages"]), report["messages"]
    assert topology_epochs(env.emu, "east").count(3) == 1

    rerun_iid, rerun = _run(env, "failover", failback)
    _ended_cleanly(env, rerun_iid, rerun)
    assert rerun["outcome"] == "not_needed" and rerun["epoch_before"] == 3, rerun
    assert topology_epochs(env.emu, "east").count(3) == 1
    assert topology_epochs(env.emu, "west").count(3) == 1
    leaks = _leak_scan(env, {**base, **late}, caplog, capsys, report=report, rerun=rerun)
    _figures(scenario="failback's new primary down at the verification", mode="refuse",
             outcome=report["outcome"], error=report["error"]["code"],
             unreached=report["unreached"], rerun=rerun["outcome"], leaks=leaks)


def test_a_failover_whose_new_primary_comes_back_while_it_retries_completes_without_a_rerun(
        env: SyncEnv, caplog: pytest.LogCaptureFixture,
        capsys: pytest.CaptureFixture[str]) -> None:
    base, late = _synced_then_written(env, 3)
    down = _down_after_the_switch(env, DownMode.UNAVAILABLE)
    env.emu.reset_stats("west")
    back = UpAfter(env.emu, "west", DownMode.UNAVAILABLE, 2, down)
    try:
        iid, report = _run(env, "failover", _failover())
    finally:
        back.stop()

    assert back.seen is not None and back.seen >= 2
    _ended_cleanly(env, iid, report)
    assert report["outcome"] == "completed", report.get("error")
    assert report["renewal"]["ok"] is True, report["renewal"]  # the hand-over recovered
    assert report["unreached"] == {}
    assert topology_epochs(env.emu, "west").count(2) == 1
    assert topology_epochs(env.emu, "east").count(2) == 1
    leaks = _leak_scan(env, {**base, **late}, caplog, capsys, report=report)
    _figures(scenario="new primary back while the hand-over retries", mode="503",
             outage_attempts=back.seen, outcome=report["outcome"], leaks=leaks)
