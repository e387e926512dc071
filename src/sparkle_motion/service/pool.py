"""The service's run pool: a queue of accepted runs and ``workers`` threads that each run
one at a time in a child process (:mod:`sparkle_motion.service.child`).

Admission is where the spec's backpressure lives: the steps of runs waiting to start count
against ``step_queue_backlog_limit``, and a plan that would push them over is refused with
BacklogFullError (HTTP 503 with ``Retry-After``) before any row is written. The queue itself
is the store (runs with status ``queued``), so a server that restarts takes up what was
waiting, and runs whose process died with the old server are marked ``interrupted`` (the
codebase's one dead-run cleanup) for ``resume`` to finish.

The launcher is injected (the adk-python way): :class:`ChildLauncher` starts real child
processes; tests give a launcher that runs nothing.
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Protocol

from sparkle_motion.config import Settings
from sparkle_motion.db.store import Store
from sparkle_motion.errors import BacklogFullError, RunStateError
from sparkle_motion.production import runs
from sparkle_motion.service.events import record_status
from sparkle_motion.workspace import Workspace

RETRY_AFTER_S = 5


class RunHandle(Protocol):
    def wait(self) -> int: ...
    def kill(self) -> None: ...


class Launcher(Protocol):
    def __call__(self, run_id: str) -> RunHandle: ...


@dataclass
class _Child:
    proc: subprocess.Popen

    def wait(self) -> int:
        return self.proc.wait()

    def kill(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)  # the child leads its own group
        except ProcessLookupError:
            pass


@dataclass
class ChildLauncher:
    """Starts ``python -m sparkle_motion.service.child RUN_ID`` in a new session, its output
    in the run's folder (``service.log``)."""

    ws: Workspace

    def __call__(self, run_id: str) -> RunHandle:
        folder = self.ws.run_dir(run_id)
        folder.mkdir(parents=True, exist_ok=True)
        with open(folder / "service.log", "ab") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "sparkle_motion.service.child", run_id],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        return _Child(proc)


@dataclass
class _Running:
    handle: RunHandle
    cancelled: bool = False
    done: threading.Event = field(default_factory=threading.Event)


