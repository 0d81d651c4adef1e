"""The behaviour every StateStore promises, proved on FileStateStore and on BlobStateStore
(against a real Azurite)."""

from __future__ import annotations

import logging
import threading

import pytest

from kvdr.state.store import StateKeyError, StateStore

THREADS = 8
INCREMENTS = 15

BAD_KEYS = [
    "",
    "/plans/x.json",
    "plans/../secrets.json",
    "..",
    "plans//x.json",
    "plans/x.json/",
    "plans/.hidden.json",
    "plans/x y.json",
    "plans\\x.json",
    "plans/é.json",
    "a" * 1025,
]


def test_store_satisfies_the_protocol(store):
    assert isinstance(store, StateStore)


def test_put_then_get_round_trips_json(store):
    value = {"run_id": "r1", "items": [{"name": "db-pw", "version": "v1"}], "n": 3,
             "ratio": 0.5, "ok": True, "none": None, "text": "ünïcode ✓"}
    store.put_json("sync/last-report.json", value)
    assert store.get_json("sync/last-report.json") == value
    store.put_json("scalar.json", 7)
    assert store.get_json("scalar.json") == 7


def test_get_of_a_missing_key_is_none(store):
    assert store.get_json("sync/missing-since/westus.json") is None
    assert store.get_json("no-folder-at-all.json") is None


def test_put_overwrites(store):
    store.put_json("k.json", {"v": 1})
    store.put_json("k.json", [1, 2])
    assert store.get_json("k.json") == [1, 2]


def test_update_json_creates_a_missing_key(store):
    seen = []

    def fn(current):
        seen.append(current)
        return {"received": 1}

    assert store.update_json("events/stats.json", fn) == {"received": 1}
    assert seen == [None]
    assert store.get_json("events/stats.json") == {"received": 1}


def test_update_json_updates_and_returns_the_new_value(store):
    store.put_json("events/stats.json", {"received": 4, "failed": 0})

    def bump(current):
        current["received"] += 1
        return current

    assert store.update_json("events/stats.json", bump) == {"received": 5, "failed": 0}
    assert store.get_json("events/stats.json") == {"received": 5, "failed": 0}


def test_update_json_whose_fn_raises_leaves_the_value_unchanged(store):
    store.put_json("k.json", {"v": 1})

    def boom(current):
        raise RuntimeError("no")

    with pytest.raises(RuntimeError):
        store.update_json("k.json", boom)
    assert store.get_json("k.json") == {"v": 1}


def test_a_value_that_is_not_json_is_rejected_and_nothing_is_written(store):
    with pytest.raises((TypeError, ValueError)):
        store.put_json("k.json", {"when": object()})
    with pytest.raises(ValueError):
        store.put_json("k.json", float("nan"))
    assert store.get_json("k.json") is None
    assert store.list_keys() == []


def test_concurrent_update_json_from_8_threads_loses_no_increment(store):
    barrier = threading.Barrier(THREADS)
    errors: list[BaseException] = []

    def worker():
        try:
            barrier.wait()
            for _ in range(INCREMENTS):
                store.update_json("counter.json", lambda c: (c or 0) + 1)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert store.get_json("counter.json") == THREADS * INCREMENTS


def test_delete_removes_a_key_and_a_missing_key_is_no_error(store):
    store.put_json("plans/r1/westus/batch-00001.json", [])
    store.delete("plans/r1/westus/batch-00001.json")
    assert store.get_json("plans/r1/westus/batch-00001.json") is None
    store.delete("plans/r1/westus/batch-00001.json")
    store.delete("never/existed.json")


def test_list_keys_returns_the_sorted_keys_under_a_prefix(store):
    keys = ["plans/r1/westus/batch-00002.json", "plans/r1/westus/batch-00001.json",
            "plans/r1/northeu/batch-00001.json", "plans/r10/westus/batch-00001.json",
            "sync/last-report.json"]
    for key in keys:
        store.put_json(key, {"k": key})
    assert store.list_keys("plans/r1/") == [
        "plans/r1/northeu/batch-00001.json",
        "plans/r1/westus/batch-00001.json",
        "plans/r1/westus/batch-00002.json",
    ]
    assert store.list_keys("plans/r1") == sorted(k for k in keys if k.startswith("plans/"))
    assert store.list_keys("plans/r1/westus/batch-0000") == [
        "plans/r1/westus/batch-00001.json", "plans/r1/westus/batch-00002.json"]
    assert store.list_keys() == sorted(keys)
    assert store.list_keys("nothing/") == []


def test_delete_prefix_removes_only_that_prefix_and_counts(store):
    for n in range(1, 4):
        store.put_json(f"plans/r1/westus/batch-{n:05d}.json", [n])
    store.put_json("plans/r1/northeu/batch-00001.json", [])
    store.put_json("plans/r10/westus/batch-00001.json", [])
    store.put_json("sync/last-report.json", {})

    assert store.delete_prefix("plans/r1/") == 4
    assert store.list_keys() == ["plans/r10/westus/batch-00001.json", "sync/last-report.json"]
    assert store.delete_prefix("plans/r1/") == 0
    # the store still works where the deleted keys were
    store.put_json("plans/r1/westus/batch-00001.json", [1])
    assert store.get_json("plans/r1/westus/batch-00001.json") == [1]


@pytest.mark.parametrize("key", BAD_KEYS)
def test_bad_keys_are_rejected(store, key):
    for call in (lambda: store.get_json(key), lambda: store.put_json(key, 1),
                 lambda: store.update_json(key, lambda c: 1), lambda: store.delete(key)):
        with pytest.raises(ValueError, match="state key") as info:
            call()
        assert isinstance(info.value, StateKeyError)
        assert info.value.code == "state.invalid_key"
    assert store.list_keys() == []


@pytest.mark.parametrize("prefix", ["/plans", "plans/../", "../", "plans//", ".locks/", "a b"])
def test_bad_prefixes_are_rejected(store, prefix):
    with pytest.raises(StateKeyError, match="state prefix"):
        store.list_keys(prefix)
    with pytest.raises(StateKeyError, match="state prefix"):
        store.delete_prefix(prefix)


def test_values_never_reach_the_log(store, caplog):
    marker = "do-not-log-this-value"
    with caplog.at_level(logging.DEBUG):
        store.put_json("sync/last-report.json", {"note": marker})
        store.update_json("sync/last-report.json", lambda c: {**c, "again": marker})
        store.get_json("sync/last-report.json")
        store.delete_prefix("sync/")
    assert "sync/last-report.json" in caplog.text
    assert marker not in caplog.text
