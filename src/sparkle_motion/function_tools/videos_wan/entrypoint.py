"""videos_wan FunctionTool entrypoint (the spec's ``run_wan_inference``)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from sparkle_motion.providers import backend
from sparkle_motion.types import DEFAULT_FPS, DEFAULT_HEIGHT, DEFAULT_NUM_FRAMES, DEFAULT_WIDTH

TOOL = "videos_wan"


def clip_shape(opts: dict[str, Any]) -> tuple[int, int, int, int]:
    """(width, height, fps, frames) a backend renders, the defaults filled in."""
    return (
        int(opts.get("width") or DEFAULT_WIDTH),
        int(opts.get("height") or DEFAULT_HEIGHT),
        int(opts.get("fps") or DEFAULT_FPS),
        int(opts.get("num_frames") or DEFAULT_NUM_FRAMES),
    )


def run_wan_inference(
    start_frames: list[Path | str],
    end_frames: list[Path | str],
    prompt: str,
    opts: dict[str, Any],
    out_path: Path | str,
) -> dict:
    """Render a clip from keyframes and a prompt into ``out_path`` (MP4); returns metadata.

    Args:
        start_frames / end_frames: local image paths (first/last frame keyframes).
        opts: VideoOpts fields plus ``provider`` (fixture, preview or full).
    """
    started = time.perf_counter()
    module = backend(TOOL, opts.get("provider", "fixture"))
    meta = module.render(
        [Path(p) for p in start_frames], [Path(p) for p in end_frames], prompt, opts,
        Path(out_path),
    )  # fmt: skip
    meta["inference_time_s"] = round(time.perf_counter() - started, 4)
    return meta
