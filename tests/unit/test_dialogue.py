"""Dialogue: lines with speakers, a cast, per-line synthesis, records, cache and subtitles."""

from __future__ import annotations

import wave
from pathlib import Path

import pytest
from tests.media import decode_audio, sound_onsets, subtitle_cues

from sparkle_motion import tts_agent, videos_agent
from sparkle_motion.errors import PlanSchemaError
from sparkle_motion.production.dialogue import line_voice
from sparkle_motion.production_agent import run_plan
from sparkle_motion.types import ArtifactRef
from sparkle_motion.validation import build_plan, validate_plan

CAST = {"keeper": {"voice": "james"}, "whale": {"voice": {"id": "emma"}, "name": "Whale"}}
LINES = [
    {"text": "The keeper looked out to sea."},
    {"speaker": "keeper", "text": "Hello out there! Who are you?"},
    {"speaker": "whale", "text": "I sing where the sea is deep. Will you be my friend?"},
]


def dialogue_plan(lines: list[dict] = LINES, **extra: object) -> dict:
    return {
        "title": "The keeper and the whale",
        "cast": CAST,
        "steps": [
            {"id": "sea", "type": "image", "prompt": "a lighthouse by the sea"},
            {"id": "talk", "type": "tts", "voice": "narrator", "lines": lines},
        ],
        "assemble_opts": {"width": 160, "height": 96, "fps": 8},
        **extra,
    }


def wav_seconds(path: Path) -> float:
    with wave.open(str(path), "rb") as w:
        return w.getnframes() / w.getframerate()


# ------------------------------------------------------------------------- the plan


def test_a_speaker_not_in_the_cast_is_refused() -> None:
    data = dialogue_plan([*LINES, {"speaker": "gull", "text": "Squawk."}])
    with pytest.raises(PlanSchemaError) as err:
        validate_plan(data)
    assert err.value.field == "steps[1].lines[3].speaker"
    assert err.value.stage == "step"
    assert "'gull' is not in the cast (keeper, whale)" in str(err.value)


def test_text_or_lines_one_of_them() -> None:
    with pytest.raises(PlanSchemaError, match="not both") as err:
        build_plan({"title": "t", "steps": [{"type": "tts", "text": "a", "lines": LINES[:1]}]})
    assert err.value.field == "steps[0].text"
    with pytest.raises(PlanSchemaError, match="is required"):
        build_plan({"title": "t", "steps": [{"type": "tts"}]})


def test_an_unknown_cast_voice_is_refused() -> None:
    data = dialogue_plan(cast={"keeper": {"voice": "bogus"}})
    data["steps"][1]["lines"] = LINES[:2]
    with pytest.raises(PlanSchemaError, match="no voice named 'bogus'") as err:
        validate_plan(data)
    assert err.value.field == "cast.keeper.voice.id"


def test_the_plain_form_stays_valid_and_says_its_text() -> None:
    plan = build_plan({"title": "t", "steps": [{"type": "tts", "text": "Hello."}]})
    assert plan.steps[0].spoken_text == "Hello." and plan.cast is None
    assert "cast" not in plan.to_json_dict() and "lines" not in plan.to_json_dict()["steps"][0]


def test_a_lines_voice_comes_from_the_line_then_the_cast_then_the_step() -> None:
    plan = build_plan(
        dialogue_plan([*LINES, {"speaker": "whale", "text": "Hm.", "voice": "olivia"}])
    )
    step = plan.steps[1]
    step.voice.language = "es"
    voices = [line_voice(step, ln, plan.cast).id for ln in step.lines]
    assert voices == ["narrator", "james", "emma", "olivia"]
    assert line_voice(step, step.lines[1], plan.cast).language == "es"  # the step's language
    assert plan.speaker_name("keeper") == "Keeper" and plan.speaker_name("whale") == "Whale"


# ------------------------------------------------------------------- production