class RunPool:
    """Accepts, queues, starts and cancels the service's runs (see the module docstring)."""

    def __init__(
        self,
        store: Store,
        settings: Settings,
        ws: Workspace,
        *,
        workers: int = 1,
        launcher: Launcher | None = None,
        backlog_limit: int | None = None,
    ) -> None:
        self.store, self.settings, self.ws = store, settings, ws
        self.workers = max(1, workers)
        self.launcher = launcher or ChildLauncher(ws)
        self.backlog_limit = backlog_limit or settings.step_queue_backlog_limit
        self._lock = threading.Lock()
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._waiting: dict[str, int] = {}  # queued run -> its steps
        self._reserved = 0
        self._running: dict[str, _Running] = {}
        self._threads: list[threading.Thread] = []

    # ------------------------------------------------------------------ admission

    @contextmanager
    def admission(self, steps: int) -> Iterator[Callable[[str], None]]:
        """Reserve room for a plan of ``steps`` steps (BacklogFullError when there is none);
        the body records the run and calls the yielded function with its id to queue it.
        A body that raises gives the room back."""
        with self._lock:
            waiting = sum(self._waiting.values()) + self._reserved
            if waiting + steps > self.backlog_limit:
                raise BacklogFullError(
                    f"the queue is full: {waiting} steps are waiting and this plan would add "
                    f"{steps} (the limit is {self.backlog_limit})",
                    hint=f"retry in {RETRY_AFTER_S} s",
                    details={"retry_after_s": RETRY_AFTER_S},
                )
            self._reserved += steps
        queued: list[str] = []
        try:
            yield queued.append
        finally:
            with self._lock:
                self._reserved -= steps
                for run_id in queued:
                    self._waiting[run_id] = steps
        for run_id in queued:
            record_status(self.store, run_id, "queued")
            self._queue.put(run_id)

    def requeue(self, run_id: str) -> None:
        """Queue a stopped run again (``resume``): it must be resumable and the queue have
        room for it."""
        row = runs.resumable_row(self.store, run_id, self.settings)
        if run_id in self._running or run_id in self._waiting:
            raise RunStateError(f"run {run_id} is already {row['status']}")
        with self.admission(len(_plan_steps(row))) as admit:
            self.store.update_run(run_id, status="queued", summary="")
            admit(run_id)

    # ------------------------------------------------------------------- control

    def cancel(self, run_id: str, timeout_s: float = 10.0) -> str:
        """Stop a queued or running run of this server; returns its status (cancelled)."""
        with self._lock:
            if run_id in self._waiting:
                del self._waiting[run_id]
                self.store.update_run(
                    run_id, status="cancelled", summary=self._cancelled_line(run_id)
                )
                record_status(self.store, run_id, "cancelled", self._cancelled_line(run_id))
                return "cancelled"
            running = self._running.get(run_id)
            if running is not None:
                running.cancelled = True
        if running is None:
            row = self.store.get_run(run_id)
            if row is None:
                raise RunStateError(f"no run {run_id!r} in this workspace")
            raise RunStateError(
                f"run {run_id} is {row['status']}: only a queued or running run of this "
                "server can be cancelled"
            )
        running.handle.kill()
        running.done.wait(timeout_s)
        row = self.store.get_run(run_id) or {}
        return row.get("status") or "cancelled"  # it may have finished just before

    @staticmethod
    def _cancelled_line(run_id: str) -> str:
        return f"cancelled; finish it with: sparkle-motion resume {run_id}"

    def counts(self) -> dict[str, int]:
        with self._lock:
            return {"queued": len(self._waiting), "running": len(self._running)}

    def is_ours(self, run_id: str) -> bool:
        with self._lock:
            return run_id in self._waiting or run_id in self._running

    # -------------------------------------------------------------- lifecycle

    def start(self) -> RunPool:
        """Recover what an earlier server left, then start the workers."""
        for run_id in runs.sweep_dead_runs(self.store, self.settings, self.ws):
            row = self.store.get_run(run_id) or {}
            record_status(self.store, run_id, "interrupted", row.get("summary") or "")
        for row in self.store.runs_with_status("queued"):
            if runs.run_is_live(row, self.settings) and not runs.owned_here(row):
                continue  # another live server's queue
            steps = len(_plan_steps(row))
            with self._lock:
                self._waiting[row["run_id"]] = steps
            self._queue.put(row["run_id"])
        for n in range(self.workers):
            thread = threading.Thread(target=self._work, name=f"sparkle-run-{n}", daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self, kill: bool = True) -> None:
        """Stop the workers; with ``kill`` the running children too (they are recorded
        interrupted by the next start, and resumable)."""
        for _ in self._threads:
            self._queue.put(None)
        if kill:
            with self._lock:
                running = list(self._running.values())
            for r in running:
                r.handle.kill()

    def _work(self) -> None:
        while True:
            run_id = self._queue.get()
            if run_id is None:
                return
            with self._lock:
                if self._waiting.pop(run_id, None) is None:
                    continue  # cancelled while it waited
                try:
                    handle = self._launch(run_id)
                except Exception:  # recorded as failed; the worker goes on
                    continue
                running = self._running[run_id] = _Running(handle)
            try:
                code = running.handle.wait()
                self._after(run_id, running, code)
            finally:
                with self._lock:
                    del self._running[run_id]
                running.done.set()

    def _launch(self, run_id: str) -> RunHandle:
        try:
            return self.launcher(run_id)
        except Exception as exc:  # could not start a process: the run fails, visibly
            line = f"could not start its process: {' '.join(str(exc).split())}"
            self.store.update_run(run_id, status="failed", summary=line)
            record_status(self.store, run_id, "failed", line)
            raise

    def _after(self, run_id: str, running: _Running, code: int) -> None:
        """After the child exits: a cancelled or crashed run is cleaned up and recorded."""
        row = self.store.get_run(run_id)
        if row is None or row["status"] not in ("queued", "running"):
            return  # the child recorded how it ended
        if running.cancelled:
            status, summary = "cancelled", self._cancelled_line(run_id)
        else:
            status = "failed"
            summary = f"its process ended with code {code}; see {self._log(run_id)}"
        if row["status"] == "queued":  # never claimed: nothing to clean
            self.store.update_run(run_id, status=status, summary=summary)
        elif not runs.retire_dead_run(self.store, self.ws, row, status, summary):
            return
        record_status(self.store, run_id, status, summary)

    def _log(self, run_id: str) -> str:
        return str(self.ws.run_dir(run_id) / "service.log")


def _plan_steps(row: dict) -> list:
    import json

    try:
        return json.loads(row["plan_json"])["plan"].get("steps") or []
    except (ValueError, KeyError, AttributeError):
        return []
