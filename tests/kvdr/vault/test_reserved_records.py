"""Reserved record secrets (kvdr.vault.reserved) are written once: a write applied by the vault
whose answer was lost is recognised by the record's tags, not sent again as a second version."""

from __future__ import annotations

import pytest

from emulator.testing import Emulator
from kvdr.errors import VaultError
from kvdr.vault.reserved import record_tags, write_record
from kvdr.vault.session import VaultSession


def _versions(emu: Emulator, vault: str, name: str) -> int:
    store = emu.store(vault)
    with store.lock:
        item = store.get("secrets", name)
        return len(item.versions) if item is not None else 0


def test_a_record_write_whose_answer_was_lost_leaves_one_version(
        kv_emulator: Emulator, sessions: dict[str, VaultSession], unique) -> None:
    name = unique("kvdr-test-record-")
    tags = {"kvdr-record": "test", "kvdr-state": "armed"}
    kv_emulator.inject_fault("east", "drop_after_write", method="PUT", path=f"/secrets/{name}")
    write_record(sessions["east"], name, tags, f"write test record {name}")
    assert _versions(kv_emulator, "east", name) == 1
    assert record_tags(sessions["east"], name, "read") == tags


def test_a_new_record_version_is_still_written_after_a_lost_answer(
        kv_emulator: Emulator, sessions: dict[str, VaultSession], unique) -> None:
    name = unique("kvdr-test-record-")
    write_record(sessions["east"], name, {"kvdr-state": "armed"}, "write")
    kv_emulator.inject_fault("east", "drop_after_write", method="PUT", path=f"/secrets/{name}")
    write_record(sessions["east"], name, {"kvdr-state": "disarmed"}, "write")
    assert _versions(kv_emulator, "east", name) == 2
    assert record_tags(sessions["east"], name, "read") == {"kvdr-state": "disarmed"}


def test_a_record_write_that_never_reached_the_vault_is_sent_again(
        kv_emulator: Emulator, sessions: dict[str, VaultSession], unique) -> None:
    name = unique("kvdr-test-record-")
    kv_emulator.inject_fault("east", "503", method="PUT", path=f"/secrets/{name}")
    write_record(sessions["east"], name, {"kvdr-state": "armed"}, "write")
    assert _versions(kv_emulator, "east", name) == 1


def test_a_record_write_refused_for_good_raises(
        kv_emulator: Emulator, sessions: dict[str, VaultSession], unique) -> None:
    name = unique("kvdr-test-record-")
    kv_emulator.inject_fault("east", "500", count=20, method="PUT", path=f"/secrets/{name}")
    with pytest.raises(VaultError) as err:
        write_record(sessions["east"], name, {"kvdr-state": "armed"}, "write")
    assert err.value.code == "vault.unavailable"
    assert _versions(kv_emulator, "east", name) == 0
