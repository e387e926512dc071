"""The scene rule and the timeline (pure: no ffmpeg, no files)."""

from __future__ import annotations

import math

import pytest

from sparkle_motion.function_tools.assemble_ffmpeg import AssemblyError
from sparkle_motion.function_tools.assemble_ffmpeg.subtitles import build_cues
from sparkle_motion.function_tools.assemble_ffmpeg.timeline import (
    LINE_GAP_S,
    MAX_SLOW,
    MOTIONS,
    STILL_S,
    Timeline,
    build_timeline,
    distribute,
    shares,
    split_sentences,
    spread_sentences,
)
from sparkle_motion.types import (
    AssembleOpts,
    MoviePlan,
    NarrationInput,
    SentenceTiming,
    VisualInput,
)

# the spec's example plan (tests/unit/test_types.py), verbatim
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

OPTS = AssembleOpts(fps=24, scene_pad_s=0.6, transition_duration_s=0.5)


def plan_of(*steps: dict) -> MoviePlan:
    return MoviePlan.model_validate({"title": "t", "steps": list(steps)})


def image(sid: str, scene: str | None = None) -> dict:
    return {"id": sid, "type": "image", "prompt": sid, "opts": {"scene": scene} if scene else {}}


def tts(sid: str, scene: str | None = None, text: str = "Hello there.") -> dict:
    return {"id": sid, "type": "tts", "text": text, "opts": {"scene": scene} if scene else {}}


def video(sid: str, start: list[str] | None = None, end: list[str] | None = None) -> dict:
    return {"id": sid, "type": "video", "start_frames": start or [], "end_frames": end or []}


def lipsync(sid: str, face: str, audio: str) -> dict:
    return {"id": sid, "type": "lipsync", "face_video": face, "audio": audio}


def still_in(sid: str) -> VisualInput:
    return VisualInput(
        step_id=sid, step_type="image", uri=f"file:///ws/{sid}.png", media_type="image/png"
    )


def clip_in(sid: str, seconds: float, kind: str = "video", audio: str | None = None) -> VisualInput:
    return VisualInput(
        step_id=sid,
        step_type=kind,  # type: ignore[arg-type]
        uri=f"file:///ws/{sid}.mp4",
        media_type="video/mp4",
        duration_s=seconds,
        fps=24,
        audio_step_id=audio,
    )


def line_in(sid: str, seconds: float, text: str = "Hello there.") -> NarrationInput:
    return NarrationInput(step_id=sid, uri=f"file:///ws/{sid}.wav", text=text, duration_s=seconds)


def check_invariants(tl: Timeline) -> None:
    """What must hold for every timeline."""
    at = 0
    for i, scene in enumerate(tl.scenes):
        assert scene.index == i and scene.start == at and scene.frames >= 1
        at += scene.frames
        # visuals cover the scene plus its transition halves, back to back, in whole frames
        edge = -scene.cut_in
        for v in scene.visuals:
            assert v.start == edge and v.frames >= 1
            edge = v.end
            if v.kind == "clip":
                assert 1.0 <= v.speed <= MAX_SLOW
                assert v.play >= 1 and v.preroll >= 0 and v.hold >= 0
                assert v.skip + v.play <= max(v.natural, round(v.natural * v.speed))
            else:
                assert v.motion in MOTIONS
        assert edge == scene.frames + scene.cut_out
        if scene.lines:
            speech = math.ceil(
                (sum(ln.duration_s for ln in scene.lines) + LINE_GAP_S * (len(scene.lines) - 1))
                * tl.fps
                - 1e-6
            )
            assert scene.lead + speech + scene.tail == scene.frames
    assert at == tl.total_frames
    # segments tile the movie exactly
    pos = 0
    for seg in tl.segments():
        assert seg.start == pos and seg.frames >= 1
        pos += seg.frames
    assert pos == tl.total_frames
    # transitions sit inside the pads: never over speech
    speech_spans = [(at, at + line.duration_s) for line, at in tl.placements()]
    for t in tl.transitions:
        left, right = tl.scenes[t.index], tl.scenes[t.index + 1]
        assert t.boundary == right.start
        assert 1 <= t.half <= min(left.tail_room, right.lead_room)
        assert left.cut_out == right.cut_in == t.half
        lo, hi = t.start / tl.fps, (t.start + t.frames) / tl.fps
        for a, b in speech_spans:
            assert hi <= a + 1e-9 or lo >= b - 1e-9, "a transition covers speech"


