"""Token buckets with a fake clock (no sleeping), backoff and Retry-After."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest

from kvdr.config.schema import Pacing
from kvdr.vault.pacing import (
    CLUSTER_SECONDS,
    MIN_RATE_FRACTION,
    PAUSE_AFTER_429S,
    RECOVERY_STEP,
    Operation,
    PacerRegistry,
    TokenBucket,
    VaultPacer,
    backoff_schedule,
    parse_retry_after,
    retry_delay,
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def test_bucket_starts_with_a_tenth_of_the_rate_as_burst(clock):
    bucket = TokenBucket(300, clock=clock, sleep=clock.sleep)
    assert sum(bucket.try_acquire() for _ in range(100)) == 30


def test_bucket_refills_at_the_rate_per_ten_seconds(clock):
    bucket = TokenBucket(300, clock=clock, sleep=clock.sleep)
    while bucket.try_acquire():
        pass
    clock.now += 1.0  # 30 tokens a second
    assert sum(bucket.try_acquire() for _ in range(100)) == 30


def test_any_ten_second_window_stays_within_rate_plus_burst(clock):
    bucket = TokenBucket(270, clock=clock, sleep=clock.sleep)
    stamps = []
    for _ in range(2000):
        bucket.acquire()
        stamps.append(clock.now)
    worst = max(sum(1 for s in stamps if start <= s < start + 10) for start in stamps)
    assert worst <= 270 + 27 <= 300


def test_reserve_returns_the_wait_without_sleeping(clock):
    bucket = TokenBucket(10, burst=1, clock=clock, sleep=clock.sleep)
    assert bucket.reserve() == 0
    assert bucket.reserve() == pytest.approx(1.0)
    assert bucket.reserve() == pytest.approx(2.0)
    assert clock.slept == []
    with pytest.raises(ValueError):
        bucket.reserve(2)


def test_acquire_sleeps_exactly_as_long_as_needed(clock):
    bucket = TokenBucket(20, burst=2, clock=clock, sleep=clock.sleep)
    for _ in range(4):
        bucket.acquire()
    assert clock.slept == [pytest.approx(0.5), pytest.approx(0.5)]


def test_pause_for_retry_after_holds_every_caller(clock):
    bucket = TokenBucket(300, clock=clock, sleep=clock.sleep)
    bucket.pause(5)
    assert not bucket.try_acquire()
    assert bucket.reserve() == pytest.approx(5 + 1 / 30)
    clock.now += 6
    assert bucket.try_acquire()


def test_bucket_rejects_nonsense_rates(clock):
    with pytest.raises(ValueError):
        TokenBucket(0, clock=clock)
    with pytest.raises(ValueError):
        TokenBucket(10, burst=0.5, clock=clock)


def test_bucket_is_safe_across_threads(clock):
    bucket = TokenBucket(10_000, burst=500, clock=clock, sleep=clock.sleep)
    granted = []

    def worker():
        granted.append(sum(bucket.try_acquire() for _ in range(100)))

    threads = [threading.Thread(target=worker) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(granted) == 500


def test_vault_pacer_charges_key_creates_to_both_buckets(clock):
    pacer = VaultPacer.from_pacing(Pacing(writes_per_10s=100, key_creates_per_10s=10),
                                   clock=clock, sleep=clock.sleep)
    assert pacer.reserve(Operation.KEY_CREATE) == 0
    assert pacer.reserve(Operation.KEY_CREATE) == pytest.approx(1.0)  # 1 token/s for keys
    assert pacer.writes.try_acquire() is True  # writes: 10 burst, 2 used
    pacer.pause(3)
    assert pacer.acquire(Operation.READ) >= 3
    assert clock.slept and clock.slept[-1] >= 3


def test_registry_gives_one_pacer_per_vault(clock):
    registry = PacerRegistry(Pacing(), clock=clock, sleep=clock.sleep)
    east = registry.for_vault("https://kv-east.vault.azure.net/")
    assert registry.for_vault("https://KV-EAST.vault.azure.net") is east
    assert registry.for_vault("https://kv-west.vault.azure.net/") is not east


def test_backoff_schedule_is_1_2_4_8_16():
    assert backoff_schedule() == (1, 2, 4, 8, 16)
    assert [retry_delay(i) for i in range(6)] == [1, 2, 4, 8, 16, None]


def test_retry_after_seconds_and_http_dates_are_honoured():
    now = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("7") == 7
    assert parse_retry_after("Sun, 01 Mar 2026 12:00:30 GMT", now=now) == 30
    assert parse_retry_after("Sun, 01 Mar 2026 11:00:00 GMT", now=now) == 0
    assert parse_retry_after("-5") == 0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    assert retry_delay(0, "20") == 20  # the server asked for longer than the backoff
    assert retry_delay(4, "0") == 0
    assert retry_delay(1, "garbage") == 2
    with pytest.raises(ValueError):
        retry_delay(-1)


# --- 429s: slow down per bucket, pause the vault only for a cluster (AIMD) -----------------------


def test_a_429_halves_the_bucket_rate_down_to_a_floor_and_admitted_requests_win_it_back(clock):
    bucket = TokenBucket(320, clock=clock, sleep=clock.sleep)  # 32 tokens/s
    assert bucket.throttled() is False  # one 429: slower, not paused
    assert bucket.rate == pytest.approx(16) and bucket.paused_for() == 0
    bucket.admitted()  # the streak ends; a sixteenth of the configured rate back
    for _ in range(5):
        bucket.throttled()
        bucket.admitted()
    assert bucket.rate == pytest.approx(32 * MIN_RATE_FRACTION + 32 * RECOVERY_STEP)
    for _ in range(40):
        bucket.admitted()
    assert bucket.rate == pytest.approx(32)  # never above the configured rate


def test_the_lowered_rate_is_the_one_the_bucket_refills_at(clock):
    bucket = TokenBucket(20, burst=1, clock=clock, sleep=clock.sleep)  # 2 tokens/s
    bucket.acquire()
    bucket.throttled()  # 1 token/s
    assert bucket.reserve() == pytest.approx(1.0)


def test_a_cluster_of_429s_in_a_row_pauses_the_vault(clock):
    pacer = VaultPacer.from_pacing(Pacing(), clock=clock, sleep=clock.sleep)
    assert [pacer.throttled(Operation.WRITE, 4) for _ in range(PAUSE_AFTER_429S)] == \
        [False] * (PAUSE_AFTER_429S - 1) + [True]
    assert pacer.paused_for() == pytest.approx(4)  # every bucket: the vault's budget is spent
    assert (pacer.throttles, pacer.pauses) == (PAUSE_AFTER_429S, 1)
    assert pacer.acquire(Operation.READ) >= 4


def test_429s_broken_by_an_admitted_request_or_spread_over_windows_are_no_cluster(clock):
    pacer = VaultPacer.from_pacing(Pacing(), clock=clock, sleep=clock.sleep)
    for _ in range(10):  # random 429s among admitted requests
        pacer.throttled(Operation.WRITE, 1)
        pacer.throttled(Operation.WRITE, 1)
        pacer.admitted(Operation.WRITE)
    for _ in range(PAUSE_AFTER_429S):  # in a row, but each in its own counting window
        assert pacer.throttled(Operation.WRITE, 1) is False
        clock.now += CLUSTER_SECONDS
    assert pacer.throttled(Operation.READ, 1) is False  # another bucket's streak is its own
    assert pacer.paused_for() == 0


def test_key_creates_slow_down_both_buckets_they_spend(clock):
    pacer = VaultPacer.from_pacing(Pacing(writes_per_10s=100, key_creates_per_10s=10),
                                   clock=clock, sleep=clock.sleep)
    pacer.throttled(Operation.KEY_CREATE, 1)
    assert (pacer.key_creates.rate, pacer.writes.rate, pacer.reads.rate) == \
        (pytest.approx(0.5), pytest.approx(5), pytest.approx(200))
