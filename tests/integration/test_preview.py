"""The preview profile end to end: one sentence in, a watchable animatic out, measured."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from tests.media import decode_audio, integrated_loudness, sound_onsets, subtitle_cues

from sparkle_motion.utils.ffmpeg import ffmpeg_exe, probe

SCRIPT = Path(sys.executable).parent / "sparkle-motion"
IDEA = "a lighthouse keeper befriends a whale"


def gray_frames(path: Path) -> np.ndarray:
    raw = subprocess.run(
        [ffmpeg_exe(), "-v", "error", "-i", str(path), "-map", "0:v:0", "-vf", "scale=64:36",
         "-pix_fmt", "gray", "-f", "rawvideo", "-"],
        capture_output=True, check=True,
    ).stdout  # fmt: skip
    return np.frombuffer(raw, np.uint8).reshape(-1, 36, 64).astype(np.float32)


def longest_run(mask: np.ndarray) -> int:
    best = run = 0
    for value in mask:
        run = run + 1 if value else 0
        best = max(best, run)
    return best


@pytest.fixture(scope="module")
def movie(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("preview")
    env = {**os.environ, "SPARKLE_HOME": str(folder / "home"), "COLUMNS": "200"}
    env.pop("SPARKLE_PROFILE", None)
    command = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "sparkle_motion.cli"]
    result = subprocess.run(
        [*command, "run", IDEA, "-o", str(folder / "movie.mp4")],
        capture_output=True, text=True, env=env, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "Movie:" in result.stdout
    return folder / "movie.mp4"


def test_streams_and_av_sync(movie: Path) -> None:
    info = probe(movie)
    assert info.has_video and info.has_audio and info.subtitle_streams == 1
    assert (info.width, info.height, info.fps) == (1280, 720, 24.0)
    frames = gray_frames(movie)
    audio_s = len(decode_audio(movie)) / 16000
    assert abs(len(frames) / 24 - audio_s) <= 1 / 24 + 0.03, "A/V drift within one frame"
    assert 30 <= audio_s <= 120


def test_subtitles_follow_the_speech(movie: Path) -> None:
    onsets = sound_onsets(decode_audio(movie), min_gap_s=0.25)
    cues = subtitle_cues(movie)
    assert len(cues) >= 6
    for start, _end, text in cues:
        assert min(abs(start - o) for o in onsets) <= 0.1, (start, text)
    assert movie.with_suffix(".srt").is_file()


def test_a_cast_of_voices_names_its_speakers(movie: Path) -> None:
    texts = [text for _s, _e, text in subtitle_cues(movie)]
    assert any(t.startswith("Keeper: ") for t in texts)
    assert any(t.startswith("Whale: ") for t in texts)
    assert not any(t.startswith("Narrator") for t in texts)  # the narrator is never named
    plan = yaml.safe_load(movie.with_suffix(".plan.yaml").read_text(encoding="utf-8"))
    narrator = {s["voice"]["id"] for s in plan["steps"] if s["type"] == "tts"}
    cast = {m["voice"]["id"] for m in plan["cast"].values()}
    assert len(narrator | cast) == 3, (narrator, cast)


def test_loudness(movie: Path) -> None:
    assert abs(integrated_loudness(movie) - (-16.0)) <= 1.0


def test_no_black_or_frozen_stretch(movie: Path) -> None:
    frames = gray_frames(movie)
    black = frames.mean(axis=(1, 2)) < 16
    frozen = np.abs(np.diff(frames, axis=0)).mean(axis=(1, 2)) < 0.05
    assert longest_run(black) <= 12, "no black run over 0.5 s"
    assert longest_run(frozen) < 12, "no frozen run over 0.5 s"
    assert frames.std(axis=(1, 2)).mean() > 10, "pictures, not flat colour"


def test_the_plan_is_saved_beside_the_movie(movie: Path) -> None:
    assert movie.with_suffix(".plan.yaml").is_file()


def test_shots_only_the_movie_shows_are_kept_as_proxies(movie: Path) -> None:
    """The movie renders each shot's camera move itself, at 1280x720; the clip a video step
    keeps is a half-size proxy of it (and no other step of this plan uses a clip)."""
    import json

    made = json.loads(movie.with_suffix(".manifest.json").read_text(encoding="utf-8"))
    shots = [s for s in made["steps"] if s["type"] == "video"]
    assert len(shots) >= 3
    blobs = movie.parent / "home" / "blobs"
    for shot in shots:
        [sha] = shot["artifacts"]
        info = probe(blobs / sha[:2] / f"{sha}.mp4")
        assert (info.width, info.height, info.fps) == (640, 360, 24.0), shot["step_id"]
    assert (probe(movie).width, probe(movie).height) == (1280, 720)
