"""Model affinity on Ray: one long-lived actor per GPU of the cluster, shared by every run
that joins it, and GPU steps routed to the actor that already holds their model.

Loading SDXL or Wan costs far more than one step, and a model loaded in a Ray task's worker
is lost to the next task, which may land anywhere. So GPU steps run as calls on
:class:`GpuWorker` actors (``num_gpus=1`` each): an actor is one process with its own model
pool (sparkle_motion.gpu), which keeps what its steps loaded for the next step that needs it.

Many plans, one cluster: the service runs each plan in a process of its own and
``sparkle-motion run`` is a process too, so each run is its own Ray driver. Actors owned by
one driver would hold every GPU until that driver exits, starving the next run. So the
actors belong to the cluster, not to a run: named (``sparkle-gpu-0`` ...) and detached in
one namespace, one per GPU, created by whichever driver needs one first
(``get_if_exists``). Calls from every run queue on them in arrival order, and each driver
keeps at most its GPU slots in flight, so two plans with ready steps take turns on each GPU.

The pool here, in the driver, picks for a step's model the actor with the fewest of this
run's calls in flight, preferring one that holds the model (what the actors hold is asked
of them, so runs share resident models), else the one holding the fewest models; Ray
queues a call on a busy actor, so nothing is scheduled here. An actor that dies (a killed
worker, a lost node) fails its calls (the executor turns that into a retryable step error)
and is replaced, with no models, on next use. Detached actors outlive the runs: on a cluster
they stay for the next run (its models still resident); a local instance started for one
process takes them down with it; :func:`release_actors` kills them explicitly.
"""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass, field
from typing import Any

NAMESPACE = "sparkle-motion"
ASK = "ask"  # the actors' concurrency group for questions, answered while a step runs
UNKNOWN = object()


def actor_name(index: int) -> str:
    return f"sparkle-gpu-{index}"


class GpuWorker:
    """The actor's class (wrapped by ``ray.remote`` in :func:`_actor_class`)."""

    def __init__(self) -> None:
        self._holds: set[str] = set()
        self._current: str | None = None

    def run(self, fn: Any, env: dict[str, str], model: str | None = None, token: str = "") -> Any:
        from sparkle_motion.executors.ray import _run_step

        if model:
            self._holds.add(model)
        self._current = token
        try:
            return _run_step(fn, env)
        finally:
            self._current = None

    def holds(self) -> list[str]:
        """The models of the steps this actor was given (by any run)."""
        return sorted(self._holds)

    def current(self) -> str | None:
        """The token of the call running now."""
        return self._current

    def pid(self) -> int:
        import os

        return os.getpid()


_ACTOR_CLASS: Any = None


def _actor_class(ray: Any) -> Any:
    global _ACTOR_CLASS
    if _ACTOR_CLASS is None:
        _ACTOR_CLASS = ray.remote(
            num_gpus=1, num_cpus=0, max_restarts=0, max_task_retries=0,
            concurrency_groups={ASK: 1},
        )(GpuWorker)  # fmt: skip
    return _ACTOR_CLASS


def _shared_actor(ray: Any, index: int) -> Any:
    """The cluster's actor for GPU ``index``: the live one, or a new one."""
    return (
        _actor_class(ray)
        .options(
            name=actor_name(index), namespace=NAMESPACE, lifetime="detached", get_if_exists=True
        )
        .remote()
    )


def _ask(ray: Any, actor: Any, method: str, timeout_s: float = 10.0) -> Any:
    """An answer from ``actor`` beside the step it may be running; UNKNOWN when it gives
    none (dead, or too slow to matter)."""
    try:
        ref = getattr(actor, method).options(concurrency_group=ASK).remote()
        return ray.get(ref, timeout=timeout_s)
    except Exception:
        return UNKNOWN


def _ask_holds(ray: Any, actors: list[Any], timeout_s: float = 2.0) -> list[set[str]]:
    """What each of ``actors`` holds, asked of all at once; empty for one that does not
    answer within ``timeout_s`` (starting, dead): a step may then load a model again."""
    refs = [a.holds.options(concurrency_group=ASK).remote() for a in actors]
    ready, _ = ray.wait(refs, num_returns=len(refs), timeout=timeout_s)
    answers = []
    for ref in refs:
        try:
            answers.append(set(ray.get(ref)) if ref in ready else set())
        except Exception:  # died meanwhile
            answers.append(set())
    return answers


def cluster_of(ray: Any) -> tuple[str, str]:
    """Which Ray instance this process is connected to (a fresh local one differs)."""
    context = ray.get_runtime_context()
    return (str(context.gcs_address), str(context.get_node_id()))


@dataclass
class _Seat:
    """One GPU's actor, what it holds, and how many of this run's calls are in flight."""

    actor: Any
    holds: set[str] = field(default_factory=set)
    inflight: int = 0