def test_each_line_is_spoken_and_recorded(no_assembly: list) -> None:
    result = run_plan(dialogue_plan(), profile="fixture")
    assert result.status == "succeeded", result.summary
    record = next(r for r in result.records if r.step_id == "talk")
    lines = record.meta["line_artifacts"]
    assert [ln["speaker"] for ln in lines] == [None, "keeper", "whale"]
    assert [ln["voice_id"] for ln in lines] == ["narrator", "james", "emma"]
    assert len({ln["provider_voice_id"] for ln in lines}) == 3
    assert all(ln["watermarked"] is False and ln["duration_s"] > 0 for ln in lines)
    talk = [a for a in result.artifacts if a.step_id == "talk"]
    whole, parts = talk[0], talk[1:]
    assert len(parts) == 3
    for line, part in zip(lines, parts, strict=True):
        assert line["artifact_uri"] == part.artifact_uri
        assert wav_seconds(part.path) == pytest.approx(line["duration_s"], abs=0.01)
    # the whole audio is the lines in order, and its sentences say who speaks them
    assert wav_seconds(whole.path) == pytest.approx(lines[-1]["offset_s"] + lines[-1]["duration_s"])
    assert [ln["offset_s"] for ln in lines] == sorted(ln["offset_s"] for ln in lines)
    sentences = whole.metadata["sentences"]
    assert [s["speaker"] for s in sentences] == [None, "Keeper", "Keeper", "Whale", "Whale"]
    assert sentences[1]["start_s"] >= lines[1]["offset_s"]
    _clips, audio = no_assembly[0]
    assert audio["narration"][0].text == " ".join(ln["text"] for ln in LINES)


@pytest.mark.executors("local")
def test_a_changed_line_re_speaks_only_that_line(
    no_assembly: list, monkeypatch: pytest.MonkeyPatch
) -> None:
    spoken: list[str] = []
    real = tts_agent.synthesize

    def counting(text, *args, **kwargs):
        spoken.append(text)
        return real(text, *args, **kwargs)

    monkeypatch.setattr(tts_agent, "synthesize", counting)
    run_plan(dialogue_plan(), profile="fixture")
    assert len(spoken) == 3
    spoken.clear()
    run_plan(dialogue_plan(), profile="fixture")
    assert spoken == []  # the step is cached
    edited = [*LINES[:2], {"speaker": "whale", "text": "I am the whale of the bay."}]
    result = run_plan(dialogue_plan(edited), profile="fixture")
    assert spoken == ["I am the whale of the bay."]
    record = next(r for r in result.records if r.step_id == "talk")
    assert record.meta["lines_cached"] == 2


@pytest.mark.executors("local")
def test_step_ref_of_a_dialogue_is_its_whole_audio(
    no_assembly: list, monkeypatch: pytest.MonkeyPatch
) -> None:
    heard: list[float] = []
    real = videos_agent.lipsync

    def recording(face, audio, *args, **kwargs):
        heard.append(wav_seconds(Path(audio)))
        return real(face, audio, *args, **kwargs)

    monkeypatch.setattr(videos_agent, "lipsync", recording)
    data = dialogue_plan()
    data["steps"].append(
        {"id": "lip", "type": "lipsync", "face_video": "step:sea", "audio": "step:talk"}
    )
    result = run_plan(data, profile="fixture")
    assert result.status == "succeeded", result.summary
    whole = next(a for a in result.artifacts if a.step_id == "talk")
    assert heard == [pytest.approx(wav_seconds(whole.path))]
    lines = next(r for r in result.records if r.step_id == "talk").meta["line_artifacts"]
    assert heard[0] > sum(ln["duration_s"] for ln in lines)  # every line, pauses between


def test_a_long_multi_line_step(no_assembly: list) -> None:
    sentence = "The keeper counted the waves again and wrote each one in the book. "
    lines = [
        {"speaker": "keeper" if k % 2 else None, "text": f"Night {k}. " + sentence * 4}
        for k in range(40)
    ]
    words = sum(len(ln["text"].split()) for ln in lines)
    assert words > 2000
    result = run_plan(dialogue_plan(lines), profile="fixture")
    assert result.status == "succeeded", result.summary
    record = next(r for r in result.records if r.step_id == "talk")
    assert len(record.meta["line_artifacts"]) == 40
    whole: ArtifactRef = next(a for a in result.artifacts if a.step_id == "talk")
    assert wav_seconds(whole.path) == pytest.approx(words / 3, rel=0.15)  # 3 words a second
    assert [ln["voice_id"] for ln in record.meta["line_artifacts"][:2]] == ["narrator", "james"]