# ------------------------------------------------------------------------ the scene rule


def test_spec_example_plan_makes_a_sensible_movie() -> None:
    plan = MoviePlan.model_validate_json(SPEC_JSON)
    opts = plan.assemble_opts
    assert opts is not None
    clips = [still_in("s1"), clip_in("s3", 32 / 30)]
    tl = build_timeline(plan, clips, [line_in("s2", 1.5, "Welcome to the demo.")], opts)
    check_invariants(tl)
    intro, closing = tl.scenes
    # the title card image goes with the narration after it; the video closes the movie
    assert intro.step_ids == ("s1", "s2") and closing.step_ids == ("s3",)
    assert intro.frames == round((1.5 + 0.6) * 30) == 63 and (intro.lead, intro.tail) == (9, 9)
    assert [v.kind for v in intro.visuals] == ["still"]
    # a closing clip keeps its length and plays at its own speed
    (ocean,) = closing.visuals
    assert closing.frames == 32 and ocean.kind == "clip"
    assert (ocean.speed, ocean.play, ocean.skip) == (1.0, 32, 0)
    # a 0.5 s fade at 30 fps: 16 frames, half in each scene's pad
    (fade,) = tl.transitions
    assert (fade.kind, fade.frames, fade.boundary) == ("fade", 16, 63)
    assert ocean.preroll == 8  # the clip's first frame moves under the incoming fade
    assert tl.total_frames == 95 and tl.duration_s == pytest.approx(95 / 30)


def test_narration_before_its_picture_gets_a_title_card() -> None:
    plan = plan_of(tts("n1", text="Once upon a time."), image("i2"), tts("n3"))
    tl = build_timeline(
        plan, [still_in("i2")], [line_in("n1", 2.0, "Once upon a time."), line_in("n3", 1.0)], OPTS
    )
    check_invariants(tl)
    card_scene, scene = tl.scenes
    assert card_scene.step_ids == ("n1",)
    (card,) = card_scene.visuals
    assert card.kind == "card" and card.text == "Once upon a time." and card.motion in MOTIONS
    assert scene.step_ids == ("i2", "n3") and scene.visuals[0].kind == "still"


def test_two_narrations_in_a_row_the_second_gets_a_card() -> None:
    plan = plan_of(image("i1"), tts("n2"), tts("n3", text="And then."))
    tl = build_timeline(
        plan, [still_in("i1")], [line_in("n2", 1), line_in("n3", 1, "And then.")], OPTS
    )
    assert [s.step_ids for s in tl.scenes] == [("i1", "n2"), ("n3",)]
    assert tl.scenes[1].visuals[0].kind == "card" and tl.scenes[1].visuals[0].text == "And then."


def test_visuals_after_the_last_narration_form_a_closing_scene() -> None:
    plan = plan_of(image("i1"), tts("n2"), image("i3"), video("v4"))
    tl = build_timeline(
        plan, [still_in("i1"), still_in("i3"), clip_in("v4", 2.0)], [line_in("n2", 1.5)], OPTS
    )
    check_invariants(tl)
    closing = tl.scenes[-1]
    assert closing.step_ids == ("i3", "v4") and not closing.lines
    # a still gets STILL_S, a clip its own length
    assert closing.frames == round(STILL_S * 24) + 48
    still, clip = closing.visuals
    assert still.end == round(STILL_S * 24)
    assert clip.speed == 1.0 and clip.play == 48 and clip.hold == 0


def test_no_narration_at_all_is_one_silent_scene() -> None:
    plan = plan_of(image("i1"), video("v2"))
    tl = build_timeline(plan, [still_in("i1"), clip_in("v2", 1.0)], [], OPTS)
    assert len(tl.scenes) == 1 and tl.transitions == ()
    assert tl.total_frames == round(STILL_S * 24) + 24


def test_consumed_steps_do_not_appear_on_their_own() -> None:
    plan = plan_of(
        image("k1"),
        image("k2"),
        video("v3", ["step:k1"], ["step:k2"]),
        tts("n4"),
        image("face"),
        tts("n6"),
        lipsync("l7", "step:face", "step:n6"),
    )
    clips = [
        still_in("k1"),
        still_in("k2"),
        clip_in("v3", 2.0),
        still_in("face"),
        clip_in("l7", 1.8, kind="lipsync"),
    ]
    tl = build_timeline(plan, clips, [line_in("n4", 2.0), line_in("n6", 1.8)], OPTS)
    check_invariants(tl)
    assert [s.step_ids for s in tl.scenes] == [("v3", "n4"), ("n6", "l7")]
    assert set(tl.hidden) == {"k1", "k2", "face"}
    shown = [v.step_id for s in tl.scenes for v in s.visuals]
    assert shown == ["v3", "l7"]


