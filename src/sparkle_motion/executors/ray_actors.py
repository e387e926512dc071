"""Model affinity on Ray: one long-lived actor per GPU, and GPU steps routed to the actor that
already holds their model.

Loading SDXL or Wan costs far more than one step, and a model loaded in a Ray task's worker
is lost to the next task, which may land anywhere. So GPU steps run as calls on
:class:`GpuWorker` actors (``num_gpus=1`` each): an actor is one process with its own model
pool (sparkle_motion.gpu), which keeps what its steps loaded for the next step that needs it.
The pool here, in the driver, only remembers which models each actor was given and picks,
for a step's model, the least busy actor that holds it, else the idle one holding the
fewest models; Ray queues a call on a busy actor, so nothing is scheduled here.

One pool serves every run of the process (the service runs many plans): models stay
resident between runs. An actor that dies (a killed worker, a lost node) fails its calls
(the executor turns that into a retryable step error) and is replaced on next use, with no
models.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any


class GpuWorker:
    """The actor's class (wrapped by ``ray.remote`` in :func:`_actor_class`)."""

    def run(self, fn: Any, env: dict[str, str]) -> Any:
        from sparkle_motion.executors.ray import _run_step

        return _run_step(fn, env)

    def pid(self) -> int:
        import os

        return os.getpid()


_ACTOR_CLASS: Any = None


def _actor_class(ray: Any) -> Any:
    global _ACTOR_CLASS
    if _ACTOR_CLASS is None:
        _ACTOR_CLASS = ray.remote(num_gpus=1, num_cpus=0, max_restarts=0, max_task_retries=0)(
            GpuWorker
        )
    return _ACTOR_CLASS


@dataclass
class _Seat:
    """One GPU's actor, what it was given, and how many of its calls are in flight."""

    actor: Any
    holds: set[str] = field(default_factory=set)
    inflight: int = 0


class ActorPool:
    """The process's GPU actors; :meth:`call` routes one step to one of them."""

    def __init__(self) -> None:
        self._seats: list[_Seat | None] = []
        self._lock = threading.Lock()

    def ensure(self, ray: Any, count: int) -> None:
        """At least ``count`` seats (actors start on first use)."""
        with self._lock:
            while len(self._seats) < count:
                self._seats.append(None)

    def _choose(self, ray: Any, model: str | None) -> tuple[int, _Seat]:
        def rank(i: int) -> tuple[int, bool, int, int]:
            seat = self._seats[i]
            if seat is None:
                return (0, True, 0, i)
            return (seat.inflight, model not in seat.holds, len(seat.holds), i)

        index = min(range(len(self._seats)), key=rank)
        seat = self._seats[index]
        if seat is None:  # first use, or replacing a dead actor
            seat = self._seats[index] = _Seat(_actor_class(ray).remote())
        return index, seat

    def call(
        self, ray: Any, fn: Any, env: dict[str, str], model: str | None
    ) -> tuple[Any, Any, Any]:
        """Submit ``fn`` to the best actor for ``model``: its ObjectRef, the actor, and a
        release callback taking whether the actor died."""
        with self._lock:
            index, seat = self._choose(ray, model)
            seat.inflight += 1
            if model:
                seat.holds.add(model)
        ref = seat.actor.run.remote(fn, env)

        def release(died: bool) -> None:
            with self._lock:
                seat.inflight -= 1
                if died and self._seats[index] is seat:
                    self._seats[index] = None  # replaced, with no models, on next use

        return ref, seat.actor, release

    def kill(self, ray: Any, actor: Any) -> None:
        """Stop ``actor`` now (a run stopping mid-step: Ray cannot force-cancel an actor's
        call); its seat refills, with no models, on next use."""
        with self._lock:
            self._seats = [None if s is not None and s.actor is actor else s for s in self._seats]
        try:
            ray.kill(actor, no_restart=True)
        except Exception:  # already dead
            pass

    def holdings(self) -> list[set[str]]:
        """What each seat's actor was given (empty for a seat with no actor)."""
        with self._lock:
            return [set(s.holds) if s else set() for s in self._seats]


_POOL = ActorPool()


def actor_pool() -> ActorPool:
    return _POOL
