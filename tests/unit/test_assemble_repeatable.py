"""Guard: every kind of ffmpeg command the assembler runs gives the same bytes every time.

Each command (a scene segment, a transition segment, the soundtrack's second pass, the final
mux) runs ten times, two at a time (the assembler runs its steps side by side too), on small
inputs; every run must write the same file. The sound is made peaky, as the preview
profile's narration is: where loudnorm's own second pass left linear mode for its dynamic
mode on such sound, the same command once gave two different outputs.
"""

from __future__ import annotations

import hashlib
import wave
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from sparkle_motion.function_tools.assemble_ffmpeg import audio as soundtrack
from sparkle_motion.function_tools.assemble_ffmpeg import commands
from sparkle_motion.function_tools.assemble_ffmpeg.subtitles import build_cues, write_srt
from sparkle_motion.function_tools.assemble_ffmpeg.timeline import Timeline, build_timeline
from sparkle_motion.types import AssembleOpts, MoviePlan, NarrationInput, VisualInput
from sparkle_motion.utils.ffmpeg import ffmpeg_exe
from sparkle_motion.utils.run_command import run_command

RUNS = 10
OPTS = AssembleOpts(width=96, height=54, fps=12, preset="ultrafast", crf=30)
LINE_S = 1.5


def _still(path: Path, color: tuple[int, int, int]) -> VisualInput:
    from PIL import Image

    a = np.zeros((108, 192, 3), np.uint8)
    a[...] = color
    a[::12] = 255
    a[:, ::12] = 255
    Image.fromarray(a).save(path)
    return VisualInput(
        step_id=path.stem, step_type="image", uri=path.as_uri(), media_type="image/png"
    )


def _line(path: Path, seed: int) -> NarrationInput:
    """Quiet noise with a few loud clicks: a high true peak for its loudness, so the gain
    pushes the peaks into the limiter."""
    rate = 24000
    rng = np.random.default_rng(seed)
    x = 0.03 * rng.standard_normal(round(LINE_S * rate))
    x[rate // 4 :: rate // 3] = 0.95
    samples = (np.clip(x, -1, 1) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(samples.tobytes())
    return NarrationInput(
        step_id=path.stem, uri=path.as_uri(), text="Words.", duration_s=len(samples) / rate
    )


def _setup(tmp: Path) -> tuple[Timeline, dict[str, Path]]:
    steps = [
        {"id": "i0", "type": "image", "prompt": "p"},
        {"id": "n0", "type": "tts", "text": "Words."},
        {"id": "i1", "type": "image", "prompt": "p"},
        {"id": "n1", "type": "tts", "text": "Words."},
    ]
    plan = MoviePlan.model_validate({"title": "t", "steps": steps})
    clips = [_still(tmp / "i0.png", (200, 80, 40)), _still(tmp / "i1.png", (40, 90, 200))]
    lines = [_line(tmp / "n0.wav", 1), _line(tmp / "n1.wav", 2)]
    tl = build_timeline(plan, clips, lines, OPTS)
    return tl, {c.step_id: Path(c.uri.removeprefix("file://")) for c in clips}


def _same_bytes_every_time(cmd: list[str], out: Path) -> str:
    """Run ``cmd`` RUNS times (two at a time, each to its own file); the one digest."""

    def once(i: int) -> str:
        mine = out.with_name(f"{out.stem}.{i}{out.suffix}")
        run_command([*cmd[:-1], str(mine)], timeout_s=60)
        return hashlib.sha256(mine.read_bytes()).hexdigest()

    with ThreadPoolExecutor(2) as pool:
        digests = list(pool.map(once, range(RUNS)))
    assert len(set(digests)) == 1, f"{len(set(digests))} different outputs from {cmd}"
    return digests[0]


def test_every_encode_command_gives_the_same_bytes_every_time(tmp_path: Path) -> None:
    exe = ffmpeg_exe()
    tl, paths = _setup(tmp_path)
    segments = tl.segments()
    assert {s.kind for s in segments} == {"scene", "transition"}

    # segment video: one scene body and one transition
    enc = commands.encode_args(OPTS)
    seg_files = []
    for seg in segments:
        out = tmp_path / f"{seg.kind}{seg.index}.mp4"
        cmd = commands.segment_command(exe, tl, seg, enc, lambda v: str(paths[v.step_id]), str(out))
        if seg.kind == "transition" or seg.index == 0:
            _same_bytes_every_time(cmd, out)
            out.with_name(f"{out.stem}.0{out.suffix}").replace(out)
        else:
            run_command(cmd, timeout_s=60)
        seg_files.append(str(out))

    # the soundtrack: mix, measure, then the second pass (gain + limiter) again and again
    work = tmp_path / "sound"
    work.mkdir()
    sound = soundtrack.build_audio(exe, tl, OPTS, work, lambda c: run_command(c, timeout_s=60))
    assert sound.normalization == "linear"
    assert sound.output["gain_db"] + sound.measured["input_tp"] > -1.5  # the limiter works
    pass2 = sound.commands[-1]
    assert "alimiter=" in " ".join(pass2) and pass2[-1] == str(sound.path)
    _same_bytes_every_time(pass2, sound.path)

    # joining and muxing (stream copy plus mov_text subtitles)
    listing = tmp_path / "segments.ffconcat"
    listing.write_text(commands.concat_list(seg_files), encoding="utf-8")
    srt = write_srt(build_cues(tl), tmp_path / "movie.srt")
    out = tmp_path / "movie.mp4"
    mux = commands.mux_command(exe, str(listing), str(sound.path), str(srt), str(out))
    _same_bytes_every_time(mux, out)
