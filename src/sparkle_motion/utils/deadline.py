"""Calling something that may hang: run it in a worker thread and stop waiting at a deadline.

Python cannot kill a thread, so a call past its deadline is abandoned, not stopped: the
caller gets :class:`DeadlineExceeded` at once, and whatever the late call still produces
is handed to ``on_late_result`` (a model loader frees the pipeline it finally loaded).
A watchdog can look at the call before the deadline (images_agent records the worker's
stack at 80 % of it). Used by images_agent (a batch) and gpu (a model load).
"""

from __future__ import annotations

import contextvars
import threading
import time
from collections.abc import Callable
from typing import Any


class DeadlineExceeded(TimeoutError):
    """Our own deadline passed (a TimeoutError raised by the call itself is not this)."""


def call_with_deadline(
    fn: Callable[[], Any],
    timeout_s: float | None,
    *,
    name: str = "sparkle-deadline",
    watchdog_fraction: float | None = None,
    on_watchdog: Callable[[threading.Thread], None] | None = None,
    on_late_result: Callable[[Any], None] | None = None,
) -> Any:
    """``fn()`` under a deadline of ``timeout_s`` seconds (None or 0: called directly).

    The call runs in a daemon thread with the caller's context variables. Its exception,
    if any, is raised in the caller's thread.

    Raises:
        DeadlineExceeded: no answer within ``timeout_s``.
    """
    if not timeout_s:
        return fn()
    done = threading.Event()
    guard = threading.Lock()
    box: dict[str, Any] = {}
    context = contextvars.copy_context()

    def target() -> None:
        try:
            box["value"] = context.run(fn)
        except BaseException as exc:  # handed back to the caller's thread
            box["error"] = exc
        with guard:
            if not box.get("abandoned"):
                done.set()
                return
        # nobody waits any more: whatever the late call made is the late handler's
        if "value" in box and on_late_result is not None:
            on_late_result(box.pop("value"))

    deadline = time.monotonic() + timeout_s
    worker = threading.Thread(target=target, name=name, daemon=True)
    worker.start()
    watch = watchdog_fraction and on_watchdog is not None
    if watch and not done.wait(timeout_s * watchdog_fraction):  # type: ignore[operator]
        on_watchdog(worker)  # type: ignore[misc]
    done.wait(max(0.0, deadline - time.monotonic()))
    with guard:
        if not done.is_set():
            box["abandoned"] = True
            raise DeadlineExceeded(f"no answer within {timeout_s:g} s")
    if "error" in box:
        raise box["error"]
    return box["value"]
