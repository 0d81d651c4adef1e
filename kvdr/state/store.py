"""Small JSON documents that outlive one activity: plans, the last sync report, event stats.

Two stores behind one :class:`StateStore` protocol:

* :class:`FileStateStore` — a directory (the local engine and the break-glass CLI). Writes are
  atomic (temporary file + ``os.replace``); ``update_json`` is serialised per key by a thread
  lock and an ``fcntl.flock`` lock file, because the CLI and a local host may run as two
  processes on the same directory.
* :class:`~kvdr.state.blob.BlobStateStore` — a blob container (``kvdr-state``) in the function app's
  ``AzureWebJobsStorage`` account. ``update_json`` is optimistic: read with the ETag, write with
  ``If-Match`` (or ``If-None-Match: *`` when the blob is new), retry on 412/409.

Keys are slash-separated paths (``plans/{run_id}/{target}/batch-00001.json``) of
``[A-Za-z0-9._/-]``; values are JSON. Values never hold secret material, and this module logs
keys only, never values.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import re
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from kvdr.errors import KvdrError

if TYPE_CHECKING:
    pass

logger = logging.getLogger(__name__)

MAX_KEY_LENGTH = 1024  # the blob service's limit on blob names
_KEY_CHARS = re.compile(r"[A-Za-z0-9._/-]+")


class StateKeyError(KvdrError, ValueError):
    """A key or prefix that no store accepts (a programming error, not a user's)."""

    default_code = "state.invalid_key"


class StateConflictError(KvdrError):
    """``update_json`` lost the race for a key more times than it is allowed to retry."""

    default_code = "state.conflict"


@runtime_checkable
class StateStore(Protocol):
    """JSON values under slash-separated keys. Every method is safe to call from threads."""

    def get_json(self, key: str) -> Any | None:
        """The value stored under ``key``, or ``None`` when there is none."""
        ...

    def put_json(self, key: str, value: Any) -> None:
        """Store ``value`` under ``key`` (last writer wins)."""
        ...

    def update_json(self, key: str, fn: Callable[[Any | None], Any]) -> Any:
        """Replace the value with ``fn(current)`` (``None`` when missing) without losing a
        concurrent update, and return the new value. ``fn`` may be called more than once (it
        gets a fresh copy each time), so it must not have side effects; an exception from it
        propagates and leaves the stored value unchanged."""
        ...

    def delete(self, key: str) -> None:
        """Remove ``key``; removing a missing key is not an error."""
        ...

    def list_keys(self, prefix: str = "") -> list[str]:
        """Every key that starts with ``prefix``, sorted."""
        ...

    def delete_prefix(self, prefix: str) -> int:
        """Remove every key that starts with ``prefix`` (e.g. a finished run's plans);
        return how many were removed."""
        ...


# --- keys and values ----------------------------------------------------------------------------


def validate_key(key: str) -> str:
    """Return ``key`` when every store accepts it, else raise :class:`StateKeyError`.

    A key is ``/``-separated segments of ``[A-Za-z0-9._-]``: no leading or trailing ``/``, no
    empty segment, no ``..``, and no segment starting with ``.`` (reserved for the file store's
    temporary and lock files)."""
    _check_path(key, what="key")
    return key


def validate_prefix(prefix: str) -> str:
    """Like :func:`validate_key`, except that ``""`` (every key) and a trailing ``/`` are
    allowed; a prefix may end inside a segment (``plans/run-1`` matches ``plans/run-10/…``)."""
    if not isinstance(prefix, str):
        raise StateKeyError(f"state prefix must be a string, got {prefix!r}")
    if prefix:
        _check_path(prefix.removesuffix("/"), what="prefix")
    return prefix


def _check_path(path: str, *, what: str) -> None:
    if not isinstance(path, str) or not path:
        raise StateKeyError(f"state {what} must be a non-empty string, got {path!r}")
    if len(path) > MAX_KEY_LENGTH:
        raise StateKeyError(f"state {what} is longer than {MAX_KEY_LENGTH} characters")
    if not _KEY_CHARS.fullmatch(path):
        raise StateKeyError(
            f"state {what} {path!r} may contain only letters, digits, '.', '_', '-' and '/'")
    if path.startswith("/"):
        raise StateKeyError(f"state {what} {path!r} must be relative (no leading '/')")
    if path.endswith("/"):
        raise StateKeyError(f"state {what} {path!r} ends with '/': a key names a value")
    if ".." in path:
        raise StateKeyError(f"state {what} {path!r} must not contain '..'")
    segments = path.split("/")
    if "" in segments:
        raise StateKeyError(f"state {what} {path!r} has an empty segment ('//')")
    if any(s.startswith(".") for s in segments):
        raise StateKeyError(
            f"state {what} {path!r} has a segment starting with '.' (reserved for the store)")


def encode_value(value: Any) -> bytes:
    # allow_nan=False: NaN/Infinity are not JSON, and other readers would reject them
    return json.dumps(value, ensure_ascii=False, allow_nan=False,
                      separators=(",", ":")).encode("utf-8")


def decode_value(data: bytes) -> Any:
    return json.loads(data.decode("utf-8"))


# --- the local store ----------------------------------------------------------------------------


class FileStateStore:
    """JSON files under ``root``; a key is a relative path (``plans/r1/westus/batch-00001.json``).

    Lock files live under ``root/.locks/`` and are kept (deleting a lock file that another
    process may hold is a race); only ``update_json`` creates them."""

    LOCK_DIR = ".locks"

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self._guard = threading.Lock()
        self._key_locks: dict[str, threading.Lock] = {}

    def __repr__(self) -> str:
        return f"FileStateStore(root={str(self.root)!r})"

    def get_json(self, key: str) -> Any | None:
        path = self._path(key)
        try:
            data = path.read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            return None
        except IsADirectoryError:
            raise StateKeyError(f"state key {key!r} names a folder of keys, not a value") from None
        return decode_value(data)

    def put_json(self, key: str, value: Any) -> None:
        self._write(self._path(key), encode_value(value))
        logger.debug("state put %s", key)

    def update_json(self, key: str, fn: Callable[[Any | None], Any]) -> Any:
        path = self._path(key)
        with self._locked(key):
            current = self.get_json(key)
            new = fn(current)
            self._write(path, encode_value(new))
        logger.debug("state updated %s", key)
        return new

    def delete(self, key: str) -> None:
        path = self._path(key)
        with contextlib.suppress(FileNotFoundError, NotADirectoryError):
            path.unlink()
            logger.debug("state deleted %s", key)
            self._prune(path.parent)

    def list_keys(self, prefix: str = "") -> list[str]:
        validate_prefix(prefix)
        return sorted(self._iter_keys(prefix))

    def delete_prefix(self, prefix: str) -> int:
        validate_prefix(prefix)
        count = 0
        folders: set[Path] = set()
        for key in self._iter_keys(prefix):
            path = self.root / key
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                count += 1
                folders.add(path.parent)
        for folder in sorted(folders, key=lambda p: len(p.parts), reverse=True):
            self._prune(folder)
        logger.debug("state deleted %d keys under %r", count, prefix)
        return count

    # ---- internals ---------------------------------------------------------------------------
    def _path(self, key: str) -> Path:
        return self.root / validate_key(key)

    def _iter_keys(self, prefix: str) -> Iterator[str]:
        # walk only the folder the prefix lies in, not the whole tree
        folder, _, _ = prefix.rpartition("/")
        start = self.root / folder if folder else self.root
        if not start.is_dir():
            return
        for dirpath, dirnames, filenames in os.walk(start):
            dirnames[:] = [d for d in dirnames if not d.startswith(".")]
            rel = Path(dirpath).relative_to(self.root).as_posix()
            base = "" if rel == "." else rel + "/"
            for name in filenames:
                key = base + name
                if not name.startswith(".") and key.startswith(prefix):
                    yield key

    def _write(self, path: Path, data: bytes) -> None:
        if path.is_dir():
            raise StateKeyError(
                f"state key {path.relative_to(self.root).as_posix()!r} names a folder of keys")
        for attempt in range(3):
            path.parent.mkdir(parents=True, exist_ok=True)
            try:
                fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.",
                                           suffix=".tmp")
                break
            except FileNotFoundError:  # a concurrent delete pruned the (then empty) folder
                if attempt == 2:
                    raise
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise

    def _prune(self, folder: Path) -> None:
        """Remove empty folders from ``folder`` up to (not including) the root."""
        while folder != self.root and self.root in folder.parents:
            try:
                folder.rmdir()
            except OSError:  # not empty, or already gone / recreated by a writer
                return
            folder = folder.parent

    @contextlib.contextmanager
    def _locked(self, key: str) -> Iterator[None]:
        with self._guard:
            thread_lock = self._key_locks.setdefault(key, threading.Lock())
        lock_path = self.root / self.LOCK_DIR / f"{key}.lock"
        with thread_lock:
            lock_path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                yield
            finally:
                os.close(fd)  # closing releases the flock
