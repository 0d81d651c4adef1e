"""Service limits and injected faults, with the SDK's own retry policy getting through."""

from __future__ import annotations

import requests

from emulator.testing import Emulator, SkippedTime, TimeSkippingTransport
from emulator.throttle import OpClass, Throttle, ThrottleLimits


def test_throttled_writes_get_429_with_retry_after_and_key_vaults_body(
    kv_emulator_factory,
) -> None:
    # the throttle's clock stands still: the third write is in the first write's window
    emu = kv_emulator_factory(["vault"], throttle=ThrottleLimits(window_seconds=30, create=2),
                              throttle_clock=SkippedTime())
    headers = {"Authorization": "Bearer t"}
    statuses = []
    for i in range(3):
        response = requests.put(
            emu.url() + f"secrets/s{i}?api-version=7.5",
            json={"value": "v"},
            headers=headers,
            verify=emu.ca_cert,
            timeout=10,
        )
        statuses.append(response.status_code)
    assert statuses == [200, 200, 429]
    assert response.headers["Retry-After"] == "30"
    assert response.json() == {
        "error": {
            "code": "Throttled",
            "message": "Operations per second is over the limit allowed",
            "innererror": None,
        }
    }
    # reads have their own budget
    read = requests.get(
        emu.url() + "secrets/s0?api-version=7.5", headers=headers, verify=emu.ca_cert, timeout=10
    )
    assert read.status_code == 200


def test_the_sdk_retries_through_throttling(kv_emulator_factory) -> None:
    # Time passes only while the SDK waits out a Retry-After, so the windows fill and roll
    # over at the same requests however slowly they are sent.
    clock = SkippedTime()
    emu = kv_emulator_factory(
        ["vault"], throttle=ThrottleLimits(window_seconds=1, create=4, key_create=1, other=50),
        throttle_clock=clock,
    )
    with emu.secret_client(transport=TimeSkippingTransport(clock, emu.ca_cert)) as client:
        for i in range(6):
            client.set_secret(f"s{i}", "v")  # the fifth is over the create budget: waits 1 s
        assert len(list(client.list_properties_of_secrets())) == 6
    with emu.key_client(transport=TimeSkippingTransport(clock, emu.ca_cert)) as keys:
        keys.create_ec_key("k1")
        keys.create_ec_key("k2")  # over the key-create budget: waits out the window
    assert emu.count("vault", "SetSecret", 200) == 6
    assert emu.count("vault", "SetSecret", 429) == 1
    assert emu.count("vault", "CreateKey", 429) == 1
    assert emu.count("vault", "CreateKey", 200) == 2
    assert clock.now == 2.0   # two Retry-After: 1 waits, nothing else


def test_throttle_windows_count_each_class_separately() -> None:
    t = [0.0]
    throttle = Throttle(
        ThrottleLimits(window_seconds=10, create=1, key_create=1, other=2), lambda: t[0]
    )
    assert throttle.admit((OpClass.CREATE,)) is None
    assert throttle.admit((OpClass.CREATE, OpClass.KEY_CREATE)) == 10
    assert throttle.admit((OpClass.OTHER,)) is None
    assert throttle.admit((OpClass.OTHER,)) is None
    t[0] = 7.5
    assert throttle.admit((OpClass.OTHER,)) == 3
    t[0] = 10.0
    assert throttle.admit((OpClass.CREATE, OpClass.KEY_CREATE)) is None


def test_the_sdk_gets_through_seeded_faults(kv_emulator_factory) -> None:
    emu = kv_emulator_factory(["vault"], fault_rate=0.2, seed=11)
    with emu.secret_client() as client:
        for i in range(15):
            client.set_secret(f"s{i}", f"v{i}")
        for i in range(15):
            assert client.get_secret(f"s{i}").value == f"v{i}"
        client.backup_secret("s0")
        assert len(list(client.list_properties_of_secrets())) == 15
    faults = emu.stats()["faults"]
    assert sum(faults.values()) >= 3
    assert emu.count("vault", "SetSecret", 200) == 15  # no write was applied twice


def _fault_trace(emu: Emulator, n: int) -> list[str]:
    trace = []
    for _ in range(n):
        try:
            response = requests.get(
                emu.url() + "secrets?api-version=7.5",
                headers={"Authorization": "Bearer t", "Connection": "close"},
                verify=emu.ca_cert,
                timeout=10,
            )
            trace.append(str(response.status_code))
        except requests.ConnectionError:
            trace.append("drop")
    return trace


def test_fault_schedule_is_reproducible_for_a_seed(kv_emulator_factory) -> None:
    first = _fault_trace(kv_emulator_factory(["vault"], fault_rate=0.5, seed=3), 24)
    second = _fault_trace(kv_emulator_factory(["vault"], fault_rate=0.5, seed=3), 24)
    other = _fault_trace(kv_emulator_factory(["vault"], fault_rate=0.5, seed=4), 24)
    assert first == second
    assert first != other
    assert {"200", "429", "500", "503", "drop"} <= set(first) | set(other)


def test_fault_rate_can_be_changed_at_run_time(kv_emulator_factory) -> None:
    emu = kv_emulator_factory(["vault"])
    assert set(_fault_trace(emu, 5)) == {"200"}
    emu.set_fault_rate("vault", 1.0)
    assert "200" not in _fault_trace(emu, 5)
    emu.set_fault_rate("vault", 0.0)
    assert set(_fault_trace(emu, 5)) == {"200"}
