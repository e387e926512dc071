"""script_agent: one sentence in, a validated MoviePlan out (``generate_plan``).

The plan is written by an ADK ``LlmAgent`` (its recipe is :func:`build_agent`, which
``adk_factory.get_agent("script_agent")`` returns) with a slim draft schema as
``output_schema``; the draft becomes a MoviePlan here and goes through all five validation
stages. The raw model reply is kept in the workspace for audit; a valid plan is published
as an artifact (also through ADK's artifact service) and noted on the memory timeline. A
failure raises the spec's error and publishes nothing. This agent only plans: it never
renders or calls a FunctionTool.

A deterministic planner's plan (``offline-*``) is cached in the workspace
(:mod:`sparkle_motion.planner.plan_cache`): planning the same idea again, with nothing it
depends on changed, returns the first plan as it was, without loading the ADK runtime. The
idea's policy check runs first either way. The ADK runtime is imported only to plan.
"""

from __future__ import annotations

import hashlib
import json
import re
import tempfile
import time
from pathlib import Path
from typing import Any

from sparkle_motion.config import Settings, get_settings
from sparkle_motion.errors import (
    PlanParseError,
    PlanPolicyViolation,
    PlanSchemaError,
    SparkleError,
)
from sparkle_motion.planner.models import is_deterministic, model_name
from sparkle_motion.policy import check_text
from sparkle_motion.types import MoviePlan
from sparkle_motion.utils.terminal import one_line

APP_NAME = "sparkle_motion"
DRAFT_STATE_KEY = "plan_draft"
PLAN_STATE_KEY = "plan"
IDEA_STATE_KEY = "idea"
RAW_STATE_KEY = "raw_output_path"
ARTIFACT_STATE_KEY = "plan_artifact_uri"

_FENCE = re.compile(r"```[A-Za-z0-9_-]*\s*\n?(.*?)```", re.DOTALL)


def strip_code_fences(text: str) -> str:
    """The JSON inside a reply that wrapped it in ``` fences (or prose around them)."""
    match = _FENCE.search(text)
    if match:
        return match.group(1).strip()
    stripped = text.strip()
    if not stripped.startswith(("{", "[")) and "{" in stripped and "}" in stripped:
        return stripped[stripped.index("{") : stripped.rindex("}") + 1]
    return stripped


def clean_idea_text(prompt: str) -> str:
    """The idea as one line; an empty one is refused (PlanSchemaError naming ``idea``)."""
    if not isinstance(prompt, str):
        raise PlanSchemaError("must be text", field="idea")
    # An idea becomes the plan's title and is echoed to terminals: no escape sequences.
    idea = " ".join(one_line(prompt).split())
    if not idea or not any(ch.isalnum() for ch in idea):
        raise PlanSchemaError(
            "is empty: describe the movie in a sentence, e.g. "
            '"a lighthouse keeper befriends a whale"',
            field="idea",
        )
    return idea


def _save_raw_output(text: str) -> Path:
    from sparkle_motion.workspace import get_workspace

    folder = get_workspace().llm_outputs
    digest = hashlib.sha256(text.encode()).hexdigest()[:12]
    path = folder / f"{time.strftime('%Y%m%dT%H%M%S')}-{digest}.txt"
    path.write_text(text, encoding="utf-8")
    return path


# ------------------------------------------------------------------ ADK callbacks


async def before_agent_callback(callback_context: Any) -> None:
    """Under ``adk run``/``adk web`` the idea arrives as the user's message: keep it."""
    if callback_context.state.get(IDEA_STATE_KEY):
        return
    content = callback_context.user_content
    text = "".join(p.text or "" for p in (content.parts or [])) if content else ""
    from sparkle_motion.planner.prompt import parse_request

    idea, _ = parse_request(text)
    callback_context.state[IDEA_STATE_KEY] = clean_idea_text(idea or text)


async def after_model_callback(callback_context: Any, llm_response: Any) -> Any:
    """Keep the raw reply for audit, then hand ADK the reply without code fences."""
    content = getattr(llm_response, "content", None)
    if not content or not content.parts:
        return None
    raw = "".join(p.text or "" for p in content.parts if not getattr(p, "thought", False))
    if not raw:
        return None
    callback_context.state[RAW_STATE_KEY] = str(_save_raw_output(raw))
    cleaned = strip_code_fences(raw)
    if cleaned == raw:
        return None
    from google.genai import types

    return llm_response.model_copy(
        update={"content": types.Content(role="model", parts=[types.Part(text=cleaned)])}
    )


