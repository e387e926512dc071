"""The one backoff formula: ``base × multiplier^(attempt-1)``, ± ``jitter`` (a fraction).

production_agent waits it between attempts of a step, images_agent between attempts of a
batch; both read base, multiplier and jitter from the settings (the spec's 1 s, ×2, 20 %).
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sparkle_motion.config import Settings


def backoff_s(
    attempt: int,
    *,
    base_s: float,
    multiplier: float,
    jitter: float,
    rng: random.Random | None = None,
) -> float:
    """Seconds to wait after failed attempt ``attempt`` (1-based); never negative."""
    wait = base_s * multiplier ** (attempt - 1)
    return max(0.0, wait * (1 + (rng or random).uniform(-jitter, jitter)))


def backoff_from_settings(attempt: int, settings: Settings) -> float:
    """:func:`backoff_s` with the ``retry_backoff_*`` and ``retry_jitter`` of ``settings``."""
    return backoff_s(
        attempt,
        base_s=settings.retry_backoff_base_s,
        multiplier=settings.retry_backoff_multiplier,
        jitter=settings.retry_jitter,
    )