def test_keyframes_show_when_their_video_produced_nothing() -> None:
    plan = plan_of(image("k1"), video("v2", ["step:k1"]), tts("n3"))
    tl = build_timeline(plan, [still_in("k1")], [line_in("n3", 1.0)], OPTS)
    assert [v.step_id for v in tl.scenes[0].visuals] == ["k1"] and tl.hidden == ()


def test_lipsync_carries_its_narration_in_sync() -> None:
    plan = plan_of(image("wide"), image("face"), tts("n3"), lipsync("l4", "step:face", "step:n3"))
    clips = [still_in("wide"), still_in("face"), clip_in("l4", 2.0, kind="lipsync")]
    tl = build_timeline(plan, clips, [line_in("n3", 2.0)], OPTS)
    check_invariants(tl)
    (scene,) = tl.scenes
    assert scene.step_ids == ("wide", "n3", "l4")
    wide, talk = scene.visuals
    line = scene.lines[0]
    # the talking clip plays at normal speed from the frame its line starts
    assert talk.carries == "n3" and talk.speed == 1.0
    assert talk.start + talk.preroll + 0 == round(line.offset_s * 24) == scene.lead
    assert talk.play == 48 and talk.skip == 0
    assert wide.end == talk.start  # the other picture fills the time before the line


def test_lipsync_alone_starts_moving_then_plays_at_its_line() -> None:
    plan = plan_of(tts("n1"), lipsync("l2", "face.mp4", "step:n1"))
    tl = build_timeline(plan, [clip_in("l2", 1.0, kind="lipsync")], [line_in("n1", 1.0)], OPTS)
    (scene,) = tl.scenes
    (talk,) = scene.visuals
    assert scene.step_ids == ("n1", "l2")  # no title card: the lipsync shows the line
    assert talk.carries == "n1" and talk.preroll == scene.lead and talk.play == 24


def test_explicit_scenes_group_by_name_in_order_of_first_appearance() -> None:
    plan = plan_of(
        image("a", "intro"), tts("b", "intro"), image("c", "main"), tts("d"), image("e", "intro")
    )
    clips = [still_in("a"), still_in("c"), still_in("e")]
    tl = build_timeline(plan, clips, [line_in("b", 2.0), line_in("d", 1.0)], OPTS)
    check_invariants(tl)
    assert [s.name for s in tl.scenes] == ["intro", "main"]
    assert [s.step_ids for s in tl.scenes] == [("a", "b", "e"), ("c", "d")]
    # two stills share the scene equally
    a, e = tl.scenes[0].visuals
    assert abs((a.frames - tl.scenes[0].cut_in) - (e.frames - tl.scenes[0].cut_out)) <= 1
    assert a.motion != e.motion  # stills alternate their moves


def test_explicit_scene_with_several_narrations_and_no_picture() -> None:
    plan = plan_of(tts("a", "s1", "First line."), tts("b", "s1", "Second line."))
    tl = build_timeline(
        plan, [], [line_in("a", 1.0, "First line."), line_in("b", 2.0, "Second line.")], OPTS
    )
    (scene,) = tl.scenes
    first, second = scene.lines
    assert second.offset_s == pytest.approx(first.offset_s + 1.0 + LINE_GAP_S)
    assert scene.frames == round((3.0 + LINE_GAP_S + 0.6) * 24)
    assert scene.visuals[0].kind == "card"
    assert scene.visuals[0].text == "First line.\nSecond line."


# --------------------------------------------------------------------- time and frames


@pytest.mark.parametrize("fps", [12, 24, 25, 30])
def test_scene_boundaries_snap_to_the_frame_grid(fps: int) -> None:
    durations = [1.234, 2.71, 0.9]
    plan = plan_of(image("i1"), tts("n1"), image("i2"), tts("n2"), image("i3"), tts("n3"))
    opts = AssembleOpts(fps=fps, scene_pad_s=0.6)
    tl = build_timeline(
        plan,
        [still_in("i1"), still_in("i2"), still_in("i3")],
        [line_in(f"n{i + 1}", d) for i, d in enumerate(durations)],
        opts,
    )
    check_invariants(tl)
    for scene, d in zip(tl.scenes, durations, strict=True):
        assert scene.frames == round((d + 0.6) * fps)
        assert isinstance(scene.start, int)
        # the narration starts on a frame: the lead pad is whole frames
        assert scene.lines[0].offset_s * fps == pytest.approx(round(0.3 * fps))
    # each scene rounds on its own (so one scene never shifts another's frames)
    ideal = sum(d + 0.6 for d in durations)
    assert abs(tl.duration_s - ideal) <= len(durations) * 0.5 / fps + 1e-9


