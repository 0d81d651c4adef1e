"""Pace, don't hammer (decision 7): per-vault token buckets, backoff and Retry-After.

Key Vault counts operations per vault per 10 s window. A bucket refills continuously at
``rate_per_10s / 10`` tokens a second and holds at most ``burst`` tokens, so any 10 s window
admits at most ``rate_per_10s + burst`` operations; the default burst is a tenth of the rate.

Buckets are per process: function instances that scale out do not share them, which is why
``Pacing.max_parallel`` bounds the batches in flight. The clock and the sleep are injectable, so
tests run without waiting.

A 429 slows the vault down without freezing it (AIMD, per bucket): the request that got it
waits its own ``Retry-After`` (the retry policy or the copier does), the bucket it spent halves
its rate (never below :data:`MIN_RATE_FRACTION` of the configured one), and every admitted
request of that bucket wins back :data:`RECOVERY_STEP` of the configured rate. Only a cluster —
:data:`PAUSE_AFTER_429S` 429s in a row on one bucket, no admitted request between them, within
:data:`CLUSTER_SECONDS` — means the vault's budget is spent: then the whole vault pauses for
the ``Retry-After`` the cluster's last 429 asked for. An isolated 429 (a transient fault,
another client's spike) thus costs its own request the wait and the vault some rate, not every
thread a stop.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from enum import StrEnum

from kvdr.config.schema import Pacing

BACKOFF_SECONDS: tuple[float, ...] = (1, 2, 4, 8, 16)

# A 429 halves the bucket's rate, down to an eighth of the configured one (a floor, so a run of
# 429s cannot pace the vault to a standstill: the pause below is what stops it).
MIN_RATE_FRACTION = 1 / 8
# Each admitted request wins back a sixteenth of the configured rate: eight win back a halving.
# At 2 % random 429s the bucket averages ~95 % of its rate; a spent budget pauses the vault.
RECOVERY_STEP = 1 / 16
# 429s in a row on one bucket (no admitted request of it between) that pause the whole vault ...
PAUSE_AFTER_429S = 3
# ... when they fall within one of Key Vault's 10 s counting windows.
CLUSTER_SECONDS = 10.0


class Operation(StrEnum):
    WRITE = "write"            # create / import / restore / set (new version)
    READ = "read"              # list, get, attribute update, delete, recover, backup
    KEY_CREATE = "key_create"  # key create / restore (also counts as a write)


class TokenBucket:
    """Thread-safe token bucket. ``reserve`` never blocks: it takes the tokens and returns how
    long the caller must wait before using them (for async callers); ``acquire`` sleeps."""

    def __init__(self, rate_per_10s: float, burst: float | None = None, *,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        if rate_per_10s <= 0:
            raise ValueError("rate_per_10s must be positive")
        self.base_rate = rate_per_10s / 10.0  # tokens per second, as configured
        self.rate = self.base_rate            # tokens per second now (lowered by 429s)
        self.burst = float(burst if burst is not None else max(1.0, rate_per_10s / 10.0))
        if self.burst < 1:
            raise ValueError("burst must be at least 1")
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._tokens = self.burst
        self._stamp = clock()
        self._paused_until = float("-inf")
        self._streak: list[float] = []  # times of the 429s since the last admitted request

    def _refill(self, now: float) -> None:
        start = max(self._stamp, self._paused_until)
        if now > start:
            self._tokens = min(self.burst, self._tokens + (now - start) * self.rate)
        self._stamp = max(self._stamp, now)

    def try_acquire(self, n: float = 1) -> bool:
        with self._lock:
            now = self._clock()
            self._refill(now)
            if now >= self._paused_until and self._tokens >= n:
                self._tokens -= n
                return True
            return False

    def reserve(self, n: float = 1) -> float:
        """Take ``n`` tokens (possibly going into debt) and return the seconds to wait."""
        if n > self.burst:
            raise ValueError(f"cannot take {n} tokens at once from a bucket of {self.burst}")
        with self._lock:
            now = self._clock()
            self._refill(now)
            self._tokens -= n
            wait = max(0.0, self._paused_until - now)
            if self._tokens < 0:
                wait = max(wait, 0.0) + (-self._tokens) / self.rate
            return wait

    def acquire(self, n: float = 1) -> float:
        """Block until ``n`` tokens are available; return the seconds slept."""
        wait = self.reserve(n)
        if wait > 0:
            self._sleep(wait)
        return wait

    def pause(self, seconds: float) -> None:
        """Stop handing out tokens for ``seconds`` (a 429's Retry-After applies to the whole
        vault, not just the call that got it); the bucket restarts empty."""
        with self._lock:
            now = self._clock()
            self._refill(now)
            until = now + max(0.0, seconds)
            if until > self._paused_until:
                self._paused_until = until
                self._tokens = min(self._tokens, 0.0)

    def paused_for(self) -> float:
        """Seconds left of a vault-wide pause (0 when none)."""
        with self._lock:
            return max(0.0, self._paused_until - self._clock())

    def throttled(self) -> bool:
        """A request of this bucket got a 429: halve the rate (down to the floor). True when
        this 429 completes a cluster (:data:`PAUSE_AFTER_429S` in a row within
        :data:`CLUSTER_SECONDS`): the caller pauses the vault."""
        with self._lock:
            now = self._clock()
            self._refill(now)  # tokens earned so far at the old rate
            self.rate = max(self.base_rate * MIN_RATE_FRACTION, self.rate / 2)
            self._streak = [t for t in self._streak if now - t < CLUSTER_SECONDS] + [now]
            if len(self._streak) >= PAUSE_AFTER_429S:
                self._streak = []  # the pause answers this cluster; the next one counts anew
                return True
            return False

    def admitted(self) -> None:
        """A request of this bucket was not throttled: the 429 streak ends and the rate
        recovers by :data:`RECOVERY_STEP` of the configured one."""
        with self._lock:
            self._streak = []
            if self.rate < self.base_rate:
                self._refill(self._clock())
                self.rate = min(self.base_rate, self.rate + self.base_rate * RECOVERY_STEP)


@dataclass
class VaultPacer:
    """The buckets of one vault."""

    writes: TokenBucket
    reads: TokenBucket
    key_creates: TokenBucket
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)
    # 429s seen and vault-wide pauses they caused (benchmarks and tests read them)
    throttles: int = 0
    pauses: int = 0
    _count_lock: threading.Lock = field(default_factory=threading.Lock, repr=False,
                                        compare=False)

    @classmethod
    def from_pacing(cls, pacing: Pacing, *, clock: Callable[[], float] = time.monotonic,
                    sleep: Callable[[float], None] = time.sleep) -> VaultPacer:
        return cls(writes=TokenBucket(pacing.writes_per_10s, pacing.write_burst, clock=clock,
                                      sleep=sleep),
                   reads=TokenBucket(pacing.reads_per_10s, clock=clock, sleep=sleep),
                   key_creates=TokenBucket(pacing.key_creates_per_10s, clock=clock, sleep=sleep),
                   sleep=sleep)

    def reserve(self, operation: Operation) -> float:
        if operation == Operation.KEY_CREATE:
            return max(self.key_creates.reserve(), self.writes.reserve())
        return (self.writes if operation == Operation.WRITE else self.reads).reserve()

    def acquire(self, operation: Operation) -> float:
        wait = self.reserve(operation)
        if wait > 0:
            self.sleep(wait)
        return wait

    def buckets(self, operation: Operation) -> tuple[TokenBucket, ...]:
        """The buckets a request of ``operation`` spends."""
        if operation == Operation.KEY_CREATE:
            return (self.key_creates, self.writes)
        return (self.writes if operation == Operation.WRITE else self.reads,)

    def pause(self, seconds: float) -> None:
        for bucket in (self.writes, self.reads, self.key_creates):
            bucket.pause(seconds)

    def paused_for(self) -> float:
        """Seconds left of the vault's pause (0 when none)."""
        return max(b.paused_for() for b in (self.writes, self.reads, self.key_creates))

    def throttled(self, operation: Operation, retry_after: float) -> bool:
        """A request of ``operation`` got a 429 asking for ``retry_after`` seconds: its buckets
        slow down; a cluster of 429s pauses the whole vault for ``retry_after`` (the cluster's
        latest, which the service computes from its window). True when it paused. The request
        itself waits its own Retry-After elsewhere (retry policy, copier)."""
        cluster = False
        for bucket in self.buckets(operation):
            cluster = bucket.throttled() or cluster
        if cluster:
            self.pause(retry_after)
        with self._count_lock:
            self.throttles += 1
            self.pauses += cluster
        return cluster

    def admitted(self, operation: Operation) -> None:
        """A request of ``operation`` was answered without a 429."""
        for bucket in self.buckets(operation):
            bucket.admitted()


