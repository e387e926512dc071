"""The scene rule (sparkle_motion.scenes), and validation and the timeline agreeing on it."""

from __future__ import annotations

import pytest

from sparkle_motion.function_tools.assemble_ffmpeg.timeline import Timeline, build_timeline
from sparkle_motion.scenes import (
    Item,
    Output,
    carried_narrations,
    consumed_steps,
    consumes,
    expected_outputs,
    group_scenes,
    lipsync_audio_step,
    plan_scenes,
    shown_items,
    untitled_narrations,
)
from sparkle_motion.types import AssembleOpts, MoviePlan, NarrationInput, VisualInput
from sparkle_motion.validation import validate_plan


def plan_of(*steps: dict) -> MoviePlan:
    return MoviePlan.model_validate({"title": "t", "steps": list(steps)})


def image(sid: str, scene: str | None = None) -> dict:
    return {"id": sid, "type": "image", "prompt": sid, "opts": {"scene": scene} if scene else {}}


def tts(sid: str, scene: str | None = None, voice_ref: str | None = None) -> dict:
    opts: dict = {"scene": scene} if scene else {}
    if voice_ref:
        opts["audio_prompt_path"] = voice_ref
    return {"id": sid, "type": "tts", "text": f"Line {sid}.", "opts": opts}


def video(sid: str, start: list[str] | None = None, end: list[str] | None = None) -> dict:
    return {"id": sid, "type": "video", "start_frames": start or [], "end_frames": end or []}


def lipsync(sid: str, face: str, audio: str) -> dict:
    return {"id": sid, "type": "lipsync", "face_video": face, "audio": audio}


def custom(sid: str, **inputs: str) -> dict:
    return {"id": sid, "type": "custom", "handler": "noop", "opts": dict(inputs)}


def scene_ids(plan: MoviePlan) -> list[list[str]]:
    return [[it.step_id for it in items] for _, items in plan_scenes(plan)]


# ----------------------------------------------------------------- references


def test_lipsync_audio_step_names_the_narration_it_speaks() -> None:
    plan = plan_of(
        image("face"),
        tts("n2"),
        lipsync("l3", "step:face", "step:n2"),
        lipsync("l4", "step:face", "voice.wav"),
    )
    assert lipsync_audio_step(plan.step("l3")) == "n2"
    assert lipsync_audio_step(plan.step("l4")) is None  # a file, not a step
    assert lipsync_audio_step(plan.step("n2")) is None
    assert lipsync_audio_step(plan.step("face")) is None


def test_which_references_consume() -> None:
    plan = plan_of(
        image("k1"),
        video("v2", ["step:k1"], ["step:k1"]),
        tts("n3"),
        tts("n4", voice_ref="step:n3"),
        lipsync("l5", "step:v2", "step:n4"),
        custom("c6", source="step:n4"),
    )
    assert consumes(plan.step("v2"), "start_frames[0]")
    assert consumes(plan.step("v2"), "end_frames[0]")
    assert consumes(plan.step("l5"), "face_video")
    assert consumes(plan.step("n4"), "opts.audio_prompt_path")
    assert not consumes(plan.step("l5"), "audio")  # the narration still plays
    assert consumes(plan.step("c6"), "opts.source")  # whatever a custom step uses
    # the lipsync's audio alone leaves n4 shown; the custom step uses it up
    assert consumed_steps(plan) == {"k1", "n3", "v2", "n4"}
    assert consumed_steps(plan, produced={"v2", "n4", "l5"}) == {"k1", "n3", "v2"}


def test_only_a_step_that_produced_something_consumes() -> None:
    plan = plan_of(image("k1"), video("v2", ["step:k1"]), tts("n3"))
    assert consumed_steps(plan, produced={"k1", "n3"}) == set()
    items, hidden = shown_items(plan, [Output("k1", "visual"), Output("n3", "narration")])
    assert [it.step_id for it in items] == ["k1", "n3"] and hidden == []
    items, hidden = shown_items(
        plan, [Output("k1", "visual"), Output("v2", "visual"), Output("n3", "narration")]
    )
    assert [it.step_id for it in items] == ["v2", "n3"] and hidden == ["k1"]


def test_expected_outputs_before_anything_runs() -> None:
    plan = plan_of(image("i1"), tts("n2"), lipsync("l3", "step:i1", "step:n2"), custom("c4"))
    assert expected_outputs(plan) == [
        Output("i1", "visual"),
        Output("n2", "narration"),
        Output("l3", "visual", speaks="n2"),
        Output("c4", "other"),  # unknown until it runs: consumes, never shown
    ]


def test_shown_items_keep_plan_order_and_point_at_their_outputs() -> None:
    plan = plan_of(image("i1", "a"), tts("n2", "a"))
    outputs = [Output("n2", "narration"), Output("i1", "visual"), Output("i1", "visual")]
    items, _ = shown_items(plan, outputs)
    assert [(it.output, it.position, it.step_id, it.kind, it.scene) for it in items] == [
        (1, 0, "i1", "visual", "a"),
        (2, 0, "i1", "visual", "a"),
        (0, 1, "n2", "narration", "a"),
    ]


# --------------------------------------------------------------------- grouping


def test_a_narration_joins_the_visuals_before_it_and_the_rest_close_the_movie() -> None:
    plan = plan_of(image("i1"), video("v2"), tts("n3"), image("i4"), tts("n5"), video("v6"))
    assert scene_ids(plan) == [["i1", "v2", "n3"], ["i4", "n5"], ["v6"]]
    assert untitled_narrations(plan_scenes(plan)) == []


