"""The emulator's shared clock: the admin API, the in-process handle, due actions and the
timestamps the SDK sees."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import requests

from emulator.clock import DueAction, EmulatorClock
from emulator.testing import Emulator

START = datetime(2030, 1, 1, tzinfo=UTC)
TOLERANCE = timedelta(seconds=2)   # the emulator's clock flows with real time between calls


def _frozen() -> datetime:
    """A real time that never moves: the clock then moves only by its advances (exact times)."""
    return START


def _clock(emu: Emulator, url: str, method: str = "GET", **kw: object) -> requests.Response:
    return requests.request(method, url + "_emulator/clock", verify=emu.ca_cert, timeout=10, **kw)  # type: ignore[arg-type]


def _parse(now: str) -> datetime:
    assert now.endswith("Z")
    return datetime.fromisoformat(now)


class Recorder:
    """A due source whose actions record the clock's time when they run."""

    def __init__(self, clock: EmulatorClock, plan: list[tuple[float, str]]) -> None:
        self.clock = clock
        self.pending = {what: START + timedelta(seconds=s) for s, what in plan}
        self.ran: list[tuple[str, datetime]] = []

    def due(self, after: datetime, until: datetime) -> list[DueAction]:
        return [DueAction(when, what, lambda w=what: self._run(w))
                for what, when in self.pending.items() if after < when <= until]

    def _run(self, what: str) -> None:
        self.ran.append((what, self.clock.now()))
        del self.pending[what]
        if what == "spawn":  # an action may create another, due inside the same advance
            self.pending["spawned"] = self.clock.now() + timedelta(seconds=1)


def test_actions_run_in_time_order_at_their_time_and_ties_by_name() -> None:
    clock = EmulatorClock(START, real=_frozen)
    source = Recorder(clock, [(30, "late"), (10, "b"), (10, "a"), (20, "spawn"), (500, "later")])
    clock.register(source)
    assert clock.advance(100) == START + timedelta(seconds=100)
    assert source.ran == [
        ("a", START + timedelta(seconds=10)),
        ("b", START + timedelta(seconds=10)),
        ("spawn", START + timedelta(seconds=20)),
        ("spawned", START + timedelta(seconds=21)),
        ("late", START + timedelta(seconds=30)),
    ]
    clock.advance(400)  # (100, 500]: the end is included
    assert source.ran[-1] == ("later", START + timedelta(seconds=500))
    assert clock.advance(0) == START + timedelta(seconds=500)


def test_time_flows_between_advances_as_the_services_does() -> None:
    # kvdr tells versions apart by their creation second: a frozen clock would give every
    # write the same one
    real = [START]
    clock = EmulatorClock(START, real=lambda: real[0])
    real[0] = START + timedelta(seconds=5)
    assert clock.now() == START + timedelta(seconds=5)
    assert clock.advance(100) == START + timedelta(seconds=105)
    real[0] = START + timedelta(seconds=7)
    assert clock.now() == START + timedelta(seconds=107)


@pytest.mark.parametrize("bad", [-1, float("nan"), float("inf"), "10", None, True])
def test_advance_refuses_what_is_not_a_finite_non_negative_number(bad: object) -> None:
    clock = EmulatorClock(START, real=_frozen)
    with pytest.raises(ValueError):
        clock.advance(bad)  # type: ignore[arg-type]
    assert clock.now() == START


def test_clock_on_each_vault_port_and_the_admin_port_is_one_clock(kv_emulator_factory) -> None:
    emu = kv_emulator_factory(["east", "west"], admin_port=0)
    before = _parse(_clock(emu, emu.url("east")).json()["now"])
    assert abs((before - datetime.now(UTC)).total_seconds()) < 3600  # starts at the real time
    answer = _clock(emu, emu.url("east"), "POST", json={"advance_seconds": 86400})
    assert answer.status_code == 200
    moved = _parse(answer.json()["now"])
    assert moved - before >= timedelta(days=1)
    assert abs(_parse(_clock(emu, emu.url("west")).json()["now"]) - moved) < TOLERANCE
    assert emu.admin_url is not None
    on_admin = requests.post(emu.admin_url + "clock", json={"advance_seconds": 60},
                             verify=emu.ca_cert, timeout=10)
    assert abs(_parse(on_admin.json()["now"]) - (moved + timedelta(seconds=60))) < TOLERANCE
    refused = requests.post(emu.admin_url + "clock", json={"advance_seconds": -1},
                            verify=emu.ca_cert, timeout=10)
    assert refused.status_code == 400
    per_vault = requests.get(emu.admin_url + "west/clock", verify=emu.ca_cert, timeout=10)
    assert abs(_parse(per_vault.json()["now"]) - emu.clock.now()) < TOLERANCE


@pytest.mark.parametrize("body", [{}, {"advance_seconds": -5}, {"advance_seconds": "5"}, [1]])
def test_bad_advance_is_400_and_leaves_the_clock(kv_emulator_factory, body: object) -> None:
    emu = kv_emulator_factory(["vault"])
    before = emu.clock.now()
    answer = _clock(emu, emu.url(), "POST", json=body)
    assert answer.status_code == 400
    assert "advance_seconds" in answer.json()["error"]["message"]
    assert emu.clock.now() - before < TOLERANCE   # not moved by the refused advance
    assert _clock(emu, emu.url(), "PUT").status_code == 405


def test_sdk_timestamps_follow_the_clock(kv_emulator_factory) -> None:
    emu = kv_emulator_factory(["vault"])
    emu.advance(400 * 86400)
    expected = emu.clock.now()
    with emu.secret_client() as secrets, emu.key_client() as keys:
        secret = secrets.set_secret("s", "v")
        key = keys.create_rsa_key("k")
        for props in (secret.properties, key.properties):
            assert props.created_on is not None and props.updated_on is not None
            assert abs((props.created_on - expected).total_seconds()) < 2
        emu.advance(3600)
        updated = secrets.update_secret_properties("s", content_type="text/plain")
        assert updated.updated_on is not None and updated.created_on is not None
        moved = updated.updated_on - updated.created_on
        assert timedelta(seconds=3600) <= moved <= timedelta(seconds=3600) + TOLERANCE
        deleted = secrets.begin_delete_secret("s").result()
        assert deleted.deleted_date is not None
        assert abs((deleted.deleted_date - emu.clock.now()).total_seconds()) < 2
