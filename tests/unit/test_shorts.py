"""What short-video users expect first: the movie's shape, music under the voice, styled
(burned-in) subtitles. Real ffmpeg, real files, measured outputs."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import wave
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image
from tests.media import decode_audio, integrated_loudness

from sparkle_motion.errors import PlanSchemaError
from sparkle_motion.function_tools.assemble_ffmpeg import burn
from sparkle_motion.function_tools.assemble_ffmpeg.entrypoint import assemble_clips
from sparkle_motion.function_tools.assemble_ffmpeg.subtitles import Cue
from sparkle_motion.function_tools.images_sdxl.storyboard.compose import compose
from sparkle_motion.production.assembly import assembly_key
from sparkle_motion.types import (
    ArtifactRef,
    AssembleOpts,
    MoviePlan,
    NarrationInput,
    SentenceTiming,
    SubtitleStyle,
    VisualInput,
)
from sparkle_motion.utils.ffmpeg import ffmpeg_exe, probe
from sparkle_motion.validation import load_plan_file, validate_plan
from sparkle_motion.workspace import get_workspace

W, H, FPS = 180, 320, 12  # a small 9:16 frame
RATE = 16000
SCRIPT = Path(sys.executable).parent / "sparkle-motion"


def _opts(**kw) -> AssembleOpts:
    return AssembleOpts(width=W, height=H, fps=FPS, preset="ultrafast", crf=30, **kw)


def _inputs() -> Path:
    d = get_workspace().root / "inputs"
    d.mkdir(parents=True, exist_ok=True)
    return d


def _still(name: str) -> VisualInput:
    path = _inputs() / f"{name}.png"
    a = np.zeros((H, W, 3), np.uint8)
    a[...] = (40, 70, 110)
    Image.fromarray(a).save(path)
    return VisualInput(step_id=name, step_type="image", uri=path.as_uri(), media_type="image/png")


def _wav(path: Path, samples: np.ndarray, rate: int = RATE, channels: int = 1) -> Path:
    data = (np.clip(samples, -1, 1) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(data.tobytes())
    return path


def _line(name: str, text: str, tone_s: float = 1.0, tail_s: float = 1.6) -> NarrationInput:
    """A 440 Hz 'voice' of ``tone_s`` after 0.1 s, then ``tail_s`` of silence."""
    lead = np.zeros(round(0.1 * RATE))
    t = np.arange(round(tone_s * RATE)) / RATE
    tone = 0.3 * np.sin(2 * np.pi * 440 * t)
    samples = np.concatenate([lead, tone, np.zeros(round(tail_s * RATE))])
    path = _wav(_inputs() / f"{name}.wav", samples)
    timing = SentenceTiming(text=text, start_s=0.1, end_s=0.1 + tone_s)
    return NarrationInput(
        step_id=name, uri=path.as_uri(), text=text, duration_s=len(samples) / RATE,
        sentences=[timing],
    )  # fmt: skip


def _plan(*ids: tuple[str, str]) -> MoviePlan:
    steps = [
        {"id": i, "type": k, **({"prompt": i} if k == "image" else {"text": i})} for i, k in ids
    ]
    return MoviePlan.model_validate({"title": "short", "steps": steps})


def _frame(movie: Path, at_s: float) -> np.ndarray:
    out = movie.with_name(f"{movie.stem}.{at_s:.2f}.png")
    subprocess.run(
        [ffmpeg_exe(), "-v", "error", "-y", "-ss", f"{at_s:.3f}", "-i", str(movie),
         "-frames:v", "1", "-update", "1", str(out)],
        check=True,
    )  # fmt: skip
    return np.asarray(Image.open(out).convert("RGB"), dtype=np.int16)


# ------------------------------------------------------------------------------------ music


def _tone_at(samples: np.ndarray, freq: float, win: int) -> np.ndarray:
    """Amplitude of ``freq`` in each window of ``win`` samples (a single DFT bin)."""
    n = len(samples) // win
    frames = samples[: n * win].reshape(n, win) * np.hanning(win)
    basis = np.exp(-2j * np.pi * freq * np.arange(win) / RATE)
    return np.abs(frames @ basis) / win


def test_music_is_ducked_under_the_voice_looped_and_the_loudness_kept(tmp_path: Path) -> None:
    plan = _plan(("i1", "image"), ("n1", "tts"), ("i2", "image"), ("n2", "tts"))
    lines = [_line("n1", "One."), _line("n2", "Two.")]
    t = np.arange(RATE) / RATE  # one second of 150 Hz: looped to the movie's length
    music = _wav(_inputs() / "bed.wav", 0.3 * np.sin(2 * np.pi * 150 * t))
    audio = {"narration": lines, "music": music.as_uri()}
    out = get_workspace().root / "out" / "music.mp4"
    ref = assemble_clips(plan, [_still("i1"), _still("i2")], audio, out, _opts())
    assert ref.metadata["music"] == str(music.resolve())
    assert integrated_loudness(out) == pytest.approx(-16.0, abs=1.0)

    samples = decode_audio(out, RATE)
    win = RATE // 10
    voice = _tone_at(samples, 440, win)
    bed = _tone_at(samples, 150, win)
    seconds = len(samples) / RATE
    assert seconds > 5  # far longer than the one-second music file
    speaking = voice > voice.max() * 0.3
    body = np.arange(len(bed)) < (seconds - 3.2) * 10  # before the fade out
    quiet = ~speaking & body & (np.convolve(speaking, np.ones(9), "same") == 0)
    assert speaking.sum() >= 10 and quiet.sum() >= 5
    ducked, free = np.median(bed[speaking & body]), np.median(bed[quiet])
    assert 20 * np.log10(free / ducked) >= 6, (free, ducked)  # at least 6 dB down
    # looped: the bed still plays late in the movie; faded out at its very end
    assert bed[quiet][-1] > free * 0.5
    assert bed[-2] < free * 0.2


def test_music_outside_the_plan_folder_is_refused_naming_the_field(tmp_path: Path) -> None:
    (tmp_path / "outside.wav").write_bytes(b"RIFF")
    folder = tmp_path / "movie"
    folder.mkdir()
    data = {
        "title": "t",
        "steps": [{"id": "n1", "type": "tts", "text": "Hello."}],
        "assemble_opts": {"music": "../outside.wav"},
    }
    with pytest.raises(PlanSchemaError) as info:
        validate_plan(data, base_dir=folder)
    assert info.value.field == "assemble_opts.music"
    data["assemble_opts"] = {"music": "step:n1"}
    with pytest.raises(PlanSchemaError, match=r"assemble_opts\.music"):
        validate_plan(data, base_dir=folder)


def test_the_music_bytes_are_in_the_assembly_key() -> None:
    plan = _plan(("n1", "tts"))
    a = ArtifactRef(artifact_uri="file:///m.wav", media_type="audio/wav", sha256="a" * 64)
    b = a.model_copy(update={"sha256": "b" * 64})
    keys = {assembly_key(plan, {}), assembly_key(plan, {}, a), assembly_key(plan, {}, b)}
    assert len(keys) == 3
    assert assembly_key(plan, {}, a) == assembly_key(plan, {}, a.model_copy())


# ------------------------------------------------------------------------------- subtitles


def test_long_cues_wrap_at_the_width_in_two_lines_at_most() -> None:
    text = "The keeper climbs the long stairs of the lighthouse every night to light the lamp."
    events = burn.split_cues([Cue(1.0, 5.0, text)], chars=20)
    assert len(events) >= 2
    assert all(1 <= len(lines) <= 2 for _, _, lines in events)
    assert all(burn._units(ln) <= 20 for _, _, lines in events for ln in lines)
    assert " ".join(ln for _, _, lines in events for ln in lines) == text
    assert events[0][0] == 1.0 and events[-1][1] == pytest.approx(5.0, abs=0.002)
    assert all(a[1] == pytest.approx(b[0], abs=0.002) for a, b in itertools.pairwise(events))
    # a CJK character is two units wide: 20 units hold ten of them
    cjk = burn.split_cues([Cue(0.0, 2.0, "灯塔看守人每天晚上都爬上长长的楼梯")], chars=20)
    assert [len(ln) for _, _, lines in cjk for ln in lines] == [10, 7]
    # the frame's shape sets the default width: narrower frames, shorter lines
    assert burn.default_chars(1280, 720) > burn.default_chars(720, 720)
    assert burn.default_chars(720, 720) > burn.default_chars(720, 1280)


def _assemble(name: str, subtitles, cache: Path):
    plan = _plan(("i1", "image"), ("n1", "tts"), ("i2", "image"), ("n2", "tts"))
    lines = [_line("n1", "Hello from the lighthouse."), _line("n2", "灯塔看守人和鲸鱼")]
    out = get_workspace().root / "out" / f"{name}.mp4"
    opts = _opts(subtitles=subtitles)
    ref = assemble_clips(
        plan, [_still("i1"), _still("i2")], {"narration": lines}, out, opts, cache_dir=cache
    )
    return ref, out


def _segments(ref) -> list[bool]:
    return [s["cached"] for s in ref.metadata["segments"]]


def test_burned_subtitles_draw_into_the_picture(tmp_path: Path) -> None:
    cache = tmp_path / "segments"
    _soft, soft_out = _assemble("soft", True, cache)
    style = {"mode": "burned", "colour": "#FFFF00", "outline": 2, "size": 20}
    burned, burned_out = _assemble("burned", style, cache)
    assert probe(soft_out).subtitle_streams == 1
    assert probe(burned_out).subtitle_streams == 0 and burned.metadata["subtitles_burned"]
    assert (probe(burned_out).width, probe(burned_out).height) == (W, H)
    scene2 = burned.metadata["scenes"][1]["start_s"]
    for at in (0.5, scene2 + 0.5):  # the English cue, then the Chinese one
        a, b = _frame(soft_out, at), _frame(burned_out, at)
        diff = np.abs(a - b).sum(axis=2)
        bottom, top = diff[int(H * 0.6) :], diff[: int(H * 0.4)]
        assert (bottom > 60).sum() > 150, at  # glyph pixels where the cue shows
        assert (top > 60).sum() == 0, at
        yellow = (b[..., 0] > 180) & (b[..., 1] > 180) & (b[..., 2] < 120)
        assert yellow[int(H * 0.6) :].sum() > 40, at
    # the top position draws at the top instead
    _top_ref, top_out = _assemble("top", {**style, "position": "top"}, cache)
    diff = np.abs(_frame(soft_out, 0.5) - _frame(top_out, 0.5)).sum(axis=2)
    assert (diff[: int(H * 0.4)] > 60).sum() > 150 and (diff[int(H * 0.6) :] > 60).sum() == 0


def test_the_style_is_in_the_segment_key_and_soft_is_unchanged(tmp_path: Path) -> None:
    cache = tmp_path / "segments"
    _first, first_out = _assemble("a", True, cache)
    # a soft style is today's soft subtitles: the same segments, the same bytes
    soft, soft_out = _assemble("b", {"mode": "soft"}, cache)
    assert all(_segments(soft)) and soft_out.read_bytes() == first_out.read_bytes()
    style = {"mode": "burned"}
    burned, _ = _assemble("c", style, cache)
    # the scenes show cues and are drawn again; the transition between them shows none
    assert _segments(burned) == [False, True, False]
    again, _ = _assemble("d", style, cache)
    assert all(_segments(again))
    recoloured, _ = _assemble("e", {**style, "colour": "#FF0000"}, cache)
    assert _segments(recoloured) == [False, True, False]
    # and the soft movie is still made from the untouched segments
    after, after_out = _assemble("f", True, cache)
    assert all(_segments(after)) and after_out.read_bytes() == first_out.read_bytes()


def test_subtitles_accept_bools_and_styles() -> None:
    assert AssembleOpts(subtitles=False).soft_subtitles() is False
    assert AssembleOpts().soft_subtitles() and AssembleOpts().burned_subtitles() is None
    opts = AssembleOpts.model_validate({"subtitles": {"mode": "burned", "position": "top"}})
    assert isinstance(opts.burned_subtitles(), SubtitleStyle) and not opts.soft_subtitles()
    with pytest.raises(ValueError):
        AssembleOpts.model_validate({"subtitles": {"mode": "burned", "colour": "red"}})


# -------------------------------------------------------------------------------- aspects


@pytest.mark.parametrize("size", [(720, 1280), (720, 720), (1280, 720)])
def test_storyboard_subjects_fit_every_shape(size: tuple[int, int]) -> None:
    prompts = [
        "a lighthouse keeper befriends a whale on a stormy sea",
        "three pirates on a ship find a treasure chest",
        "a girl and her dog walk through a forest at sunset",
        "a robot bakes a birthday cake in a kitchen",
    ]
    w, h = size
    for prompt in prompts:
        frame = compose(prompt, 7, w, h)
        assert frame.image.size == size
        assert frame.subjects, prompt
        for p in frame.subjects:
            x0, y0, x1, y1 = p.box
            assert 0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h, (prompt, p.word, p.box)
            assert (y1 - y0) >= 0.12 * min(w, h), (prompt, p.word)  # not lost in the frame


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    command = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "sparkle_motion.cli"]
    return subprocess.run(
        [*command, *args], capture_output=True, text=True, cwd=cwd, timeout=300,
        env={**os.environ, "COLUMNS": "200"},
    )  # fmt: skip


def _small_plan(folder: Path) -> Path:
    data = {
        "title": "Shape",
        "steps": [
            {"id": "img1", "type": "image", "prompt": "a whale", "opts": {"scene": "s1"}},
            {"id": "say1", "type": "tts", "text": "A whale sings.", "opts": {"scene": "s1"}},
        ],
        "assemble_opts": {"preset": "ultrafast", "fps": 12},
    }
    path = folder / "plan.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_plan_and_run_take_the_aspect(tmp_path: Path) -> None:
    out = tmp_path / "tall.yaml"
    result = _cli("plan", "a lighthouse keeper befriends a whale", "--aspect", "9:16",
                  "-o", str(out), cwd=tmp_path)  # fmt: skip
    assert result.returncode == 0, result.stderr
    plan = load_plan_file(out).plan
    assert plan.assemble_opts.aspect == "9:16" and plan.assemble_opts.size() == (720, 1280)
    assert plan.id == plan.content_id()

    path = _small_plan(tmp_path)
    for aspect, size in (("1:1", (720, 720)), ("9:16", (720, 1280))):
        movie = tmp_path / f"movie-{aspect.replace(':', 'x')}.mp4"
        result = _cli("run", str(path), "--profile", "fixture", "--aspect", aspect,
                      "-o", str(movie), cwd=tmp_path)  # fmt: skip
        assert result.returncode == 0, result.stderr
        info = probe(movie)
        assert (info.width, info.height) == size


def test_run_music_is_confined_cached_and_keyed_by_its_bytes(tmp_path: Path) -> None:
    path = _small_plan(tmp_path)
    elsewhere = tmp_path.parent / f"{tmp_path.name}-outside.wav"
    t = np.arange(RATE) / RATE
    _wav(elsewhere, 0.2 * np.sin(2 * np.pi * 150 * t))
    result = _cli("run", str(path), "--profile", "fixture", "--music", str(elsewhere),
                  cwd=tmp_path)  # fmt: skip
    assert result.returncode != 0
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert any("assemble_opts.music" in ln and "outside" in ln for ln in lines), result.stderr

    music = _wav(tmp_path / "bed.wav", 0.2 * np.sin(2 * np.pi * 150 * t))
    movie = tmp_path / "movie.mp4"
    result = _cli("run", str(path), "--profile", "fixture", "--music", "bed.wav",
                  "-o", str(movie), cwd=tmp_path)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert probe(movie).has_audio

    from sparkle_motion.planner.reshape import reshape
    from sparkle_motion.production_agent import run_plan

    plan = reshape(load_plan_file(path).plan, music="bed.wav")

    def assembled() -> tuple[bool, str]:
        run = run_plan(plan, profile="fixture", base_dir=tmp_path)
        assert run.status == "succeeded", run.summary
        record = next(r for r in run.records if r.step_id == "assemble")
        return bool(record.cache_hit), run.movie.sha256

    hit, movie_sha = assembled()
    again, same_sha = assembled()
    assert again and same_sha == movie_sha  # unchanged: the cached movie
    _wav(music, 0.2 * np.sin(2 * np.pi * 200 * t))  # other bytes, same name
    hit, other_sha = assembled()
    assert not hit and other_sha != movie_sha  # assembled again with the new music
