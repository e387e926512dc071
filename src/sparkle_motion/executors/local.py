"""The embedded executor: a thread pool with counted resource slots.

Slots are named (``image``, ``video``, ``gpu``, ``cpu``); a step holds one of each it
needs. production_agent only submits a step when ``can_run`` says its slots are free, so
nothing queues inside the pool and ready steps wait in the agent, in plan order.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

_BACKLOG = 0  # steps submitted in this process that have not started yet
_BACKLOG_LOCK = threading.Lock()


def backlog() -> int:
    """Steps handed to an executor in this process and still waiting for a thread."""
    return _BACKLOG


def _adjust_backlog(delta: int) -> None:
    global _BACKLOG
    with _BACKLOG_LOCK:
        _BACKLOG += delta


class LocalExecutor:
    """Runs steps on threads, at most ``slots[name]`` holding each resource at once."""

    def __init__(self, slots: dict[str, int]) -> None:
        self.slots = dict(slots)
        self._used = dict.fromkeys(slots, 0)
        self._lock = threading.Lock()
        workers = max(1, sum(v for k, v in slots.items() if k in ("cpu", "gpu")))
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sparkle-step")
        self.peak: dict[str, int] = dict.fromkeys(slots, 0)

    def can_run(self, resources: frozenset[str]) -> bool:
        with self._lock:
            return all(self._used.get(r, 0) < self.slots.get(r, 1) for r in resources)

    def submit(self, fn: Callable[[], Any], resources: frozenset[str]) -> Future:
        with self._lock:
            for r in resources:
                self._used[r] = self._used.get(r, 0) + 1
                self.peak[r] = max(self.peak.get(r, 0), self._used[r])
        ctx = contextvars.copy_context()
        _adjust_backlog(1)

        def run() -> Any:
            _adjust_backlog(-1)
            try:
                return ctx.run(fn)
            finally:
                with self._lock:
                    for r in resources:
                        self._used[r] -= 1

        return self._pool.submit(run)

    def shutdown(self, wait: bool = True) -> None:
        self._pool.shutdown(wait=wait, cancel_futures=True)
