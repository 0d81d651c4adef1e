"""A batch's items are copied concurrently (kvdr.sync.replicate.execute_items): one item waiting
out a retry's backoff does not hold up the others, yet the outcomes keep the items' order, the
call counts are the vaults' own, a second run writes nothing, and a write whose answer was lost
is never sent twice. Everything is observed through the emulator (its store and counters)."""

from __future__ import annotations

import threading
import types
from collections.abc import Callable
from dataclasses import replace

import pytest
from azure.keyvault.certificates import CertificatePolicy, CertificatePolicyAction, LifetimeAction

import kvdr.sync.copier as copier
from emulator.server import VaultSpec
from emulator.testing import Emulator
from kvdr.config.schema import Config
from kvdr.renewal.ledger import EntryState, read_entry
from kvdr.sync.model import EXECUTABLE, PlanAction
from kvdr.sync.replicate import ITEM_PARALLEL, execute_items
from kvdr.vault.inventory import ItemKind
from kvdr.vault.session import VaultSession
from support.polling import eventually
from support.sync import WRITE_OPS
from support.vaults import FINGERPRINT_KEY, emulator_config, execute, plan_for

PAIR = (VaultSpec("east", geography="us"), VaultSpec("west", geography="us"))
GATE_SECONDS = 20.0  # how long the held item waits for the others before giving up
QUIET_SECONDS = 2.0  # how long an item's backoff watches for another request of its name


@pytest.fixture
def pair(kv_emulator_factory: Callable[..., Emulator],
         make_sessions: Callable[..., dict[str, VaultSession]]
         ) -> tuple[Emulator, Config, VaultSession, VaultSession]:
    emu = kv_emulator_factory(PAIR)
    config = emulator_config(emu)
    sessions = make_sessions(config)
    return emu, config, sessions["east"], sessions["west"]


def _seed(emu: Emulator, names: list[str]) -> None:
    with emu.secret_client("east") as east:
        for name in names:
            east.set_secret(name, f"value-of-{name}", tags={"owner": "team"})


def _versions(emu: Emulator, name: str) -> int:
    store = emu.store("west")
    with store.lock:
        item = store.live["secrets"].get(name)
        return len(item.versions) if item else 0


def _happens(probe: Callable[[], bool], within: float) -> bool:
    try:
        eventually(probe, timeout=within)
    except AssertionError:
        return False
    return True


def _writes(emu: Emulator, vault: str) -> int:
    ops = emu.stats(vault)["operations"]
    return sum(sum(ops.get(op, {}).values()) for op in WRITE_OPS)


def test_an_item_waiting_out_its_backoff_does_not_hold_up_the_rest_of_its_batch(
        pair, monkeypatch: pytest.MonkeyPatch) -> None:
    emu, config, east, west = pair
    names = [f"held-{i:02d}" for i in range(ITEM_PARALLEL)]  # held-00 comes first in the batch
    _seed(emu, names)
    others = set(names[1:])
    created: list[str] = []
    all_others_landed = threading.Event()

    def observe(vault: str, kind: str, name: str, version: str) -> None:
        created.append(name)
        if others <= set(created):
            all_others_landed.set()

    # held-00's first write fails (503): its backoff waits until every other item has landed
    # in the target. Copied one after another, none of them has started, and the wait ends
    # only when the gate gives up.
    emu.inject_fault("west", "503", method="PUT", path=f"/secrets/{names[0]}")
    waited: list[bool] = []

    def backoff(seconds: float) -> None:
        waited.append(all_others_landed.wait(GATE_SECONDS))

    monkeypatch.setattr(copier, "time", types.SimpleNamespace(sleep=backoff))
    emu.store("west").observers.append(observe)
    plan = plan_for(config, east, west, names)
    assert [i.name for i in plan.executable] == names

    result = execute(config, east, west, plan)

    assert waited == [True], "the held item's backoff ran while the others were not copied"
    # every other item landed before the held one (in whatever order)
    assert created[-1] == names[0] and sorted(created[:-1]) == names[1:]
    assert [o.ok for o in result.outcomes] == [True] * len(names)
    assert all(_versions(emu, name) == 1 for name in names)


def test_outcomes_keep_the_order_of_the_items_whatever_order_they_finish_in(pair) -> None:
    emu, config, east, west = pair
    names = [f"order-{i:02d}" for i in range(3 * ITEM_PARALLEL)]
    _seed(emu, names)
    with emu.secret_client("west") as target:  # every fifth is drift: reported, not executed
        for name in names[::5]:
            target.set_secret(name, "written in the secondary")
    # every other item's writes fail for good: its retries make it finish last
    for name in names[1::2]:
        emu.inject_fault("west", "500", count=6, method="PUT", path=f"/secrets/{name}")
    plan = plan_for(config, east, west, names)
    items = sorted(plan.items, key=lambda i: i.name, reverse=True)  # not the creation order
    executed = {i.name for i in items if i.action in EXECUTABLE}
    assert executed and executed != set(names)

    result = execute_items(east, west, items, policies=config.policies,
                           fingerprint_key=FINGERPRINT_KEY)

    assert [(o.kind, o.name) for o in result.outcomes] == [(i.kind, i.name) for i in items]
    assert [o.action for o in result.outcomes] == [i.action for i in items]
    failed = {o.name: o.code for o in result.outcomes if not o.ok}
    assert failed == dict.fromkeys(executed & set(names[1::2]), "vault.unavailable")


