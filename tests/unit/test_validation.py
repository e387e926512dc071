"""Each validation stage's error, step references, paths, caps and estimates."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from sparkle_motion.errors import (
    PlanParseError,
    PlanPolicyViolation,
    PlanResourceError,
    PlanSchemaError,
)
from sparkle_motion.handlers import register_handler, unregister_handler
from sparkle_motion.validation import (
    estimate_step,
    load_plan_file,
    parse_plan_text,
    validate_plan,
)


def plan(*steps: dict, **extra: object) -> dict:
    return {"title": "Test", "steps": list(steps), **extra}


IMG = {"id": "img", "type": "image", "prompt": "a fox in a forest"}
TTS = {"id": "say", "type": "tts", "text": "The fox wakes up."}


# ---------------------------------------------------------------- stage 1: parse


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ('{"title": "x", "steps": [', "not valid JSON: line 1"),
        ("title: [unclosed", "not valid YAML: line 1"),
        ("   \n", "is empty"),
        (b"\xff\xfe\xfa", "not UTF-8"),
    ],
)
def test_parse_errors(text: str | bytes, match: str) -> None:
    with pytest.raises(PlanParseError, match=match):
        validate_plan(text)


def test_plan_size_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPARKLE_MAX_PLAN_BYTES", "2048")
    with pytest.raises(PlanParseError, match="limit is 2,048"):
        validate_plan(json.dumps(plan({**TTS, "text": "word " * 1000})))


def _bomb(levels: int, width: int) -> str:
    lines = ['l0: &l0 ["lol", "lol"]']
    for i in range(1, levels):
        refs = ", ".join([f"*l{i - 1}"] * width)
        lines.append(f"l{i}: &l{i} [{refs}]")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(("levels", "width"), [(10, 9), (7, 9)])
def test_yaml_alias_bomb_is_refused_before_expanding(levels: int, width: int) -> None:
    # (10, 9): 81 aliases, over the alias cap; (7, 9): 54 aliases (under the cap) that would
    # still expand to ~500k nodes.
    started = time.perf_counter()
    with pytest.raises(PlanParseError, match=r"alias|expand"):
        parse_plan_text(_bomb(levels, width))
    assert time.perf_counter() - started < 2.0


def test_deep_nesting_is_a_parse_error() -> None:
    with pytest.raises(PlanParseError, match=r"nested too deeply|YAML"):
        parse_plan_text("a: " + "[" * 5000 + "]" * 5000)
    with pytest.raises(PlanParseError, match="nested too deeply"):
        parse_plan_text('{"a": ' + "[" * 100000 + "]" * 100000 + "}")


def test_a_few_aliases_are_fine() -> None:
    text = "title: t\nsteps:\n  - &p {type: tts, text: hi}\n  - {type: tts, text: there}\n"
    assert validate_plan(text).plan.steps[0].text == "hi"


# ---------------------------------------------------------- stages 2 and 3: schema


@pytest.mark.parametrize(
    ("data", "field", "stage"),
    [
        ({"title": "t"}, "steps", "schema"),
        ({"steps": [TTS]}, "title", "schema"),
        (plan({"type": "tts"}), "steps[0].text", "schema"),
        (plan({**IMG, "count": "many"}), "steps[0].count", "schema"),
        (plan({**IMG, "colour": "red"}), "steps[0].colour", "schema"),
        (plan({**IMG, "type": "movie"}), "steps[0]", "step"),
        (plan({**IMG, "opts": {"width": -5}}), "steps[0].opts.width", "step"),
        (plan({**IMG, "opts": {"width": 1001}}), "steps[0].opts.width", "step"),
        (plan({**IMG, "count": 0}), "steps[0].count", "step"),
        (plan({**IMG, "opts": {"cfg_scale": float("nan")}}), "steps[0].opts.cfg_scale", "step"),
        (plan({**IMG, "opts": {"sampler": "magic"}}), "steps[0].opts.sampler", "step"),
        (plan({"type": "video", "opts": {"num_frames": -1}}), "steps[0].opts.num_frames", "step"),
        (
            plan({"type": "video", "opts": {"chunk_length_frames": 4, "chunk_overlap_frames": 4}}),
            "steps[0].opts",
            "step",
        ),
        (plan(TTS, assemble_opts={"fps": 0}), "assemble_opts.fps", "step"),
        (plan(TTS, assemble_opts={"codec": "h264_nvenc"}), "assemble_opts.codec", "step"),
    ],
)
def test_schema_and_step_errors_name_the_field(data: dict, field: str, stage: str) -> None:
    with pytest.raises(PlanSchemaError) as err:
        validate_plan(data)
    assert err.value.field == field
    assert err.value.stage == stage
    assert "\n" not in str(err.value)


def test_negative_width_message_names_the_bound() -> None:
    with pytest.raises(PlanSchemaError, match=r">= 64 \(got -5\)"):
        validate_plan(plan({**IMG, "opts": {"width": -5}}))


def test_a_plan_must_be_a_mapping() -> None:
    with pytest.raises(PlanSchemaError, match="mapping"):
        validate_plan("- just\n- a list\n")


# ------------------------------------------------------------------ step references


def test_step_references_build_the_graph() -> None:
    result = validate_plan(
        plan(
            {"id": "clip", "type": "video", "start_frames": ["step:img"]},
            IMG,
            TTS,
            {"id": "lip", "type": "lipsync", "face_video": "step:clip", "audio": "step:say"},
        )
    )
    assert result.plan.dependencies()["lip"] == ["clip", "say"]
    order = result.plan.topological_order()
    assert order.index("img") < order.index("clip") < order.index("lip")
    assert order.index("say") < order.index("lip")


@pytest.mark.parametrize(
    ("steps", "match"),
    [
        ([{"id": "v", "type": "video", "start_frames": ["step:nope"]}], "names no step"),
        ([{"id": "v", "type": "video", "start_frames": ["step:v"]}], "its own output"),
        ([IMG, {**IMG}], "is used by steps"),
        ([TTS, {"id": "v", "type": "video", "start_frames": ["step:say"]}], "tts step"),
        (
            [
                {"id": "a", "type": "video", "start_frames": ["step:b"]},
                {"id": "b", "type": "video", "end_frames": ["step:c"]},
                {"id": "c", "type": "video", "start_frames": ["step:a"]},
            ],
            r"cycle: a -> b -> c -> a",
        ),
        ([{"id": "v", "type": "video", "start_frames": ["step:bad id"]}], "does not name"),
    ],
)
def test_reference_errors(steps: list[dict], match: str) -> None:
    with pytest.raises(PlanSchemaError, match=match) as err:
        validate_plan(plan(*steps))
    assert err.value.stage == "step"


# -------------------------------------------------------------------------- paths


@pytest.mark.parametrize(
    ("value", "match"),
    [
        ("/etc/passwd", "absolute"),
        ("../secret.mp4", r"\.\."),
        ("clips/../../secret.mp4", r"\.\."),
        ("-vf=evil", "starts with '-'"),
        ("https://example.com/a.mp4", "URL"),
        ("~/face.mp4", "absolute"),
        ("missing.mp4", "does not exist"),
    ],
)
def test_unsafe_or_missing_paths_are_refused(tmp_path: Path, value: str, match: str) -> None:
    step = {"id": "l", "type": "lipsync", "face_video": value, "audio": "step:say"}
    with pytest.raises(PlanSchemaError, match=match) as err:
        validate_plan(plan(TTS, step), base_dir=tmp_path)
    assert err.value.field == "steps[1].face_video"


def test_symlink_escaping_the_plan_folder_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "outside.mp4"
    outside.write_bytes(b"x")
    folder = tmp_path / "project"
    folder.mkdir()
    os.symlink(outside, folder / "face.mp4")
    step = {"id": "l", "type": "lipsync", "face_video": "face.mp4", "audio": "step:say"}
    with pytest.raises(PlanSchemaError, match="outside the plan's folder"):
        validate_plan(plan(TTS, step), base_dir=folder)


def test_relative_paths_resolve_against_the_plan_file(tmp_path: Path) -> None:
    (tmp_path / "media").mkdir()
    (tmp_path / "media" / "face.mp4").write_bytes(b"x")
    step = {"id": "l", "type": "lipsync", "face_video": "media/face.mp4", "audio": "step:say"}
    plan_file = tmp_path / "plan.json"
    plan_file.write_text(json.dumps(plan(TTS, step)))
    result = load_plan_file(plan_file)
    assert result.base_dir == tmp_path
    elsewhere = tmp_path / "other"
    elsewhere.mkdir()
    with pytest.raises(PlanSchemaError, match="does not exist"):
        validate_plan(plan(TTS, step), base_dir=elsewhere)


def test_model_weights_by_hub_id_or_under_the_models_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    models = tmp_path / "models"
    (models / "tiny-sdxl").mkdir(parents=True)
    monkeypatch.setenv("SPARKLE_MODELS_DIR", str(models))

    def with_model(model_id: str) -> dict:
        return plan({**IMG, "opts": {"model_id": model_id}})

    validate_plan(with_model("stabilityai/stable-diffusion-xl-base-1.0"))
    validate_plan(with_model("tiny-sdxl"))
    validate_plan(with_model(str(models / "tiny-sdxl")))
    for bad, match in (
        (str(tmp_path), "outside the models root"),
        ("not a model id", "neither a Hugging Face id"),
        ("../elsewhere", r"\.\."),
    ):
        with pytest.raises(PlanSchemaError, match=match) as err:
            validate_plan(with_model(bad))
        assert err.value.field == "steps[0].opts.model_id"


def test_custom_steps_only_name_registered_handlers(monkeypatch: pytest.MonkeyPatch) -> None:
    custom = {"id": "c", "type": "custom", "handler": "title_card", "opts": {"text": "Hi"}}
    with pytest.raises(PlanSchemaError, match="no custom handler named 'title_card'"):
        validate_plan(plan(custom))
    register_handler("title_card", lambda **kw: None)
    try:
        validate_plan(plan(custom))
    finally:
        unregister_handler("title_card")

    class FakeEntryPoint:
        name = "from_a_package"

    import sparkle_motion.handlers as handlers

    monkeypatch.setattr(handlers, "entry_points", lambda group: [FakeEntryPoint()])
    validate_plan(plan({**custom, "handler": "from_a_package"}))


# --------------------------------------------------------------- stages 4 and 5


def test_policy_stage_checks_every_text_field() -> None:
    with pytest.raises(PlanPolicyViolation) as err:
        validate_plan(plan(IMG, {**TTS, "text": "Then the gore began."}))
    assert err.value.field == "steps[1].text"
    # a negative prompt names what to avoid: not a violation
    validate_plan(plan({**IMG, "opts": {"negative_prompt": "nsfw, gore, blurry"}}))


def test_frame_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    video = {"type": "video", "opts": {"num_frames": 6000}}
    validate_plan(plan(video))
    with pytest.raises(PlanResourceError, match=r"12,000 video frames.*10,000") as err:
        validate_plan(plan(video, {**video}))
    assert err.value.details["total_frames"] == 12000
    monkeypatch.setenv("SPARKLE_MAX_TOTAL_FRAMES", "20000")
    validate_plan(plan(video, {**video}))


def test_step_count_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPARKLE_MAX_STEPS", "3")
    validate_plan(plan(*[{"type": "tts", "text": f"line {i}"} for i in range(3)]))
    with pytest.raises(PlanResourceError, match="4 steps; the cap is 3"):
        validate_plan(plan(*[{"type": "tts", "text": f"line {i}"} for i in range(4)]))


def test_estimates_per_step_and_profile() -> None:
    result = validate_plan(plan(IMG, TTS, {"type": "video", "start_frames": ["step:img"]}))
    assert [e.step_id for e in result.estimates] == ["img", "say", "s3"]
    small = validate_plan(plan({**IMG, "opts": {"width": 512, "height": 512}})).plan.steps[0]
    big = validate_plan(plan({**IMG, "opts": {"width": 2048, "height": 2048}})).plan.steps[0]
    assert (
        estimate_step(big, "full").estimated_runtime_s
        > estimate_step(small, "full").estimated_runtime_s
    )
    assert estimate_step(big, "full").estimated_gpu_memory_mb > 0
    assert estimate_step(big, "preview").estimated_gpu_memory_mb == 0


def test_narration_before_its_picture_is_warned() -> None:
    result = validate_plan(plan(TTS, IMG))
    assert any("title card" in w for w in result.warnings)
    assert not any("title card" in w for w in validate_plan(plan(IMG, TTS)).warnings)


@pytest.mark.parametrize("bad", ["title: a\x00b\nsteps: []\n", "title: T\nsteps:\n  - \x07\n"])
def test_a_character_yaml_refuses_is_a_parse_error(bad: str) -> None:
    with pytest.raises(PlanParseError, match=r"line \d+, column \d+: character #x"):
        parse_plan_text(bad)
    with pytest.raises(PlanParseError, match="not valid YAML"):
        parse_plan_text(bad.encode())


def test_titles_and_narration_lose_terminal_escapes() -> None:
    hostile = "\x1b]0;PWNED\x07\x1b[2J Title"
    data = plan(
        {
            "id": "say",
            "type": "tts",
            "title": hostile,
            "text": "Line one\n\tline\x1b[31m two\x9b2J",
        },
        {"id": "pic", "type": "image", "prompt": "a calm sea", "opts": {"scene": "s\x1b[2Jea"}},
        title=hostile,
        description="About\x1b]0;x\x07 this\nmovie",
    )
    result = validate_plan(json.dumps(data), base_dir=Path("."))
    movie = result.plan
    assert movie.title == "Title"
    say, pic = movie.steps
    assert say.title == "Title" and say.text == "Line one\n\tline two"
    assert pic.scene == "sea" and movie.description == "About this\nmovie"
    with pytest.raises(PlanSchemaError, match="title"):
        validate_plan(
            json.dumps(plan({"type": "tts", "text": "hi"}, title="\x1b[2J")), base_dir=Path(".")
        )
