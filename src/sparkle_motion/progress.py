"""The one way progress reaches a caller: a CallbackEvent to an ``on_progress`` callback.

production_agent reports each step's state and the assembly, agents report batches and
chunks; both go through :func:`emit_progress`, which clamps the fraction and makes sure a
broken display (a callback that raises) never fails a render. Long-lived listeners in this
process (a server, a dashboard) :func:`subscribe` instead and call the handle it returns to
unsubscribe, so a finished listener is not kept alive.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sparkle_motion.types import CallbackEvent

ProgressCallback = Callable[[CallbackEvent], None]
_SUBSCRIBERS: list[ProgressCallback] = []


def subscribe(callback: ProgressCallback) -> Callable[[], None]:
    """Receive every event emitted in this process; returns the unsubscribe handle."""
    _SUBSCRIBERS.append(callback)

    def unsubscribe() -> None:
        if callback in _SUBSCRIBERS:
            _SUBSCRIBERS.remove(callback)

    return unsubscribe


def emit_progress(
    on_progress: ProgressCallback | None,
    *,
    plan_id: str | None,
    run_id: str | None,
    step_id: str | None,
    phase: str,
    progress: float,
    message: str,
    **extra: Any,
) -> None:
    """Send one CallbackEvent to ``on_progress`` and the subscribers (if any)."""
    if on_progress is None and not _SUBSCRIBERS:
        return
    event = CallbackEvent(
        plan_id=plan_id,
        run_id=run_id,
        step_id=step_id,
        progress=min(1.0, max(0.0, progress)),
        phase=phase,  # type: ignore[arg-type]
        message=message,
        **extra,
    )
    for callback in (on_progress, *_SUBSCRIBERS):
        if callback is None:
            continue
        try:
            callback(event)
        except Exception:  # a broken progress display must not fail the render
            pass
