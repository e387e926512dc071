"""The QA loop (production/qa_loop.py), the scorecard and the provenance manifest, with a
scripted QA backend: which step's which inspection finds a fault is decided by the test."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from sparkle_motion import videos_agent
from sparkle_motion.adk_helpers import publish_local
from sparkle_motion.db.store import get_store
from sparkle_motion.function_tools.qa_qwen2vl import entrypoint as qa_entrypoint
from sparkle_motion.production import manifest, qa_loop
from sparkle_motion.production.assembly import Assembly
from sparkle_motion.production_agent import run_plan
from sparkle_motion.run_context import current_run_context
from sparkle_motion.types import ArtifactRef, MoviePlan, QAFrameResult, QAReport

# the scripted backend lives in this process: the local (threads) executor only
pytestmark = pytest.mark.executors("local")


def plan(scenes: int = 1) -> dict:
    steps = []
    for i in range(1, scenes + 1):
        steps += [
            {"id": f"img{i}", "type": "image", "prompt": f"a fox, scene {i}",
             "opts": {"scene": f"s{i}"}},
            {"id": f"vid{i}", "type": "video", "start_frames": [f"step:img{i}"],
             "opts": {"scene": f"s{i}", "num_frames": 12}},
            {"id": f"say{i}", "type": "tts", "text": f"Line number {i}.",
             "opts": {"scene": f"s{i}"}},
        ]  # fmt: skip
    return {"title": "Small", "steps": steps, "assemble_opts": {"width": 160, "height": 96,
            "fps": 8}}  # fmt: skip


class ScriptedQA:
    """inspect_frames stand-in: ``faulty(step_id, call_number)`` says whether that step's
    n-th inspection (1, 2, ...) finds its frames black; counts every call per step."""

    def __init__(self, faulty: Callable[[str, int], bool]) -> None:
        self.faulty = faulty
        self.calls: Counter[str] = Counter()

    def __call__(self, frames, prompts, *, opts=None) -> QAReport:
        step = current_run_context().step_id or ""
        self.calls[step] += 1
        flags = ["black"] if self.faulty(step, self.calls[step]) else []
        per_frame = [QAFrameResult(frame_index=i, flags=flags) for i in range(len(frames))]
        return QAReport(ok=not flags, per_frame=per_frame, global_flags=flags)


@pytest.fixture
def scripted(monkeypatch: pytest.MonkeyPatch) -> Callable[..., ScriptedQA]:
    def install(faulty: Callable[[str, int], bool]) -> ScriptedQA:
        qa = ScriptedQA(faulty)
        monkeypatch.setattr(qa_entrypoint, "inspect_frames", qa)
        return qa

    return install


@pytest.fixture
def movies(monkeypatch: pytest.MonkeyPatch) -> list:
    """The assembler's inputs, per run (a stand-in records them instead of encoding)."""
    calls: list = []

    def fake(self, clips, audio):
        calls.append([c.step_id for c in clips])
        return publish_local(f"movie {len(calls)}".encode(), "video/mp4", {"duration_s": 1.0})

    monkeypatch.setattr(Assembly, "_assemble_movie", fake)
    return calls


def qa_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **qa: int) -> None:
    folder = tmp_path / "config"
    folder.mkdir(exist_ok=True)
    (folder / "sparkle.yaml").write_text(yaml.safe_dump({"qa": qa}), encoding="utf-8")
    monkeypatch.setenv("SPARKLE_CONFIG_DIR", str(folder))


def final(result, step_id: str) -> ArtifactRef:
    return next(a for a in result.artifacts if a.step_id == step_id)


def record(result, step_id: str):
    return next(r for r in result.records if r.step_id == step_id)


# ---------------------------------------------------------------------------- the loop


