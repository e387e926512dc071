"""Step jobs in worker processes: proof that a step needs nothing but its job to run.

Each job (production/jobs.py) is pickled to a worker of a ``ProcessPoolExecutor`` and its
artifacts (or its error, pickled with every field) come back; progress events travel over a
``multiprocessing.Manager`` queue that a pump thread here hands to the scheduler. Workers are
forked, so handlers registered in code reach them; they share the workspace on disk (the
SQLite store is opened per process). The Ray executor of a later issue plugs in the same way.
"""

from __future__ import annotations

import multiprocessing
import signal
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager
from multiprocessing.managers import SyncManager
from typing import Any

from sparkle_motion.executors.relay import QueueChannel, relayed
from sparkle_motion.executors.slots import Slots


def _worker_init() -> None:
    """Ctrl-C in a terminal reaches the whole process group: the run (this process's parent)
    decides what stops, and terminates its workers; a worker must not die printing a trace."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


class ProcessExecutor:
    """Runs steps in forked worker processes, under the same slots as the local executor."""

    def __init__(self, slots: dict[str, int], *, start_method: str = "fork") -> None:
        self._slots = Slots(slots)
        self.slots = self._slots.limits
        self.peak = self._slots.peak
        self._context = multiprocessing.get_context(start_method)
        self._pool = ProcessPoolExecutor(max_workers=self._slots.workers, mp_context=self._context)
        self._manager: Any = None

    def can_run(self, resources: frozenset[str]) -> bool:
        return self._slots.free(resources)

    def submit(self, fn: Callable[[], Any], resources: frozenset[str]) -> Future:
        self._slots.take(resources)
        try:
            future = self._pool.submit(fn)
        except BaseException:
            self._slots.give_back(resources)
            raise
        future.add_done_callback(lambda _f: self._slots.give_back(resources))
        return future

    @contextmanager
    def channel(self, handler: Callable[[Any], None]) -> Iterator[QueueChannel]:
        if self._manager is None:
            self._manager = SyncManager(ctx=self._context)
            self._manager.start(initializer=_worker_init)
        queue = self._manager.Queue()  # a manager proxy: gone once the manager stops
        with relayed(queue, handler, gone=(EOFError, OSError), name="sparkle-channel") as ch:
            yield ch

    def shutdown(self, wait: bool = True) -> None:
        """``wait=False`` is the run stopping (Ctrl-C, an error): its workers stop too."""
        if not wait:
            terminate = getattr(self._pool, "terminate_workers", None)  # Python 3.14+
            if terminate is not None:
                terminate()
            else:
                for process in list((getattr(self._pool, "_processes", None) or {}).values()):
                    process.terminate()
        self._pool.shutdown(wait=wait, cancel_futures=True)
        if self._manager is not None:
            self._manager.shutdown()
            self._manager = None
