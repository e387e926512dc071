"""The plan cache: a deterministic planner's plan is reused, for the same inputs only."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

import sparkle_motion
from sparkle_motion import planner
from sparkle_motion.db.store import get_store
from sparkle_motion.errors import ADKUnavailableError, PlanPolicyViolation
from sparkle_motion.planner import plan_cache
from sparkle_motion.planner.models import is_deterministic, model_name
from sparkle_motion.script_agent import generate_plan

IDEA = "a fox befriends an owl"
CONFIGS = Path(sparkle_motion.__file__).parent / "configs"


@pytest.fixture
def offline_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Counts the offline planner's replies (one per planned idea)."""
    from sparkle_motion.planner.offline import OfflinePlannerLlm

    calls: list[str] = []
    real = OfflinePlannerLlm.generate_content_async

    def counting(self, llm_request, stream: bool = False):
        calls.append(self.model)
        return real(self, llm_request, stream)

    monkeypatch.setattr(OfflinePlannerLlm, "generate_content_async", counting)
    return calls


def _no_runner(monkeypatch: pytest.MonkeyPatch) -> None:
    import google.adk.runners

    def refuse(*_a: object, **_k: object) -> None:
        raise AssertionError("a cached plan must not build an ADK Runner")

    monkeypatch.setattr(google.adk.runners, "Runner", refuse)


def _plan_rows() -> list[dict]:
    with get_store().connect() as conn:
        rows = conn.execute("SELECT * FROM step_cache WHERE step_type = 'plan'").fetchall()
    return [dict(r) for r in rows]


def _config_dir(tmp_path: Path, name: str, edit: Callable[[str], str]) -> Path:
    folder = tmp_path / "config"
    folder.mkdir(exist_ok=True)
    (folder / name).write_text(edit((CONFIGS / name).read_text()))
    return folder


