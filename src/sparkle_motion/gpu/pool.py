"""The per-process model pool: loaded pipelines reused by key, LRU within a memory budget.

An entry leaves the pool through the cleanup checklist, never while a context uses it. The
pool does not load anything itself: ``ModelPool._acquire`` is handed the load to run.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sparkle_motion.errors import ConfigError
from sparkle_motion.gpu._torch import _cuda_available
from sparkle_motion.gpu.cleanup import _cleanup
from sparkle_motion.gpu.telemetry import report_memory

log = logging.getLogger(__name__)


class _CallLock:
    """A reentrant lock that threads and asyncio tasks can hold, one owner at a time."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._owner: tuple[str, int] | None = None
        self._count = 0

    def acquire(self) -> None:
        me = ("thread", threading.get_ident())
        if self._owner == me:
            self._count += 1
            return
        self._lock.acquire()
        self._owner, self._count = me, 1

    async def acquire_async(self) -> None:
        me = ("task", id(asyncio.current_task()))
        if self._owner == me:
            self._count += 1
            return
        # Polling keeps the event loop free while another caller holds the pipeline.
        while not self._lock.acquire(blocking=False):
            await asyncio.sleep(0.005)
        self._owner, self._count = me, 1

    def release(self) -> None:
        self._count -= 1
        if self._count <= 0:
            self._owner, self._count = None, 0
            self._lock.release()

    def locked(self) -> bool:
        return self._lock.locked()


@dataclass(eq=False)
class _Entry:
    key: tuple[Any, ...]
    model_key: str
    weights: str | None
    pipeline: Any
    device: str
    device_map: Any
    allocated_devices: list[str]
    warnings: list[str]
    size_mb: float
    pool: ModelPool
    pooled: bool = True
    lock: _CallLock = field(default_factory=_CallLock)
    users: int = 0
    dropped: bool = False
    released: bool = False
    loaded_at: float = field(default_factory=time.time)
    last_used: float = field(default_factory=time.time)


def _default_budget_mb() -> float:
    raw = os.environ.get("SPARKLE_MODEL_POOL_MB")
    if raw not in (None, ""):
        try:
            value = float(raw)
        except ValueError:
            value = -1.0
        if value < 0 or math.isnan(value):
            raise ConfigError(
                f"must be a number of megabytes ≥ 0, got {raw!r}", field="SPARKLE_MODEL_POOL_MB"
            )
        return value
    # Without a setting: most of the GPUs' memory, else half the host's. Import torch now (a
    # model is about to load anyway), so that report_memory can see the GPUs.
    _cuda_available()
    memory = report_memory()
    gpu_total = sum(v["total_mb"] for k, v in memory.items() if k.startswith("cuda"))
    if gpu_total:
        return 0.8 * gpu_total
    host_total = memory.get("cpu", {}).get("total_mb", 0)
    return 0.5 * host_total if host_total else 16384.0


