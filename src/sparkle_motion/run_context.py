"""The run context: plan, run, step and tenant ids, carried in a context variable.

Agents keep the spec's signatures (``render(prompt, opts)``) and still know which run and
step they serve, for memory events, rate limits and dedupe. ``adk_context`` carries the
live ADK callback/tool context, when there is one, so that published artifacts also go
through ADK's artifact service.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from typing import Any


@dataclass(frozen=True)
class RunContext:
    plan_id: str | None = None
    run_id: str | None = None
    step_id: str | None = None
    tenant_id: str = "local"
    # the profile each FunctionTool runs under (see providers.resolve_providers)
    providers: Mapping[str, str] = field(default_factory=dict)
    # where agents write temp files for this step (inside the run folder)
    work_dir: str | None = None
    # the run's folder; child process groups are recorded under it for resume
    run_dir: str | None = None
    # retry hints for the current attempt, e.g. {"shrink": 0.5} after an OOM
    hints: Mapping[str, Any] = field(default_factory=dict)
    # receives CallbackEvents from agents and adapters
    on_progress: Callable[[Any], None] | None = None


_RUN: ContextVar[RunContext | None] = ContextVar("sparkle_run_context", default=None)
_ADK: ContextVar[Any | None] = ContextVar("sparkle_adk_context", default=None)


def current_run_context() -> RunContext:
    return _RUN.get() or RunContext()


@contextmanager
def run_context(**fields: Any) -> Iterator[RunContext]:
    """Set fields of the run context for the enclosed code (others are inherited)."""
    ctx = replace(current_run_context(), **fields)
    token = _RUN.set(ctx)
    try:
        yield ctx
    finally:
        _RUN.reset(token)


def current_adk_context() -> Any | None:
    """The ADK CallbackContext/ToolContext of the enclosing agent or tool, if any."""
    return _ADK.get()


@contextmanager
def adk_context(ctx: Any) -> Iterator[Any]:
    token = _ADK.set(ctx)
    try:
        yield ctx
    finally:
        _ADK.reset(token)
