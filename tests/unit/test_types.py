"""Schema conformance: the spec's examples, normalisation, and the shapes' rules."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from sparkle_motion.errors import PlanParseError, PlanSchemaError
from sparkle_motion.types import (
    ArtifactRef,
    AssembleOpts,
    CallbackEvent,
    MoviePlan,
    QAReport,
    QAScores,
    StepExecutionRecord,
)
from sparkle_motion.validation import build_plan, dump_plan, validate_plan

SPEC_JSON = """{
    "id": "0f8fad5b-d9cb-469f-a165-70867728950e",
    "title": "Demo: Intro Clip",
    "created_at": "2025-11-27T12:00:00Z",
    "steps": [
      {"id":"s1","type":"image","title":"title_card","prompt":"A cinematic title card, sunrise","opts":{"width":1280,"height":720,"seed":42}},
      {"id":"s2","type":"tts","title":"narration","text":"Welcome to the demo.","voice":{"id":"emma"}},
      {"id":"s3","type":"video","title":"main_shot","prompt":"A calm ocean at dawn","start_frames":[],"end_frames":[],"opts":{"num_frames":32}}
    ],
    "assemble_opts": {"codec":"libx264","crf":18,"fps":30}
}"""

SPEC_YAML = """id: 0f8fad5b-d9cb-469f-a165-70867728950e
title: Demo: Intro Clip
created_at: 2025-11-27T12:00:00Z
steps:
  - id: s1
    type: image
    title: title_card
    prompt: "A cinematic title card, sunrise"
    opts:
      width: 1280
      height: 720
      seed: 42
  - id: s2
    type: tts
    title: narration
    text: "Welcome to the demo."
    voice:
      id: emma
  - id: s3
    type: video
    title: main_shot
    prompt: "A calm ocean at dawn"
    opts:
      num_frames: 32
assemble_opts:
  codec: libx264
  crf: 18
  fps: 30
