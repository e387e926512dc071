"""The DAG scheduler: feeds ready steps to an executor as its slots free up.

It is given the executor (threads, processes, Ray: anything that meets
``executors.Executor``) and a runner's hooks, and owns only the graph: which steps wait for
which, the per-resource queues in plan order, the retry policy, and skipping what depends on
a failed step. Each step is looked at once when it becomes ready (its cache key and lookup,
in ``hooks.prepare``), so a 1,000-step plan costs linear bookkeeping.

Retries are decided here, between attempts, not inside a worker: an attempt is one job, a
transient failure waits the backoff (without holding the step's slots) and is submitted
again, and one out-of-memory error earns one more attempt with a ``shrink`` hint, except for
video steps: videos_agent handles an OOM per chunk (shrink, another GPU, CPU) before it fails.
"""

from __future__ import annotations

import heapq
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass, replace
from functools import partial
from typing import Any, Protocol

from sparkle_motion.errors import ModelOOMError, SparkleError
from sparkle_motion.executors import Executor
from sparkle_motion.production.jobs import StepJob, run_job
from sparkle_motion.production.steps import kind_of
from sparkle_motion.types import ArtifactRef, MoviePlan


class StepHooks(Protocol):
    """What the scheduler asks of the runner that owns the records, store and cache."""

    def queued(self, step_id: str) -> None: ...

    def prepare(self, step_id: str) -> tuple[StepJob, list[ArtifactRef] | None]:
        """The step's first job, and its cached artifacts if its key has them."""
        ...

    def started(self, job: StepJob) -> None: ...

    def succeeded(self, job: StepJob, refs: list[ArtifactRef], cache_hit: bool) -> None: ...

    def retrying(self, job: StepJob, error: BaseException, next_job: StepJob) -> None: ...

    def failed(self, job: StepJob, error: BaseException) -> None: ...

    def skipped(self, step_id: str, because: str) -> None: ...

    def message(self, message: Any) -> None:
        """A job's progress event, in this process."""
        ...


def is_transient(exc: BaseException) -> bool:
    if isinstance(exc, SparkleError):
        return exc.retryable
    return isinstance(exc, TimeoutError | ConnectionError)


@dataclass(frozen=True)
class RetryPolicy:
    """The spec's policy: ``max_attempts`` in all, transient errors only, one OOM retry."""

    max_attempts: int
    backoff: Callable[[int], float]  # failed attempt number -> seconds to wait

    def next_job(self, job: StepJob, exc: BaseException) -> StepJob | None:
        """The job of the next attempt, or None when ``exc`` ends the step."""
        if job.attempt >= self.max_attempts:
            return None
        if isinstance(exc, ModelOOMError):
            if job.step.type == "video":  # videos_agent already climbed its per-chunk ladder
                return None
            if "shrink" in job.hints:  # a second OOM: shrinking once did not help
                return None
            shrink = getattr(job.step.opts, "adaptive_shrink_factor", 0.5)
            return replace(job, attempt=job.attempt + 1, hints={**job.hints, "shrink": shrink})
        if not is_transient(exc):
            return None
        return replace(job, attempt=job.attempt + 1)


class Scheduler:
    """Runs one plan's steps over ``executor``; :meth:`run` returns (failed, skipped) ids."""

    def __init__(
        self,
        plan: MoviePlan,
        executor: Executor,
        hooks: StepHooks,
        retry: RetryPolicy,
        *,
        sleep: Callable[[float], None],
    ) -> None:
        self.plan = plan
        self.executor = executor
        self.hooks = hooks
        self.retry = retry
        self.sleep = sleep

    def _after(self, seconds: float) -> Future:
        """A future that completes once ``sleep(seconds)`` returns (the backoff)."""
        done: Future = Future()

        def wait_then_set() -> None:
            try:
                self.sleep(seconds)
            finally:
                done.set_result(None)

        threading.Thread(target=wait_then_set, name="sparkle-backoff", daemon=True).start()
        return done

    def run(self) -> tuple[set[str], set[str]]:
        deps = self.plan.dependencies()
        users: dict[str, list[str]] = {sid: [] for sid in deps}
        for sid, ds in deps.items():
            for d in set(ds):
                users[d].append(sid)
        waiting = {sid: len(set(ds)) for sid, ds in deps.items()}
        position = {sid: i for i, sid in enumerate(deps)}
        failed: set[str] = set()
        skipped: set[str] = set()
        queues: dict[frozenset[str], list[tuple[int, str, StepJob]]] = {}
        running: dict[Future, tuple[str, StepJob]] = {}  # ("attempt" | "backoff", job)
        for sid in deps:
            self.hooks.queued(sid)
        fresh = deque(sid for sid in deps if waiting[sid] == 0)

        def settle(sid: str, ok: bool) -> None:
            """A step is done: release its users (or skip them, and theirs, if it failed)."""
            todo = [(sid, ok)]
            while todo:
                done_id, done_ok = todo.pop()
                for user in users[done_id]:
                    if user in skipped:
                        continue
                    if not done_ok:
                        skipped.add(user)
                        self.hooks.skipped(user, f"skipped: step {done_id} did not finish")
                        todo.append((user, False))
                        continue
                    waiting[user] -= 1
                    if waiting[user] == 0:
                        fresh.append(user)

        def enqueue(job: StepJob) -> None:
            resources = kind_of(job.step).resources(job.providers)
            heapq.heappush(
                queues.setdefault(resources, []), (position[job.step_id], job.step_id, job)
            )

        with self.executor.channel(self.hooks.message) as channel:
            while True:
                while fresh:
                    sid = fresh.popleft()
                    job, hit = self.hooks.prepare(sid)
                    if hit is not None:
                        self.hooks.succeeded(job, hit, True)
                        settle(sid, True)
                    else:
                        enqueue(job)
                for resources, queue in queues.items():
                    while queue and self.executor.can_run(resources):
                        job = heapq.heappop(queue)[2]
                        self.hooks.started(job)
                        fn = partial(run_job, job, channel)
                        running[self.executor.submit(fn, resources)] = ("attempt", job)
                if not running:
                    break
                done, _ = wait(list(running), timeout=1.0, return_when=FIRST_COMPLETED)
                for fut in done:
                    what, job = running.pop(fut)
                    if what == "backoff":
                        enqueue(job)
                        continue
                    exc = fut.exception()
                    if exc is None:
                        self.hooks.succeeded(job, fut.result(), False)
                        settle(job.step_id, True)
                        continue
                    retry = self.retry.next_job(job, exc)
                    if retry is not None:
                        self.hooks.retrying(job, exc, retry)
                        running[self._after(self.retry.backoff(job.attempt))] = ("backoff", retry)
                        continue
                    failed.add(job.step_id)
                    self.hooks.failed(job, exc)
                    settle(job.step_id, False)
        return failed, skipped
