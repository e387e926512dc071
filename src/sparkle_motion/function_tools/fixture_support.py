"""Shared helpers of the fixture backends: the spec's deterministic bytes and a test delay."""

from __future__ import annotations

import hashlib
import os
import time


def deterministic_bytes(prompt: str, seed: int, index: int) -> bytes:
    """The spec's fixture generator: sha256 of ``prompt|seed|index`` (32 bytes)."""
    key = f"{prompt}|{seed}|{index}".encode()
    return hashlib.sha256(key).digest()[:256]


def fixture_delay() -> None:
    """Sleep ``SPARKLE_FIXTURE_DELAY_S`` seconds: lets tests catch a run mid-way (resume)."""
    delay = float(os.environ.get("SPARKLE_FIXTURE_DELAY_S", "0") or 0)
    if delay > 0:
        time.sleep(delay)