def test_a_rejected_shot_renders_again_with_a_new_seed(
    scripted, movies, monkeypatch: pytest.MonkeyPatch
) -> None:
    qa = scripted(lambda step, n: step == "vid1" and n == 1)  # the clip's first render only
    seeds: list[int] = []
    real = videos_agent.render_video

    def render_video(starts, ends, prompt, opts, **kw):
        seeds.append(opts.seed)
        return real(starts, ends, prompt, opts, **kw)

    monkeypatch.setattr(videos_agent, "render_video", render_video)
    result = run_plan(plan(), profile="fixture")
    assert result.status == "succeeded"
    clip = final(result, "vid1")
    history = clip.metadata["regenerations"]
    assert [a["decision"] for a in history] == ["regenerate", "approve"]
    first_seed = history[0]["seed"]
    assert history[1]["seed"] == qa_loop.next_seed(first_seed, 1) != first_seed
    assert history[0]["outputs"][0]["flags"] == ["black"]
    assert seeds == [first_seed, history[1]["seed"]]  # rendered twice, with those seeds
    assert clip.artifact_uri == history[1]["artifact_uris"][0]
    assert clip.metadata["qa_loop"]["decision"] == "approve"
    # the step record keeps the history too, and the movie shows the clip
    assert record(result, "vid1").meta["regenerations"] == history
    assert qa.calls["vid1"] == 2 and "vid1" in movies[-1]
    assert [a["decision"] for a in final(result, "img1").metadata["regenerations"]] == ["approve"]


def test_a_shot_failing_every_attempt_goes_to_review_not_into_the_movie(scripted, movies) -> None:
    scripted(lambda step, n: step == "vid1")  # always black
    result = run_plan(plan(), profile="fixture")
    clip = final(result, "vid1")
    history = clip.metadata["regenerations"]
    assert len(history) == 3  # the first render and qa.max_regenerations (2) more
    assert [a["decision"] for a in history] == ["regenerate", "regenerate", "review"]
    assert len({a["seed"] for a in history}) == 3
    assert clip.metadata["quarantined"] is True
    reviews = get_store().review_requests(status="pending")
    assert [(r["step_id"], r["artifact_uri"]) for r in reviews] == [("vid1", clip.artifact_uri)]
    assert movies[-1] == ["img1"]  # the held clip is left out; its picture is not held
    assert any("vid1: clip held for review" in w for w in result.warnings)


