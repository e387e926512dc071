"""Builds Sparkle Motion's ADK agents by name: ``get_agent("script_agent", model_spec)``.

A registry only: each agent's recipe (model, instruction, schema, callbacks) lives with the
agent's own code (:func:`sparkle_motion.script_agent.build_agent`), and this module depends
on the agents, never the other way round. ``model_spec`` is a model string or an ADK
``BaseLlm`` (see :mod:`sparkle_motion.planner.models`); the default is
``settings.planner_model``, the offline planner.
"""

from __future__ import annotations

from typing import Any

from sparkle_motion.errors import ConfigError
from sparkle_motion.planner.models import resolve_model

AGENT_NAMES = ("script_agent",)

__all__ = ["AGENT_NAMES", "get_agent", "resolve_model"]


def get_agent(name: str, model_spec: Any = None) -> Any:
    """Build the ADK agent ``name`` with ``model_spec`` (default: settings.planner_model)."""
    if name == "script_agent":
        from sparkle_motion.script_agent import build_agent

        return build_agent(model_spec)
    raise ConfigError(f"no agent named {name!r} (known: {', '.join(AGENT_NAMES)})")
