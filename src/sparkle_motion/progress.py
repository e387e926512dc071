"""The one way progress reaches a caller: a CallbackEvent to an ``on_progress`` callback.

production_agent reports each step's state and the assembly, agents report batches and
chunks; both go through :func:`emit_progress`, which clamps the fraction and makes sure a
broken display (a callback that raises) never fails a render.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sparkle_motion.types import CallbackEvent

ProgressCallback = Callable[[CallbackEvent], None]


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
    """Send one CallbackEvent to ``on_progress`` (nothing when it is None)."""
    if on_progress is None:
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
    try:
        on_progress(event)
    except Exception:  # a broken progress display must not fail the render
        pass