class ActorPool:
    """This process's view of the cluster's GPU actors; :meth:`call` routes one step."""

    def __init__(self) -> None:
        self._seats: list[_Seat | None] = []
        self._cluster: tuple[str, str] | None = None
        self._lock = threading.Lock()

    def attach(self, ray: Any, count: int) -> None:
        """A seat per GPU of the cluster (``count`` where it reports none); actors are
        joined on first use. Connected to another Ray instance than before (a local one
        started anew), the seats of the old one are forgotten."""
        cluster = cluster_of(ray)
        gpus = int(ray.cluster_resources().get("GPU", 0)) or count
        with self._lock:
            if cluster != self._cluster:
                self._seats, self._cluster = [], cluster
            while len(self._seats) < gpus:
                self._seats.append(None)

    def forget(self) -> None:
        """No seats (the actors were killed)."""
        with self._lock:
            self._seats, self._cluster = [], None

    def _seat(self, ray: Any, index: int) -> _Seat:
        seat = self._seats[index]
        if seat is None:  # first use, or replacing a dead actor
            seat = self._seats[index] = _Seat(_shared_actor(ray, index))
        return seat

    def _refresh(self, ray: Any) -> None:
        """Join every GPU's actor and ask what it holds now (other runs load models too)."""
        seats = [self._seat(ray, i) for i in range(len(self._seats))]
        for seat, holds in zip(seats, _ask_holds(ray, [s.actor for s in seats]), strict=True):
            seat.holds |= holds

    def _choose(self, ray: Any, model: str | None) -> tuple[int, _Seat]:
        if model and not any(s is not None and model in s.holds for s in self._seats):
            self._refresh(ray)  # a miss here: maybe another run loaded it

        def rank(i: int) -> tuple[int, bool, int, int]:
            seat = self._seats[i]
            if seat is None:
                return (0, True, 0, i)
            return (seat.inflight, model not in seat.holds, len(seat.holds), i)

        index = min(range(len(self._seats)), key=rank)
        return index, self._seat(ray, index)

    def call(
        self, ray: Any, fn: Any, env: dict[str, str], model: str | None
    ) -> tuple[Any, Any, Any]:
        """Submit ``fn`` to the best actor for ``model``: its ObjectRef, the seat, and a
        release callback taking whether the actor died."""
        token = uuid.uuid4().hex
        with self._lock:
            index, seat = self._choose(ray, model)
            seat.inflight += 1
            if model:
                seat.holds.add(model)
        ref = seat.actor.run.remote(fn, env, model, token)

        def release(died: bool) -> None:
            with self._lock:
                seat.inflight -= 1
                if died and self._seats[index] is seat:
                    self._seats[index] = None  # replaced, with no models, on next use

        return ref, _Call(seat, token), release

    def stop(self, ray: Any, ref: Any, call: _Call) -> None:
        """Stop one of this run's calls (the run is stopping): a queued call is marked
        cancelled, and the actor skips it when its turn comes (its ref settles then); a
        running one stops only with its actor (Ray cannot interrupt an actor's call), which
        fails the calls other runs queued there: they retry elsewhere."""
        try:
            ray.cancel(ref)
        except Exception:  # finished already
            return
        now = _ask(ray, call.seat.actor, "current")
        if now == call.token or now is UNKNOWN:  # running, or no answer: stop it surely
            self.kill(ray, call.seat.actor)

    def kill(self, ray: Any, actor: Any) -> None:
        """Stop ``actor`` now; its seat refills, with no models, on next use."""
        with self._lock:
            self._seats = [None if s is not None and s.actor is actor else s for s in self._seats]
        try:
            ray.kill(actor, no_restart=True)
        except Exception:  # already dead
            pass

    def holdings(self) -> list[set[str]]:
        """What each seat's actor holds, as far as this process knows."""
        with self._lock:
            return [set(s.holds) if s else set() for s in self._seats]


@dataclass(eq=False)
class _Call:
    """One of this run's calls: the seat it went to, and its token there."""

    seat: _Seat
    token: str


def release_actors(ray: Any, count: int | None = None) -> int:
    """Kill the cluster's GPU actors (detached, they outlive every run); how many were
    found. For tests and for freeing the GPUs of a long-lived cluster."""
    found = 0
    total = count if count is not None else int(ray.cluster_resources().get("GPU", 0))
    for index in range(total):
        try:
            actor = ray.get_actor(actor_name(index), namespace=NAMESPACE)
        except ValueError:  # none by that name
            continue
        ray.kill(actor, no_restart=True)
        found += 1
    _POOL.forget()
    return found


_POOL = ActorPool()


def actor_pool() -> ActorPool:
    return _POOL