class ModelPool:
    """Loaded pipelines of this process, reused by key, LRU within a memory budget (MB).

    Keyed by (model_key, weights, device, dtype, device_map). One load lock per key, so
    concurrent requests for one key load once; one call lock per pipeline (see
    ``ModelContext.inference``). An entry in use is never released: dropping or evicting it
    defers the cleanup checklist to its last user's exit.
    """

    def __init__(self, budget_mb: float | None = None) -> None:
        self._budget_mb = budget_mb
        self._entries: OrderedDict[tuple[Any, ...], _Entry] = OrderedDict()
        self._lock = threading.Lock()
        self._load_locks: dict[tuple[Any, ...], threading.Lock] = {}
        self.loads = 0
        self.hits = 0
        self.evictions = 0

    # ------------------------------------------------------------------ inspection

    @property
    def budget_mb(self) -> float:
        """The memory budget: the constructor's, else SPARKLE_MODEL_POOL_MB, else host-based."""
        if self._budget_mb is None:
            self._budget_mb = _default_budget_mb()
        return self._budget_mb

    @budget_mb.setter
    def budget_mb(self, value: float | None) -> None:
        self._budget_mb = value

    @property
    def size_mb(self) -> float:
        """Memory held by pooled entries (parameter and buffer bytes), MB."""
        with self._lock:
            return sum(e.size_mb for e in self._entries.values())

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def __contains__(self, model_key: object) -> bool:
        with self._lock:
            return any(k[0] == model_key or k == model_key for k in self._entries)

    def lru_keys(self) -> list[tuple[Any, ...]]:
        """Pool keys (model_key, weights, device, dtype, device_map), least recently used first."""
        with self._lock:
            return list(self._entries)

    def stats(self) -> dict[str, Any]:
        """Counters and entries, for telemetry and benchmarks."""
        with self._lock:
            entries = [
                {
                    "model_key": e.model_key,
                    "weights": e.weights,
                    "device": e.device,
                    "size_mb": e.size_mb,
                    "users": e.users,
                }
                for e in self._entries.values()
            ]
        return {
            "loads": self.loads,
            "hits": self.hits,
            "evictions": self.evictions,
            "budget_mb": self.budget_mb,
            "entries": entries,
        }

    # ------------------------------------------------------------------ lifecycle

    def _acquire(self, key: tuple[Any, ...], load: Callable[[], _Entry]) -> tuple[_Entry, bool]:
        budget = self.budget_mb  # may raise ConfigError: before anything is loaded or locked
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                return self._take(entry), False
            load_lock = self._load_locks.setdefault(key, threading.Lock())
        with load_lock:
            with self._lock:
                entry = self._entries.get(key)
                if entry is not None:  # another thread loaded it while we waited
                    return self._take(entry), False
            # Load outside the pool lock: other keys load (and hit) meanwhile.
            entry = load()
            with self._lock:
                self.loads += 1
                self._entries[key] = entry
                entry.users += 1
                evicted = self._over_budget(budget)
        self._release_all(evicted, "evicted")
        return entry, True

    def _take(self, entry: _Entry) -> _Entry:
        # Called with self._lock held.
        self._entries.move_to_end(entry.key)
        entry.users += 1
        entry.last_used = time.time()
        self.hits += 1
        return entry

    def _over_budget(self, budget: float) -> list[_Entry]:
        # Called with self._lock held: idle entries, least recently used first.
        total = sum(e.size_mb for e in self._entries.values())
        evicted = []
        for entry in list(self._entries.values()):
            if total <= budget:
                break
            if entry.users == 0:
                del self._entries[entry.key]
                entry.dropped = True
                total -= entry.size_mb
                self.evictions += 1
                evicted.append(entry)
        return evicted

    def _find(self, pipeline: Any) -> _Entry | None:
        with self._lock:
            return next((e for e in self._entries.values() if e.pipeline is pipeline), None)

    def _relinquish(self, entry: _Entry) -> None:
        try:
            budget = self.budget_mb
        except ConfigError:
            budget = math.inf  # already reported when the entry was loaded
        with self._lock:
            entry.users = max(0, entry.users - 1)
            entry.last_used = time.time()
            if entry.users == 0 and (entry.dropped or not entry.pooled):
                todo = [entry]
                reason = "oom_deferred" if entry.dropped and entry.pooled else "exit"
            else:
                todo = self._over_budget(budget) if entry.pooled else []
                reason = "evicted"
        self._release_all(todo, reason)

    def drop(
        self, entry: _Entry, *, reason: str, release_now: bool = False
    ) -> dict[str, Any] | None:
        """Take an entry out of the pool; run the checklist now if nobody uses it.

        With ``release_now`` the caller gives up its own use first. Returns the cleanup
        payload when the checklist ran.
        """
        with self._lock:
            if self._entries.get(entry.key) is entry:
                del self._entries[entry.key]
            entry.dropped = True
            if release_now:
                entry.users = max(0, entry.users - 1)
            ready = entry.users == 0
        return self._release(entry, reason) if ready else None

    def evict_idle(self, *, reason: str = "evicted") -> int:
        """Release every entry nobody is using; returns how many."""
        with self._lock:
            idle = [e for e in self._entries.values() if e.users == 0]
            for entry in idle:
                del self._entries[entry.key]
                entry.dropped = True
                self.evictions += 1
        self._release_all(idle, reason)
        return len(idle)

    def clear(self) -> None:
        """Empty the pool: idle entries are released now, busy ones when their users exit."""
        with self._lock:
            entries = list(self._entries.values())
            self._entries.clear()
            idle = []
            for entry in entries:
                entry.dropped = True
                if entry.users == 0:
                    idle.append(entry)
        self._release_all(idle, "cleared")

    def _release_all(self, entries: list[_Entry], reason: str) -> None:
        for entry in entries:
            self._release(entry, reason)

    def _release(self, entry: _Entry, reason: str) -> dict[str, Any] | None:
        with self._lock:
            if entry.released:
                return None
            entry.released = True
            holder, entry.pipeline = [entry.pipeline], None
        try:
            return _cleanup(
                holder,
                model_key=entry.model_key,
                weights=entry.weights,
                reason=reason,
                extra={"size_mb": entry.size_mb, "held_s": round(time.time() - entry.loaded_at, 3)},
            )
        except Exception:
            # The checklist must not turn a successful step into a failure.
            log.warning("cleanup of %s failed", entry.model_key, exc_info=True)
            return None


_POOL: ModelPool | None = None
_POOL_PID: int | None = None
_POOL_LOCK = threading.Lock()


def get_pool() -> ModelPool:
    """The process-wide model pool (a fresh one after a fork)."""
    global _POOL, _POOL_PID
    with _POOL_LOCK:
        if _POOL is None or os.getpid() != _POOL_PID:
            _POOL, _POOL_PID = ModelPool(), os.getpid()
        return _POOL


def reset_pool(budget_mb: float | None = None) -> ModelPool:
    """Clear the process-wide pool and start a new one (optionally with a budget in MB)."""
    global _POOL, _POOL_PID
    with _POOL_LOCK:
        old, _POOL, _POOL_PID = _POOL, ModelPool(budget_mb), os.getpid()
        new = _POOL
    if old is not None:
        old.clear()
    return new
