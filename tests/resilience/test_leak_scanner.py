"""The leak scanner finds what it is meant to find: a secret value planted in each kind of place
kvdr writes (files, JSON, SQLite rows — an engine's own state dir included —, blobs, log
records, exceptions, spans, custom events, custom statuses), in each encoding, named by place;
and a near miss (one character changed, a prefix) is no hit. Without this proof a clean scan
would prove nothing."""

from __future__ import annotations

import base64
import gzip
import json
import logging
import sqlite3
import uuid
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote, quote_plus

import azure.durable_functions as df
import azure.functions as func
import pytest
from azure.storage.blob import BlobServiceClient
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from engine import Engine, ManualClock
from kvdr.telemetry import custom_event
from support.leaks import LeakScanner, encodings_of, unique_secret_value

PROOFS: list[str] = []  # the places and encodings proven, for the figures


@pytest.fixture(scope="module", autouse=True)
def _print_proofs():
    yield
    print(f"\nleak scanner proofs: {len(PROOFS)} planted values found ({', '.join(PROOFS)})")

plant_app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@plant_app.orchestration_trigger(context_name="context")
def leaky_orchestration(context: df.DurableOrchestrationContext):
    """Does everything kvdr must never do with a value: input, activity input, custom status,
    output."""
    value = context.get_input()
    context.set_custom_status({"value": value})
    echoed = yield context.call_activity("leaky_echo", value)
    return {"echo": echoed}


@plant_app.activity_trigger(input_name="value")
def leaky_echo(value: str) -> str:
    return value


def _stream(data: bytes) -> bytes:
    """``data`` between unrelated bytes, as it would sit inside a bigger document."""
    return b"<<prefix " + uuid.uuid4().bytes + b">>" + data + b"<<suffix>>"


ENCODINGS: dict[str, Callable[[str], bytes]] = {
    "raw": lambda v: v.encode(),
    "json": lambda v: json.dumps(v).encode(),
    "json-utf8": lambda v: json.dumps(v, ensure_ascii=False).encode(),
    "json-twice": lambda v: json.dumps(json.dumps({"inner": v})).encode(),
    "repr": lambda v: repr({"k": v}).encode(),
    "percent": lambda v: quote(v, safe="").encode(),
    "percent-plus": lambda v: quote_plus(v).encode(),
    "utf-16-le": lambda v: v.encode("utf-16-le"),
    "utf-16-be": lambda v: v.encode("utf-16-be"),
    "hex": lambda v: v.encode().hex().encode(),
    "HEX": lambda v: v.encode().hex().upper().encode(),
    "base64@0": lambda v: base64.b64encode(v.encode() + b"tail"),
    "base64@1": lambda v: base64.b64encode(b"x" + v.encode() + b"tail"),
    "base64@2": lambda v: base64.b64encode(b"xy" + v.encode() + b"tail"),
    "base64url@0": lambda v: base64.urlsafe_b64encode(v.encode()),
    "base64url@1": lambda v: base64.urlsafe_b64encode(b"?" + v.encode()),
    "base64url@2": lambda v: base64.urlsafe_b64encode(b"??" + v.encode()),
    "gzip": lambda v: gzip.compress(json.dumps({"v": v}).encode()),
}


def _only_hit(scanner: LeakScanner, index: int = 0) -> str:
    assert len(scanner.hits) >= 1, "the planted value was not found"
    assert {h.value_index for h in scanner.hits} == {index}
    return scanner.hits[0].place


@pytest.mark.parametrize("encoding", sorted(ENCODINGS))
@pytest.mark.parametrize("exotic", [False, True], ids=["plain", "exotic"])
def test_a_value_planted_in_each_encoding_is_found(encoding, exotic):
    value = unique_secret_value(f"enc-{encoding}", exotic=exotic)
    scanner = LeakScanner([unique_secret_value("other"), value])
    scanner.scan_bytes(f"planted {encoding}", _stream(ENCODINGS[encoding](value)))
    assert [h.value_index for h in scanner.hits] == [1]
    found = scanner.hits[0].encoding
    if exotic and encoding not in ("gzip", "json-twice"):
        assert found == encoding  # every exotic form differs from the others
    PROOFS.append(f"encoding {encoding} ({'exotic' if exotic else 'plain'}): {found}")