async def after_agent_callback(callback_context: Any) -> None:
    """Draft -> MoviePlan -> five validation stages -> publish; or raise, publishing nothing."""
    from sparkle_motion.adk_helpers import publish_artifact, write_memory_event
    from sparkle_motion.planner.draft import PlanDraft, draft_to_plan
    from sparkle_motion.run_context import adk_context, run_context
    from sparkle_motion.validation import schema_error, validate_plan

    state = callback_context.state
    raw_draft = state.get(DRAFT_STATE_KEY)
    idea = state.get(IDEA_STATE_KEY, "")
    if raw_draft is None:
        raise PlanParseError("the planner model returned no plan")
    from pydantic import ValidationError

    try:
        draft = PlanDraft.model_validate(raw_draft)
    except ValidationError as exc:
        raise schema_error(exc) from None
    if draft.refusal:
        raise PlanPolicyViolation(f"the planner refused: {draft.refusal}", field="idea")
    if not draft.scenes:
        raise PlanSchemaError("the planner returned no scenes", field="scenes")
    model_name = callback_context.state.get("planner_model", "")
    plan = draft_to_plan(draft, idea=idea, created_by=f"script_agent:{model_name}")
    validation = validate_plan(plan)

    payload = json.dumps(plan.to_json_dict(), indent=2, ensure_ascii=False).encode()
    raw_path = state.get(RAW_STATE_KEY)
    with run_context(plan_id=plan.id), adk_context(callback_context):
        raw_uri = None
        if raw_path and Path(raw_path).is_file():
            raw_uri = publish_artifact(
                raw_path,
                "text/plain",
                {"kind": "llm_raw_output", "plan_id": plan.id, "adk_filename": "plan.raw.txt"},
            )
        with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as tmp:
            tmp.write(payload)
        try:
            uri = publish_artifact(
                tmp.name,
                "application/json",
                {
                    "kind": "movie_plan",
                    "plan_id": plan.id,
                    "title": plan.title,
                    "steps": len(plan.steps),
                    "model": model_name,
                    "raw_output_uri": raw_uri,
                    "adk_filename": "plan.json",
                },
            )
        finally:
            Path(tmp.name).unlink(missing_ok=True)
        write_memory_event(
            "plan_generated",
            {
                "title": plan.title,
                "steps": len(plan.steps),
                "model": model_name,
                "artifact_uri": uri,
                "raw_output_uri": raw_uri,
                "warnings": validation.warnings,
            },
        )
    state[PLAN_STATE_KEY] = plan.to_json_dict()
    state[ARTIFACT_STATE_KEY] = uri


# ------------------------------------------------------------------ the ADK agent


def build_agent(model_spec: Any = None, settings: Settings | None = None) -> Any:
    """The script_agent ``LlmAgent``: model, instruction, draft schema and callbacks.

    Args:
        model_spec: a model string or ADK ``BaseLlm`` (default: settings.planner_model).
    """
    from google.adk.agents import LlmAgent
    from google.genai import types

    from sparkle_motion.planner.draft import PlanDraft
    from sparkle_motion.planner.models import resolve_model
    from sparkle_motion.planner.prompt import system_prompt

    settings = settings or get_settings()
    instruction = system_prompt(settings.max_steps)
    return LlmAgent(
        name="script_agent",
        description="Writes a MoviePlan draft for a one-sentence movie idea.",
        model=resolve_model(model_spec),
        # A callable instruction is passed through as is: ADK would otherwise read the
        # few-shot JSON's braces as {state} placeholders.
        instruction=lambda _ctx: instruction,
        output_schema=PlanDraft,
        output_key=DRAFT_STATE_KEY,
        include_contents="none",
        generate_content_config=types.GenerateContentConfig(
            temperature=0.2, top_p=0.8, max_output_tokens=4096
        ),
        before_agent_callback=before_agent_callback,
        after_model_callback=after_model_callback,
        after_agent_callback=after_agent_callback,
    )


# ---------------------------------------------------------------------- public API


def _map_adk_validation_error(exc: Exception) -> SparkleError:
    """ADK's output_schema check raises raw pydantic errors: invalid JSON is a parse error."""
    from sparkle_motion.validation import schema_error

    errors = exc.errors() if hasattr(exc, "errors") else []  # type: ignore[attr-defined]
    if any(e.get("type") == "json_invalid" for e in errors):
        reason = errors[0].get("ctx", {}).get("error", "not JSON")
        return PlanParseError(f"the planner's reply is not valid JSON ({reason})")
    return schema_error(exc)  # type: ignore[arg-type]


