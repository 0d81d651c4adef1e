"""FileStateStore specifics: atomic files on disk, and update_json serialised across
processes (the CLI and a local host share the state directory)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kvdr.state.store import FileStateStore

PROCESS_INCREMENTS = 60

WORKER = """
import sys, time
from pathlib import Path
import pytest

from kvdr.state.store import FileStateStore

root, me, n = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
(root.parent / f"ready-{me}").touch()
while not (root.parent / "go").exists():
    time.sleep(0.005)
store = FileStateStore(root)
for _ in range(n):
    store.update_json("events/stats.json",
                      lambda c: {**(c or {}), "received": (c or {}).get("received", 0) + 1,
                                 me: (c or {}).get(me, 0) + 1})
"""


def test_values_are_plain_json_files_under_the_root(tmp_path):
    store = FileStateStore(tmp_path)
    store.put_json("plans/r1/westus/batch-00001.json", [{"name": "a"}])
    assert (tmp_path / "plans/r1/westus/batch-00001.json").read_text() == '[{"name":"a"}]'


def test_writes_leave_no_temporary_files_and_locks_are_not_keys(tmp_path):
    store = FileStateStore(tmp_path)
    store.put_json("k.json", 1)
    store.update_json("k.json", lambda c: c + 1)
    store.update_json("dir/other.json", lambda c: 1)
    files = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")
                   if p.is_file())
    assert files == [".locks/dir/other.json.lock", ".locks/k.json.lock", "dir/other.json",
                     "k.json"]
    assert store.list_keys() == ["dir/other.json", "k.json"]


def test_a_failed_write_keeps_the_old_value_and_leaves_no_temporary_file(tmp_path):
    store = FileStateStore(tmp_path)
    store.put_json("k.json", {"v": 1})
    with pytest.raises(TypeError):
        store.put_json("k.json", {"v": object()})
    assert store.get_json("k.json") == {"v": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["k.json"]


def test_delete_prefix_removes_the_emptied_folders(tmp_path):
    store = FileStateStore(tmp_path)
    store.put_json("plans/r1/westus/batch-00001.json", [])
    store.put_json("plans/r1/northeu/batch-00001.json", [])
    store.put_json("plans/r2/westus/batch-00001.json", [])
    assert store.delete_prefix("plans/r1/") == 2
    assert not (tmp_path / "plans/r1").exists()
    assert (tmp_path / "plans/r2/westus").is_dir()


def test_a_missing_root_reads_as_empty(tmp_path):
    store = FileStateStore(tmp_path / "not-yet")
    assert store.get_json("k.json") is None
    assert store.list_keys() == []
    assert store.delete_prefix("plans/") == 0


def test_update_json_from_two_processes_loses_no_increment(tmp_path):
    root = tmp_path / "state"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[3])}
    procs = [subprocess.Popen([sys.executable, "-c", WORKER, str(root), me,
                               str(PROCESS_INCREMENTS)], env=env)
             for me in ("cli", "host")]
    deadline = time.monotonic() + 30
    while not all((tmp_path / f"ready-{me}").exists() for me in ("cli", "host")):
        assert all(p.poll() is None for p in procs), "a worker process died before starting"
        assert time.monotonic() < deadline, "worker processes did not start"
        time.sleep(0.01)
    (tmp_path / "go").touch()  # both start incrementing at once
    assert [p.wait(timeout=60) for p in procs] == [0, 0]

    assert FileStateStore(root).get_json("events/stats.json") == {
        "received": 2 * PROCESS_INCREMENTS, "cli": PROCESS_INCREMENTS,
        "host": PROCESS_INCREMENTS}
