"""SQLite checkpoints: instances, their history, and messages not yet delivered.

One file, `<state-dir>/engine.sqlite`, in WAL mode. The dispatcher writes each episode in one
transaction (append the new history rows, update the instance row, delete the messages the
episode consumed, insert the messages it sends), so a kill -9 leaves either the episode before
or the episode after. Activity results and fired timers are not stored until the episode that
consumes them commits: after a crash, activities scheduled but not completed in history run
again (at-least-once, as in Azure) and timers re-arm from their TimerCreated events.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from engine.history import Event, parse_timestamp, timestamp
from engine.records import RuntimeStatus

_SCHEMA = """
CREATE TABLE IF NOT EXISTS instances (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    execution_id TEXT NOT NULL,
    status TEXT NOT NULL,
    input TEXT,
    output TEXT,
    custom_status TEXT,
    parent_id TEXT,
    parent_task_id INTEGER,
    created TEXT NOT NULL,
    updated TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS instances_by_status ON instances (status);
CREATE TABLE IF NOT EXISTS history (
    instance_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    event TEXT NOT NULL,
    PRIMARY KEY (instance_id, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    instance_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_by_instance ON messages (instance_id);
"""


@dataclass
class InstanceRow:
    id: str
    name: str
    execution_id: str
    status: RuntimeStatus
    input: str | None
    output: str | None
    custom_status: str | None
    parent_id: str | None
    parent_task_id: int | None
    created: datetime
    updated: datetime


@dataclass
class Message:
    """Something delivered to an instance: start, event raised, terminate, suspend, resume,
    a sub-orchestration's result. `id` is None until stored."""

    instance_id: str
    kind: str
    payload: dict[str, Any]
    id: int | None = None


class Store:
    def __init__(self, state_dir: Path | str) -> None:
        self.path = Path(state_dir) / "engine.sqlite"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode survives a process kill (only an OS crash can lose the tail).
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    # -- instances -------------------------------------------------------------------------
    @staticmethod
    def put_instance(db: sqlite3.Connection, row: InstanceRow) -> None:
        db.execute(
            "INSERT OR REPLACE INTO instances VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (row.id, row.name, row.execution_id, str(row.status), row.input, row.output,
             row.custom_status, row.parent_id, row.parent_task_id, timestamp(row.created),
             timestamp(row.updated)))

    def get_instance(self, instance_id: str) -> InstanceRow | None:
        with self._lock:
            found = self._db.execute("SELECT * FROM instances WHERE id = ?",
                                     (instance_id,)).fetchone()
        return _instance(found) if found else None

    def list_instances(self, statuses: Iterable[RuntimeStatus] | None = None) -> list[InstanceRow]:
        query, args = "SELECT * FROM instances", []
        if statuses is not None:
            wanted = [str(s) for s in statuses]
            query += f" WHERE status IN ({','.join('?' * len(wanted))})"
            args = wanted
        with self._lock:
            rows = self._db.execute(query + " ORDER BY created, id", args).fetchall()
        return [_instance(r) for r in rows]

    # -- history ---------------------------------------------------------------------------
    @staticmethod
    def append_history(db: sqlite3.Connection, instance_id: str, first_seq: int,
                       events_json: list[str]) -> None:
        db.executemany("INSERT INTO history VALUES (?,?,?)",
                       [(instance_id, first_seq + i, e) for i, e in enumerate(events_json)])

    @staticmethod
    def clear_history(db: sqlite3.Connection, instance_id: str) -> None:
        db.execute("DELETE FROM history WHERE instance_id = ?", (instance_id,))

    def load_history(self, instance_id: str) -> list[str]:
        with self._lock:
            rows = self._db.execute("SELECT event FROM history WHERE instance_id = ? ORDER BY seq",
                                    (instance_id,)).fetchall()
        return [r[0] for r in rows]

    def load_history_events(self, instance_id: str) -> list[Event]:
        return [json.loads(e) for e in self.load_history(instance_id)]

    # -- messages --------------------------------------------------------------------------
    @staticmethod
    def add_message(db: sqlite3.Connection, message: Message) -> None:
        cursor = db.execute("INSERT INTO messages (instance_id, kind, payload) VALUES (?,?,?)",
                            (message.instance_id, message.kind, json.dumps(message.payload)))
        message.id = cursor.lastrowid

    @staticmethod
    def delete_messages(db: sqlite3.Connection, ids: Iterable[int]) -> None:
        db.executemany("DELETE FROM messages WHERE id = ?", [(i,) for i in ids])

    def load_messages(self) -> list[Message]:
        with self._lock:
            rows = self._db.execute(
                "SELECT id, instance_id, kind, payload FROM messages ORDER BY id").fetchall()
        return [Message(r[1], r[2], json.loads(r[3]), r[0]) for r in rows]

    def purge(self, instance_id: str) -> bool:
        with self.transaction() as db:
            gone = db.execute("DELETE FROM instances WHERE id = ?", (instance_id,)).rowcount
            db.execute("DELETE FROM history WHERE instance_id = ?", (instance_id,))
            db.execute("DELETE FROM messages WHERE instance_id = ?", (instance_id,))
        return gone > 0


def _instance(row: tuple[Any, ...]) -> InstanceRow:
    return InstanceRow(row[0], row[1], row[2], RuntimeStatus(row[3]), row[4], row[5], row[6],
                       row[7], row[8], parse_timestamp(row[9]), parse_timestamp(row[10]))
