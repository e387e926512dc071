"""videos_wan FunctionTool entrypoint (the spec's ``run_wan_inference``).

The backend contract (fixture.py, preview.py, full.py): ``render(start_frames, end_frames,
prompt, opts, out_path, *, on_progress=None) -> dict`` writes a lossless intermediate MP4 of
exactly ``opts["num_frames"]`` frames at ``opts["width"]`` x ``opts["height"]``,
``opts["fps"]``, seeded by ``opts["seed"]``, on ``opts["device"]`` ("cuda:0", "cpu").
``on_progress`` receives dicts with ``phase``, ``frame_index`` and ``progress`` (0..1 within
the call). Out of memory raises ``ModelOOMError``; a transient failure raises a retryable
SparkleError. A module may define ``FRAME_MULTIPLE``/``FRAME_OFFSET`` (Wan: 4k+1 frames) and
``ONE_PASS = True`` (a shot of any length is cheaper in one call than in chunks).

``opts["proxy"]``: only the movie shows the shot. A backend with ``MOVES = True`` may then
write a small playable proxy and return the shot as a camera move over one keyframe
(``meta["move"]``: ``keyframe`` path, ``keyframe_media_type``, ``motion``, ``travel``,
``frames``, ``fps``, ``width``, ``height``), which the assembler renders at full size.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
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


def backend_module(profile: str) -> ModuleType:
    """The backend module of ``profile`` (fixture, preview or full)."""
    return backend(TOOL, profile)


def run_wan_inference(
    start_frames: list[Path | str],
    end_frames: list[Path | str],
    prompt: str,
    opts: dict[str, Any],
    out_path: Path | str,
    *,
    on_progress: Callable[[dict], None] | None = None,
    module: Any = None,
) -> dict:
    """Render a clip from keyframes and a prompt into ``out_path`` (MP4); returns metadata.

    Args:
        start_frames / end_frames: local image paths (first/last frame keyframes).
        opts: VideoOpts fields plus ``provider`` (fixture, preview or full), ``device``.
        on_progress: receives the backend's progress dicts.
        module: the backend module to call (default: the one ``opts["provider"]`` names).
    """
    started = time.perf_counter()
    module = module or backend_module(opts.get("provider", "fixture"))
    meta = module.render(
        [Path(p) for p in start_frames], [Path(p) for p in end_frames], prompt, opts,
        Path(out_path), on_progress=on_progress,
    )  # fmt: skip
    meta["inference_time_s"] = round(time.perf_counter() - started, 4)
    return meta
