"""Throttled and faulty vaults still converge; calls are counted; a no-change inventory costs
list calls only; no value ever reaches an outcome, a result or a log line."""

from __future__ import annotations

import json
import logging
import uuid
from datetime import UTC, datetime

from emulator.throttle import ThrottleLimits
from kvdr.sync.model import PlanAction
from kvdr.sync.replicate import sync_item
from kvdr.topology.record import initial_record
from kvdr.vault.inventory import ItemKind
from support.vaults import emulator_config, execute, pending_work, plan_for, version_count

LIST_OPS = {"GetSecrets", "GetKeys", "GetCertificates", "GetDeletedSecrets", "GetDeletedKeys",
            "GetDeletedCertificates"}


def _seed(emu, vault: str, n: int, prefix: str = "s") -> list[str]:
    client = emu.secret_client(vault)
    names = [f"{prefix}{i:03d}" for i in range(n)]
    for name in names:
        client.set_secret(name, f"value-{name}", tags={"i": name})
    return names


def test_a_throttled_vault_converges(kv_emulator_factory, make_sessions) -> None:
    emu = kv_emulator_factory(["east", "west"],
                              throttle=ThrottleLimits(window_seconds=1, create=6, other=60))
    names = _seed(emu, "east", 14)
    config = emulator_config(emu)
    sessions = make_sessions(config)
    east, west = sessions["east"], sessions["west"]
    result = execute(config, east, west, plan_for(config, east, west))
    assert all(o.ok for o in result.outcomes), [o.to_dict() for o in result.outcomes]
    assert emu.count("west", "SetSecret", 429) >= 1
    assert pending_work(plan_for(config, east, west)) == {}
    assert [version_count(west, ItemKind.SECRET, n) for n in names] == [1] * len(names)


def test_a_faulty_vault_converges_without_duplicate_versions(kv_emulator_factory,
                                                             make_sessions) -> None:
    emu = kv_emulator_factory(["east", "west"])
    names = _seed(emu, "east", 20)
    emu.set_fault_rate("east", 0.2)
    emu.set_fault_rate("west", 0.2)
    config = emulator_config(emu)
    sessions = make_sessions(config)
    east, west = sessions["east"], sessions["west"]
    plan = plan_for(config, east, west)
    execute(config, east, west, plan)
    execute(config, east, west, plan)  # a retried batch
    assert sum(emu.stats(v)["faults"].get(k, 0) for v in ("east", "west")
               for k in ("429", "500", "503", "drop")) > 0
    emu.set_fault_rate("east", 0.0)
    emu.set_fault_rate("west", 0.0)
    assert pending_work(plan_for(config, east, west)) == {}
    assert [version_count(west, ItemKind.SECRET, n) for n in names] == [1] * len(names)


def test_calls_are_counted_per_vault_and_match_the_emulators_counters(
        kv_emulator_factory, make_sessions) -> None:
    emu = kv_emulator_factory(["east", "west"])
    _seed(emu, "east", 5)
    config = emulator_config(emu)
    sessions = make_sessions(config)
    east, west = sessions["east"], sessions["west"]
    plan = plan_for(config, east, west)
    emu.reset_stats("east")
    emu.reset_stats("west")
    result = execute(config, east, west, plan)
    assert result.calls == {"east": emu.stats("east")["total"],
                            "west": emu.stats("west")["total"]}
    assert result.calls["east"] >= 5 and result.calls["west"] >= 10
    assert result.to_dict()["calls"] == result.calls


def test_a_no_change_inventory_costs_list_calls_only(kv_emulator_factory,
                                                     make_sessions) -> None:
    emu = kv_emulator_factory(["east", "west"])
    _seed(emu, "east", 60)
    config = emulator_config(emu)
    sessions = make_sessions(config)
    east, west = sessions["east"], sessions["west"]
    execute(config, east, west, plan_for(config, east, west))
    for vault in ("east", "west"):
        emu.reset_stats(vault)
    before = east.calls + west.calls
    plan = plan_for(config, east, west)
    assert pending_work(plan) == {}
    for vault in ("east", "west"):
        ops = emu.stats(vault)["operations"]
        assert set(ops) <= LIST_OPS, ops
        assert sum(ops["GetSecrets"].values()) == 3  # 60 secrets, 25 a page
    assert east.calls + west.calls - before == 2 * (3 + 5)  # secrets pages + 5 other lists


def test_no_value_reaches_outcomes_results_or_logs(config, sessions, unique, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    east, west, europe = sessions["east"], sessions["west"], sessions["europe"]
    marker = f"SEKRIT{uuid.uuid4().hex}"
    ok, disabled, conflict = unique("val"), unique("val-dis"), unique("val-drift")
    east.secrets.set_secret(ok, f"{marker}-ok")
    east.secrets.set_secret(disabled, f"{marker}-dis")
    east.secrets.set_secret(conflict, f"{marker}-drift")
    west.secrets.set_secret(conflict, f"{marker}-theirs")
    plan = plan_for(config, east, west, [ok, disabled, conflict])
    east.secrets.update_secret_properties(disabled, enabled=False)  # unreadable at execute time
    result = execute(config, east, west, plan)
    assert any(not o.ok and o.code == "replicate.source_disabled" for o in result.outcomes)
    events = sync_item(config, sessions, initial_record("east", changed_at=plan.planned_at),
                       ItemKind.SECRET, ok, fingerprint_key=b"f" * 40)
    assert events["west"].action == PlanAction.UNCHANGED
    assert events["europe"].action == PlanAction.CREATE
    assert europe.secrets.get_secret(ok).value == f"{marker}-ok"
    text = "\n".join([json.dumps(result.to_dict()), json.dumps(plan.to_dict()),
                      json.dumps({k: v.to_dict() for k, v in events.items()}), caplog.text,
                      repr(result), repr(events)])
    assert marker not in text


def test_event_path_replicates_the_latest_state_to_every_region(config, sessions,
                                                                unique) -> None:
    name, key = unique("evt"), unique("evt-key")
    sessions["east"].secrets.set_secret(name, "value-evt")
    sessions["east"].keys.create_ec_key(key)
    topology = initial_record("east", changed_at=datetime.now(UTC))
    first = sync_item(config, sessions, topology, ItemKind.SECRET, name,
                      fingerprint_key=b"f" * 40)
    assert {r: o.action for r, o in first.items()} == {"west": PlanAction.CREATE,
                                                        "europe": PlanAction.CREATE}
    second = sync_item(config, sessions, topology, ItemKind.SECRET, name,
                       fingerprint_key=b"f" * 40)
    assert {o.action for o in second.values()} == {PlanAction.UNCHANGED}
    keys = sync_item(config, sessions, topology, ItemKind.KEY, key, fingerprint_key=b"f" * 40)
    assert keys["west"].action == PlanAction.CREATE
    assert keys["europe"].action == PlanAction.SKIP and "geograph" in keys["europe"].message