def test_the_call_counts_of_a_concurrent_batch_are_the_vaults_own(pair) -> None:
    emu, config, east, west = pair
    names = [f"counted-{i:02d}" for i in range(2 * ITEM_PARALLEL)]
    _seed(emu, names)
    plan = plan_for(config, east, west, names)
    before = {v: emu.stats(v)["total"] for v in ("east", "west")}

    result = execute(config, east, west, plan)

    served = {v: emu.stats(v)["total"] - before[v] for v in ("east", "west")}
    assert result.calls == served
    assert served["east"] >= len(names) and served["west"] >= 3 * len(names)  # read; check,
    assert all(o.ok and o.action == PlanAction.CREATE for o in result.outcomes)  # set, confirm


def test_a_concurrent_batch_run_twice_writes_nothing_the_second_time(pair) -> None:
    emu, config, east, west = pair
    names = [f"twice-{i:02d}" for i in range(2 * ITEM_PARALLEL)]
    _seed(emu, names)
    plan = plan_for(config, east, west, names)
    first = execute(config, east, west, plan)
    assert all(o.ok and o.action == PlanAction.CREATE for o in first.outcomes), first
    writes = _writes(emu, "west")

    # the same stored batch again (a re-delivered activity): it checks, finds, writes nothing
    again = execute(config, east, west, plan)

    assert _writes(emu, "west") == writes
    assert all(o.ok and o.action == PlanAction.UNCHANGED for o in again.outcomes), again
    assert all(_versions(emu, name) == 1 for name in names)


def test_writes_dropped_after_they_landed_leave_one_version_each_under_concurrency(
        pair) -> None:
    emu, config, east, west = pair
    names = [f"dropped-{i:02d}" for i in range(2 * ITEM_PARALLEL)]
    _seed(emu, names)
    for name in names:  # every set lands, and its answer is lost
        emu.inject_fault("west", "drop_after_write", method="PUT", path=f"/secrets/{name}")
    plan = plan_for(config, east, west, names)

    result = execute(config, east, west, plan)

    assert emu.stats("west")["faults"] == {"drop_after_write": len(names)}
    assert all(o.ok and o.action == PlanAction.CREATE for o in result.outcomes), result
    assert {name: _versions(emu, name) for name in names} == dict.fromkeys(names, 1)
    assert emu.count("west", "SetSecret") == len(names)  # none was sent a second time


def test_items_of_one_name_are_copied_one_after_the_other(
        pair, monkeypatch: pytest.MonkeyPatch) -> None:
    emu, config, east, west = pair
    name = "named-twice"
    _seed(emu, [name])
    [item] = plan_for(config, east, west, [name]).executable
    # the same item twice in one batch: side by side, both would find the name absent and
    # both write. The first one's write fails once; while it waits, nothing else may reach
    # the target (the second one waits for the first one's outcome).
    emu.inject_fault("west", "503", method="PUT", path=f"/secrets/{name}")
    overlapped: list[bool] = []

    def backoff(seconds: float) -> None:
        seen = emu.stats("west")["total"]
        overlapped.append(_happens(lambda: emu.stats("west")["total"] > seen, QUIET_SECONDS))

    monkeypatch.setattr(copier, "time", types.SimpleNamespace(sleep=backoff))

    result = execute_items(east, west, [item, replace(item)], policies=config.policies,
                           fingerprint_key=FINGERPRINT_KEY)

    assert overlapped == [False]
    assert _versions(emu, name) == 1
    # the second one checked first and found the first one's copy
    assert [(o.ok, o.action) for o in result.outcomes] == [(True, PlanAction.CREATE),
                                                           (True, PlanAction.UNCHANGED)]


def test_a_mixed_batch_copied_concurrently_lands_every_kind_once_with_its_ledger_entry(
        pair) -> None:
    emu, config, east, west = pair
    secrets = [f"mixed-s{i}" for i in range(ITEM_PARALLEL)]
    certificates = [f"mixed-c{i}" for i in range(3)]
    keys = [f"mixed-k{i}" for i in range(3)]
    _seed(emu, secrets)
    with emu.certificate_client("east") as certs:
        for name in certificates:
            certs.begin_create_certificate(name, CertificatePolicy(
                "Self", subject=f"CN={name}", validity_in_months=12,
                lifetime_actions=[LifetimeAction(CertificatePolicyAction.auto_renew,
                                                 lifetime_percentage=80)])).result()
    with emu.key_client("east") as key_client:
        for name in keys:
            key_client.create_ec_key(name, curve="P-256")
    plan = plan_for(config, east, west, [*secrets, *certificates, *keys])
    assert len(plan.executable) == len(secrets) + len(certificates) + len(keys)

    result = execute(config, east, west, plan)

    assert all(o.ok and o.action == PlanAction.CREATE for o in result.outcomes), result
    store = emu.store("west")
    with store.lock:
        assert all(len(store.live["secrets"][n].versions) == 1 for n in secrets)
        assert all(len(store.live["certificates"][n].versions) == 1 for n in certificates)
        assert all(n in store.live["keys"] for n in keys)
    for name in certificates:  # each copy's armed form kept once, in its own reserved secret
        entry = read_entry(west, ItemKind.CERTIFICATE, name)
        assert entry is not None and entry.state == EntryState.DISARMED
        assert entry.policy.encode() == "AutoRenew@80%"
        assert len(list(west.secrets.list_properties_of_secret_versions(entry.secret_name))) == 1