def test_a_narration_with_no_visual_before_it_gets_a_title_card() -> None:
    plan = plan_of(tts("n1"), image("i2"), tts("n3"), tts("n4"))
    assert scene_ids(plan) == [["n1"], ["i2", "n3"], ["n4"]]
    assert untitled_narrations(plan_scenes(plan)) == ["n1", "n4"]


def test_a_lipsync_goes_with_the_narration_it_speaks() -> None:
    plan = plan_of(image("face"), tts("n2"), lipsync("l3", "step:face", "step:n2"), tts("n4"))
    items, hidden = shown_items(plan, expected_outputs(plan))
    assert hidden == ["face"]
    assert carried_narrations(items) == {1: "n2"}  # items: n2, l3, n4
    # the lipsync is the picture of n2's scene, so n4 has none of its own
    assert scene_ids(plan) == [["n2", "l3"], ["n4"]]
    assert untitled_narrations(plan_scenes(plan)) == ["n4"]


def test_a_lipsync_whose_narration_is_not_shown_is_an_ordinary_visual() -> None:
    plan = plan_of(
        tts("n1"),
        tts("n2", voice_ref="step:n1"),  # n1 is a voice reference: not shown
        image("face"),
        lipsync("l4", "step:face", "step:n1"),
        tts("n5"),
    )
    items, _ = shown_items(plan, expected_outputs(plan))
    assert carried_narrations(items) == {}
    assert scene_ids(plan) == [["n2"], ["l4", "n5"]]


def test_explicit_scenes_group_by_name_in_order_of_first_appearance() -> None:
    plan = plan_of(
        image("i0"),  # before any name: joins the first named scene
        image("a", "intro"),
        tts("b", "intro"),
        image("c", "main"),
        tts("d"),  # no name: joins the scene of the step before it
        image("e", "intro"),
    )
    assert [name for name, _ in plan_scenes(plan)] == ["intro", "main"]
    assert scene_ids(plan) == [["i0", "a", "b", "e"], ["c", "d"]]


def test_explicit_scenes_do_not_move_a_lipsync() -> None:
    talk = {**lipsync("l3", "step:face", "step:n1"), "opts": {"scene": "two"}}
    plan = plan_of(tts("n1", "one"), image("face", "two"), talk)
    assert scene_ids(plan) == [["n1"], ["l3"]]


def test_group_scenes_of_nothing_is_no_scene() -> None:
    assert group_scenes([]) == []
    only = [Item(0, 0, "i1", None, "visual")]
    assert group_scenes(only) == [(None, [0])]


# ------------------------------------------------- validation and the timeline agree

OPTS = AssembleOpts(fps=24, scene_pad_s=0.6, transition_duration_s=0.5)


def _timeline_of(plan: MoviePlan) -> Timeline:
    """The timeline when every step produced its usual output."""
    clips: list[VisualInput] = []
    lines: list[NarrationInput] = []
    for step in plan.steps:
        if step.type == "tts":
            lines.append(
                NarrationInput(step_id=step.id, uri="file:///n.wav", text=step.text, duration_s=1.5)
            )
        elif step.type == "image":
            clips.append(
                VisualInput(
                    step_id=step.id, step_type="image", uri="file:///i.png", media_type="image/png"
                )
            )
        else:
            clips.append(
                VisualInput(
                    step_id=step.id,
                    step_type=step.type,
                    uri="file:///c.mp4",
                    media_type="video/mp4",
                    duration_s=1.0,
                    fps=24,
                )
            )
    return build_timeline(plan, clips, lines, OPTS)


AGREEMENT_PLANS = {
    # the disagreement: the lipsync carries n2, so n4 has no picture and gets a title card;
    # validation used to count n2 as used up and the lipsync as n4's picture, and kept quiet
    "lipsync_speaks_the_narration_before": [
        image("face"),
        tts("n2"),
        lipsync("l3", "step:face", "step:n2"),
        tts("n4"),
    ],
    "lipsync_speaks_the_narration_after": [
        image("face"),
        tts("n2"),
        tts("n3"),
        lipsync("l4", "step:face", "step:n3"),
    ],
    "narration_first": [tts("n1"), image("i2")],
    "keyframes_and_closing_scene": [
        image("k1"),
        video("v2", ["step:k1"]),
        tts("n3"),
        image("i4"),
    ],
}


@pytest.mark.parametrize("name", list(AGREEMENT_PLANS))
def test_validation_warns_exactly_where_the_timeline_makes_a_title_card(name: str) -> None:
    steps = AGREEMENT_PLANS[name]
    result = validate_plan({"title": "t", "steps": steps})
    warned = [w.split("'")[1] for w in result.warnings if "title card" in w]
    timeline = _timeline_of(result.plan)
    carded = [v.step_id for s in timeline.scenes for v in s.visuals if v.kind == "card"]
    assert warned == carded
    # and the scenes validation reasons about are the timeline's
    assert scene_ids(result.plan) == [list(s.step_ids) for s in timeline.scenes]


def test_the_lipsync_plan_warns_about_the_narration_left_without_a_picture() -> None:
    steps = AGREEMENT_PLANS["lipsync_speaks_the_narration_before"]
    warnings = validate_plan({"title": "t", "steps": steps}).warnings
    (warning,) = [w for w in warnings if "title card" in w]
    assert warning.startswith("narration 'n4' has no picture before it")
