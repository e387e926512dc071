"""Preview lip sync: the face clip (or a slowly zooming still) with the line's audio.

No mouth moves (that is what Wav2Lip is for), so the result is marked ``simulated``; but
the picture moves, the audio is the line's, and the lengths match the audio: a longer clip
is cut, a shorter one loops.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sparkle_motion.function_tools.lipsync_wav2lip.logs import RunLogs
from sparkle_motion.types import DEFAULT_FPS, DEFAULT_HEIGHT, DEFAULT_WIDTH
from sparkle_motion.utils import moves
from sparkle_motion.utils.ffmpeg import INTERMEDIATE_VIDEO_ARGS, TO_BT709, ffmpeg_exe, probe
from sparkle_motion.utils.run_command import run_command

PROVIDER_ID = "lipsync_wav2lip/preview"
VERSION = "3"


def run(face: Path, audio: Path, out_path: Path, opts: dict[str, Any]) -> dict:
    fps = int(opts.get("fps") or DEFAULT_FPS)
    width, height = (
        int(opts.get("width") or DEFAULT_WIDTH),
        int(opts.get("height") or DEFAULT_HEIGHT),
    )
    duration = probe(audio).duration_s or 1.0
    frames = max(1, round(duration * fps))
    still = face.suffix.lower() in (".png", ".jpg", ".jpeg", ".webp")
    fit = (
        f"scale={width}:{height}:force_original_aspect_ratio=increase,crop={width}:{height},"
        f"setsar=1,{TO_BT709}"
    )
    if still:
        face_in = ["-f", "image2", "-framerate", str(fps)]
        travel = moves.travel_for(duration)
        move = moves.perspective(moves.corners("zoom_in", travel, moves.eased(frames)))
        video = f"[0:v]{fit},loop=loop=-1:size=1:start=0,trim=end_frame={frames},{move}[v]"
    else:
        face_in = ["-stream_loop", "-1"]
        video = f"[0:v]fps={fps},{fit}[v]"
    cmd = [
        ffmpeg_exe(), "-hide_banner", "-nostdin", "-y", "-loglevel", "error",
        *face_in, "-i", str(face.resolve()), "-i", str(audio.resolve()),
        "-filter_complex", video, "-map", "[v]", "-map", "1:a:0",
        "-frames:v", str(frames), "-r", str(fps), *INTERMEDIATE_VIDEO_ARGS,
        "-c:a", "aac", "-b:a", "192k", "-flags:a", "+bitexact", "-t", f"{duration:.4f}",
        str(out_path),
    ]  # fmt: skip
    logs = RunLogs(out_path)
    logs.add(run_command(cmd, timeout_s=600), "preview encode")
    return {
        **logs.metadata(),
        "duration_s": duration,
        "fps": fps,
        "simulated": True,
        "provider": PROVIDER_ID,
        "model_checkpoint": None,
        "face_detector": None,
        "device": "cpu",
    }