def test_the_second_plan_comes_from_the_cache(
    offline_calls: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    first = generate_plan(IDEA)
    assert offline_calls == ["offline-planner"]
    store = get_store()
    published = len(store.artifacts())
    _no_runner(monkeypatch)
    again = generate_plan(f"  {IDEA} ")  # the same idea once cleaned
    assert offline_calls == ["offline-planner"], "the model was not asked again"
    assert again.model_dump() == first.model_dump(), "unchanged, created_at and id included"
    assert len(store.artifacts()) == published, "nothing new is published"
    events = [e["event_type"] for e in store.memory_events()]
    assert events.count("plan_generated") == 1 and events.count("plan_reused") == 1
    (row,) = _plan_rows()
    assert row["provider"] == f"offline-planner@{planner.PLANNER_VERSION}"


def test_an_explicit_offline_model_shares_the_default_s_entry(offline_calls: list[str]) -> None:
    generate_plan(IDEA)
    generate_plan(IDEA, model="offline-planner")
    assert len(offline_calls) == 1


def _other_idea(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict:
    return {"prompt": "a fox befriends a crow"}


def _other_model(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict:
    return {"model": "offline-storyteller"}


def _fewer_steps(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict:
    monkeypatch.setenv("SPARKLE_MAX_STEPS", "12")
    return {}


def _new_planner_version(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict:
    monkeypatch.setattr(planner, "PLANNER_VERSION", planner.PLANNER_VERSION + "-next")
    return {}


def _edited_catalog(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict:
    folder = _config_dir(
        tmp_path,
        "tts_providers.yaml",
        lambda text: text.replace("Warm, bright British female voice.", "A warm voice."),
    )
    monkeypatch.setenv("SPARKLE_CONFIG_DIR", str(folder))
    return {}


def _edited_policy(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict:
    folder = _config_dir(
        tmp_path,
        "policy.yaml",
        lambda text: text.replace('"nerve agent"]', '"nerve agent", anthrax]'),
    )
    monkeypatch.setenv("SPARKLE_CONFIG_DIR", str(folder))
    return {}


@pytest.mark.parametrize(
    "change",
    [
        _other_idea,
        _other_model,
        _fewer_steps,
        _new_planner_version,
        _edited_catalog,
        _edited_policy,
    ],
)
def test_any_input_changed_means_planning_again(
    change: Callable, offline_calls: list[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    first = generate_plan(IDEA)
    key = plan_cache.plan_key(IDEA, "offline-planner")
    kwargs = {"prompt": IDEA, **change(monkeypatch, tmp_path)}
    again = generate_plan(**kwargs)
    assert len(offline_calls) == 2, "planned again"
    name = kwargs.get("model", "offline-planner")
    assert plan_cache.plan_key(" ".join(kwargs["prompt"].split()), name) != key
    assert len(_plan_rows()) == 2, "both entries are kept"
    assert again.created_by == f"script_agent:{name}" and first.id


def test_a_missing_or_altered_plan_blob_is_a_miss(offline_calls: list[str]) -> None:
    from sparkle_motion.types import uri_to_path

    def cached_blob() -> Path:
        (row,) = _plan_rows()
        return uri_to_path(json.loads(row["artifacts_json"])[0]["artifact_uri"])

    generate_plan(IDEA)
    blob = cached_blob()
    blob.write_text(blob.read_text().replace('"title"', '"title" ', 1))
    generate_plan(IDEA)
    assert len(offline_calls) == 2
    cached_blob().unlink()
    generate_plan(IDEA)
    assert len(offline_calls) == 3


def test_a_base_llm_instance_is_never_cached(canned_llm) -> None:
    draft = {
        "title": "The Fox and the Owl",
        "scenes": [
            {"title": "Night", "image_prompt": "A fox and an owl", "narration": "They met."},
        ],
    }
    llm = canned_llm.make(json.dumps(draft))
    generate_plan(IDEA, model=llm)
    generate_plan(IDEA, model=llm)
    assert llm.calls == 2
    assert _plan_rows() == []


def test_an_offline_planner_instance_is_never_cached(offline_calls: list[str]) -> None:
    from sparkle_motion.planner.offline import OfflinePlannerLlm

    generate_plan(IDEA, model=OfflinePlannerLlm())
    generate_plan(IDEA, model=OfflinePlannerLlm())
    assert len(offline_calls) == 2
    assert _plan_rows() == []


def test_a_real_llm_never_reads_the_cache(offline_calls: list[str]) -> None:
    generate_plan(IDEA)
    # the offline plan for this idea is cached, but gemini must plan (and has no key here)
    with pytest.raises(ADKUnavailableError, match="GOOGLE_API_KEY"):
        generate_plan(IDEA, model="gemini-2.5-flash")
    assert len(_plan_rows()) == 1


def test_only_offline_models_are_deterministic() -> None:
    assert is_deterministic("offline-planner")
    for name in ("gemini-2.5-flash", "openai/gpt-4o-mini", "ollama_chat/llama3", "", None):
        assert not is_deterministic(name)
    assert model_name(None) == "offline-planner"
    assert model_name(" offline-x ") == "offline-x"
    assert model_name(object()) is None


def test_the_idea_policy_still_applies_on_a_hit(
    offline_calls: list[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    generate_plan(IDEA)
    _no_runner(monkeypatch)
    # the text limit is not part of the key: this would be a hit, but the check comes first
    monkeypatch.setenv("SPARKLE_MAX_TEXT_LENGTH", "16")
    with pytest.raises(PlanPolicyViolation) as err:
        generate_plan(IDEA)
    assert err.value.field == "idea"
    monkeypatch.delenv("SPARKLE_MAX_TEXT_LENGTH")
    folder = _config_dir(
        tmp_path, "policy.yaml", lambda t: t.replace('"nerve agent"]', '"nerve agent", owl]')
    )
    monkeypatch.setenv("SPARKLE_CONFIG_DIR", str(folder))
    with pytest.raises(PlanPolicyViolation, match="owl"):
        generate_plan(IDEA)
    assert len(offline_calls) == 1


RECHECK = """
import json, sys
from sparkle_motion.script_agent import generate_plan
plan = generate_plan(sys.argv[1])
loaded = sorted(m for m in sys.modules if m.startswith(("google.adk", "google.genai")))
print(json.dumps({"id": plan.id, "created_at": plan.created_at.isoformat(), "adk": loaded}))
"""


def test_a_cached_re_plan_does_not_import_adk(sparkle_home: Path) -> None:
    first = generate_plan(IDEA)
    src = str(Path(sparkle_motion.__file__).parents[1])
    env = {
        **os.environ,
        "SPARKLE_HOME": str(sparkle_home),
        "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")]),
    }
    result = subprocess.run(
        [sys.executable, "-c", RECHECK, IDEA],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout)
    assert seen["adk"] == []
    assert seen["id"] == first.id
    assert seen["created_at"] == first.created_at.isoformat()
