"""script_agent.generate_plan through real ADK runners, with canned LLM stubs (the spec's tests)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from sparkle_motion.adk_factory import get_agent
from sparkle_motion.db.store import get_store
from sparkle_motion.errors import (
    ADKUnavailableError,
    ConfigError,
    PlanParseError,
    PlanPolicyViolation,
    PlanResourceError,
    PlanSchemaError,
)
from sparkle_motion.script_agent import generate_plan, strip_code_fences
from sparkle_motion.types import MoviePlan, uri_to_path

GOOD_DRAFT = {
    "title": "The Fox and the Owl",
    "style": "storybook watercolor",
    "scenes": [
        {
            "title": "Night falls",
            "image_prompt": "A red fox under a tall pine, an owl on a branch, moonlight",
            "narration": "As night fell over the forest, a young fox looked up and saw an owl.",
            "motion": "zoom_in",
        },
        {
            "title": "Friends",
            "image_prompt": "A red fox and an owl sharing berries by a stream",
            "narration": "By morning the two were sharing berries by the stream like old friends.",
        },
    ],
}


def _nothing_published() -> None:
    store = get_store()
    assert store.artifacts() == []
    assert [e for e in store.memory_events() if e["event_type"] == "plan_generated"] == []


def test_generate_plan_positive(canned_llm, sparkle_home: Path) -> None:
    llm = canned_llm.make(json.dumps(GOOD_DRAFT))
    plan = generate_plan("a fox befriends an owl", model=llm)
    assert isinstance(plan, MoviePlan)
    assert plan.id and plan.title == "The Fox and the Owl"
    assert len(plan.steps) == 6
    for step in plan.steps:
        assert step.id and step.type and step.title and step.scene
    assert plan.assemble_opts is not None
    video = plan.step("scene1_shot")
    assert video.start_frames == ["step:scene1_image"]
    assert plan.step("scene1_narration").text == GOOD_DRAFT["scenes"][0]["narration"]
    # published: the plan, and the raw reply beside it, plus a memory event
    store = get_store()
    kinds = {a["metadata"]["kind"]: a for a in store.artifacts()}
    assert set(kinds) == {"movie_plan", "llm_raw_output"}
    stored = json.loads(uri_to_path(kinds["movie_plan"]["uri"]).read_text())
    assert MoviePlan.model_validate(stored).id == plan.id
    assert kinds["movie_plan"]["metadata"]["raw_output_uri"] == kinds["llm_raw_output"]["uri"]
    events = [e for e in store.memory_events() if e["event_type"] == "plan_generated"]
    assert len(events) == 1 and events[0]["plan_id"] == plan.id
    # and through ADK's artifact service, rooted in the workspace
    adk_files = {p.name for p in (sparkle_home / "adk_artifacts").rglob("*") if p.is_file()}
    assert {"plan.json", "plan.raw.txt"} <= adk_files


def test_malformed_output_is_a_parse_error(canned_llm) -> None:
    with pytest.raises(PlanParseError, match="not valid JSON"):
        generate_plan("a fox befriends an owl", model=canned_llm.make("Sure! Here is a story."))
    _nothing_published()


def test_missing_scenes_is_a_schema_error(canned_llm) -> None:
    with pytest.raises(PlanSchemaError) as err:
        generate_plan("a fox befriends an owl", model=canned_llm.make('{"title": "x"}'))
    assert err.value.field == "scenes"
    _nothing_published()


def test_policy_violation_in_the_reply_publishes_nothing(canned_llm) -> None:
    draft = json.loads(json.dumps(GOOD_DRAFT))
    draft["scenes"][1]["narration"] = "Then came the gore."
    with pytest.raises(PlanPolicyViolation) as err:
        generate_plan("a fox befriends an owl", model=canned_llm.make(json.dumps(draft)))
    assert err.value.field == "steps[5].text"
    _nothing_published()


def test_policy_violation_in_the_idea_never_reaches_the_model(canned_llm) -> None:
    llm = canned_llm.make(json.dumps(GOOD_DRAFT))
    with pytest.raises(PlanPolicyViolation) as err:
        generate_plan("an N.S.F.W. story about a fox", model=llm)
    assert err.value.field == "idea"
    assert llm.calls == 0
    _nothing_published()


def test_model_refusal_is_a_policy_violation(canned_llm) -> None:
    reply = json.dumps({"title": "", "scenes": [], "refusal": "I cannot make that."})
    with pytest.raises(PlanPolicyViolation, match="refused: I cannot make that"):
        generate_plan("a fox befriends an owl", model=canned_llm.make(reply))
    _nothing_published()


def test_frame_budget_is_a_resource_error(canned_llm, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPARKLE_MAX_TOTAL_FRAMES", "100")
    with pytest.raises(PlanResourceError, match="video frames"):
        generate_plan("a fox befriends an owl", model=canned_llm.make(json.dumps(GOOD_DRAFT)))
    _nothing_published()


def test_code_fences_are_stripped_and_the_raw_reply_kept(canned_llm, sparkle_home: Path) -> None:
    fenced = "Here you go:\n```json\n" + json.dumps(GOOD_DRAFT) + "\n```\n"
    plan = generate_plan("a fox befriends an owl", model=canned_llm.make(fenced))
    assert plan.title == "The Fox and the Owl"
    raw_files = list((sparkle_home / "llm").glob("*.txt"))
    assert len(raw_files) == 1 and raw_files[0].read_text() == fenced


def test_strip_code_fences() -> None:
    assert strip_code_fences('```json\n{"a": 1}\n```') == '{"a": 1}'
    assert strip_code_fences('```\n{"a": 1}```') == '{"a": 1}'
    assert strip_code_fences('The plan: {"a": 1} hope it helps') == '{"a": 1}'
    assert strip_code_fences('{"a": 1}') == '{"a": 1}'


def test_empty_idea_is_refused(canned_llm) -> None:
    for idea in ("", "   ", "?!"):
        with pytest.raises(PlanSchemaError, match="is empty") as err:
            generate_plan(idea, model=canned_llm.make("{}"))
        assert err.value.field == "idea"


def test_offline_model_through_an_adk_in_memory_runner() -> None:
    from google.adk.runners import InMemoryRunner
    from google.genai import types

    from sparkle_motion.planner.prompt import request_text

    agent = get_agent("script_agent", "offline-planner")
    runner = InMemoryRunner(agent=agent, app_name="sparkle_motion")

    async def run() -> dict:
        session = await runner.session_service.create_session(
            app_name="sparkle_motion", user_id="u", state={"idea": "a robot learns to paint"}
        )
        message = types.Content(
            role="user", parts=[types.Part(text=request_text("a robot learns to paint", 1000))]
        )
        async for _ in runner.run_async(user_id="u", session_id=session.id, new_message=message):
            pass
        final = await runner.session_service.get_session(
            app_name="sparkle_motion", user_id="u", session_id=session.id
        )
        return final.state

    state = asyncio.run(run())
    assert state["plan_draft"]["scenes"], "ADK stored the validated draft"
    plan = MoviePlan.model_validate(state["plan"])
    assert any("robot" in s.prompt for s in plan.steps if s.type == "image")


def test_generate_plan_with_the_offline_model_by_default() -> None:
    plan = generate_plan("a lighthouse keeper befriends a whale")
    assert plan.created_by == "script_agent:offline-planner"
    assert 4 <= len({s.scene for s in plan.steps}) <= 8


def test_step_cap_reaches_the_prompt(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPARKLE_MAX_STEPS", "12")
    agent = get_agent("script_agent", "offline-planner")
    assert "at most 12 steps" in agent.instruction(None)
    plan = generate_plan("a lighthouse keeper befriends a whale")
    assert len(plan.steps) <= 12


def test_real_llm_without_credentials_says_what_is_missing() -> None:
    with pytest.raises(ADKUnavailableError, match="GOOGLE_API_KEY"):
        generate_plan("a fox", model="gemini-2.5-flash")
    with pytest.raises(ConfigError, match="unknown planner model"):
        generate_plan("a fox", model="gpt4")


def test_litellm_model_needs_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "litellm" else real(name, *a)
    )
    with pytest.raises(ADKUnavailableError, match=r"sparkle-motion\[llm\]"):
        generate_plan("a fox", model="openai/gpt-4o-mini")


def test_an_invented_voice_falls_back_to_the_narrator(canned_llm) -> None:
    draft = json.loads(json.dumps(GOOD_DRAFT))
    draft["scenes"][0]["voice"] = "deep movie-trailer voice"
    draft["scenes"][1]["voice"] = "emma"
    plan = generate_plan("a fox befriends an owl", model=canned_llm.make(json.dumps(draft)))
    voices = [s.voice.id for s in plan.steps if s.type == "tts"]
    assert voices == ["narrator", "emma"]


def test_ideas_lose_terminal_escapes() -> None:
    from sparkle_motion.script_agent import clean_idea_text

    assert clean_idea_text("\x1b]0;PWNED\x07\x1b[2J a fox\tmeets\x9b2J an owl\x00") == (
        "a fox meets an owl"
    )
    plan = generate_plan("\x1b]0;PWNED\x07 a fox meets an owl\x1b[2J")
    assert "\\x1b" not in repr(plan.model_dump()) and "PWNED" not in plan.title


def test_litellm_is_kept_off_the_internet_unless_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    """LiteLLM fetches a cost map on import (seconds of retries and warnings offline)."""
    import os
    import sys
    import types

    from sparkle_motion import adk_helpers
    from sparkle_motion.planner.models import resolve_model

    seen: dict = {}

    class FakeLiteLlm:
        def __init__(self, model: str) -> None:
            seen.update(model=model, env=os.environ.get("LITELLM_LOCAL_MODEL_COST_MAP"))

    fake = types.ModuleType("google.adk.models.lite_llm")
    fake.LiteLlm = FakeLiteLlm  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "google.adk.models.lite_llm", fake)
    monkeypatch.setattr(adk_helpers, "require_adk", lambda model=None: None)
    monkeypatch.delenv("LITELLM_LOCAL_MODEL_COST_MAP", raising=False)
    monkeypatch.delenv("LITELLM_OFFLINE_MODE", raising=False)
    resolve_model("ollama_chat/llama3")
    assert seen == {"model": "ollama_chat/llama3", "env": "True"}
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "False")
    resolve_model("ollama_chat/llama3")
    assert seen["env"] == "False", "a user's own setting is kept"
