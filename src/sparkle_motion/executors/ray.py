"""Step jobs as Ray tasks: one plan's steps spread over every machine of a Ray cluster.

Ray is the engine, so nothing here schedules, queues or talks RPC by itself: each step job
(production/jobs.py) becomes a Ray task on one CPU, or, for steps that hold the ``gpu``
slot, a call on the GPU actor that already holds its model (ray_actors.py: the cluster's
actors, shared by every run that joins it, so many plans take turns on its GPUs); its artifacts
(or its error, pickled with every field) come back through the call's result, and each
file is hash-checked on arrival. Progress events travel over a ``ray.util.queue.Queue``
that a pump thread here hands to the scheduler, as soon as they are put.

The scheduler still counts retries: Ray's own are off (``max_retries=0``; actors are not
restarted), and a worker or actor that dies mid-step (killed, out of memory, a lost node)
fails the attempt with
:class:`~sparkle_motion.errors.StepWorkerLost`, which the scheduler retries like any
transient error. Artifacts go through the shared workspace: every worker sees the driver's
``SPARKLE_*`` settings (so the same ``SPARKLE_HOME``) and its ``sparkle_motion`` source.

The cluster is ``RAY_ADDRESS`` when set, else a local instance started for this process
(CPUs and GPUs from the slots), started once and reused by every run of the process. Ray
is an optional extra (``pip install -e ".[ray]"``) and is imported only by the executor's
modules (this one and ray_actors.py).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

from sparkle_motion.errors import ArtifactError, MissingDependencyError, StepWorkerLost
from sparkle_motion.executors.ray_actors import actor_pool
from sparkle_motion.executors.relay import QueueChannel, relayed
from sparkle_motion.executors.slots import Slots
from sparkle_motion.utils.seal import sha256_file

_ENV_PREFIXES = ("SPARKLE_", "SMOKE_")
_INIT_LOCK = threading.Lock()


def _ray() -> Any:
    try:
        import ray
    except ImportError as exc:  # the optional extra is not installed
        raise MissingDependencyError(
            "the ray executor needs Ray", hint='pip install -e ".[ray]"'
        ) from exc
    return ray


def _source_path() -> str:
    """The folder that holds this ``sparkle_motion`` package, first on the workers' path."""
    src = str(Path(__file__).resolve().parents[2])
    rest = os.environ.get("PYTHONPATH", "")
    return os.pathsep.join(p for p in (src, *rest.split(os.pathsep)) if p)


def runtime_env() -> dict[str, Any]:
    """What every worker needs to run this checkout's steps against this workspace."""
    env = {k: v for k, v in os.environ.items() if k.startswith(_ENV_PREFIXES)}
    return {"env_vars": {**env, "PYTHONPATH": _source_path()}}


def ensure_ray(num_cpus: int, num_gpus: int) -> Any:
    """The process's Ray connection: ``RAY_ADDRESS`` when set, else a local instance.

    Started once and reused (``ray.is_initialized()``): starting Ray costs seconds. A local
    instance is shut down when this process exits (ray.init registers that); a cluster
    given by address is only disconnected from."""
    ray = _ray()
    with _INIT_LOCK:
        if not ray.is_initialized():
            common = {"include_dashboard": False, "log_to_driver": False}
            if os.environ.get("RAY_ADDRESS"):
                ray.init(address=os.environ["RAY_ADDRESS"], runtime_env=runtime_env(), **common)
            else:
                ray.init(num_cpus=num_cpus, num_gpus=num_gpus, runtime_env=runtime_env(), **common)
    return ray


def _run_step(fn: Callable[[], Any], env: dict[str, str]) -> Any:
    """In a Ray worker: the driver's settings at submit time, then the step job.

    A worker runs one task at a time and is reused across runs, so the settings that change
    between runs (a test's ``SPARKLE_HOME``) travel with each task, not with the worker."""
    for name in [k for k in os.environ if k.startswith(_ENV_PREFIXES)]:
        if name not in env:
            del os.environ[name]
    os.environ.update(env)
    return fn()


def model_of(fn: Any) -> str | None:
    """The model a submitted step uses, for routing it to an actor that holds it: a step
    job's step type and provider (``image:images_sdxl@...``), or ``fn.model_key``."""
    key = getattr(fn, "model_key", None)
    if key:
        return str(key)
    job = fn.args[0] if isinstance(fn, partial) and fn.args else None  # a StepJob
    provider, step = getattr(job, "provider", None), getattr(job, "step", None)
    if provider and step is not None:
        return f"{step.type}:{provider}"
    return None