@pytest.mark.parametrize("encoding", sorted(ENCODINGS))
def test_a_near_miss_is_no_hit(encoding):
    """One character of the random part changed, or the last character cut, or only the shared
    prefix: in no encoding is that a hit."""
    value = unique_secret_value("near", exotic=True)
    plain = unique_secret_value("near")
    scanner = LeakScanner([value, plain])
    for v in (value, plain):
        at = v.index("-", len("kvdr-leak-")) + 5  # inside the random hex
        changed = v[:at] + ("0" if v[at] != "0" else "1") + v[at + 1:]
        for near in (changed, v[:-1], v[:len("kvdr-leak-near-")]):
            scanner.scan_bytes("near miss", ENCODINGS[encoding](near))
    assert scanner.hits == []


def test_every_encoding_the_scanner_knows_is_proven_above():
    assert {name for name, _ in encodings_of(unique_secret_value("x", exotic=True))} <= (
        set(ENCODINGS) | {"base64url@0", "base64url@1", "base64url@2"})


def test_short_values_are_refused_and_hits_never_show_the_value():
    with pytest.raises(ValueError):
        LeakScanner(["short"])
    value = unique_secret_value("hidden")
    scanner = LeakScanner([value])
    scanner.scan_text("a report", f"copied {value}")
    with pytest.raises(pytest.fail.Exception) as failed:
        scanner.assert_clean()
    assert "a report: value #0 (raw)" in str(failed.value)
    assert value not in str(failed.value) and value not in repr(scanner)
    assert scanner.summary()["hits"] == 1


def test_text_json_and_gzip_files_in_a_tree_are_found_by_path(tmp_path):
    value = unique_secret_value("files", exotic=True)
    (tmp_path / "deep" / "er").mkdir(parents=True)
    (tmp_path / "clean.txt").write_text("nothing here")
    (tmp_path / "deep" / "report.txt").write_text(f"report line {value}\n")
    (tmp_path / "deep" / "er" / "state.json").write_text(json.dumps({"s": value}))
    (tmp_path / "deep" / "er" / "blob.gz").write_bytes(gzip.compress(value.encode()))
    scanner = LeakScanner([value])
    scanner.scan_path(tmp_path)
    places = {(Path(h.place.split(" [")[0]).name, h.encoding) for h in scanner.hits}
    assert places == {("report.txt", "raw"), ("state.json", "json"), ("blob.gz", "raw")}
    assert scanner.summary()["places_by_kind"]["file"] == 4
    PROOFS.extend(["text file", "JSON file (escaped)", "gzip file"])


def test_a_sqlite_row_is_found_even_split_over_overflow_pages_and_only_in_the_wal(tmp_path):
    value, long_value, wal_value = (unique_secret_value(t) for t in ("row", "long", "wal"))
    db_path = tmp_path / "app.sqlite"
    db = sqlite3.connect(db_path)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA wal_autocheckpoint=0")  # keep the last row in the WAL file
    db.execute("CREATE TABLE t (k TEXT, v TEXT, b BLOB)")
    db.execute("INSERT INTO t VALUES ('a', ?, NULL)", (json.dumps({"x": value}),))
    # a row longer than a page: SQLite splits it over overflow pages (4 KiB each) where the
    # value may straddle a page boundary; the row scan still sees it whole
    padding = "p" * 4070
    db.execute("INSERT INTO t VALUES ('b', ?, ?)", (padding + long_value + padding,
                                                    gzip.compress(long_value.encode())))
    db.commit()
    db.execute("INSERT INTO t VALUES ('c', ?, NULL)", (wal_value,))
    db.commit()
    assert (tmp_path / "app.sqlite-wal").stat().st_size > 0
    scanner = LeakScanner([value, long_value, wal_value])
    scanner.scan_path(tmp_path)
    db.close()
    rows = {(h.value_index, h.place.split(" table ")[-1]) for h in scanner.hits
            if " table " in h.place}
    assert (0, "t row 0 column v") in rows
    assert (1, "t row 1 column v") in rows
    assert any(i == 1 and "column b" in p for i, p in rows)  # the gzipped BLOB, inflated
    assert (2, "t row 2 column v") in rows  # a row only the WAL holds
    PROOFS.extend(["SQLite row", "SQLite row over overflow pages", "SQLite row in the WAL",
               "SQLite BLOB gzipped"])


