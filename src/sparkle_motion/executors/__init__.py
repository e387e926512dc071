"""Executors run production's step jobs; the scheduler is given one and only asks it three
things: can these slots be had now (``can_run``), run this (``submit``), and give me a
channel for the jobs' progress events (``channel``).

A job is picklable data plus a module-level function (production/jobs.py), so an engine
that runs it elsewhere needs nothing else from the runner: :class:`LocalExecutor` runs jobs
on threads, :class:`ProcessExecutor` in worker processes and :class:`RayExecutor` as Ray
tasks on the machines of a cluster.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from contextlib import AbstractContextManager
from typing import Any, Protocol

from sparkle_motion.errors import ConfigError

EXECUTORS = ("local", "process", "ray")


class Executor(Protocol):
    def can_run(self, resources: frozenset[str]) -> bool:
        """True when every slot ``resources`` needs is free now."""
        ...

    def submit(self, fn: Callable[[], Any], resources: frozenset[str]) -> Future:
        """Run ``fn`` holding one slot of each resource; the slots free when it ends.

        ``fn`` is picklable (a ``functools.partial`` of a module-level function over data)
        for executors that run it in another process."""
        ...

    def channel(self, handler: Callable[[Any], None]) -> AbstractContextManager[Any]:
        """A channel whose ``put(message)`` works inside submitted functions; each message
        reaches ``handler`` in this process. Closing it delivers what is still in flight."""
        ...

    def shutdown(self, wait: bool = True) -> None: ...


def make_executor(name: str, slots: dict[str, int]) -> Executor:
    """The executor called ``name`` (settings.executor), with ``slots`` per resource."""
    if name == "local":
        from sparkle_motion.executors.local import LocalExecutor

        return LocalExecutor(slots)
    if name == "process":
        from sparkle_motion.executors.process import ProcessExecutor

        return ProcessExecutor(slots)
    if name == "ray":
        from sparkle_motion.executors.ray import RayExecutor

        return RayExecutor(slots)
    raise ConfigError(
        f"unknown executor {name!r} (known: {', '.join(EXECUTORS)})",
        field="executor",
        hint="set SPARKLE_EXECUTOR or executor: in sparkle.yaml",
    )
