"""Writes whose answer is lost after the vault applied them ("dropped after write"): the full
sync neither leaves a second version behind nor fails an item whose write landed."""

from __future__ import annotations

from emulator.server import VaultSpec
from support.sync import SyncEnv

PAIR = (VaultSpec("east", geography="us"), VaultSpec("west", geography="us"))
ROOMLESS_TAGS = {f"t{j:02d}": f"v{j}" for j in range(15)}  # no room for kvdr's link tag


def _versions(env: SyncEnv, kind: str, name: str) -> int:
    store = env.emu.store("west")
    with store.lock:
        item = store.live[kind].get(name)
        return len(item.versions) if item else 0


def test_a_set_without_room_for_the_link_that_landed_is_not_sent_again(
        sync_env_factory) -> None:
    env: SyncEnv = sync_env_factory(PAIR)
    with env.emu.secret_client("east") as east:
        east.set_secret("roomless", "roomless-value", tags=ROOMLESS_TAGS)
    env.emu.inject_fault("west", "drop_after_write", method="PUT", path="/secrets/roomless")

    record = env.sync()

    assert env.emu.stats("west")["faults"] == {"drop_after_write": 1}
    assert record["status"] == "succeeded", record
    assert _versions(env, "secrets", "roomless") == 1  # landed once, found by value, not resent
    with env.emu.secret_client("west") as west:
        assert west.get_secret("roomless").value == "roomless-value"


def test_a_properties_update_that_landed_is_retried_not_failed(sync_env_factory) -> None:
    env: SyncEnv = sync_env_factory(PAIR)
    with env.emu.secret_client("east") as east:
        east.set_secret("linked", "linked-value", tags={"owner": "a"})
    with env.emu.key_client("east") as keys:
        keys.create_ec_key("keyed", curve="P-256", tags={"use": "sign"})
    # the link's confirmation (secret) and the attribute alignment (key) are PATCHes
    env.emu.inject_fault("west", "drop_after_write", method="PATCH", path="/secrets/linked")
    env.emu.inject_fault("west", "drop_after_write", method="PATCH", path="/keys/keyed")

    record = env.sync()

    assert env.emu.stats("west")["faults"] == {"drop_after_write": 2}
    assert record["status"] == "succeeded", record
    assert record["counts"]["create"] == {"secret": 1, "key": 1}
    assert _versions(env, "secrets", "linked") == 1
    before = env.writes("west")
    again = env.sync()
    assert set(again["counts"]) <= {"unchanged", "skip"}, again["counts"]
    assert env.writes("west") == before


def test_a_key_backup_whose_answer_was_lost_is_asked_again(sync_env_factory) -> None:
    env: SyncEnv = sync_env_factory(PAIR)
    with env.emu.key_client("east") as keys:
        keys.create_rsa_key("backed-up", size=2048)
    # a backup is a POST: azure-core does not re-send it after a dropped connection
    env.emu.inject_fault("east", "drop_after_write", method="POST", path="/keys/backed-up/backup")

    record = env.sync()

    assert env.emu.stats("east")["faults"] == {"drop_after_write": 1}
    assert record["status"] == "succeeded", record
    assert record["counts"]["create"] == {"key": 1}
    assert _versions(env, "keys", "backed-up") == 1