def _prepare(
    prompt: str, model: Any, settings: Settings | None
) -> tuple[str, Settings, str | None, MoviePlan | None]:
    """Clean and police the idea, then look it up: (idea, settings, cache key, cached plan).

    The key is None for a model that is not deterministic (nothing is cached for it).
    """
    settings = settings or get_settings()
    idea = clean_idea_text(prompt)
    # Refuse a bad idea before any model sees it (nothing is published or scheduled), and
    # before the cache: a policy made stricter since then applies to a cached plan too.
    check_text(idea, "idea", settings=settings)
    name = model_name(model, settings)
    if name is None or not is_deterministic(name):
        return idea, settings, None, None
    from sparkle_motion.planner import plan_cache

    key = plan_cache.plan_key(idea, name, settings)
    plan = plan_cache.lookup(key, settings)
    if plan is not None:
        from sparkle_motion.adk_helpers import write_memory_event
        from sparkle_motion.validation import validate_plan

        # The same plan that passed the five stages before; the caps may have changed since.
        validation = validate_plan(plan, settings=settings)
        write_memory_event(
            "plan_reused",
            {
                "title": plan.title,
                "steps": len(plan.steps),
                "model": name,
                "cache_key": key,
                "warnings": validation.warnings,
            },
            plan_id=plan.id,
        )
    return idea, settings, key, plan


async def _plan_with_agent(
    idea: str, model: Any, settings: Settings, cache_key: str | None
) -> MoviePlan:
    """Plan ``idea`` through an ADK runner (the idea is already cleaned and policed)."""
    from google.adk.artifacts import FileArtifactService
    from google.adk.runners import Runner
    from google.adk.sessions import InMemorySessionService
    from google.genai import types
    from pydantic import ValidationError

    from sparkle_motion.planner.prompt import request_text
    from sparkle_motion.workspace import get_workspace

    agent = build_agent(model, settings)
    model_label = getattr(agent.model, "model", None) or str(agent.model)
    runner = Runner(
        app_name=APP_NAME,
        agent=agent,
        session_service=InMemorySessionService(),
        artifact_service=FileArtifactService(root_dir=get_workspace(settings).adk_artifacts),
    )
    session = await runner.session_service.create_session(
        app_name=APP_NAME,
        user_id="local",
        state={IDEA_STATE_KEY: idea, "planner_model": model_label},
    )
    message = types.Content(
        role="user", parts=[types.Part(text=request_text(idea, settings.max_steps))]
    )
    try:
        async for _event in runner.run_async(
            user_id="local", session_id=session.id, new_message=message
        ):
            pass
    except ValidationError as exc:
        raise _map_adk_validation_error(exc) from None
    finally:
        await runner.close()
    final = await runner.session_service.get_session(
        app_name=APP_NAME, user_id="local", session_id=session.id
    )
    state = final.state if final else {}
    data = state.get(PLAN_STATE_KEY)
    if not data:
        raise PlanParseError("the planner finished without a plan")
    plan = MoviePlan.model_validate(data)
    if cache_key is not None and state.get(ARTIFACT_STATE_KEY):
        from sparkle_motion.planner import plan_cache

        plan_cache.remember(cache_key, model_label, plan, state[ARTIFACT_STATE_KEY], settings)
    return plan


async def generate_plan_async(
    prompt: str, *, model: Any = None, settings: Settings | None = None
) -> MoviePlan:
    """Async :func:`generate_plan`."""
    idea, settings, key, cached = _prepare(prompt, model, settings)
    if cached is not None:
        return cached
    return await _plan_with_agent(idea, model, settings, key)


def generate_plan(prompt: str, *, model: Any = None, settings: Settings | None = None) -> MoviePlan:
    """Write a validated MoviePlan for a one-sentence idea.

    Args:
        prompt: the idea ("a lighthouse keeper befriends a whale").
        model: a model string (``gemini-*``, a LiteLLM string, ``offline-*``) or an ADK
            ``BaseLlm``; default ``SPARKLE_PLANNER_MODEL`` (the offline planner). An
            ``offline-*`` model's plan is cached in the workspace and reused for the same
            idea and inputs.

    Raises:
        PlanParseError, PlanSchemaError, PlanPolicyViolation, PlanResourceError.
    """
    idea, settings, key, cached = _prepare(prompt, model, settings)
    if cached is not None:
        return cached
    from sparkle_motion.adk_helpers import _run_blocking

    return _run_blocking(_plan_with_agent(idea, model, settings, key))
