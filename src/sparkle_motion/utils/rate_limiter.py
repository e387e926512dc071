"""Token-bucket rate limiting, one bucket per (tenant, host).

A bucket refills continuously at ``rate_per_min`` tokens a minute up to ``capacity``; a
call costs as many tokens as it asks for (images_agent: one per image of an images_sdxl
call). :meth:`TokenBucket.acquire` either takes the tokens now, or, when queueing is
allowed, *reserves* them and sleeps until they have refilled. Reserving (the balance goes
below zero) makes waiters first-come first-served without a wake-up loop, and tells the
caller at once whether the wait fits in its TTL: a request that would wait longer than
the TTL is refused straight away with ``RateLimitError`` and reserves nothing.

The clock and sleep are injectable, so tests run the whole queue on a fake clock.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

from sparkle_motion.errors import RateLimitError

DEFAULT_RATE_PER_MIN = 60.0  # the spec's default refill
DEFAULT_CAPACITY = 64.0  # >= the largest images_sdxl call (max_images_per_call <= 64)
DEFAULT_TTL_S = 600.0  # the spec's queue TTL


def _rate_limit_error(message: str, retry_after_s: float | None) -> RateLimitError:
    err = RateLimitError(
        message,
        hint=None if retry_after_s is None else f"retry in {retry_after_s:.1f} s",
        details={"retry_after_s": retry_after_s},
    )
    # errors.RateLimitError has no retry_after_s parameter; callers read the attribute
    err.retry_after_s = retry_after_s  # type: ignore[attr-defined]
    return err


class TokenBucket:
    """A thread-safe token bucket; ``rate_per_min=math.inf`` never limits.

    Args:
        rate_per_min: refill rate; ``math.inf`` for an unlimited bucket.
        capacity: most tokens the bucket holds (the largest burst).
        clock, sleep: injectable time source and wait (tests use a fake clock).
        tokens: starting balance; full by default.
    """

    def __init__(
        self,
        rate_per_min: float = DEFAULT_RATE_PER_MIN,
        capacity: float = DEFAULT_CAPACITY,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        *,
        tokens: float | None = None,
    ) -> None:
        if rate_per_min <= 0 or capacity <= 0:
            raise ValueError("rate_per_min and capacity must be > 0")
        self.rate_per_min = float(rate_per_min)
        self.capacity = float(capacity)
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._balance = self.capacity if tokens is None else min(float(tokens), self.capacity)
        self._updated = clock()

    @property
    def unlimited(self) -> bool:
        return math.isinf(self.rate_per_min)

    def _refill(self) -> float:
        now = self._clock()
        elapsed = max(0.0, now - self._updated)
        self._balance = min(self.capacity, self._balance + elapsed * self.rate_per_min / 60.0)
        self._updated = now
        return now

    def available(self) -> float:
        """Tokens that could be taken now (negative while waiters hold reservations)."""
        if self.unlimited:
            return math.inf
        with self._lock:
            self._refill()
            return self._balance

    def _wait_for(self, tokens: float) -> float:
        """Seconds until ``tokens`` more than the current balance have refilled."""
        return max(0.0, (tokens - self._balance) * 60.0 / self.rate_per_min)

    def acquire(
        self,
        tokens: float = 1.0,
        *,
        queue_allowed: bool = True,
        ttl_s: float = DEFAULT_TTL_S,
        on_queued: Callable[[float], None] | None = None,
    ) -> float:
        """Take ``tokens``, waiting for them when allowed; returns the seconds waited.

        Args:
            queue_allowed: wait (up to ``ttl_s``) instead of refusing when short.
            ttl_s: the longest wait accepted; a longer one is refused at once.
            on_queued: called with the expected wait before sleeping (progress reporting).

        Raises:
            RateLimitError: short of tokens and queueing not allowed, the wait would exceed
                the TTL, or the call costs more than the bucket can ever hold.
        """
        if tokens <= 0 or self.unlimited:
            return 0.0
        if tokens > self.capacity:
            raise _rate_limit_error(
                f"a call costing {tokens:g} tokens exceeds the bucket's capacity of "
                f"{self.capacity:g}; make smaller calls",
                None,
            )
        with self._lock:
            self._refill()
            wait = self._wait_for(tokens)
            if wait > 0 and not queue_allowed:
                raise _rate_limit_error(
                    f"rate limit reached: {tokens:g} tokens needed, "
                    f"{max(self._balance, 0.0):.1f} available",
                    wait,
                )
            if wait > ttl_s:
                raise _rate_limit_error(
                    f"rate limit queue: the wait of {wait:.1f} s exceeds the TTL of {ttl_s:g} s",
                    wait,
                )
            # reserve now, so later callers queue behind this one
            self._balance -= tokens
        if wait > 0:
            if on_queued is not None:
                on_queued(wait)
            self._sleep(wait)
        return wait


# ------------------------------------------------------------------- the registry

_BUCKETS: dict[tuple[str, str], TokenBucket] = {}
_REGISTRY_LOCK = threading.Lock()


def get_bucket(
    tenant: str,
    host: str,
    *,
    rate_per_min: float = DEFAULT_RATE_PER_MIN,
    capacity: float = DEFAULT_CAPACITY,
) -> TokenBucket:
    """The bucket of ``(tenant, host)``, created with the given limits on first use."""
    key = (tenant, host)
    with _REGISTRY_LOCK:
        bucket = _BUCKETS.get(key)
        if bucket is None:
            bucket = _BUCKETS[key] = TokenBucket(rate_per_min, capacity)
        return bucket


def set_bucket(tenant: str, host: str, bucket: TokenBucket) -> None:
    """Install a bucket for ``(tenant, host)`` (configuration and tests)."""
    with _REGISTRY_LOCK:
        _BUCKETS[(tenant, host)] = bucket


def reset() -> None:
    """Forget every bucket (they are re-created, full, on next use)."""
    with _REGISTRY_LOCK:
        _BUCKETS.clear()
