"""A leak scanner: does any seeded secret value appear, in any encoding a leak could take, in
the places kvdr writes (state dirs and SQLite histories, blobs, logs, spans and custom events,
custom statuses, reports, HTTP bodies, exception texts)?

Seed values with :func:`unique_secret_value`, hand them to a :class:`LeakScanner`, scan, then
``assert_clean()``. A hit names the place, the encoding and the value's index, never the value.

Matching is on the whole value, as bytes, in these forms: raw UTF-8; JSON-escaped (with and
without ``ensure_ascii``, and twice escaped, as a JSON document inside a JSON string); base64
(standard and URL-safe, at the three alignments the value can take inside a longer base64
stream, without the edge characters that depend on the neighbouring bytes — so the last
character's lowest 2-4 bits are not checked); hex (lower and upper); percent-encoded (``quote``
and ``quote_plus``); UTF-16 (LE and BE); Python's ``repr`` (``%r`` in a log, exception args).
Gzip and zlib data found anywhere is inflated and scanned too. SQLite files are scanned raw
and row by row (a row longer than a page is split over overflow pages, which a raw scan can
miss), on a copy that has taken in its WAL.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import shutil
import sqlite3
import tempfile
import traceback
import uuid
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import pytest

MIN_VALUE_LENGTH = 16  # shorter values would match by chance
_ANCHOR = 8  # needles are found by their first bytes, then compared whole
_SQLITE_MAGIC = b"SQLite format 3\x00"
_TAG = re.compile(r"[^0-9a-zA-Z]+")


def unique_secret_value(tag: str, *, exotic: bool = False) -> str:
    """A secret value that cannot occur by chance: ``kvdr-leak-<tag>-<32 random hex>``.

    A hit needs the whole value (the shared ``kvdr-leak-`` prefix is no hit). ``exotic`` adds
    characters that JSON, percent-encoding and ``ensure_ascii`` all change (a quote, a slash, a
    space, a backslash, non-ASCII letters), for tests that want those encodings exercised.
    """
    safe_tag = _TAG.sub("-", tag).strip("-")[:40] or "v"
    value = f"kvdr-leak-{safe_tag}-{uuid.uuid4().hex}"
    # "??~~ÿÿ" puts '+' and '/' in the base64 at every alignment, so URL-safe base64 differs
    return value + ' "é/\\ ??~~ÿÿ ' + uuid.uuid4().hex[:8] if exotic else value


@dataclass(frozen=True)
class Hit:
    place: str
    encoding: str
    value_index: int

    def __str__(self) -> str:
        return f"{self.place}: value #{self.value_index} ({self.encoding})"


def _b64_cores(data: bytes) -> list[tuple[str, bytes]]:
    """The base64 characters that depend only on ``data`` when it sits at byte offset 0, 1 or 2
    of a 3-byte group inside a longer stream, standard and URL-safe."""
    forms = []
    for pad in range(3):
        encoded = base64.b64encode(b"\x00" * pad + data)
        start = -(-8 * pad // 6)  # first character made of data bits only
        end = 8 * (pad + len(data)) // 6  # the characters wholly inside data
        core = encoded[start:end]
        forms.append((f"base64@{pad}", core))
        forms.append((f"base64url@{pad}", core.translate(bytes.maketrans(b"+/", b"-_"))))
    return forms


def encodings_of(value: str | bytes) -> list[tuple[str, bytes]]:
    """Every (encoding name, bytes) form the scanner looks for, distinct forms only."""
    raw = value.encode("utf-8") if isinstance(value, str) else value
    forms: list[tuple[str, bytes]] = [("raw", raw)]
    if isinstance(value, str):
        once = json.dumps(value)[1:-1]
        forms += [("json", once.encode()),
                  ("json-utf8", json.dumps(value, ensure_ascii=False)[1:-1].encode()),
                  ("json-twice", json.dumps(once)[1:-1].encode()),
                  ("percent", quote(value, safe="").encode()),
                  ("percent-plus", quote_plus(value, safe="").encode()),
                  ("utf-16-le", value.encode("utf-16-le")),
                  ("utf-16-be", value.encode("utf-16-be")),
                  ("repr", repr(value)[1:-1].encode("utf-8", "surrogatepass"))]
    else:
        forms += [("percent", quote(value, safe="").encode()), ("repr", repr(value)[2:-1].encode())]
    forms += [("hex", raw.hex().encode()), ("HEX", raw.hex().upper().encode())]
    forms += _b64_cores(raw)
    seen: set[bytes] = set()
    distinct = []
    for name, form in forms:
        if form not in seen:
            seen.add(form)
            distinct.append((name, form))
    return distinct


def _inflated(data: bytes) -> Iterable[tuple[str, bytes]]:
    """The gzip/zlib streams found in ``data`` (at its start, or anywhere for gzip), inflated."""
    starts = []
    if data[:1] == b"\x78" and len(data) > 2 and (data[0] * 256 + data[1]) % 31 == 0:
        starts.append(("zlib", 0))
    pos = data.find(b"\x1f\x8b\x08")
    while pos != -1 and len(starts) < 64:
        starts.append(("gzip", pos))
        pos = data.find(b"\x1f\x8b\x08", pos + 1)
    for kind, at in starts:
        # a decompressor object tolerates what follows the stream and yields a truncated one
        inflater = zlib.decompressobj(wbits=31 if kind == "gzip" else 15)
        try:
            out = inflater.decompress(data[at:], 64 * 1024 * 1024)
        except zlib.error:
            continue
        if out:
            yield f"{kind}@{at}", out


_STANDARD_RECORD_FIELDS = frozenset(vars(logging.makeLogRecord({})))


class LeakScanner:
    """Looks for the given secret values everywhere it is pointed at; collects hits."""

    def __init__(self, values: Iterable[str | bytes] = ()) -> None:
        self._values: list[str | bytes] = []
        self._needles: dict[bytes, list[tuple[bytes, str, int]]] = {}
        self.hits: list[Hit] = []
        self._places = 0
        self._bytes = 0
        self._kinds: dict[str, int] = {}
        for value in values:
            self.add(value)

    def __repr__(self) -> str:  # never the values
        return f"<LeakScanner {len(self._values)} values, {len(self.hits)} hits>"

    def add(self, value: str | bytes) -> int:
        """Look for ``value`` too; returns its index (hits name values by index)."""
        if len(value) < MIN_VALUE_LENGTH:
            raise ValueError(f"a value to scan for needs at least {MIN_VALUE_LENGTH} characters "
                             "(a short one would match by chance)")
        index = len(self._values)
        self._values.append(value)
        for name, form in encodings_of(value):
            self._needles.setdefault(form[:_ANCHOR], []).append((form, name, index))
        return index

    @property
    def values_seeded(self) -> int:
        return len(self._values)

    # -- the scans --------------------------------------------------------------------------

    def scan_bytes(self, where: str, data: bytes, *, kind: str = "bytes") -> list[Hit]:
        """Scan one place's bytes (and any gzip/zlib data inside them)."""
        self._count(kind, len(data))
        return self._match(where, data, depth=0)

    def scan_text(self, where: str, text: str | bytes | None, *, kind: str = "text") -> list[Hit]:
        """Scan a string you captured: stdout/stderr, an HTTP body, a report, exception text."""
        if text is None:
            return []
        data = text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass")
        return self.scan_bytes(where, data, kind=kind)

    def scan_json(self, where: str, obj: Any, *, kind: str = "json") -> list[Hit]:
        """Scan a JSON-able object (a custom status, an output) as its JSON text and its repr."""
        hits = self.scan_text(where, json.dumps(obj, ensure_ascii=False, default=str), kind=kind)
        return hits + self.scan_text(f"{where} (repr)", repr(obj), kind=kind)

    def scan_exception(self, where: str, exc: BaseException) -> list[Hit]:
        """Scan an exception's text, its arguments and its whole formatted chain."""
        text = "".join(traceback.format_exception(exc)) + "\n" + repr(exc.args)
        return self.scan_text(where, text, kind="exception")

    def scan_path(self, path: str | Path) -> list[Hit]:
        """Scan a file or every file under a directory: raw bytes, inflated gzip/zlib, and
        SQLite databases row by row."""
        root = Path(path)
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        hits: list[Hit] = []
        for file in files:
            try:
                data = file.read_bytes()
            except OSError:  # vanished (a -journal file) or unreadable: nothing to scan
                continue
            hits += self.scan_bytes(str(file), data, kind="file")
            if data.startswith(_SQLITE_MAGIC):
                hits += self._scan_sqlite(file)
        return hits

    def scan_records(self, where: str, records: Sequence[logging.LogRecord], *,
                     first_index: int = 0) -> list[Hit]:
        """Scan log records: the formatted message, msg, args, exception and stack text, and any
        extra attribute a caller attached. Hits name a record by its index (from
        ``first_index``), logger and level."""
        hits: list[Hit] = []
        formatter = logging.Formatter()
        for i, record in enumerate(records, start=first_index):
            parts: list[str] = []
            try:
                parts.append(record.getMessage())
            except Exception as exc:  # a bad format string is no reason to skip the record
                parts.append(f"(message not formattable: {exc!r})")
            parts += [str(record.msg), repr(record.msg), repr(record.args)]
            if record.exc_info:
                parts.append(formatter.formatException(record.exc_info))
            parts += [record.exc_text or "", record.stack_info or ""]
            parts += [f"{k}={v!s} {v!r}" for k, v in vars(record).items()
                      if k not in _STANDARD_RECORD_FIELDS]
            hits += self.scan_text(f"{where}: record {i} ({record.name}, {record.levelname})",
                                   "\n".join(parts), kind="log record")
        return hits

    def scan_spans(self, exporter: Any) -> list[Hit]:
        """Scan OpenTelemetry in-memory exporters (spans or log records — custom events), or a
        list of either: names, attributes, events, links, status, bodies, resources."""
        if isinstance(exporter, (list, tuple)):
            return [h for e in exporter for h in self.scan_spans(e)]
        hits: list[Hit] = []
        if hasattr(exporter, "get_finished_spans"):
            for i, span in enumerate(exporter.get_finished_spans()):
                hits += self.scan_text(f"span {i} ({span.name})",
                                       span.to_json(indent=None) + "\n" + _span_text(span),
                                       kind="span")
        if hasattr(exporter, "get_finished_logs"):
            for i, data in enumerate(exporter.get_finished_logs()):
                record = data.log_record
                to_json = getattr(data, "to_json", None) or getattr(record, "to_json", None)
                text = "\n".join([to_json(indent=None) if to_json else "", str(record.body),
                                  repr(record.body), repr(dict(record.attributes or {})),
                                  str(getattr(record, "event_name", "") or "")])
                name = (record.attributes or {}).get("microsoft.custom_event.name", "log")
                hits += self.scan_text(f"OpenTelemetry log record {i} ({name})", text,
                                       kind="otel log record")
        return hits

    def scan_blobs(self, connection_string: str) -> list[Hit]:
        """Scan every container and blob (name, metadata, content; snapshots too) of a Storage
        account — Azurite in the tests."""
        from azure.storage.blob import BlobServiceClient

        hits: list[Hit] = []
        with BlobServiceClient.from_connection_string(connection_string) as service:
            for container in service.list_containers(include_metadata=True):
                client = service.get_container_client(container.name)
                hits += self.scan_text(f"container {container.name} (name, metadata)",
                                       f"{container.name}\n{container.metadata!r}", kind="blob")
                for blob in client.list_blobs(include=["metadata", "snapshots"]):
                    where = f"blob {container.name}/{blob.name}"
                    if blob.snapshot:
                        where += f" (snapshot {blob.snapshot})"
                    content = client.get_blob_client(blob.name, snapshot=blob.snapshot
                                                     ).download_blob().readall()
                    hits += self.scan_text(f"{where} (name, metadata)",
                                           f"{blob.name}\n{blob.metadata!r}", kind="blob")
                    hits += self.scan_bytes(where, content, kind="blob")
        return hits

    # -- results ----------------------------------------------------------------------------

    def assert_clean(self) -> None:
        """Fail, naming every place, encoding and value index found (never a value)."""
        if self.hits:
            listed = "\n".join(f"  {hit}" for hit in self.hits[:200])
            more = f"\n  ... and {len(self.hits) - 200} more" if len(self.hits) > 200 else ""
            pytest.fail(f"{len(self.hits)} secret value hit(s) (values not shown):\n"
                        f"{listed}{more}", pytrace=False)

    def summary(self) -> dict[str, Any]:
        """Figures: values seeded, places and bytes scanned (by kind), hits."""
        return {"values": len(self._values), "places": self._places, "bytes": self._bytes,
                "places_by_kind": dict(sorted(self._kinds.items())), "hits": len(self.hits)}

    # -- internals --------------------------------------------------------------------------

    def _count(self, kind: str, size: int) -> None:
        self._places += 1
        self._bytes += size
        self._kinds[kind] = self._kinds.get(kind, 0) + 1

    def _match(self, where: str, data: bytes, *, depth: int) -> list[Hit]:
        found: list[Hit] = []
        for anchor, needles in self._needles.items():
            pos = data.find(anchor)
            while pos != -1:
                for form, name, index in needles:
                    if data.startswith(form, pos):
                        hit = Hit(where, name, index)
                        if hit not in found:
                            found.append(hit)
                pos = data.find(anchor, pos + 1)
        if depth < 2:
            for label, inner in _inflated(data):
                found += self._match(f"{where} [{label} inflated]", inner, depth=depth + 1)
        for hit in found:
            if hit not in self.hits:
                self.hits.append(hit)
        return found

    def _scan_sqlite(self, file: Path) -> list[Hit]:
        """Every row of every table, on a copy that has taken in the WAL (a live -wal/-shm
        pair must not be opened read-only, nor the original changed)."""
        hits: list[Hit] = []
        with tempfile.TemporaryDirectory(prefix="leakscan-") as tmp:
            copy = Path(tmp) / file.name
            for suffix in ("", "-wal", "-shm"):
                src = file.with_name(file.name + suffix)
                if src.exists():
                    shutil.copyfile(src, copy.with_name(copy.name + suffix))
            try:
                db = sqlite3.connect(copy)
            except sqlite3.Error as exc:
                pytest.fail(f"cannot open {file} as SQLite to scan it: {exc}", pytrace=False)
            try:
                tables = [r[0] for r in db.execute(
                    "SELECT name FROM sqlite_master WHERE type = 'table'")]
                for table in tables:
                    hits += self._scan_table(db, file, table)
            finally:
                db.close()
        return hits

    def _scan_table(self, db: sqlite3.Connection, file: Path, table: str) -> list[Hit]:
        hits: list[Hit] = []
        quoted = '"' + table.replace('"', '""') + '"'
        cursor = db.execute(f"SELECT * FROM {quoted}")  # names from sqlite_master
        columns = [c[0] for c in cursor.description]
        size = 0
        for n, row in enumerate(cursor):
            for column, cell in zip(columns, row, strict=True):
                if cell is None or isinstance(cell, (int, float)):
                    continue
                data = cell if isinstance(cell, bytes) else str(cell).encode("utf-8",
                                                                             "surrogatepass")
                size += len(data)
                hits += self._match(f"{file} table {table} row {n} column {column}", data,
                                    depth=0)
        self._count("sqlite table", size)
        return hits


def _span_text(span: Any) -> str:
    parts = [span.name, repr(dict(span.attributes or {})),
             str(getattr(span.status, "description", "") or "")]
    parts += [f"{e.name} {dict(e.attributes or {})!r}" for e in span.events]
    parts += [repr(dict(link.attributes or {})) for link in span.links]
    if span.resource is not None:
        parts.append(repr(dict(span.resource.attributes)))
    return "\n".join(parts)
