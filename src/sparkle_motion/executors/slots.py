"""Counted resource slots (``image``, ``video``, ``gpu``, ``cpu``) and the process backlog.

A step holds one slot of each resource it needs. The scheduler only submits a step when
its slots are free, so nothing queues inside an executor and ready steps wait in the
scheduler, in plan order. The backlog counts steps handed to an executor in this process
that have not started yet (production refuses a plan that would push it over its limit).
"""

from __future__ import annotations

import threading

_BACKLOG = 0
_BACKLOG_LOCK = threading.Lock()


def backlog() -> int:
    """Steps handed to an executor in this process and still waiting to start."""
    return _BACKLOG


def adjust_backlog(delta: int) -> None:
    global _BACKLOG
    with _BACKLOG_LOCK:
        _BACKLOG += delta


class Slots:
    """At most ``limits[name]`` holders of each resource at once; ``peak`` records the most."""

    def __init__(self, limits: dict[str, int]) -> None:
        self.limits = dict(limits)
        self._used = dict.fromkeys(limits, 0)
        self._lock = threading.Lock()
        self.peak: dict[str, int] = dict.fromkeys(limits, 0)

    @property
    def workers(self) -> int:
        """How many steps can run at once: the cpu plus the gpu slots."""
        return max(1, sum(v for k, v in self.limits.items() if k in ("cpu", "gpu")))

    def free(self, resources: frozenset[str]) -> bool:
        with self._lock:
            return all(self._used.get(r, 0) < self.limits.get(r, 1) for r in resources)

    def take(self, resources: frozenset[str]) -> None:
        with self._lock:
            for r in resources:
                self._used[r] = self._used.get(r, 0) + 1
                self.peak[r] = max(self.peak.get(r, 0), self._used[r])

    def give_back(self, resources: frozenset[str]) -> None:
        with self._lock:
            for r in resources:
                self._used[r] -= 1