def test_transitions_are_clamped_into_the_pads() -> None:
    plan = plan_of(image("i1"), tts("n1"), image("i2"), tts("n2"))
    clips, lines = [still_in("i1"), still_in("i2")], [line_in("n1", 1.0), line_in("n2", 1.0)]
    wide = AssembleOpts(fps=24, scene_pad_s=0.4, transition_duration_s=2.0)
    tl = build_timeline(plan, clips, lines, wide)
    check_invariants(tl)
    (t,) = tl.transitions
    # 2 s asked, but the pads are 0.2 s each side of the speech: 2 x min(tail, lead)
    left, right = tl.scenes
    assert t.frames == 2 * min(left.tail, right.lead) < 48
    assert tl.total_frames == left.frames + right.frames  # transitions never shorten

    cut = build_timeline(plan, clips, lines, wide.model_copy(update={"transition": "none"}))
    assert cut.transitions == () and all(s.cut_in == s.cut_out == 0 for s in cut.scenes)
    nopad = build_timeline(plan, clips, lines, wide.model_copy(update={"scene_pad_s": 0.0}))
    assert nopad.transitions == ()


def test_movie_length_is_the_sum_of_scene_lengths() -> None:
    plan = plan_of(image("i1"), tts("n1"), video("v2"), tts("n2"), image("i3"))
    tl = build_timeline(
        plan,
        [still_in("i1"), clip_in("v2", 0.8), still_in("i3")],
        [line_in("n1", 2.2), line_in("n2", 1.7)],
        OPTS,
    )
    check_invariants(tl)
    assert len(tl.transitions) == 2
    assert tl.total_frames == sum(s.frames for s in tl.scenes)
    assert sum(seg.frames for seg in tl.segments()) == tl.total_frames


# ------------------------------------------------------------------------ visuals' time


def test_stills_always_move_and_alternate() -> None:
    plan = plan_of(image("a"), image("b"), image("c"), tts("n"))
    tl = build_timeline(plan, [still_in(x) for x in "abc"], [line_in("n", 6.0)], OPTS)
    moves = [v.motion for v in tl.scenes[0].visuals]
    assert all(m in MOTIONS for m in moves)
    assert moves[0] != moves[1] != moves[2]
    sizes = [v.frames for v in tl.scenes[0].visuals]
    assert max(sizes) - min(sizes) <= 1  # equal shares


def test_short_clip_is_slowed_at_most_1_5x_then_continued() -> None:
    plan = plan_of(video("v"), tts("n"))
    n = round((5.0 + 0.6) * 24)
    tl = build_timeline(plan, [clip_in("v", 1.0)], [line_in("n", 5.0)], OPTS)
    (v,) = tl.scenes[0].visuals
    assert v.speed == MAX_SLOW and v.play == 36 and v.hold == n - 36 > 0
    assert v.motion in MOTIONS  # the held last frame moves, never a frozen hold

    tl = build_timeline(plan, [clip_in("v", 4.0)], [line_in("n", 5.0)], OPTS)
    (v,) = tl.scenes[0].visuals
    assert v.speed == pytest.approx(n / 96, abs=1e-4) and v.speed < MAX_SLOW
    assert v.play == n and v.hold == 0


def test_long_clip_is_trimmed_at_normal_speed() -> None:
    plan = plan_of(video("v"), tts("n"))
    tl = build_timeline(plan, [clip_in("v", 10.0)], [line_in("n", 2.0)], OPTS)
    (v,) = tl.scenes[0].visuals
    assert v.speed == 1.0 and v.play == tl.scenes[0].frames and v.hold == 0


def test_clips_keep_their_length_and_stills_share_the_rest() -> None:
    plan = plan_of(image("a"), video("v"), tts("n"))
    tl = build_timeline(plan, [still_in("a"), clip_in("v", 3.0)], [line_in("n", 6.0)], OPTS)
    still, clip = tl.scenes[0].visuals
    assert clip.frames == 72 and clip.speed == 1.0 and clip.play == 72
    assert still.frames == tl.scenes[0].frames - 72