def test_the_run_wide_budget_caps_re_renders(
    scripted, movies, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    qa_config(tmp_path, monkeypatch, max_regenerations=5, run_budget=2)
    scripted(lambda step, n: step.startswith("vid"))  # every clip, every time
    result = run_plan(plan(2), profile="fixture")
    attempts = [len(final(result, s).metadata["regenerations"]) for s in ("vid1", "vid2")]
    assert sum(attempts) == 2 + 2  # one render each, and the budget's two more
    assert all(final(result, s).metadata["quarantined"] for s in ("vid1", "vid2"))
    assert movies[-1] == ["img1", "img2"]


def test_an_unchanged_re_run_inspects_nothing(scripted, movies) -> None:
    qa = scripted(lambda step, n: step == "vid1" and n == 1)
    first = run_plan(plan(), profile="fixture")
    calls = sum(qa.calls.values())
    again = run_plan(plan(), profile="fixture")
    assert calls > 0 and sum(qa.calls.values()) == calls  # no inspection at all
    assert all(r.cache_hit for r in again.records)
    assert (
        final(again, "vid1").metadata["regenerations"]
        == (final(first, "vid1").metadata["regenerations"])
    )
    assert again.scorecard == {**first.scorecard, "run_id": again.run_id}


def test_approving_a_held_shot_puts_it_into_the_next_movie(
    scripted, movies, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    qa_config(tmp_path, monkeypatch, max_regenerations=0)
    qa = scripted(lambda step, n: step == "vid1")
    first = run_plan(plan(), profile="fixture")
    assert movies[-1] == ["img1"]
    request = get_store().review_requests(status="pending")[0]
    get_store().resolve_review_request(request["id"], "approved")
    inspected = sum(qa.calls.values())
    again = run_plan(plan(), profile="fixture")
    assert movies[-1] == ["img1", "vid1"]  # assembled again, with the approved clip
    assert final(again, "vid1").artifact_uri == final(first, "vid1").artifact_uri
    assert sum(qa.calls.values()) == inspected  # the step came from the cache
    assert record(again, "assemble").cache_hit is False
    shot = next(s for s in again.scorecard["shots"] if s["step_id"] == "vid1")
    assert shot["decision"] == "approved_by_review" and shot["in_movie"] is True


def test_rejecting_a_held_shot_renders_it_again_with_a_new_seed(
    scripted, movies, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    qa_config(tmp_path, monkeypatch, max_regenerations=0)
    scripted(lambda step, n: step == "vid1" and n == 1)  # only the first render is bad
    first = run_plan(plan(), profile="fixture")
    held = final(first, "vid1")
    request = get_store().review_requests(status="pending")[0]
    get_store().resolve_review_request(request["id"], "rejected")
    again = run_plan(plan(), profile="fixture")
    clip = final(again, "vid1")
    seed = held.metadata["regenerations"][-1]["seed"]
    assert clip.metadata["regenerations"][0]["seed"] == qa_loop.rejected_seed([held], seed)
    assert not clip.metadata.get("quarantined")
    assert record(again, "vid1").cache_hit is False  # rendered again (the key names the reject)
    assert movies[-1] == ["img1", "vid1"]
    # and a third run takes the re-render from the cache
    third = run_plan(plan(), profile="fixture")
    assert record(third, "vid1").cache_hit and final(third, "vid1").artifact_uri == (
        clip.artifact_uri
    )


# ------------------------------------------------------------- scorecard and manifest


def test_run_writes_the_scorecard_and_manifest_and_status_shows_it(
    scripted, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from sparkle_motion.cli import app

    scripted(lambda step, n: step == "vid1" and n == 1)
    real = videos_agent.lipsync

    def research_only(*args, **kwargs):  # what the Wav2Lip full backend records
        ref = real(*args, **kwargs)
        meta = {**ref.metadata, "licence": "research-only", "commercial_use": False}
        return ref.model_copy(update={"metadata": meta})

    monkeypatch.setattr(videos_agent, "lipsync", research_only)
    data = plan()
    data["steps"].append(
        {"id": "lip1", "type": "lipsync", "face_video": "step:vid1", "audio": "step:say1",
         "opts": {"scene": "s1"}}
    )  # fmt: skip
    plan_file = tmp_path / "plan.yaml"
    plan_file.write_text(yaml.safe_dump(data), encoding="utf-8")
    out = tmp_path / "film.mp4"
    runner = CliRunner()
    ran = runner.invoke(app, ["run", str(plan_file), "--profile", "fixture", "-o", str(out)])
    assert ran.exit_code == 0, ran.output
    lines = ran.output.strip().splitlines()
    assert lines[-1].startswith("warning: not for commercial use") and "lip1" in lines[-1]

    card = json.loads(out.with_suffix(".qa.json").read_text())
    shots = {s["step_id"]: s for s in card["shots"]}
    assert set(shots) == {"img1", "vid1", "lip1"}
    assert shots["vid1"]["attempts"] == 2 and shots["vid1"]["decision"] == "approved"
    assert [a["decision"] for a in shots["vid1"]["history"]] == ["regenerate", "approve"]
    assert shots["lip1"]["in_movie"] and shots["lip1"]["attempts"] == 1
    assert card["summary"]["re_rendered"] == 1

    made = json.loads(out.with_suffix(".manifest.json").read_text())
    steps = {s["step_id"]: s for s in made["steps"]}
    assert made["commercial_use"] is False and made["not_for_commercial_use"] == ["lip1"]
    assert steps["lip1"]["licence"] == "research-only"
    assert steps["vid1"]["provider"] == "videos_wan/fixture"
    assert steps["vid1"]["seed"] == shots["vid1"]["seeds"][-1]
    assert made["movie"]["sha256"] and steps["img1"]["commercial_use"] is True

    run_id = card["run_id"]
    shown = runner.invoke(app, ["status", run_id])
    assert shown.exit_code == 0, shown.output
    assert "QA scorecard (fixture)" in shown.output
    row = next(line for line in shown.output.splitlines() if "vid1" in line and "approved" in line)
    assert row.split()[3] == "2"  # shot, type, decision, attempts
    assert str(shots["vid1"]["seeds"][0]) in shown.output


def _lipsync_plan() -> MoviePlan:
    return MoviePlan.model_validate(
        {
            "title": "t",
            "steps": [
                {"id": "face", "type": "image", "prompt": "a smiling keeper"},
                {"id": "say", "type": "tts", "text": "Hello, whale."},
                {"id": "lip", "type": "lipsync", "face_video": "step:face", "audio": "step:say"},
            ],
        }
    )


def _ref(step_id: str, media: str, **meta) -> ArtifactRef:
    return ArtifactRef(
        artifact_uri=f"file:///x/{step_id}", media_type=media, sha256="0" * 64,
        step_id=step_id, metadata=meta,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("lip_profile", "lip_meta", "commercial"),
    [
        ("preview", {}, True),
        ("full", {}, False),  # the table: Wav2Lip's weights are research-only
        ("preview", {"licence": "research-only", "commercial_use": False}, False),
        ("full", {"licence": "MIT", "commercial_use": True}, True),  # a backend's own word
    ],
)
def test_the_manifest_verdict(lip_profile: str, lip_meta: dict, commercial: bool) -> None:
    p = _lipsync_plan()
    providers = {"images_sdxl": "preview", "tts_chatterbox": "preview",
                 "lipsync_wav2lip": lip_profile}  # fmt: skip
    outputs = {
        "face": [_ref("face", "image/png", seed=7, provider="images_sdxl/preview",
                      model_id="openmoji-storyboard")],
        "say": [_ref("say", "audio/wav", watermarked=False)],
        "lip": [_ref("lip", "video/mp4", model_id="wav2lip_gan.pth",
                     weights_sha256="ab" * 32, **lip_meta)],
    }  # fmt: skip
    movie = _ref("movie", "video/mp4", subtitle_cues=2)
    made = manifest.build(p, outputs, providers, movie, "r1")
    steps = {s["step_id"]: s for s in made["steps"]}
    assert made["commercial_use"] is commercial
    assert steps["face"]["licence"].startswith("CC BY-SA 4.0") and steps["face"]["seed"] == 7
    assert steps["lip"]["weights_revision"] == "ab" * 32
    assert steps["lip"]["model_id"] == "wav2lip_gan.pth"
    assert {a["id"]: a["licence"] for a in made["assets"]} == {
        "openmoji": "CC BY-SA 4.0", "espeak-ng": "GPL-3.0", "noto-cjk": "OFL-1.1",
    }  # fmt: skip


def test_next_seed_is_deterministic_and_new() -> None:
    seeds = [qa_loop.next_seed(42, n) for n in range(4)]
    assert seeds == [qa_loop.next_seed(42, n) for n in range(4)]
    assert len({*seeds, 42}) == 5


def test_preview_subjects_are_read_from_the_storyboards_metadata() -> None:
    drawn = {"width": 100, "height": 50, "subjects": [
        {"word": "fox", "role": "subject", "box": [10, 10, 40, 40]},
        {"word": "tree", "role": "prop", "box": [50, 10, 60, 40]},
    ]}  # fmt: skip
    assert qa_loop.subjects_from_metadata(drawn) == (True, ["fox"])
    outside = {**drawn, "subjects": [{"word": "fox", "role": "subject", "box": [120, 0, 160, 40]}]}
    assert qa_loop.subjects_from_metadata(outside) == (False, [])
    assert qa_loop.subjects_from_metadata({"width": 100}) == (None, None)  # nothing recorded


@pytest.mark.parametrize(("missing", "shown"), [(0.1, True), (0.8, False)])
def test_the_full_profile_asks_qwen_whether_the_subjects_are_missing(
    monkeypatch: pytest.MonkeyPatch, missing: float, shown: bool
) -> None:
    """Qwen2-VL's categories are faults (high = bad), so the question is asked that way."""
    asked: list[dict] = []

    def answer(frames, prompts, *, opts=None) -> QAReport:
        asked.append({"prompts": prompts, **(opts or {})})
        scores = {qa_loop.SUBJECTS_CATEGORY: missing}
        per_frame = [QAFrameResult(frame_index=0, scores=scores)]
        return QAReport(ok=True, per_frame=per_frame)

    monkeypatch.setattr(qa_entrypoint, "inspect_frames", answer)
    ok, confidence = qa_loop._subjects_asked([b"png"], "a whale under the moon", "full")
    assert ok is shown and confidence == pytest.approx(1 - missing)
    call = asked[0]
    assert call["categories"] == ["subjects_missing_confidence"] and call["provider"] == "full"
    assert "a whale under the moon" in call["prompts"][0] and call["models_root"]
