"""The topology record in every vault: bootstrap, idempotent writes, highest epoch wins."""

from __future__ import annotations

from datetime import UTC, datetime

from kvdr.topology.record import next_epoch
from kvdr.topology.store import current_topology, read_topology, write_topology
from kvdr.vault.inventory import ItemKind
from kvdr.vault.links import TOPOLOGY_SECRET_NAME
from support.vaults import emulator_config, version_count


def test_initial_record_is_written_to_every_vault_then_read_back_idempotently(
        kv_emulator_factory, make_sessions) -> None:
    emu = kv_emulator_factory(["east", "west"])
    config = emulator_config(emu, primary="west")
    sessions = make_sessions(config)
    view = current_topology(config, sessions)
    assert view.current.primary == "west" and view.current.epoch == 1
    assert not view.missing_regions and not view.split_brain
    for session in sessions.values():
        assert read_topology(session) == view.current
        secret = session.secrets.get_secret(TOPOLOGY_SECRET_NAME)
        assert secret.properties.content_type == "application/json"
        assert secret.properties.tags == {"kvdr-record": "topology"}
    again = current_topology(config, sessions)
    assert again.current == view.current
    write_topology(sessions["east"], view.current)
    assert [version_count(s, ItemKind.SECRET, TOPOLOGY_SECRET_NAME)
            for s in sessions.values()] == [1, 1]


def test_the_highest_epoch_wins_and_unreachable_vaults_count_as_missing(
        kv_emulator_factory, make_sessions) -> None:
    emu = kv_emulator_factory(["east", "west", "north"])
    config = emulator_config(emu, primary="east")
    sessions = make_sessions(config)
    first = current_topology(config, sessions).current
    failed_over = next_epoch(first, "west", changed_at=datetime.now(UTC), changed_by="test",
                             reason="drill")
    write_topology(sessions["west"], failed_over)
    emu.down("north")
    view = current_topology(config, sessions)
    assert view.current == failed_over
    assert view.stale_regions == ("east",)
    assert view.missing_regions == ("north",)
