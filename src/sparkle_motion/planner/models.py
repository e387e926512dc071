"""Which planner model a spec names, and the ADK model object behind it.

A spec is a model string or an ADK ``BaseLlm`` instance:

- ``gemini-*``: Google's Gemini (needs ``GOOGLE_API_KEY``);
- a LiteLLM string with a provider prefix (``openai/gpt-4o-mini``, ``ollama_chat/llama3``),
  when the ``llm`` extra is installed;
- ``offline-*``: the built-in offline planner (no network, no key) — the default;
- or a ``BaseLlm`` instance (tests use canned stubs).

Reading a spec (:func:`model_name`, :func:`is_deterministic`) needs no ADK, so the plan cache
can decide a re-plan without loading it; only :func:`resolve_model`, which is called when an
agent is built, imports the ADK runtime.
"""

from __future__ import annotations

import os
from typing import Any

from sparkle_motion.config import Settings, get_settings
from sparkle_motion.errors import ConfigError

OFFLINE_PREFIX = "offline-"


def model_name(model_spec: Any, settings: Settings | None = None) -> str | None:
    """The model string a spec names (None: the default from settings); None for an object."""
    if model_spec is None or isinstance(model_spec, str):
        return str(model_spec or (settings or get_settings()).planner_model).strip()
    return None


def is_deterministic(name: str | None) -> bool:
    """True for the offline planner: the same request always gets the same reply."""
    return bool(name) and str(name).startswith(OFFLINE_PREFIX)


def quiet_litellm() -> None:
    """Keep LiteLLM off the internet unless asked: it fetches a model-cost map on import
    (retrying for seconds, with warnings, where there is no network: an offline Ollama user
    sees them on every plan). Its bundled map is used instead, and its other catalog fetches
    stay off; set either variable to False to fetch anyway. Must run before litellm is first
    imported."""
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    os.environ.setdefault("LITELLM_OFFLINE_MODE", "true")


def resolve_model(model_spec: Any) -> Any:
    """A model string or BaseLlm as something ``LlmAgent(model=...)`` accepts."""
    from google.adk.models import BaseLlm

    from sparkle_motion.adk_helpers import require_adk

    if isinstance(model_spec, BaseLlm):
        return model_spec
    spec = str(model_spec or get_settings().planner_model).strip()
    if spec.startswith(OFFLINE_PREFIX):
        import sparkle_motion.planner.offline  # noqa: F401  (registers offline-*)

        return spec
    if spec.startswith("gemini"):
        require_adk(spec)
        return spec
    if "/" in spec:
        require_adk(spec)
        quiet_litellm()
        from google.adk.models.lite_llm import LiteLlm

        return LiteLlm(model=spec)
    raise ConfigError(
        f"unknown planner model {spec!r}: use gemini-*, a LiteLLM string such as "
        "openai/gpt-4o-mini, or offline-planner"
    )
