"""Executors run production_agent's steps. The interface is small on purpose, so another
engine (Ray, for many machines) can run the same steps: ``can_run(resources)``,
``submit(fn, resources) -> Future`` and ``shutdown()``."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, Protocol


class Executor(Protocol):
    def can_run(self, resources: frozenset[str]) -> bool:
        """True when every slot ``resources`` needs is free now."""
        ...

    def submit(self, fn: Callable[[], Any], resources: frozenset[str]) -> Future:
        """Run ``fn`` holding one slot of each resource; the slots free when it ends."""
        ...

    def shutdown(self, wait: bool = True) -> None: ...
