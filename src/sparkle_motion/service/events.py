"""A run's progress as numbered events in the store, for Server-Sent Events.

The run executes in a child process; its progress reaches the browser through the store,
not through memory: every event gets a sequence number there, so a stream resumes after a
reconnect or a server restart (``Last-Event-ID``) and two servers on one workspace tell the
same story. Progress is coalesced before it is written: per step, only the latest fraction of
each flush interval is kept, while every state change (running, succeeded, cached, failed,
skipped) is kept in order, so a long encode's per-frame progress costs a few rows a second.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from sparkle_motion.db.store import Store
from sparkle_motion.types import CallbackEvent

# the step states production_agent reports as an event's message (as the CLI reads them)
STEP_STATES = frozenset({"running", "succeeded", "cached", "failed", "skipped"})
TERMINAL_RUN_STATES = frozenset({"succeeded", "failed", "cancelled", "interrupted"})


def progress_data(event: CallbackEvent) -> dict[str, Any]:
    """What an SSE ``progress`` event carries."""
    return {
        "step_id": event.step_id,
        "phase": event.phase,
        "progress": round(event.progress, 4),
        "message": event.message or "",
        "eta_s": event.eta_s,
        "chunk_index": event.chunk_index,
    }


def record_status(store: Store, run_id: str, status: str, summary: str = "") -> int:
    """A run's status change as one event (queued, running, succeeded, ...)."""
    return store.add_run_events(run_id, [("status", {"status": status, "summary": summary})])


class EventRecorder:
    """An ``on_progress`` callback that writes a run's events to the store from a thread,
    every ``interval_s``, coalescing progress (see the module docstring)."""

    def __init__(self, store: Store, run_id: str, interval_s: float = 0.25) -> None:
        self._store, self._run_id, self._interval = store, run_id, interval_s
        self._lock = threading.Lock()
        self._pending: dict[tuple[str | None, str], dict[str, Any]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="sparkle-events", daemon=True)

    def __call__(self, event: CallbackEvent) -> None:
        if event.run_id not in (None, self._run_id):
            return
        data = progress_data(event)
        state = data["message"] if data["message"] in STEP_STATES else "progress"
        with self._lock:
            key = (event.step_id, state)
            self._pending.pop(key, None)  # the latest goes last, keeping order
            self._pending[key] = data

    def flush(self) -> None:
        with self._lock:
            taken, self._pending = self._pending, {}
        if not taken:
            return
        try:
            self._store.add_run_events(self._run_id, [("progress", d) for d in taken.values()])
        except Exception:
            with self._lock:  # put them back before anything newer for the same key
                self._pending = {**taken, **self._pending}
            raise

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self.flush()
            except Exception:  # a busy database must not fail the run: the next flush retries
                pass

    def start(self) -> EventRecorder:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.flush()


class EventHub:
    """Wakes a server's event streams when any run has a new event.

    One poll of the newest sequence number serves every open stream (a page per run, a
    load test's hundreds), so an idle stream costs nothing and a busy one reads its run's
    events only when there are new ones."""

    def __init__(self, store: Store, interval_s: float = 0.2) -> None:
        self._store, self._interval = store, interval_s
        self.last = 0
        self._changed: asyncio.Event | None = None

    async def run(self) -> None:
        self._changed = asyncio.Event()
        while True:
            try:
                seq = await asyncio.to_thread(self._store.last_event_seq)
            except Exception:  # a busy database: the next poll tells
                seq = self.last
            if seq != self.last:
                self.last = seq
                self._changed.set()
                self._changed = asyncio.Event()
            await asyncio.sleep(self._interval)

    async def wait(self, seen: int, timeout_s: float) -> None:
        """Until an event newer than ``seen`` exists anywhere, or ``timeout_s`` passed."""
        if self.last > seen or self._changed is None:
            if self._changed is None:
                await asyncio.sleep(self._interval)
            return
        try:
            await asyncio.wait_for(self._changed.wait(), timeout_s)
        except TimeoutError:
            pass
