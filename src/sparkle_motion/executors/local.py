"""The embedded executor: step jobs on a thread pool, under counted resource slots.

The default: no start-up cost, and test doubles or handlers registered in code are seen
by every step. Progress messages go straight to the handler, from the worker thread.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

from sparkle_motion.executors.slots import Slots, adjust_backlog, backlog

__all__ = ["LocalExecutor", "backlog"]


class _DirectChannel:
    def __init__(self, handler: Callable[[Any], None]) -> None:
        self.put = handler


class LocalExecutor:
    """Runs steps on threads, at most ``slots[name]`` holding each resource at once."""

    def __init__(self, slots: dict[str, int]) -> None:
        self._slots = Slots(slots)
        self.slots = self._slots.limits
        self.peak = self._slots.peak
        self._pool = ThreadPoolExecutor(
            max_workers=self._slots.workers, thread_name_prefix="sparkle-step"
        )

    def can_run(self, resources: frozenset[str]) -> bool:
        return self._slots.free(resources)

    def submit(self, fn: Callable[[], Any], resources: frozenset[str]) -> Future:
        self._slots.take(resources)
        ctx = contextvars.copy_context()
        adjust_backlog(1)

        def run() -> Any:
            adjust_backlog(-1)
            try:
                return ctx.run(fn)
            finally:
                self._slots.give_back(resources)

        return self._pool.submit(run)

    @contextmanager
    def channel(self, handler: Callable[[Any], None]) -> Iterator[_DirectChannel]:
        yield _DirectChannel(handler)

    def shutdown(self, wait: bool = True) -> None:
        self._pool.shutdown(wait=wait, cancel_futures=True)
