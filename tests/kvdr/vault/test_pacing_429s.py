"""429s against the emulator through the SDK clients: the request that got one waits its own
Retry-After while the vault keeps serving the others; a run of them in a row pauses the vault.

The emulator's injected 429 asks for ``Retry-After: 1``. The waits are observed where the
clients take them (the transport's sleep for azure-core's retry, the copier's sleep for the
writes it sends once), so nothing here depends on how fast the machine is."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest

from emulator.throttle import ThrottleLimits
from kvdr.config.schema import Config, Pacing
from kvdr.sync.copier import time as copier_time
from kvdr.vault.inventory import ItemKind
from kvdr.vault.pacing import MIN_RATE_FRACTION, PAUSE_AFTER_429S, PacerRegistry
from kvdr.vault.session import VaultSession
from support.vaults import emulator_config, execute, plan_for, version_count

Sessions = Callable[..., dict[str, VaultSession]]


def _watch_retry_waits(session: VaultSession, monkeypatch: pytest.MonkeyPatch,
                       during: Callable[[], None]) -> list[tuple[float, float]]:
    """(seconds waited, the vault's pause left then) for every retry wait of ``session``'s
    requests; ``during`` runs inside each wait, before it is slept."""
    waits: list[tuple[float, float]] = []
    transport = session._transport  # the one transport azure-core's retry sleeps on
    sleep = transport.sleep

    def watched(seconds: float) -> None:
        waits.append((seconds, session.pacer.paused_for()))
        during()
        sleep(seconds)

    monkeypatch.setattr(transport, "sleep", watched)
    return waits


def test_an_isolated_429_waits_its_own_retry_after_while_the_vault_serves_the_others(
        config: Config, make_sessions: Sessions, kv_emulator, unique,
        monkeypatch: pytest.MonkeyPatch) -> None:
    pacers = PacerRegistry(config.pacing)
    mine, other = make_sessions(config, pacers=pacers)["east"], \
        make_sessions(config, pacers=pacers)["east"]  # two threads' sessions, one vault pacer
    throttled, free = unique("iso-429"), unique("iso-free")
    mine.secrets.set_secret(throttled, "v-throttled")
    other.secrets.set_secret(free, "v-free")
    served: list[str] = []

    def another_request() -> None:  # sent while the throttled request waits
        served.append(other.secrets.get_secret(free).name)

    waits = _watch_retry_waits(mine, monkeypatch, another_request)
    kv_emulator.inject_fault("east", "429", method="GET", path=f"/secrets/{throttled}")
    assert mine.secrets.get_secret(throttled).value == "v-throttled"
    assert waits == [(1.0, 0.0)]  # its Retry-After, and no vault-wide pause while it waited
    assert served == [free]  # the vault answered the other request meanwhile
    reads = mine.pacer.reads
    assert reads.base_rate / 2 <= reads.rate < reads.base_rate  # slowed, recovering


def test_a_run_of_429s_in_a_row_slows_and_then_pauses_the_whole_vault(
        config: Config, make_sessions: Sessions, kv_emulator, unique,
        monkeypatch: pytest.MonkeyPatch) -> None:
    east = make_sessions(config)["east"]
    name = unique("burst-429")
    east.secrets.set_secret(name, "v-burst")
    rates: list[float] = []
    waits = _watch_retry_waits(east, monkeypatch, lambda: rates.append(east.pacer.reads.rate))
    kv_emulator.inject_fault("east", "429", count=PAUSE_AFTER_429S, method="GET",
                             path=f"/secrets/{name}")
    assert east.secrets.get_secret(name).value == "v-burst"
    assert [w for w, _ in waits] == [1.0] * PAUSE_AFTER_429S  # each Retry-After honoured
    paused = [p for _, p in waits]
    assert paused[:-1] == [0.0] * (PAUSE_AFTER_429S - 1) and 0 < paused[-1] <= 1.0
    base = east.pacer.reads.base_rate
    assert rates == pytest.approx([base / 2, base / 4, base * MIN_RATE_FRACTION])


def test_a_throttled_write_sent_once_waits_its_retry_after_and_lands_once(
        config: Config, make_sessions: Sessions, kv_emulator, unique,
        monkeypatch: pytest.MonkeyPatch) -> None:
    sessions = make_sessions(config)
    east, west = sessions["east"], sessions["west"]
    name = unique("write-429")
    east.secrets.set_secret(name, "v-write")
    slept: list[float] = []
    sleep = time.sleep

    def watched(seconds: float) -> None:
        slept.append(seconds)
        sleep(seconds)

    monkeypatch.setattr(copier_time, "sleep", watched)
    kv_emulator.inject_fault("west", "429", method="PUT", path=f"/secrets/{name}")
    result = execute(config, east, west, plan_for(config, east, west, [name]))
    assert [o.ok for o in result.outcomes] == [True]
    assert slept == [1.0]  # the Retry-After, not the (shorter) test backoff
    assert west.pacer.paused_for() == 0
    assert version_count(west, ItemKind.SECRET, name) == 1


def test_a_vault_whose_budget_is_spent_is_paused_and_every_write_lands_once(
        kv_emulator_factory, make_sessions: Sessions) -> None:
    # the emulator's own throttle, 2 creates a second: ten writes sent at once get eight 429s,
    # so three of them come in a row whatever the order of the answers
    emu = kv_emulator_factory(["east", "west"],
                              throttle=ThrottleLimits(window_seconds=1.0, create=2))
    config = emulator_config(emu, pacing=Pacing(writes_per_10s=200))  # burst 20: all at once
    east = make_sessions(config)["east"]
    east.inventory([ItemKind.SECRET])  # the authentication challenge, before the burst
    names = [f"spent-{i}" for i in range(10)]
    with ThreadPoolExecutor(max_workers=len(names)) as pool:
        list(pool.map(lambda n: east.secrets.set_secret(n, f"v-{n}"), names))
    assert east.pacer.pauses >= 1 and east.pacer.throttles >= len(names) - 2
    assert east.pacer.writes.rate < east.pacer.writes.base_rate
    assert {n: version_count(east, ItemKind.SECRET, n) for n in names} == dict.fromkeys(names, 1)
