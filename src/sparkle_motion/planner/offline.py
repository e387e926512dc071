"""The built-in offline planner: an ADK ``BaseLlm`` that writes a good plan with no network.

Registered with ADK's ``LLMRegistry`` for model names ``offline-*``, so
``LlmAgent(model="offline-planner")`` resolves to it. It reads the idea out of the request
and answers with a draft from :mod:`sparkle_motion.planner.story`, as JSON text, the way a
real model would.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator

from google.adk.models import BaseLlm, LLMRegistry, LlmRequest, LlmResponse
from google.genai import types

from sparkle_motion.planner.prompt import parse_request
from sparkle_motion.planner.story import write_draft

OFFLINE_MODEL = "offline-planner"


class OfflinePlannerLlm(BaseLlm):
    """Deterministic storyteller behind the ``offline-*`` model names."""

    model: str = OFFLINE_MODEL

    @classmethod
    def supported_models(cls) -> list[str]:
        return [r"offline-.*"]

    async def generate_content_async(
        self, llm_request: LlmRequest, stream: bool = False
    ) -> AsyncGenerator[LlmResponse, None]:
        text = ""
        for content in reversed(llm_request.contents or []):
            if content.role == "user" and content.parts:
                text = "".join(p.text or "" for p in content.parts)
                break
        idea, max_scenes = parse_request(text)
        draft = write_draft(idea or text, max_scenes=max_scenes)
        reply = draft.model_dump_json(exclude_none=True)
        # Token counts as a real model reports them (words, roughly), so ADK's telemetry
        # has usage metadata to record.
        prompt_tokens, reply_tokens = len(text.split()), len(reply.split())
        yield LlmResponse(
            content=types.Content(role="model", parts=[types.Part(text=reply)]),
            usage_metadata=types.GenerateContentResponseUsageMetadata(
                prompt_token_count=prompt_tokens,
                candidates_token_count=reply_tokens,
                total_token_count=prompt_tokens + reply_tokens,
            ),
        )


LLMRegistry.register(OfflinePlannerLlm)
