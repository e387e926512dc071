"""Fixture video: a clip of the requested frames, fps and size made from the keyframes.

One keyframe: a slow pan across it. Start and end frames: a crossfade from one to the other.
No keyframe: the prompt is drawn as a fixture image first. Encoded lossless (x264 qp 0,
which is also the fastest setting), deterministic (bitexact, fixed threads).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from PIL import Image, ImageOps

from sparkle_motion.function_tools.fixture_support import fixture_delay
from sparkle_motion.function_tools.images_sdxl.fixture import draw
from sparkle_motion.function_tools.videos_wan.entrypoint import clip_shape
from sparkle_motion.utils.ffmpeg import INTERMEDIATE_VIDEO_ARGS, TO_BT709, ffmpeg_exe
from sparkle_motion.utils.run_command import run_command

PROVIDER_ID = "videos_wan/fixture"
VERSION = "5"  # 5: keyframes converted once, not every frame; a keyframe every 24 frames
ONE_PASS = True  # one ffmpeg pass per shot is cheaper than chunks and a reassembly


def _fit(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    """Scale and centre-crop to exactly ``size``."""
    return ImageOps.fit(image.convert("RGB"), size, Image.Resampling.BILINEAR)


def render(
    start_frames: list[Path], end_frames: list[Path], prompt: str, opts: dict[str, Any],
    out_path: Path, *, on_progress: Callable[[dict], None] | None = None,
) -> dict:  # fmt: skip
    """Write ``opts['num_frames']`` frames at ``opts['fps']`` to ``out_path`` (MP4)."""
    fixture_delay()
    width, height, fps, frames = clip_shape(opts)
    duration = frames / fps
    pan = not end_frames
    # Fit (and, for a pan, enlarge) the keyframes once here, so ffmpeg only crops per frame.
    big = ((int(width * 1.12) // 2) * 2, (int(height * 1.12) // 2) * 2) if pan else (width, height)
    if start_frames:
        first = _fit(Image.open(start_frames[0]), big)
    else:
        first = _fit(draw(prompt, int(opts.get("seed") or 0), 0, width, height), big)
    inputs = [out_path.with_suffix(".k0.png")]
    first.save(inputs[0], compress_level=1)
    if end_frames:
        inputs.append(out_path.with_suffix(".k1.png"))
        _fit(Image.open(end_frames[0]), big).save(inputs[1], compress_level=1)
    cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-y"]
    for path in inputs:
        cmd += ["-framerate", str(fps), "-i", str(path)]
    # decode and convert each keyframe once, then repeat it (the loop filter): the pan crops
    # the converted picture (in whole chroma pixels), so no frame is converted again
    hold = f"{TO_BT709},loop=loop=-1:size=1:start=0,trim=end_frame={frames},setpts=N/{fps}/TB"
    if pan:
        graph = (
            f"[0:v]{hold},crop={width}:{height}:x='(in_w-out_w)*n/{max(1, frames - 1)}'"
            f":y='(in_h-out_h)/2',setsar=1"
        )
    else:
        graph = (
            f"[0:v]{hold}[a];[1:v]{hold}[b];"
            f"[a][b]xfade=transition=fade:duration={duration:.4f}:offset=0,setsar=1"
        )
    cmd += ["-filter_complex", graph]
    cmd += [
        "-frames:v",
        str(frames),
        "-r",
        str(fps),
        *INTERMEDIATE_VIDEO_ARGS,
        "-an",
        str(out_path),
    ]
    if on_progress is not None:
        on_progress({"phase": "rendering", "frame_index": 0, "progress": 0.0})
    try:
        run_command(cmd, timeout_s=600)
    finally:
        for path in inputs:
            path.unlink(missing_ok=True)
    if on_progress is not None:
        on_progress({"phase": "postprocess", "frame_index": frames - 1, "progress": 1.0})
    return {
        "num_frames": frames,
        "fps": fps,
        "width": width,
        "height": height,
        "duration_s": duration,
        "provider": PROVIDER_ID,
        "model_id": "fixture",
        "device": "cpu",
        "keyframes": len(start_frames) + len(end_frames),
    }