"""


def _check_spec_plan(plan: MoviePlan) -> None:
    assert plan.id == "0f8fad5b-d9cb-469f-a165-70867728950e"
    assert plan.title == "Demo: Intro Clip"
    assert plan.created_at == datetime(2025, 11, 27, 12, 0, tzinfo=UTC)
    assert [s.type for s in plan.steps] == ["image", "tts", "video"]
    image, tts, video = plan.steps
    assert (image.opts.width, image.opts.height, image.opts.seed, image.count) == (1280, 720, 42, 1)
    assert tts.voice.id == "emma" and tts.text == "Welcome to the demo."
    assert video.opts.num_frames == 32 and video.start_frames == []
    assert plan.assemble_opts.codec == "libx264"
    assert (plan.assemble_opts.crf, plan.assemble_opts.fps) == (18, 30)
    assert plan.warnings == []


def test_spec_json_example_loads_unchanged() -> None:
    _check_spec_plan(validate_plan(SPEC_JSON).plan)


def test_spec_yaml_example_loads_once_title_is_quoted() -> None:
    with pytest.raises(PlanParseError, match=r"line 2.*must be quoted"):
        validate_plan(SPEC_YAML)
    quoted = SPEC_YAML.replace("title: Demo: Intro Clip", 'title: "Demo: Intro Clip"')
    plan = validate_plan(quoted).plan
    _check_spec_plan(plan)
    # YAML and JSON give the same plan
    assert plan.model_dump() == validate_plan(SPEC_JSON).plan.model_dump()


def test_created_at_accepts_string_and_datetime() -> None:
    base = json.loads(SPEC_JSON)
    as_string = build_plan(base)
    base["created_at"] = datetime(2025, 11, 27, 12, 0, tzinfo=UTC)
    assert build_plan(base).created_at == as_string.created_at
    base["created_at"] = datetime(2025, 11, 27, 12, 0)  # naive: taken as UTC
    assert build_plan(base).created_at == as_string.created_at


def test_count_is_canonical_and_num_images_must_agree() -> None:
    def plan_with(step: dict) -> MoviePlan:
        return build_plan({"title": "t", "steps": [{"type": "image", "prompt": "p", **step}]})

    assert plan_with({"opts": {"num_images": 3}}).steps[0].count == 3
    assert plan_with({"count": 2, "opts": {"num_images": 2}}).steps[0].count == 2
    assert plan_with({"count": 4}).steps[0].count == 4
    with pytest.raises(PlanSchemaError, match="disagrees with count") as err:
        plan_with({"count": 2, "opts": {"num_images": 3}})
    assert err.value.stage == "step"


def test_every_step_type_accepts_opts_scene(tmp_path) -> None:
    (tmp_path / "face.mp4").write_bytes(b"x")
    steps = [
        {"id": "a", "type": "image", "prompt": "p", "opts": {"scene": "one"}},
        {"id": "b", "type": "tts", "text": "t", "opts": {"scene": "one"}},
        {"id": "c", "type": "video", "start_frames": ["step:a"], "opts": {"scene": "one"}},
        {"id": "d", "type": "lipsync", "face_video": "face.mp4", "audio": "step:b",
         "opts": {"scene": "one"}},
        {"id": "e", "type": "custom", "handler": "noop", "opts": {"scene": "one", "k": 1}},
    ]  # fmt: skip
    plan = build_plan({"title": "t", "steps": steps})
    assert [s.scene for s in plan.steps] == ["one"] * 5


def test_missing_ids_and_created_at_are_normalised_with_warnings() -> None:
    data = {
        "title": "Hand written",
        "steps": [
            {"type": "image", "prompt": "a fox"},
            {"type": "tts", "text": "Hello."},
            {"type": "video", "start_frames": ["step:s1"]},
        ],
    }
    plan = build_plan(data)
    assert [s.id for s in plan.steps] == ["s1", "s2", "s3"]
    assert plan.created_at is not None and plan.created_at.tzinfo is not None
    assert plan.assemble_opts == AssembleOpts()
    text = " ".join(plan.warnings)
    assert (
        "no id" in text
        and "created_at" in text
        and "assemble_opts" in text
        and "id missing" in text
    )
    # the same plan always gets the same id; another plan gets another
    assert build_plan(data).id == plan.id
    other = json.loads(json.dumps(data))
    other["steps"][0]["prompt"] = "a wolf"
    assert build_plan(other).id != plan.id
    # the id does not depend on created_at
    data_with_time = {**data, "created_at": "2020-01-01T00:00:00Z"}
    assert build_plan(data_with_time).id == plan.id


def test_position_ids_never_collide_with_given_ids() -> None:
    plan = build_plan(
        {
            "title": "t",
            "steps": [{"id": "s2", "type": "tts", "text": "a"}, {"type": "tts", "text": "b"}],
        }
    )
    ids = [s.id for s in plan.steps]
    assert ids[0] == "s2" and ids[1] != "s2" and len(set(ids)) == 2


def test_voice_may_be_a_plain_name() -> None:
    plan = build_plan({"title": "t", "steps": [{"type": "tts", "text": "a", "voice": "emma"}]})
    assert plan.steps[0].voice.id == "emma"


def test_assemble_opts_sizes_and_allowed_values() -> None:
    assert AssembleOpts().size() == (1280, 720)
    assert AssembleOpts(aspect="9:16").size() == (720, 1280)
    assert AssembleOpts(aspect="1:1").size() == (720, 720)
    assert AssembleOpts(width=1920, height=1080, aspect="16:9").size() == (1920, 1080)
    for bad in (
        {"width": 1920},
        {"width": 1920, "height": 1080, "aspect": "9:16"},
        {"codec": "h264_nvenc"},
        {"preset": "placebo"},
        {"crf": 60},
        {"width": 1281, "height": 720},
    ):
        with pytest.raises(ValidationError):
            AssembleOpts(**bad)


def test_telemetry_shapes_carry_the_spec_fields() -> None:
    record_fields = set(StepExecutionRecord.model_fields)
    spec = {
        "plan_id", "step_id", "step_type", "status", "start_time", "end_time", "duration_s",
        "model_id", "device", "memory_hint_mb", "attempts", "logs_uri", "artifact_uri",
        "error_type", "meta", "started_at", "last_progress_at", "progress_percent",
        "current_chunk", "completed_chunks",
    }  # fmt: skip
    assert spec <= record_fields
    with pytest.raises(ValidationError):
        StepExecutionRecord(plan_id="p", step_id="s", step_type="image", status="done")
    event_fields = set(CallbackEvent.model_fields)
    assert {"plan_id", "step_id", "chunk_index", "frame_index", "num_frames", "progress",
            "eta_s", "device", "phase"} <= event_fields  # fmt: skip
    with pytest.raises(ValidationError):
        CallbackEvent(progress=1.5)


def test_qa_report_reconciles_both_spec_shapes() -> None:
    stub = QAReport.model_validate({"ok": True, "reason": None, "report": {}})
    assert stub.decision == "approve"
    full = QAReport(
        ok=False,
        reason="nsfw",
        decision="reject",
        scores=QAScores(nsfw_confidence=0.9, violence_confidence=0.2),
        per_frame=[{"frame_index": 0, "scores": {"nsfw_confidence": 0.9}, "flags": ["nsfw"]}],
        global_flags=["nsfw"],
    )
    assert full.scores.max_confidence() == pytest.approx(0.9)
    assert full.per_frame[0].scores.nsfw_confidence == pytest.approx(0.9)
    with pytest.raises(ValidationError):
        QAScores(nsfw_confidence=1.2)


def test_artifact_ref_path(tmp_path) -> None:
    p = tmp_path / "a b.png"
    ref = ArtifactRef(artifact_uri=p.as_uri(), media_type="image/png")
    assert ref.path == p


def test_dump_round_trips_and_puts_id_type_title_first() -> None:
    plan = validate_plan(SPEC_JSON).plan
    for fmt in ("yaml", "json"):
        text = dump_plan(plan, fmt)
        again = validate_plan(text).plan
        assert again.model_dump() == plan.model_dump()
    first_step = dump_plan(plan, "yaml").split("steps:\n", 1)[1].splitlines()[:3]
    assert [line.strip(" -").split(":")[0] for line in first_step] == ["id", "type", "title"]
