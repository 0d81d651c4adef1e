"""A rotation marker is written once, even when the vault applied the write and the answer was
lost (a dropped connection after the write): no second version of the marker."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from emulator.testing import Emulator
from kvdr.rotation.markers import Marker, read_marker, write_marker
from kvdr.vault.inventory import ItemKind
from kvdr.vault.session import VaultSession


def test_a_marker_whose_write_answer_was_lost_has_one_version(
        kv_emulator: Emulator, sessions: dict[str, VaultSession], unique) -> None:
    name = unique("marker-secret-")
    expires = (datetime.now(UTC) + timedelta(days=20)).replace(microsecond=0)
    marker = Marker(ItemKind.SECRET, name, expires, epoch=2)
    kv_emulator.inject_fault("east", "drop_after_write", method="PUT",
                             path=f"/secrets/{marker.secret_name}")
    write_marker(sessions["east"], marker)
    store = kv_emulator.store("east")
    with store.lock:
        assert len(store.get("secrets", marker.secret_name).versions) == 1
    assert read_marker(sessions["east"], ItemKind.SECRET, name) == marker
