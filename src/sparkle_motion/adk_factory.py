"""Builds Sparkle Motion's ADK agents by name.

``get_agent("script_agent", model_spec)`` returns an ADK ``LlmAgent`` whose model is:

- ``gemini-*``: Google's Gemini (needs ``GOOGLE_API_KEY``);
- a LiteLLM string with a provider prefix (``openai/gpt-4o-mini``, ``ollama_chat/llama3``),
  when the ``llm`` extra is installed;
- ``offline-*``: the built-in offline planner (no network, no key) — the default;
- or a ``BaseLlm`` instance (tests use canned stubs).
"""

from __future__ import annotations

from typing import Any

from sparkle_motion.adk_helpers import require_adk
from sparkle_motion.config import get_settings
from sparkle_motion.errors import ConfigError

AGENT_NAMES = ("script_agent",)


def resolve_model(model_spec: Any) -> Any:
    """A model string or BaseLlm as something ``LlmAgent(model=...)`` accepts."""
    from google.adk.models import BaseLlm

    if isinstance(model_spec, BaseLlm):
        return model_spec
    spec = str(model_spec or get_settings().planner_model).strip()
    if spec.startswith("offline-"):
        import sparkle_motion.planner.offline  # noqa: F401  (registers offline-*)

        return spec
    if spec.startswith("gemini"):
        require_adk(spec)
        return spec
    if "/" in spec:
        require_adk(spec)
        from google.adk.models.lite_llm import LiteLlm

        return LiteLlm(model=spec)
    raise ConfigError(
        f"unknown planner model {spec!r}: use gemini-*, a LiteLLM string such as "
        "openai/gpt-4o-mini, or offline-planner"
    )


def get_agent(name: str, model_spec: Any = None) -> Any:
    """Build the ADK agent ``name`` with ``model_spec`` (default: settings.planner_model)."""
    if name == "script_agent":
        from google.adk.agents import LlmAgent
        from google.genai import types

        from sparkle_motion import script_agent
        from sparkle_motion.planner.draft import PlanDraft
        from sparkle_motion.planner.prompt import system_prompt

        settings = get_settings()
        instruction = system_prompt(settings.max_steps)
        return LlmAgent(
            name="script_agent",
            description="Writes a MoviePlan draft for a one-sentence movie idea.",
            model=resolve_model(model_spec),
            # A callable instruction is passed through as is: ADK would otherwise read the
            # few-shot JSON's braces as {state} placeholders.
            instruction=lambda _ctx: instruction,
            output_schema=PlanDraft,
            output_key=script_agent.DRAFT_STATE_KEY,
            include_contents="none",
            generate_content_config=types.GenerateContentConfig(
                temperature=0.2, top_p=0.8, max_output_tokens=4096
            ),
            before_agent_callback=script_agent.before_agent_callback,
            after_model_callback=script_agent.after_model_callback,
            after_agent_callback=script_agent.after_agent_callback,
        )
    raise ConfigError(f"no agent named {name!r} (known: {', '.join(AGENT_NAMES)})")
