"""Fixture lip sync: the face clip (or a still) with the line's audio muxed in.

Lengths are reconciled to the audio: a short clip loops, a long one is cut. The result
stands in for real lip sync, so its metadata says ``simulated``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sparkle_motion.function_tools.fixture_support import fixture_delay
from sparkle_motion.utils.ffmpeg import INTERMEDIATE_VIDEO_ARGS, TO_BT709, ffmpeg_exe, probe
from sparkle_motion.utils.run_command import run_command

PROVIDER_ID = "lipsync_wav2lip/fixture"
VERSION = "4"


def run(face: Path, audio: Path, out_path: Path, opts: dict[str, Any]) -> dict:
    fixture_delay()
    fps = int(opts.get("fps") or 24)
    width, height = int(opts.get("width") or 1280), int(opts.get("height") or 720)
    duration = probe(audio).duration_s or 1.0
    still = face.suffix.lower() in (".png", ".jpg", ".jpeg")
    face_in = ["-loop", "1", "-framerate", str(fps)] if still else ["-stream_loop", "-1"]
    cmd = [
        ffmpeg_exe(), "-hide_banner", "-nostdin", "-y", *face_in, "-i", str(face.resolve()),
        "-i", str(audio.resolve()), "-map", "0:v:0", "-map", "1:a:0", "-t", f"{duration:.4f}",
        "-vf", f"scale={width}:{height}:force_original_aspect_ratio=increase,"
        f"crop={width}:{height},setsar=1,fps={fps},{TO_BT709}",
        *INTERMEDIATE_VIDEO_ARGS,
        "-c:a", "aac", "-b:a", "192k", "-flags:a", "+bitexact", str(out_path),
    ]  # fmt: skip
    run_command(cmd, timeout_s=600)
    return {
        "duration_s": duration,
        "fps": fps,
        "simulated": True,
        "provider": PROVIDER_ID,
        "model_checkpoint": None,
        "face_detector": None,
        "device": "cpu",
    }
