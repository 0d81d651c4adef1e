"""Settling a split brain: two runbooks switched at one epoch; the one rule picks the winner and
whoever finds the rivals (the switch's settle step, any later reader) writes it over them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from kvdr.services import local_runtime
from kvdr.status import build_status
from kvdr.topology.record import TopologyRecord
from kvdr.topology.settle import settle_records
from kvdr.topology.store import current_topology, read_topology, write_topology
from kvdr.vault.inventory import ItemKind
from kvdr.vault.links import TOPOLOGY_SECRET_NAME
from support.vaults import emulator_config, version_count

T0 = datetime.now(UTC).replace(microsecond=0)


def at(primary: str, epoch: int, seconds: int, runbook: str) -> TopologyRecord:
    return TopologyRecord(primary, epoch, T0 + timedelta(seconds=seconds), "test", "race",
                          runbook)


def crossed(kv_emulator_factory, make_sessions):
    """Two runbooks' crossed writes: north still holds east at epoch 1; at epoch 2 west holds
    west's record (runbook w, switched first) and east holds north's (runbook n)."""
    emu = kv_emulator_factory(["east", "west", "north"])
    config = emulator_config(emu, primary="east")
    sessions = make_sessions(config)
    first, second = at("west", 2, 1, "w"), at("north", 2, 2, "n")
    write_topology(sessions["north"], at("east", 1, 0, "initial"))
    write_topology(sessions["west"], first)
    write_topology(sessions["east"], second)
    return config, sessions, first, second


def test_a_fence_write_leaves_a_record_the_rule_puts_first(kv_emulator_factory,
                                                           make_sessions) -> None:
    _config, sessions, first, second = crossed(kv_emulator_factory, make_sessions)
    assert not write_topology(sessions["west"], second, unless_outranked=True)
    assert read_topology(sessions["west"]) == first
    assert write_topology(sessions["east"], first, unless_outranked=True)  # first outranks
    assert write_topology(sessions["north"], second, unless_outranked=True)  # epoch 1 below
    assert read_topology(sessions["east"]) == first


def test_the_settle_step_writes_the_rules_winner_over_its_rivals_once(
        kv_emulator_factory, make_sessions) -> None:
    _config, sessions, first, second = crossed(kv_emulator_factory, make_sessions)
    settled = settle_records(sessions)
    assert settled is not None and settled.winner == first
    assert settled.view.split_brain and settled.view.rivals == (second,)
    assert sorted(settled.rewritten) == ["east", "north"]
    assert {r: read_topology(s) for r, s in sessions.items()} == {
        "east": first, "west": first, "north": first}
    # the other runbook's settle finds the same winner and writes nothing
    again = settle_records(sessions)
    assert again is not None and again.winner == first and again.rewritten == ()
    assert version_count(sessions["west"], ItemKind.SECRET, TOPOLOGY_SECRET_NAME) == 1


def test_a_later_reader_settles_a_split_brain_without_touching_stale_vaults(
        kv_emulator_factory, make_sessions) -> None:
    config, sessions, first, _second = crossed(kv_emulator_factory, make_sessions)
    view = current_topology(config, sessions)
    assert view.current == first and not view.split_brain
    assert read_topology(sessions["east"]) == first
    assert view.stale_regions == ("north",)  # left to the next switch, as before
    assert read_topology(sessions["north"]).epoch == 1


def test_status_reports_a_split_brain_with_the_rules_winner_and_writes_nothing(
        kv_emulator_factory, make_sessions, tmp_path: Path) -> None:
    config, sessions, _first, second = crossed(kv_emulator_factory, make_sessions)
    runtime = local_runtime(config, tmp_path)
    try:
        status = build_status(runtime)
    finally:
        runtime.close()
    assert (status.primary, status.epoch) == ("west", 2) and status.topology["split_brain"]
    assert ("split brain: records for west and north at epoch 2; the rule picks west, and the "
            "next sync, event or runbook writes it over the rivals (no operator needed)"
            ) in status.problems
    assert read_topology(sessions["east"]) == second  # status is read only
    assert version_count(sessions["east"], ItemKind.SECRET, TOPOLOGY_SECRET_NAME) == 1