def test_an_engine_state_dir_is_scanned_with_the_rows_the_engine_wrote(tmp_path):
    """A real local engine writes an input, an activity input and result, a custom status and
    an output: every one is a hit, named by table and column."""
    value = unique_secret_value("engine", exotic=True)
    state = tmp_path / "state"
    with Engine(plant_app, state, clock=ManualClock()) as engine:
        instance = engine.start_new("leaky_orchestration", value)
        assert engine.result(instance, 30) == {"echo": value}
        status = engine.get_status(instance, show_history=True, show_history_output=True)
    scanner = LeakScanner([value])
    scanner.scan_path(state)
    columns = {h.place.split(" table ")[-1].split(" row ")[0] + "." + h.place.split()[-1]
               for h in scanner.hits if " table " in h.place}
    assert {"instances.input", "instances.custom_status", "instances.output",
            "history.event"} <= columns
    custom = LeakScanner([value])
    custom.scan_json(f"custom status of {instance}", status.custom_status)
    assert custom.hits and custom.hits[0].place.startswith("custom status of")
    PROOFS.extend(["engine SQLite (input, history, custom status, output)", "custom status"])


def test_a_blob_in_azurite_is_found_by_container_and_name(azurite):
    value = unique_secret_value("blob")
    in_metadata = unique_secret_value("meta")
    container = f"leak-{uuid.uuid4().hex[:12]}"
    with BlobServiceClient.from_connection_string(azurite.connection_string) as service:
        client = service.create_container(container)
        client.upload_blob("state/one.json", json.dumps({"v": value}).encode())
        client.upload_blob("clean.json", b"{}", metadata={"m": in_metadata})
    scanner = LeakScanner([value, in_metadata])
    scanner.scan_blobs(azurite.connection_string)
    places = {(h.value_index, h.place) for h in scanner.hits}
    assert (0, f"blob {container}/state/one.json") in places
    assert (1, f"blob {container}/clean.json (name, metadata)") in places
    PROOFS.extend(["Azurite blob content", "Azurite blob metadata"])


def test_log_records_args_extras_and_exception_texts_are_found(caplog):
    value, in_extra, in_exc = (unique_secret_value(t) for t in ("arg", "extra", "exc"))
    log = logging.getLogger("kvdr.leakproof")
    with caplog.at_level(logging.DEBUG, logger="kvdr.leakproof"):
        log.debug("copied %r", {"secret": value})
        log.info("clean", extra={"payload": in_extra})
        try:
            raise RuntimeError(f"bad {in_exc}")
        except RuntimeError:
            log.exception("failed")
    scanner = LeakScanner([value, in_extra, in_exc])
    scanner.scan_records("caplog", caplog.records)
    assert {(h.value_index, h.place.split(": ")[1]) for h in scanner.hits} >= {
        (0, "record 0 (kvdr.leakproof, DEBUG)"), (1, "record 1 (kvdr.leakproof, INFO)"),
        (2, "record 2 (kvdr.leakproof, ERROR)")}
    exc_scanner = LeakScanner([in_exc])
    try:
        try:
            raise KeyError(in_exc)
        except KeyError as inner:
            raise ValueError("outer, clean") from inner
    except ValueError as outer:
        exc_scanner.scan_exception("activity exception", outer)
    assert _only_hit(exc_scanner) == "activity exception"
    PROOFS.extend(["log record arg", "log record extra", "log exception text",
               "exception chain text"])


def test_span_attributes_events_status_and_custom_events_are_found(events):
    attr, event_attr, status_text, dimension = (
        unique_secret_value(t) for t in ("span", "event", "status", "custom"))
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("leakproof")
    with tracer.start_as_current_span("copy", attributes={"kvdr.item": attr}) as span:
        span.add_event("step", {"note": event_attr})
    with tracer.start_as_current_span("fail") as span:
        span.set_status(status=_error_status(status_text))
    custom_event("LeakProof", {"run_id": "r-1", "detail": dimension})
    scanner = LeakScanner([attr, event_attr, status_text, dimension])
    scanner.scan_spans([exporter, events])
    by_value = {h.value_index: h.place for h in scanner.hits}
    assert by_value[0] == by_value[1] == "span 0 (copy)"
    assert by_value[2] == "span 1 (fail)"
    assert by_value[3].startswith("OpenTelemetry log record") and "LeakProof" in by_value[3]
    PROOFS.extend(["span attribute", "span event", "span status", "custom event dimension"])


def _error_status(description: str):
    from opentelemetry.trace import Status, StatusCode

    return Status(StatusCode.ERROR, description)
