"""Preview video: camera motion over the step's keyframes, at the requested frames, fps, size.

One keyframe: a slow, eased pan or zoom across it (``opts['motion']``; ``auto`` picks one
from the seed). Start and end frames: a move on the start frame that cross-fades into the
end frame through the middle of the shot. No keyframe: the prompt is drawn first by the
preview storyboard. Something moves in every frame. Output: a lossless BT.709 intermediate.

A shot that only the movie shows (``opts['proxy']``) over one PNG keyframe is a camera move
the assembler can render itself, at the movie's size, in the same pass that encodes the
movie: the backend then writes a half-size proxy to look at and returns the move in the
metadata (``move``: the keyframe, motion, travel, frames, fps, size). Rendering the move
twice, lossless, and decoding it again cost a preview run about a fifth of its CPU time.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PIL import Image, ImageOps

from sparkle_motion.function_tools.videos_wan.entrypoint import clip_shape
from sparkle_motion.utils import moves
from sparkle_motion.utils.ffmpeg import (
    INTERMEDIATE_VIDEO_ARGS,
    PROXY_VIDEO_ARGS,
    TO_BT709,
    ffmpeg_exe,
)
from sparkle_motion.utils.run_command import run_command

PROVIDER_ID = "videos_wan/preview"
VERSION = "7"  # 6: a proxy and the move, for a shot only the movie shows; 7: ultrafast proxy
ONE_PASS = True  # one ffmpeg pass per shot is cheaper than chunks and a reassembly
MOVES = True  # describes a shot over one keyframe as a camera move (``opts['proxy']``)


def pick_motion(motion: str | None, seed: int, prompt: str) -> str:
    """The move to make: the requested one, or one chosen from the seed and prompt."""
    if motion and motion != "auto":
        return motion
    digest = hashlib.sha256(f"{seed}|{prompt}".encode()).digest()
    return moves.MOTIONS[digest[0] % len(moves.MOTIONS)]


def _keyframe(path: Path | None, prompt: str, seed: int, size: tuple[int, int]) -> Image.Image:
    if path is not None:
        return ImageOps.fit(Image.open(path).convert("RGB"), size, Image.Resampling.LANCZOS)
    from sparkle_motion.function_tools.images_sdxl import preview as storyboard

    item = storyboard.render(prompt, 1, seed, {"width": size[0], "height": size[1]})[0]
    import io

    return Image.open(io.BytesIO(item["data"])).convert("RGB")


def _frame_reporter(on_progress: Callable[[dict], None], frames: int) -> Callable[[str], None]:
    """Turns ffmpeg's ``frame=N`` progress lines into the backend's progress dicts."""

    def on_line(line: str) -> None:
        if line.startswith("frame="):
            done = min(frames, int(line[6:].strip() or 0))
            if 0 < done < frames:
                on_progress({"phase": "rendering", "frame_index": done - 1,
                             "progress": done / frames})  # fmt: skip

    return on_line


def _movable(start_frames: list[Path], end_frames: list[Path], opts: dict[str, Any]) -> bool:
    """Whether the shot is one move over one PNG keyframe that only the movie shows."""
    if not opts.get("proxy") or len(start_frames) != 1 or end_frames:
        return False
    with Image.open(start_frames[0]) as im:
        return im.format == "PNG"


def render(
    start_frames: list[Path], end_frames: list[Path], prompt: str, opts: dict[str, Any],
    out_path: Path, *, on_progress: Callable[[dict], None] | None = None,
) -> dict:  # fmt: skip
    """Write the clip to ``out_path`` (MP4); returns its metadata."""
    width, height, fps, frames = clip_shape(opts)
    seed = int(opts.get("seed") or 0)
    motion = pick_motion(opts.get("motion"), seed, prompt)
    duration = frames / fps
    travel = moves.travel_for(duration)
    move = None
    if _movable(start_frames, end_frames, opts):
        move = {
            "keyframe": str(start_frames[0]), "keyframe_media_type": "image/png",
            "motion": motion, "travel": travel, "frames": frames, "fps": fps,
            "width": width, "height": height,
        }  # fmt: skip
        width, height = max(2, width // 4 * 2), max(2, height // 4 * 2)  # half, even
    first = _keyframe(start_frames[0] if start_frames else None, prompt, seed, (width, height))
    inputs = [out_path.with_suffix(".k0.png")]
    first.save(inputs[0], compress_level=1)
    if end_frames:
        inputs.append(out_path.with_suffix(".k1.png"))
        _keyframe(end_frames[0], prompt, seed, (width, height)).save(inputs[1], compress_level=1)
    cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-y", "-loglevel", "error"]
    for path in inputs:
        cmd += ["-f", "image2", "-framerate", str(fps), "-i", str(path)]
    # convert each keyframe once, repeat it, then move a sub-pixel window over it
    hold = f"{TO_BT709},loop=loop=-1:size=1:start=0,trim=end_frame={frames},setpts=N/{fps}/TB"
    camera = moves.perspective(moves.corners(motion, travel, moves.eased(frames)))
    if end_frames:
        # the end frame arrives through the middle half of the shot, moving the other way
        back = {"zoom_in": "zoom_out", "zoom_out": "zoom_in"}.get(motion, motion)
        move_b = moves.perspective(moves.corners(back, travel, moves.eased(frames)))
        graph = (
            f"[0:v]{hold},{camera}[a];[1:v]{hold},{move_b}[b];"
            f"[a][b]xfade=transition=fade:duration={duration / 2:.4f}:offset={duration / 4:.4f},"
            f"trim=end_frame={frames},setsar=1[out]"
        )
    else:
        graph = f"[0:v]{hold},{camera},setsar=1[out]"
    encode = INTERMEDIATE_VIDEO_ARGS if move is None else PROXY_VIDEO_ARGS
    cmd += ["-filter_complex", graph, "-map", "[out]", "-frames:v", str(frames), "-r", str(fps),
            *encode, "-an", str(out_path)]  # fmt: skip
    on_line = None
    if on_progress is not None:
        on_progress({"phase": "rendering", "frame_index": 0, "progress": 0.0})
        # ffmpeg reports the frames written so far a few times a second
        cmd[1:1] = ["-progress", "pipe:1", "-stats_period", "0.25"]
        on_line = _frame_reporter(on_progress, frames)
    try:
        run_command(cmd, timeout_s=600, on_line=on_line)
    finally:
        for path in inputs:
            path.unlink(missing_ok=True)
    if on_progress is not None:
        on_progress({"phase": "postprocess", "frame_index": frames - 1, "progress": 1.0})
    meta = {
        "num_frames": frames,
        "fps": fps,
        "width": width,
        "height": height,
        "duration_s": duration,
        "motion": motion,
        "provider": PROVIDER_ID,
        "model_id": "ffmpeg-camera-moves",
        "device": "cpu",
        "keyframes": len(start_frames) + len(end_frames),
    }
    if move is not None:
        meta.update(move=move, proxy=True)
    return meta
