"""Preview video and lip sync: real clips, measured (frames, fps, motion, audio)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from sparkle_motion.function_tools.lipsync_wav2lip import preview as lipsync
from sparkle_motion.function_tools.tts_chatterbox import fixture as tones
from sparkle_motion.function_tools.videos_wan import preview
from sparkle_motion.utils.ffmpeg import ffmpeg_exe, probe


def gray_frames(path: Path, size: tuple[int, int] = (64, 36)) -> np.ndarray:
    raw = subprocess.run(
        [ffmpeg_exe(), "-v", "error", "-i", str(path), "-vf", f"scale={size[0]}:{size[1]}",
         "-pix_fmt", "gray", "-f", "rawvideo", "-"],
        capture_output=True, check=True,
    ).stdout  # fmt: skip
    return np.frombuffer(raw, np.uint8).reshape(-1, size[1], size[0]).astype(np.float32)


def picture(path: Path, seed: int) -> Path:
    rng = np.random.default_rng(seed)
    img = Image.new("RGB", (320, 180), tuple(int(c) for c in rng.integers(0, 255, 3)))
    d = ImageDraw.Draw(img)
    for _ in range(12):
        x, y = int(rng.integers(0, 300)), int(rng.integers(0, 160))
        d.ellipse([x, y, x + 30, y + 30], fill=tuple(int(c) for c in rng.integers(0, 255, 3)))
    img.save(path)
    return path


@pytest.mark.parametrize(
    "motion", ["zoom_in", "zoom_out", "pan_left", "pan_right", "pan_up", "auto"]
)
def test_one_keyframe_moves_in_every_frame(tmp_path: Path, motion: str) -> None:
    out = tmp_path / "clip.mp4"
    meta = preview.render(
        [picture(tmp_path / "k.png", 1)], [], "a fox",
        {"num_frames": 37, "fps": 12, "width": 320, "height": 176, "motion": motion, "seed": 3},
        out,
    )  # fmt: skip
    info = probe(out)
    assert (info.width, info.height, info.fps) == (320, 176, 12.0)
    frames = gray_frames(out)
    assert len(frames) == 37 == meta["num_frames"]
    diffs = np.abs(np.diff(frames, axis=0)).mean(axis=(1, 2))
    assert (diffs > 0.01).all(), "no frozen pair of frames"
    assert meta["motion"] in preview.moves.MOTIONS


def test_start_and_end_frames_crossfade(tmp_path: Path) -> None:
    a, b = picture(tmp_path / "a.png", 1), picture(tmp_path / "b.png", 2)
    out = tmp_path / "clip.mp4"
    preview.render([a], [b], "x", {"num_frames": 48, "fps": 12, "width": 320, "height": 176}, out)
    frames = gray_frames(out)
    start = gray_frames_from_image(a)
    end = gray_frames_from_image(b)
    assert np.abs(frames[0] - start).mean() < np.abs(frames[0] - end).mean()
    assert np.abs(frames[-1] - end).mean() < np.abs(frames[-1] - start).mean()


def gray_frames_from_image(path: Path) -> np.ndarray:
    img = Image.open(path).convert("L").resize((64, 36))
    return np.asarray(img, np.float32)


def test_same_inputs_same_bytes(tmp_path: Path) -> None:
    k = picture(tmp_path / "k.png", 5)
    opts = {"num_frames": 12, "fps": 12, "width": 160, "height": 96, "seed": 1}
    preview.render([k], [], "p", opts, tmp_path / "1.mp4")
    preview.render([k], [], "p", opts, tmp_path / "2.mp4")
    assert (tmp_path / "1.mp4").read_bytes() == (tmp_path / "2.mp4").read_bytes()


@pytest.mark.parametrize("face_kind", ["still", "clip"])
def test_lipsync_carries_the_line(tmp_path: Path, face_kind: str) -> None:
    wav = tmp_path / "line.wav"
    tones.synthesize("Hello there, whale. How are you today?", "narrator", {}, wav)
    face = picture(tmp_path / "face.png", 7)
    if face_kind == "clip":
        clip = tmp_path / "face.mp4"
        preview.render(
            [face], [], "x", {"num_frames": 12, "fps": 12, "width": 320, "height": 176}, clip
        )
        face = clip
    out = tmp_path / "lip.mp4"
    meta = lipsync.run(face, wav, out, {"fps": 12, "width": 320, "height": 176})
    info, line = probe(out), probe(wav)
    assert info.has_video and info.has_audio and meta["simulated"] is True
    assert abs(info.duration_s - line.duration_s) <= 1 / 12 + 0.05
    frames = gray_frames(out)
    assert np.abs(np.diff(frames, axis=0)).mean(axis=(1, 2)).max() > 0.01, "the picture moves"
