"""What the outages suite (tests/resilience/test_outages.py) shares: kvdr's retry schedule made
short, seeding unique values, counting what a down vault was asked, bringing it back while a
runbook still retries, and reading the topology records a vault holds."""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Iterable
from typing import Any

import pytest

from emulator.server import DownMode
from emulator.testing import Emulator
from kvdr.vault.links import TOPOLOGY_SECRET_NAME
from kvdr.vault.session import VaultSession

# kvdr's backoff (1, 2, 4, 8, 16 s) scaled to a tenth: as many retries, a tenth of the wait
BACKOFF = (0.1, 0.2, 0.4, 0.8, 1.6)
ATTEMPTS = len(BACKOFF) + 1  # what one failing call may cost a down vault: the try and retries
# (connect, read) seconds of a full session; without them azure-core waits 300 s for every
# attempt on a vault that accepts and never answers
TIMEOUTS = (1.0, 1.0)
OUTAGE_CODES = frozenset({"vault.unreachable", "vault.unavailable"})
TRACEBACK = "Traceback (most recent call last)"


def short_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every VaultSession without its own schedule retries on BACKOFF and gives up on a silent
    vault after TIMEOUTS: as many attempts as in production, a tenth of the wait (probe
    sessions keep their own short schedule)."""
    defaults = dict(VaultSession.__init__.__kwdefaults__ or {})
    defaults["retry_backoff"] = BACKOFF
    defaults["timeouts"] = TIMEOUTS
    monkeypatch.setattr(VaultSession.__init__, "__kwdefaults__", defaults)


def seed_secrets(emu: Emulator, vault: str, values: dict[str, str]) -> None:
    with emu.secret_client(vault) as client:
        for name, value in values.items():
            client.set_secret(name, value, content_type="text/plain", tags={"suite": "outages"})


def present(emu: Emulator, vault: str, names: Iterable[str]) -> set[str]:
    store = emu.store(vault)
    with store.lock:
        return {n for n in names if n.lower() in store.live["secrets"]}


def outage_requests(emu: Emulator, vault: str, mode: DownMode) -> int | None:
    """Requests the down vault saw while down: each 503 it answered, each request it held
    (``hang``); None for ``refuse`` (a closed port counts nothing)."""
    stats = emu.stats(vault)
    if mode is DownMode.UNAVAILABLE:
        return sum(int(by.get("503", 0)) for by in stats["operations"].values())
    if mode is DownMode.HANG:
        return int(stats["faults"].get("hang", 0))
    return None


class UpAfter:
    """Brings ``vault`` back once it has turned away ``attempts`` requests of the outage that
    ``down`` signals (503 or hang: modes the emulator counts) — the runbook is then still in
    its retries, so it must recover by itself."""

    def __init__(self, emu: Emulator, vault: str, mode: DownMode, attempts: int,
                 down: threading.Event) -> None:
        self.emu, self.vault, self.mode, self.attempts, self.down = emu, vault, mode, attempts, down
        self.seen: int | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="outage-up-after", daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        while not self._stop.wait(0.02):
            if self.down.is_set():
                seen = outage_requests(self.emu, self.vault, self.mode) or 0
                if seen >= self.attempts:
                    self.emu.up(self.vault)
                    self.seen = seen
                    return

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)


def topology_epochs(emu: Emulator, vault: str) -> list[int]:
    """The epoch of every version of the topology record ``vault`` holds, oldest first (the
    record is names and numbers, no secret)."""
    store = emu.store(vault)
    with store.lock:
        item = store.live["secrets"].get(TOPOLOGY_SECRET_NAME)
        versions = list(item.versions.values()) if item is not None else []
        return sorted(int(json.loads(v.data["value"])["epoch"]) for v in versions)


def failure_codes(notes: Iterable[dict[str, Any]]) -> Counter[str]:
    return Counter(str(n.get("code")) for n in notes)


def has_traceback(*texts: Any) -> bool:
    return any(TRACEBACK in (t if isinstance(t, str) else json.dumps(t, default=str))
               for t in texts)
