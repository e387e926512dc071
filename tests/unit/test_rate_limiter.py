"""Token bucket: refill, capacity, cost per call, queue vs refuse, TTL, registry."""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator

import pytest

from sparkle_motion.errors import RateLimitError
from sparkle_motion.utils import rate_limiter
from sparkle_motion.utils.rate_limiter import TokenBucket


class FakeClock:
    """A clock that only moves when someone sleeps (or the test says so)."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture(autouse=True)
def clean_registry() -> Iterator[None]:
    rate_limiter.reset()
    yield
    rate_limiter.reset()


def bucket(clock: FakeClock, rate: float = 60.0, capacity: float = 2.0, **kw) -> TokenBucket:
    return TokenBucket(rate, capacity, clock=clock, sleep=clock.sleep, **kw)


def test_starts_full_and_refills_over_time_up_to_capacity() -> None:
    clock = FakeClock()
    b = bucket(clock, rate=60.0, capacity=5.0)
    assert b.available() == 5.0
    assert b.acquire(5) == 0.0
    assert b.available() == 0.0
    clock.now += 3.0  # 60/min = one token a second
    assert b.available() == pytest.approx(3.0)
    clock.now += 100.0
    assert b.available() == 5.0, "never above capacity"


def test_each_call_costs_its_tokens() -> None:
    clock = FakeClock()
    b = bucket(clock, rate=60.0, capacity=10.0)
    b.acquire(3)
    b.acquire(4)
    assert b.available() == pytest.approx(3.0)
    assert clock.sleeps == []


def test_refuses_when_short_and_queueing_not_allowed() -> None:
    clock = FakeClock()
    b = bucket(clock, rate=30.0, capacity=2.0)
    b.acquire(2)
    with pytest.raises(RateLimitError) as info:
        b.acquire(1, queue_allowed=False)
    err = info.value
    assert err.retry_after_s == pytest.approx(2.0)  # 30/min: 2 s for one token
    assert err.details["retry_after_s"] == pytest.approx(2.0)
    assert err.retryable and "\n" not in str(err)
    assert clock.sleeps == []
    assert b.available() == 0.0, "a refused call takes nothing"


def test_queued_call_waits_for_its_tokens_and_reports_it() -> None:
    clock = FakeClock()
    b = bucket(clock, rate=60.0, capacity=2.0)
    queued: list[float] = []
    waits = [b.acquire(1, queue_allowed=True, on_queued=queued.append) for _ in range(4)]
    assert waits == [0.0, 0.0, pytest.approx(1.0), pytest.approx(1.0)]
    assert queued == waits[2:] and clock.sleeps == waits[2:]


def test_waiters_queue_behind_earlier_reservations() -> None:
    # sleep does not move the clock here: both callers wait "at the same time"
    clock = FakeClock()
    sleeps: list[float] = []
    b = TokenBucket(60.0, 1.0, clock=clock, sleep=sleeps.append)
    b.acquire(1)
    assert b.acquire(1) == pytest.approx(1.0)
    assert b.acquire(1) == pytest.approx(2.0), "the second waiter is served after the first"
    assert sleeps == [pytest.approx(1.0), pytest.approx(2.0)]


def test_wait_beyond_ttl_is_refused_at_once_without_reserving() -> None:
    clock = FakeClock()
    b = bucket(clock, rate=60.0, capacity=4.0)
    b.acquire(4)
    with pytest.raises(RateLimitError, match="TTL") as info:
        b.acquire(3, queue_allowed=True, ttl_s=2.0)
    assert info.value.retry_after_s == pytest.approx(3.0)
    assert clock.sleeps == []
    # nothing was reserved: a small request still waits only for its own token
    assert b.acquire(1, queue_allowed=True, ttl_s=2.0) == pytest.approx(1.0)


def test_call_costing_more_than_capacity_is_refused() -> None:
    b = bucket(FakeClock(), capacity=2.0)
    with pytest.raises(RateLimitError, match="capacity"):
        b.acquire(3, queue_allowed=True, ttl_s=math.inf)


def test_unlimited_bucket_never_waits() -> None:
    clock = FakeClock()
    b = TokenBucket(math.inf, math.inf, clock=clock, sleep=clock.sleep)
    assert all(b.acquire(64, queue_allowed=False) == 0.0 for _ in range(100))
    assert clock.sleeps == []


def test_concurrent_callers_never_overdraw() -> None:
    b = TokenBucket(1e-6, 5.0)  # practically no refill during the test
    wins: list[bool] = []
    lock = threading.Lock()

    def take() -> None:
        try:
            b.acquire(1, queue_allowed=False)
            ok = True
        except RateLimitError:
            ok = False
        with lock:
            wins.append(ok)

    threads = [threading.Thread(target=take) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert wins.count(True) == 5


def test_registry_keeps_one_bucket_per_tenant_and_host() -> None:
    a = rate_limiter.get_bucket("tenant-a", "host-1", rate_per_min=60, capacity=2)
    assert rate_limiter.get_bucket("tenant-a", "host-1") is a
    other_tenant = rate_limiter.get_bucket("tenant-b", "host-1", rate_per_min=60, capacity=2)
    other_host = rate_limiter.get_bucket("tenant-a", "host-2", rate_per_min=60, capacity=2)
    assert len({id(a), id(other_tenant), id(other_host)}) == 3
    a.acquire(2)
    assert other_tenant.available() == 2.0 and other_host.available() == 2.0

    custom = bucket(FakeClock(), capacity=7.0)
    rate_limiter.set_bucket("tenant-a", "host-1", custom)
    assert rate_limiter.get_bucket("tenant-a", "host-1") is custom
    rate_limiter.reset()
    assert rate_limiter.get_bucket("tenant-a", "host-1") is not custom


def test_bad_limits_are_refused() -> None:
    with pytest.raises(ValueError):
        TokenBucket(0, 1)
    with pytest.raises(ValueError):
        TokenBucket(60, -1)
