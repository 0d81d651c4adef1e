"""A renewal ledger entry is written once, even when the vault applied the write and the answer
was lost (a dropped connection after the write): no second version of the entry."""

from __future__ import annotations

from emulator.testing import Emulator
from kvdr.renewal.ledger import EntryState, LedgerEntry, read_entry, write_entry
from kvdr.renewal.policy import Action, ActionType, RenewalPolicy
from kvdr.vault.inventory import ItemKind
from kvdr.vault.session import VaultSession


def test_an_entry_whose_write_answer_was_lost_has_one_version(
        kv_emulator: Emulator, sessions: dict[str, VaultSession], unique) -> None:
    name = unique("ledger-cert-")
    policy = RenewalPolicy(ItemKind.CERTIFICATE, (Action(ActionType.AUTO_RENEW, percentage=80),))
    entry = LedgerEntry(ItemKind.CERTIFICATE, name, policy, EntryState.DISARMED, epoch=3)
    kv_emulator.inject_fault("west", "drop_after_write", method="PUT",
                             path=f"/secrets/{entry.secret_name}")
    assert write_entry(sessions["west"], entry) is True
    store = kv_emulator.store("west")
    with store.lock:
        assert len(store.get("secrets", entry.secret_name).versions) == 1
    assert read_entry(sessions["west"], ItemKind.CERTIFICATE, name) == entry