def check_arrival(result: Any) -> Any:
    """A step's artifacts, as this process sees them in the workspace: each file there, with
    the bytes the worker hashed (a node whose ``SPARKLE_HOME`` is not the shared one would
    otherwise hand the assembly missing or other files)."""
    for ref in result if isinstance(result, list) else []:
        expected = getattr(ref, "sha256", None)
        if not expected or not getattr(ref, "artifact_uri", "").startswith("file:"):
            continue
        try:
            actual = sha256_file(ref.path)
        except OSError:
            actual = None
        if actual != expected:
            why = "missing" if actual is None else "damaged"
            raise ArtifactError(
                f"step {ref.step_id} wrote {ref.path.name} on a Ray worker, and it is {why} here",
                hint="every node must see the same SPARKLE_HOME, on a shared file system",
            )
    return result


def _cause(exc: BaseException) -> BaseException:
    """What the step raised (a task error wraps it); a dead worker as a retryable error."""
    ray = _ray()
    if isinstance(exc, ray.exceptions.RayTaskError) and exc.cause is not None:
        return exc.cause
    if isinstance(exc, ray.exceptions.TaskCancelledError):
        return exc
    if isinstance(exc, ray.exceptions.RayError):  # worker crashed, actor died, node lost
        first = " ".join(str(exc).split())[:200]
        return StepWorkerLost(f"the Ray worker running this step was lost: {first}")
    return exc


class RayExecutor:
    """Runs steps as Ray tasks, at most ``slots[name]`` of each resource at once."""

    def __init__(self, slots: dict[str, int]) -> None:
        ray = ensure_ray(max(1, slots.get("cpu", 1)), max(0, slots.get("gpu", 0)))
        limits = dict(slots)
        if os.environ.get("RAY_ADDRESS"):  # a cluster: as many steps at once as it has room
            total = ray.cluster_resources()
            for name, key in (("cpu", "CPU"), ("gpu", "GPU")):
                if int(total.get(key, 0)) > 0:
                    limits[name] = int(total[key])
        if limits.get("gpu", 0) > 0:  # the cluster's GPU actors, shared with other runs
            actor_pool().attach(ray, limits["gpu"])
        self._ray = ray
        self._slots = Slots(limits)
        self.slots = self._slots.limits
        self.peak = self._slots.peak
        self._remote = ray.remote(max_retries=0)(_run_step)
        self._running: dict[Any, tuple[Future, Any]] = {}  # ObjectRef -> (future, actor call)
        self._lock = threading.Lock()
        self._queues: list[Any] = []

    def can_run(self, resources: frozenset[str]) -> bool:
        return self._slots.free(resources)

    def submit(self, fn: Callable[[], Any], resources: frozenset[str]) -> Future:
        self._slots.take(resources)
        env = {k: v for k, v in os.environ.items() if k.startswith(_ENV_PREFIXES)}
        call = None
        release: Callable[[bool], None] = lambda died: None  # noqa: E731
        try:
            if "gpu" in resources:  # on the GPU's actor, beside the models it holds
                ref, call, release = actor_pool().call(self._ray, fn, env, model_of(fn))
            else:
                ref = self._remote.options(num_cpus=1).remote(fn, env)
        except BaseException:
            self._slots.give_back(resources)
            raise
        future: Future = Future()
        future.set_running_or_notify_cancel()
        with self._lock:
            self._running[ref] = (future, call)

        def settle(done: Future) -> None:
            with self._lock:
                self._running.pop(ref, None)
            exc = done.exception()
            release(isinstance(exc, self._ray.exceptions.RayActorError))
            self._slots.give_back(resources)
            if exc is None:
                try:
                    future.set_result(check_arrival(done.result()))
                except ArtifactError as bad:
                    future.set_exception(bad)
            else:
                future.set_exception(_cause(exc))

        ref.future().add_done_callback(settle)
        return future

    @contextmanager
    def channel(self, handler: Callable[[Any], None]) -> Iterator[QueueChannel]:
        from ray.util.queue import Queue

        queue = Queue()
        queue.qsize()  # its actor is up before any step runs (not while one holds a GPU)
        self._queues.append(queue)
        # the queue's actor is gone once the run stops: any error means that
        with relayed(queue, handler, gone=(Exception,), name="sparkle-ray-channel") as ch:
            yield ch

    def shutdown(self, wait: bool = True) -> None:
        """``wait=False`` is the run stopping (Ctrl-C, an error): its tasks are cancelled,
        a running one by killing its worker. Ray itself stays up for the process's next run."""
        with self._lock:
            running = list(self._running.items())
        for ref, (future, call) in running:
            if wait:
                try:
                    future.result()
                except BaseException:
                    pass
            elif call is not None:  # off its actor's queue, or the actor stopped
                actor_pool().stop(self._ray, ref, call)
            else:
                try:
                    self._ray.cancel(ref, force=True)
                except Exception:  # already finished, or the cluster is gone
                    pass
        for queue in self._queues:
            try:
                queue.shutdown(force=True)
            except Exception:
                pass
        self._queues.clear()
