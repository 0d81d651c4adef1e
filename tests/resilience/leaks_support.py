"""Leak scans of what a run of kvdr leaves behind, shared by the resilience suites: every
orchestration an engine holds (status, input, output, custom status, history with outputs),
read in process or through a host's management API, and the figures line of a scan."""

from __future__ import annotations

import json
import logging
import threading
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from cryptography.hazmat.primitives import serialization

from emulator.testing import Emulator
from engine import Engine
from support.leaks import LeakScanner

MANAGEMENT = "/runtime/webhooks/durabletask/instances"


def private_keys(emu: Emulator, vault: str, names: list[str]) -> list[bytes]:
    """The private keys (PKCS#8 DER) of every version of the keys, and certificates' keys,
    ``names`` in ``vault``, read from the emulator's store: kvdr moves them inside backups and
    PFX exports only, so they are scanned for too."""
    found = []
    store = emu.store(vault)
    with store.lock:
        items = [store.live["keys"].get(name.lower()) or store.live["keys"].get(name)
                 for name in names]
    for item in items:
        for version in item.versions.values():
            key = serialization.load_pem_private_key(version.data["pem"].encode(), None)
            found.append(key.private_bytes(serialization.Encoding.DER,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return found


def scan_engine(scanner: LeakScanner, engine: Engine, where: str = "engine") -> int:
    """Every instance of ``engine`` with its history and outputs; returns how many."""
    instances = engine.list_instances()
    for row in instances:
        status = engine.get_status(row.instance_id, show_history=True, show_history_output=True)
        if status is None:  # purged meanwhile
            continue
        # the JSON texts as stored, and the history events as the management API returns them
        scanner.scan_json(f"{where} instance {row.instance_id} (input, output, custom status, "
                          "history)", [status.input_json, status.output_json,
                                       status.custom_status_json, status.history],
                          kind="orchestration status")
    return len(instances)


def scan_management_api(scanner: LeakScanner, base_url: str, where: str = "host") -> int:
    """Every instance a host's Durable management API lists, page by page, then each one's
    status with history and outputs, as the HTTP bodies the API answers; returns how many."""
    ids: list[str] = []
    token: str | None = None
    while True:
        headers = {"x-ms-continuation-token": token} if token else {}
        body, answer_headers = _get(f"{base_url}{MANAGEMENT}?top=100", headers)
        scanner.scan_text(f"{where} GET {MANAGEMENT} page {len(ids)}", body,
                          kind="HTTP response")
        ids += [item["instanceId"] for item in json.loads(body)]
        token = answer_headers.get("x-ms-continuation-token")
        if not token:
            break
    for instance_id in ids:
        body, _ = _get(f"{base_url}{MANAGEMENT}/{instance_id}"
                       "?showHistory=true&showHistoryOutput=true&showInput=true", {})
        scanner.scan_text(f"{where} GET {MANAGEMENT}/{instance_id}?showHistory", body,
                          kind="HTTP response")
    return len(ids)


class ScanningLogHandler(logging.Handler):
    """Scans each log record as it is emitted (a long run logs too much to keep)."""

    def __init__(self, scanner: LeakScanner, where: str) -> None:
        super().__init__(logging.DEBUG)
        self.scanner, self.where, self.records = scanner, where, 0
        self._lock = threading.Lock()  # records arrive from the host's threads

    def emit(self, record: logging.LogRecord) -> None:
        with self._lock:
            self.scanner.scan_records(self.where, [record], first_index=self.records)
            self.records += 1


@contextmanager
def scanning_logs(scanner: LeakScanner, where: str = "logs (DEBUG)"
                  ) -> Iterator[ScanningLogHandler]:
    """Every record logged meanwhile, at DEBUG and up, scanned as it is emitted."""
    root = logging.getLogger()
    handler, level = ScanningLogHandler(scanner, where), root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def figures(scanner: LeakScanner, **extra: Any) -> dict[str, Any]:
    """The scan's figures for a suite's printed line."""
    return {**scanner.summary(), **extra}


def _get(url: str, headers: dict[str, str]) -> tuple[bytes, Any]:
    request = urllib.request.Request(url, headers=headers)
    with urllib.request.urlopen(request, timeout=60) as response:
        return response.read(), response.headers