def test_pieces_are_cut_from_the_body_start() -> None:
    from sparkle_motion.function_tools.assemble_ffmpeg.timeline import (
        MAX_SEGMENT_FRAMES as M,
    )
    from sparkle_motion.function_tools.assemble_ffmpeg.timeline import (
        MIN_PIECE_FRAMES,
        pieces,
    )

    assert pieces(0) == [0] and pieces(50) == [50] and pieces(M) == [M]
    assert pieces(M + MIN_PIECE_FRAMES) == [M, MIN_PIECE_FRAMES]
    assert pieces(M + MIN_PIECE_FRAMES - 1) == [M + MIN_PIECE_FRAMES - 1]
    assert pieces(2 * M + 40) == [M, M, 40]
    assert pieces(2 * M + 70)[:2] == pieces(2 * M + 40)[:2], "a longer body keeps its start"


def test_shares_and_distribute() -> None:
    assert distribute(10, [1, 1, 1]) == [4, 3, 3]
    assert sum(distribute(101, [0.3, 0.3, 0.4])) == 101
    assert distribute(3, [100, 0.0001, 0.0001]) == [1, 1, 1]
    # clips fit: natural length; stills share the rest
    assert shares(100, [None, 30, None], 24) == [35, 30, 35]
    # clips too long: stills and the long clip level out, the short clip keeps its length
    assert shares(60, [None, 100, 10], 24) == [25, 25, 10]
    # only clips, time to spare: each gets an equal extra
    assert shares(50, [10, 20], 24) == [20, 30]


def test_too_many_visuals_for_a_scene_is_an_error() -> None:
    plan = plan_of(*[image(f"i{k}") for k in range(30)], tts("n"))
    with pytest.raises(AssemblyError, match="cannot show"):
        build_timeline(
            plan,
            [still_in(f"i{k}") for k in range(30)],
            [line_in("n", 0.2)],
            AssembleOpts(fps=12, scene_pad_s=0.5),
        )


def test_unknown_steps_and_empty_inputs_are_errors() -> None:
    plan = plan_of(image("i1"), tts("n1"))
    with pytest.raises(AssemblyError, match="does not have"):
        build_timeline(plan, [still_in("zz")], [], OPTS)
    with pytest.raises(AssemblyError, match="nothing to assemble"):
        build_timeline(plan, [], [], OPTS)


# ---------------------------------------------------------------------------- subtitles


def test_sentences_split_latin_and_cjk() -> None:
    assert split_sentences("One. Two! Three? Four") == ["One.", "Two!", "Three?", "Four"]
    assert split_sentences("第一句。第二句！") == ["第一句。", "第二句！"]
    assert split_sentences("3.14 is pi. Yes") == ["3.14 is pi.", "Yes"]


def test_sentences_without_timings_spread_by_character_count() -> None:
    timings = spread_sentences("Hi. A much longer sentence.", 3.0)
    assert [t.text for t in timings] == ["Hi.", "A much longer sentence."]
    assert timings[0].start_s == 0 and timings[-1].end_s == pytest.approx(3.0)
    assert timings[0].end_s == pytest.approx(3.0 * 3 / (3 + 23))


def test_cues_follow_sentence_timings_offset_by_where_the_wav_sits() -> None:
    plan = plan_of(image("i1"), tts("n1"), image("i2"), tts("n2"))
    timed = NarrationInput(
        step_id="n2",
        uri="file:///ws/n2.wav",
        text="A. B.",
        duration_s=2.0,
        sentences=[
            SentenceTiming(text="A.", start_s=0.1, end_s=0.8),
            SentenceTiming(text="B.", start_s=1.1, end_s=1.9),
        ],
    )
    tl = build_timeline(plan, [still_in("i1"), still_in("i2")], [line_in("n1", 1.0), timed], OPTS)
    cues = build_cues(tl)
    assert [c.text for c in cues] == ["Hello there.", "A.", "B."]
    (_, first_at), (_, second_at) = tl.placements()
    assert cues[0].start_s == pytest.approx(first_at, abs=1e-3)
    assert cues[1].start_s == pytest.approx(second_at + 0.1, abs=1e-3)
    assert cues[2].end_s == pytest.approx(second_at + 1.9, abs=1e-3)
    assert second_at == pytest.approx(tl.scenes[1].start / 24 + tl.scenes[1].lead / 24)