class PacerRegistry:
    """One ``VaultPacer`` per vault URL, shared by every thread of the process."""

    def __init__(self, pacing: Pacing, *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self._pacing = pacing
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._pacers: dict[str, VaultPacer] = {}

    def for_vault(self, vault_url: str) -> VaultPacer:
        key = vault_url.rstrip("/").lower()
        with self._lock:
            if key not in self._pacers:
                self._pacers[key] = VaultPacer.from_pacing(self._pacing, clock=self._clock,
                                                           sleep=self._sleep)
            return self._pacers[key]


def backoff_schedule() -> tuple[float, ...]:
    """Seconds to wait before each retry: 1, 2, 4, 8, 16 (then give up)."""
    return BACKOFF_SECONDS


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """A Retry-After header as seconds to wait: delta-seconds or an HTTP date. None when absent
    or unreadable; never negative."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    now = now or datetime.now(UTC)
    return max(0.0, (when - now).total_seconds())


def retry_delay(attempt: int, retry_after: str | None = None, *,
                now: datetime | None = None) -> float | None:
    """How long to wait before retry ``attempt`` (0-based) — the server's Retry-After when it
    gave one (never less than it asked), else the backoff schedule. None: stop retrying."""
    if attempt < 0:
        raise ValueError("attempt must be >= 0")
    if attempt >= len(BACKOFF_SECONDS):
        return None
    asked = parse_retry_after(retry_after, now=now)
    return asked if asked is not None else BACKOFF_SECONDS[attempt]
