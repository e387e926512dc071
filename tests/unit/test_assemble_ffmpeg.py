"""assemble_clips end to end with the bundled ffmpeg, on small synthetic inputs.

Narrations are tone bursts (one per sentence) with silent gaps, so where each sentence's sound
starts can be found in the finished movie's audio and compared with its subtitle cue.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import re
import wave
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from tests.media import render_segment

from sparkle_motion.function_tools.assemble_ffmpeg import AssemblyError
from sparkle_motion.function_tools.assemble_ffmpeg.entrypoint import (
    _allowed_roots,
    assemble_clips,
)
from sparkle_motion.function_tools.assemble_ffmpeg.subtitles import WORD_JOINER
from sparkle_motion.function_tools.assemble_ffmpeg.timeline import STILL_S
from sparkle_motion.types import (
    AssembleOpts,
    MoviePlan,
    NarrationInput,
    SentenceTiming,
    VisualInput,
)
from sparkle_motion.utils.ffmpeg import ffmpeg_exe, ffmpeg_version, probe
from sparkle_motion.utils.run_command import run_command
from sparkle_motion.workspace import get_workspace

W, H, FPS = 320, 180, 12
OPTS = AssembleOpts(width=W, height=H, fps=FPS, preset="ultrafast", crf=30)
RATE = 22050
TONE_S, GAP_S, LEAD_S = 0.5, 0.45, 0.15
TRICKY = 'He said: "100% sure" — {braces} & C:\\new\\path, <b>bold</b> {\\an8}'


# -------------------------------------------------------------------------------- inputs


def _ff(*args: str) -> str:
    return run_command([ffmpeg_exe(), "-hide_banner", "-nostdin", "-y", *args]).stderr


def _inputs_dir() -> Path:
    d = get_workspace().root / "inputs"
    d.mkdir(parents=True, exist_ok=True)
    return d


def make_still(name: str, color: tuple[int, int, int]) -> VisualInput:
    path = _inputs_dir() / f"{name}.png"
    a = np.zeros((H * 2, W * 2, 3), np.uint8)
    a[...] = color
    a[::24] = 255
    a[:, ::24] = 255
    Image.fromarray(a).save(path)
    return VisualInput(step_id=name, step_type="image", uri=path.as_uri(), media_type="image/png")


def make_clip(
    name: str, seconds: float, kind: str = "video", tone_hz: int | None = None, audio: str = ""
) -> VisualInput:
    path = _inputs_dir() / f"{name}.mp4"
    args = ["-loglevel", "error", "-f", "lavfi", "-i", f"testsrc2=s={W}x{H}:r={FPS}:d={seconds}"]
    if tone_hz:
        args += ["-f", "lavfi", "-i", f"sine=f={tone_hz}:d={seconds}:r=48000", "-c:a", "aac"]
    _ff(*args, "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(path))
    return VisualInput(
        step_id=name,
        step_type=kind,  # type: ignore[arg-type]
        uri=path.as_uri(),
        media_type="video/mp4",
        duration_s=seconds,
        fps=FPS,
        has_audio=bool(tone_hz),
        audio_step_id=audio or None,
    )


def make_line(name: str, sentences: list[str], freq: float = 440.0, tail_s: float = 0.2):
    """A WAV with one tone burst per sentence, and its NarrationInput with sentence timings."""
    parts, timings, at = [np.zeros(round(LEAD_S * RATE))], [], LEAD_S
    for text in sentences:
        n = round(TONE_S * RATE)
        parts.append(0.25 * np.sin(2 * np.pi * freq * np.arange(n) / RATE))
        timings.append(SentenceTiming(text=text, start_s=at, end_s=at + TONE_S))
        parts.append(np.zeros(round(GAP_S * RATE)))
        at += TONE_S + GAP_S
    parts.append(np.zeros(round(tail_s * RATE)))
    samples = (np.concatenate(parts) * 32767).astype("<i2")
    path = _inputs_dir() / f"{name}.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(samples.tobytes())
    return NarrationInput(
        step_id=name,
        uri=path.as_uri(),
        text=" ".join(sentences),
        duration_s=len(samples) / RATE,
        sentences=timings,
    )


def plan_of(*steps: tuple[str, str]) -> MoviePlan:
    body = []
    for sid, kind in steps:
        step: dict = {"id": sid, "type": kind}
        if kind == "image":
            step["prompt"] = sid
        elif kind == "tts":
            step["text"] = sid
        elif kind == "lipsync":
            step.update(face_video="face.mp4", audio="step:n1")
        body.append(step)
    return MoviePlan.model_validate({"title": "test", "steps": body})


# ----------------------------------------------------------------------------- measuring


def decode_audio(path: Path, rate: int = 16000) -> np.ndarray:
    raw = path.with_suffix(f".{rate}.f32")
    _ff(
        "-loglevel",
        "error",
        "-i",
        str(path),
        "-map",
        "0:a:0",
        "-ac",
        "1",
        "-ar",
        str(rate),
        "-f",
        "f32le",
        str(raw),
    )
    return np.fromfile(raw, dtype="<f4")


def video_frames(path: Path) -> int:
    err = _ff("-i", str(path), "-map", "0:v:0", "-c", "copy", "-f", "null", os.devnull)
    return int(re.findall(r"frame=\s*(\d+)", err)[-1])


def loudness_lufs(path: Path) -> float:
    err = _ff(
        "-nostats",
        "-i",
        str(path),
        "-map",
        "0:a:0",
        "-af",
        "ebur128=framelog=quiet",
        "-f",
        "null",
        os.devnull,
    )
    return float(re.findall(r"I:\s+(-?[\d.]+) LUFS", err)[-1])


def parse_srt(text: str) -> list[tuple[float, float, str]]:
    def sec(stamp: str) -> float:
        h, m, rest = stamp.strip().split(":")
        s, ms = rest.split(",")
        return int(h) * 3600 + int(m) * 60 + int(s) + int(ms) / 1000

    cues = []
    for block in re.split(r"\n\s*\n", text.strip()):
        lines = block.splitlines()
        start, end = lines[1].split("-->")
        cues.append((sec(start), sec(end), "\n".join(lines[2:])))
    return cues


def mp4_cues(path: Path) -> list[tuple[float, float, str]]:
    out = path.with_suffix(".extracted.srt")
    _ff("-loglevel", "error", "-i", str(path), "-map", "0:s:0", "-f", "srt", str(out))
    return parse_srt(out.read_text(encoding="utf-8"))


def sound_onsets(samples: np.ndarray, rate: int = 16000, quiet_s: float = 0.2) -> list[float]:
    """Starts of sound after at least ``quiet_s`` of silence (10 ms RMS windows)."""
    win = rate // 100
    frames = samples[: len(samples) // win * win].reshape(-1, win)
    rms = np.sqrt((frames**2).mean(axis=1))
    loud = rms > rms.max() * 0.1
    onsets, quiet = [], quiet_s
    for i, is_loud in enumerate(loud):
        if is_loud and quiet >= quiet_s:
            onsets.append(i / 100)
        quiet = 0.0 if is_loud else quiet + 0.01
    return onsets


def _segments(ref) -> dict[tuple[str, int], bool]:
    return {(s["kind"], s["index"]): s["cached"] for s in ref.metadata["segments"]}


# --------------------------------------------------------------------------------- tests


def test_end_to_end_movie(tmp_path: Path) -> None:
    plan = plan_of(
        ("i1", "image"),
        ("n1", "tts"),
        ("v2", "video"),
        ("n2", "tts"),
        ("n3", "tts"),
        ("i4", "image"),
    )
    clips = [make_still("i1", (200, 60, 40)), make_clip("v2", 1.0), make_still("i4", (40, 60, 200))]
    lines = [
        make_line("n1", ["The keeper climbs.", "The lamp turns."]),
        make_line("n2", [TRICKY]),
        make_line("n3", ["中文字幕，测试。", "مرحبا بالعالم"]),
    ]
    out = get_workspace().root / "out" / "movie.mp4"
    seen: list[tuple[float, str]] = []
    ref = assemble_clips(
        plan, clips, {"narration": lines}, out, OPTS, on_progress=lambda f, m: seen.append((f, m))
    )

    # the published artifact is the movie
    assert ref.media_type == "video/mp4" and ref.path.is_file()
    assert ref.sha256 == hashlib.sha256(out.read_bytes()).hexdigest()
    info = probe(out)
    assert info.has_video and info.has_audio and info.subtitle_streams == 1
    assert (info.width, info.height, info.fps) == (W, H, FPS)
    assert (info.video_codec, info.audio_codec, info.sample_rate) == ("h264", "aac", 48000)

    # duration: every narration plus its pads, plus the closing still; transitions take nothing
    frames = video_frames(out)
    expected = sum(n.duration_s + OPTS.scene_pad_s for n in lines) + STILL_S
    assert frames == ref.metadata["frames"]
    assert abs(frames / FPS - expected) <= 1 / FPS
    # no drift: the soundtrack is as long as the picture
    samples = decode_audio(out)
    assert abs(len(samples) / 16000 - frames / FPS) <= 1 / FPS

    # loudness normalised to the target
    assert loudness_lufs(out) == pytest.approx(-16.0, abs=1.0)

    # one cue per sentence, starting where its sound starts, text intact
    sentences = [s for n in lines for s in n.sentences]
    cues = mp4_cues(out)
    assert [c[2].replace(WORD_JOINER, "") for c in cues] == [s.text for s in sentences]
    onsets = sound_onsets(samples)
    assert len(onsets) == len(sentences)
    for (start, _, text), onset in zip(cues, onsets, strict=True):
        assert abs(start - onset) <= 0.1, (text, start, onset)
    # the .srt beside the movie says the same
    srt = out.with_suffix(".srt")
    assert ref.metadata["srt_path"] == str(srt)
    assert parse_srt(srt.read_text(encoding="utf-8")) == cues

    meta = ref.metadata
    assert meta["plan_id"] == plan.id and meta["ffmpeg_version"] == ffmpeg_version()
    assert meta["duration_s"] == pytest.approx(frames / FPS)
    assert [s["steps"] for s in meta["scenes"]] == [["i1", "n1"], ["v2", "n2"], ["n3"], ["i4"]]
    assert meta["scenes"][2]["visuals"][0]["kind"] == "card"
    assert all(isinstance(c, list) and c[0] == ffmpeg_exe() for c in meta["commands"])
    assert meta["encode_args"][:2] == ["-c:v", "libx264"]
    assert meta["segment_cache"]["hits"] == 0
    assert meta["segment_cache"]["misses"] == len(meta["segments"]) == 4 + 3
    assert meta["loudness"]["normalization"] == "linear"
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0 and len(seen) >= 8


def test_same_inputs_give_the_same_bytes(tmp_path: Path) -> None:
    plan = plan_of(("i1", "image"), ("n1", "tts"), ("v2", "video"), ("n2", "tts"))
    clips = [make_still("i1", (90, 160, 60)), make_clip("v2", 0.8)]
    audio = {"narration": [make_line("n1", ["One."]), make_line("n2", ["Two.", "Three."])]}
    root = get_workspace().root
    first = assemble_clips(plan, clips, audio, root / "a.mp4", OPTS, cache_dir=root / "c1")
    second = assemble_clips(plan, clips, audio, root / "b.mp4", OPTS, cache_dir=root / "c2")
    assert second.metadata["segment_cache"]["hits"] == 0  # really encoded twice
    assert (root / "a.mp4").read_bytes() == (root / "b.mp4").read_bytes()
    assert first.sha256 == second.sha256
    # and from a warm cache: nothing re-encoded, still the same bytes
    third = assemble_clips(plan, clips, audio, root / "c.mp4", OPTS, cache_dir=root / "c1")
    assert third.metadata["segment_cache"] == {
        **first.metadata["segment_cache"],
        "hits": 3,
        "misses": 0,
    }
    assert third.sha256 == first.sha256


def test_editing_one_narration_reencodes_only_its_segments(tmp_path: Path) -> None:
    plan = plan_of(
        ("i1", "image"),
        ("n1", "tts"),
        ("i2", "image"),
        ("n2", "tts"),
        ("i3", "image"),
        ("n3", "tts"),
    )
    clips = [
        make_still("i1", (200, 0, 0)),
        make_still("i2", (0, 200, 0)),
        make_still("i3", (0, 0, 200)),
    ]
    lines = [make_line("n1", ["A."]), make_line("n2", ["B."]), make_line("n3", ["C."])]
    out = get_workspace().root / "movie.mp4"
    first = assemble_clips(plan, clips, {"narration": lines}, out, OPTS)
    assert not any(_segments(first).values())

    # a longer second line: its scene and the transitions on either side change
    lines[1] = make_line("n2", ["B.", "B again."])
    second = assemble_clips(plan, clips, {"narration": lines}, out, OPTS)
    assert _segments(second) == {
        ("scene", 0): True,
        ("transition", 0): False,
        ("scene", 1): False,
        ("transition", 1): False,
        ("scene", 2): True,
    }
    encodes = [c for c in second.metadata["commands"] if "-filter_complex" in c and "-an" in c]
    assert len(encodes) == 3
    assert second.metadata["duration_s"] > first.metadata["duration_s"]

    # the same length with other sound: every picture segment is reused, the sound is new
    lines[1] = make_line("n2", ["B.", "B again."], freq=660.0)
    third = assemble_clips(plan, clips, {"narration": lines}, out, OPTS)
    assert all(_segments(third).values())
    assert third.sha256 != second.sha256


def test_lipsync_audio_is_the_narration_mixed_once(tmp_path: Path) -> None:
    plan = plan_of(("n1", "tts"), ("l2", "lipsync"))
    line = make_line("n1", ["Hello."], freq=440.0)
    # the lipsync clip carries its own (louder, 1 kHz) copy of the line: it must be dropped
    talk = make_clip("l2", line.duration_s, kind="lipsync", tone_hz=1000, audio="n1")
    out = get_workspace().root / "talk.mp4"
    ref = assemble_clips(plan, [talk], {"narration": [line]}, out, OPTS)
    assert ref.metadata["scenes"][0]["visuals"][0]["carries"] == "n1"
    samples = decode_audio(out)
    spectrum = np.abs(np.fft.rfft(samples))
    freqs = np.fft.rfftfreq(len(samples), 1 / 16000)

    def energy(hz: float) -> float:
        return float(spectrum[(freqs > hz - 20) & (freqs < hz + 20)].sum())

    assert energy(440) > 100 * energy(1000)
    assert len(sound_onsets(samples)) == 1


def test_subtitles_off_means_no_subtitle_stream_and_no_srt(tmp_path: Path) -> None:
    plan = plan_of(("i1", "image"), ("n1", "tts"))
    out = get_workspace().root / "quiet.mp4"
    opts = OPTS.model_copy(update={"subtitles": False, "transition": "none"})
    ref = assemble_clips(
        plan, [make_still("i1", (1, 2, 3))], {"narration": [make_line("n1", ["Hi."])]}, out, opts
    )
    assert probe(out).subtitle_streams == 0 and not out.with_suffix(".srt").exists()
    assert ref.metadata["srt_path"] is None and ref.metadata["transitions"] == []


def test_spanish_and_chinese_subtitles_are_carried_unchanged(tmp_path: Path) -> None:
    plan = plan_of(("i1", "image"), ("n1", "tts"), ("n2", "tts"))
    sentences = ["¿Dónde está el niño?", "¡Mañana verá al dragón, señor Núñez!", "小猫在月球上。"]
    lines = [make_line("n1", sentences[:2]), make_line("n2", sentences[2:])]
    out = get_workspace().root / "subtitulos.mp4"
    opts = OPTS.model_copy(update={"transition": "none"})
    assemble_clips(plan, [make_still("i1", (9, 9, 9))], {"narration": lines}, out, opts)
    assert [c[2].replace(WORD_JOINER, "") for c in mp4_cues(out)] == sentences
    srt = parse_srt(out.with_suffix(".srt").read_text(encoding="utf-8"))
    assert [c[2].replace(WORD_JOINER, "") for c in srt] == sentences


def test_unsafe_inputs_are_refused(tmp_path: Path) -> None:
    plan = plan_of(("i1", "image"), ("n1", "tts"))
    line = make_line("n1", ["Hi."])
    good = make_still("i1", (9, 9, 9))
    outside = tmp_path / "outside.png"
    Image.new("RGB", (W, H)).save(outside)
    link = _inputs_dir() / "link.png"
    link.symlink_to(outside)
    out = get_workspace().root / "never.mp4"
    bad_uris = {
        outside.as_uri(): "outside the workspace",
        link.as_uri(): "outside the workspace",
        "-filter_complex": "starts with '-'",
        "-i.png": "starts with '-'",
        "http://example.com/x.png": "not a local file",
        "file://otherhost/etc/passwd": "not a local file",
        "x.png": "not an absolute path",
        (_inputs_dir() / "missing.png").as_uri(): "does not exist",
    }
    for uri, why in bad_uris.items():
        bad = good.model_copy(update={"uri": uri})
        with pytest.raises(AssemblyError, match=why) as err:
            assemble_clips(plan, [bad], {"narration": [line]}, out, OPTS)
        assert err.value.code == "assembly_error"
    bad_line = line.model_copy(update={"uri": outside.as_uri()})
    with pytest.raises(AssemblyError, match="outside the workspace"):
        assemble_clips(plan, [good], {"narration": [bad_line]}, out, OPTS)
    assert not out.exists()


def test_cache_dir_workspace_is_an_allowed_root(tmp_path: Path) -> None:
    ws = get_workspace().root
    other = tmp_path / "other-home"
    assert _allowed_roots(ws, other / "cache" / "segments") == [ws, other.resolve()]
    assert _allowed_roots(ws, other / "segs") == [ws, (other / "segs").resolve()]
    assert _allowed_roots(ws, None) == [ws]


def test_a_clip_is_read_from_near_the_frames_a_segment_shows(tmp_path: Path) -> None:
    """A transition out of a long clip seeks to the clip's last frames instead of decoding
    it from the start, and shows exactly the frames the read from the start shows."""
    from dataclasses import replace

    from sparkle_motion.function_tools.assemble_ffmpeg.timeline import Timeline, build_timeline
    from sparkle_motion.types import uri_to_path

    clip = make_clip("v1", 8.0)
    visuals = [clip, make_still("i2", (40, 90, 200))]
    lines = [make_line("n1", ["One.", "Two.", "Three."]), make_line("n2", ["Four."])]
    plan = plan_of(("v1", "video"), ("n1", "tts"), ("i2", "image"), ("n2", "tts"))
    tl = build_timeline(plan, visuals, lines, OPTS)
    fade = next(s for s in tl.segments() if s.kind == "transition")
    paths = {v.step_id: str(uri_to_path(v.uri)) for v in visuals}

    def frames(timeline: Timeline) -> tuple[bytes, list[str]]:
        return render_segment(timeline, fade, lambda v: paths[v.step_id], tmp_path / "f.yuv")

    sought, args = frames(tl)
    assert "-ss" in args  # the clip is read from near its end
    unsought = Timeline(
        tl.fps, tl.width, tl.height,
        tuple(replace(s, visuals=tuple(replace(v, source_fps=None) for v in s.visuals))
              for s in tl.scenes),
        tl.transitions, tl.hidden,
    )  # fmt: skip
    plain, args = frames(unsought)
    assert "-ss" not in args
    assert len(sought) == fade.frames * W * H * 3 // 2
    assert sought == plain


def test_a_long_scene_is_encoded_in_pieces_that_join_without_a_seam(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A body longer than MAX_SEGMENT_FRAMES comes as pieces cut every MAX_SEGMENT_FRAMES
    that cover it; the frames the pieces render, one after the other, are the frames of
    the whole body."""
    from sparkle_motion.function_tools.assemble_ffmpeg import timeline
    from sparkle_motion.types import uri_to_path

    visuals = [make_clip("v1", 6.0), make_still("i2", (40, 90, 200))]
    lines = [make_line("n1", ["One.", "Two.", "Three.", "Four."])]
    plan = plan_of(("v1", "video"), ("i2", "image"), ("n1", "tts"))
    paths = {v.step_id: str(uri_to_path(v.uri)) for v in visuals}

    def rendered(segments: list, tl: timeline.Timeline) -> bytes:
        out = tmp_path / "piece.yuv"
        return b"".join(
            render_segment(tl, seg, lambda v: paths[v.step_id], out)[0] for seg in segments
        )

    whole_tl = timeline.build_timeline(plan, visuals, lines, OPTS)
    [body] = whole_tl.segments()
    monkeypatch.setattr(timeline, "MAX_SEGMENT_FRAMES", 16)  # a 6 s clip, 12 fps
    monkeypatch.setattr(timeline, "MIN_PIECE_FRAMES", 4)
    tl = timeline.build_timeline(plan, visuals, lines, OPTS)
    pieces = tl.segments()
    assert body.frames % 16 >= 4, "the test wants a last piece of its own"
    assert len(pieces) == -(-body.frames // 16) > 2
    assert sum(p.frames for p in pieces) == body.frames and pieces[0].start == body.start
    assert all(a.start + a.frames == b.start for a, b in itertools.pairwise(pieces))
    assert [p.frames for p in pieces[:-1]] == [16] * (len(pieces) - 1)
    assert rendered(pieces, tl) == rendered([body], whole_tl)
    # and the movie made of the pieces has every frame
    movie = assemble_clips(plan, visuals, {"narration": lines}, tmp_path / "m.mp4", OPTS)
    assert len(movie.metadata["segments"]) == len(pieces)
    assert video_frames(movie.path) == body.frames
