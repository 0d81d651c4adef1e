"""A topology record write whose answer is lost: applied by the vault, then the connection
dropped (``drop_after_write``). The SDK used to re-send the PUT, leaving a second version of
``kvdr-topology`` for one switch; the write is now re-read before it is sent again."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from kvdr.topology.record import TopologyRecord
from kvdr.topology.store import read_topology, write_topology
from kvdr.vault.inventory import ItemKind
from kvdr.vault.links import TOPOLOGY_SECRET_NAME
from support.vaults import emulator_config, version_count


@pytest.mark.parametrize("fault", ["drop_after_write", "drop"])
def test_a_record_write_whose_answer_was_lost_leaves_exactly_one_version(
        kv_emulator_factory, make_sessions, fault: str) -> None:
    emu = kv_emulator_factory(["east", "west"])
    sessions = make_sessions(emulator_config(emu))
    record = TopologyRecord("west", 2, datetime.now(UTC), "test", "switch", "run-1")
    emu.inject_fault("west", fault, method="PUT", path=f"/secrets/{TOPOLOGY_SECRET_NAME}")

    assert write_topology(sessions["west"], record)

    assert emu.stats("west")["faults"] == {fault: 1}
    assert read_topology(sessions["west"]) == record
    assert version_count(sessions["west"], ItemKind.SECRET, TOPOLOGY_SECRET_NAME) == 1