# ------------------------------------------------------------------- the movie


@pytest.mark.executors("local")
def test_a_dialogue_movie_in_the_preview_profile(tmp_path: Path) -> None:
    data = dialogue_plan()
    data["assemble_opts"] = {"width": 320, "height": 180, "fps": 12}
    movie = tmp_path / "movie.mp4"
    result = run_plan(data, profile="preview", output=movie)
    assert result.status == "succeeded", result.summary
    lines = next(r for r in result.records if r.step_id == "talk").meta["line_artifacts"]
    assert len({ln["provider_voice_id"] for ln in lines}) == 3  # three voices
    cues = subtitle_cues(movie)
    texts = [t for _s, _e, t in cues]
    assert texts[0] == "The keeper looked out to sea."  # the narrator is never named
    assert texts[1].startswith("Keeper: Hello out there!")
    assert texts[-1].startswith("Whale: ")
    onsets = sound_onsets(decode_audio(movie), min_gap_s=0.25)
    for start, _end, text in cues:
        assert min(abs(start - o) for o in onsets) <= 0.1, (start, text)


@pytest.fixture
def no_assembly(monkeypatch: pytest.MonkeyPatch) -> list:
    from sparkle_motion.adk_helpers import publish_local
    from sparkle_motion.production.assembly import Assembly

    calls: list = []

    def fake(self, clips, audio):
        calls.append((clips, audio))
        return publish_local(b"fake movie", "video/mp4", {"duration_s": 1.0})

    monkeypatch.setattr(Assembly, "_assemble_movie", fake)
    return calls


# ------------------------------------------------------------------- the planners


def test_a_draft_with_dialogue_casts_distinct_voices_in_its_language() -> None:
    from sparkle_motion.planner.draft import PlanDraft, draft_to_plan

    draft = PlanDraft.model_validate(
        {
            "title": "El farero",
            "language": "es",
            "cast": [{"name": "Farero", "gender": "male"}, {"name": "Ballena", "gender": "female"}],
            "scenes": [
                {
                    "title": "Encuentro",
                    "image_prompt": "a lighthouse",
                    "narration": "Un día, el farero vio una ballena.",
                    "dialogue": [
                        {"speaker": "Farero", "text": "¡Hola, ballena!"},
                        {"speaker": "Ballena", "text": "Hola, farero."},
                        {"speaker": "Gaviota", "text": "¡Hola a los dos!"},
                    ],
                }
            ],
        }
    )
    plan = draft_to_plan(draft, idea="un farero y una ballena")
    voices = {key: m.voice for key, m in plan.cast.items()}
    assert set(voices) == {"farero", "ballena", "gaviota"}  # a speaker not declared is cast too
    ids = [plan.steps[2].voice.id, *(v.id for v in voices.values())]
    assert len(set(ids)) == 4 and ids[0] == "narrator_es"
    assert all(v.language == "es" for v in voices.values())
    assert [ln.speaker for ln in plan.steps[2].lines] == [None, "farero", "ballena", "gaviota"]


def test_the_reference_idea_has_a_cast_of_voices() -> None:
    from sparkle_motion.planner.draft import draft_to_plan
    from sparkle_motion.planner.story import write_draft

    idea = "a lighthouse keeper befriends a whale"
    plan = draft_to_plan(write_draft(idea), idea=idea)
    assert set(plan.cast) == {"keeper", "whale"}
    narrators = {s.voice.id for s in plan.steps if s.type == "tts"}
    voices = {m.voice.id for m in plan.cast.values()}
    assert narrators == {"narrator"} and len(voices) == 2 and not voices & narrators
    speakers = {ln.speaker for s in plan.steps if s.type == "tts" for ln in s.lines or []}
    assert speakers == {None, "keeper", "whale"}
