"""Custom step handlers: the only code a plan can ask to run, registered by name.

A handler is registered in code with :func:`register_handler`, or by an installed package
through the entry point group ``sparkle_motion.handlers``. Validation refuses any other name,
so a plan can never import arbitrary code. Entry points are only loaded when a step runs.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any

from sparkle_motion.errors import PlanSchemaError

ENTRY_POINT_GROUP = "sparkle_motion.handlers"

Handler = Callable[..., Any]
_REGISTRY: dict[str, Handler] = {}


def register_handler(name: str, fn: Handler | None = None) -> Any:
    """Register ``fn`` as the custom handler ``name``; usable as a decorator.

    Args:
        name: the name plans use in ``handler:``.
        fn: the callable; omit to use as ``@register_handler("name")``.
    """

    def _register(func: Handler) -> Handler:
        _REGISTRY[name] = func
        return func

    return _register(fn) if fn is not None else _register


def unregister_handler(name: str) -> None:
    _REGISTRY.pop(name, None)


def _entry_points() -> dict[str, Any]:
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def handler_names() -> set[str]:
    """Every handler a plan may name: registered in code or by entry point."""
    return set(_REGISTRY) | set(_entry_points())


def get_handler(name: str) -> Handler:
    """The handler registered as ``name`` (loading its entry point on first use)."""
    if name in _REGISTRY:
        return _REGISTRY[name]
    ep = _entry_points().get(name)
    if ep is None:
        raise PlanSchemaError(
            f"no custom handler named {name!r} is registered", field="handler", stage="step"
        )
    fn = ep.load()
    _REGISTRY[name] = fn
    return fn
