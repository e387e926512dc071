"""videos_agent: renders clips through videos_wan and lip sync through lipsync_wav2lip.

Thin for now: chooses the provider from the run context's profile and applies the retry
hint ``shrink`` (set by production_agent after an out-of-memory error) to the chunk length.
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path
from typing import Any

from sparkle_motion.adk_helpers import publish_local
from sparkle_motion.function_tools.lipsync_wav2lip import entrypoint as lipsync_entrypoint
from sparkle_motion.function_tools.videos_wan import entrypoint as wan_entrypoint
from sparkle_motion.run_context import current_run_context
from sparkle_motion.types import ArtifactRef, VideoOpts, Wav2LipOpts


def _work_dir() -> Path:
    ctx = current_run_context()
    work = Path(ctx.work_dir) if ctx.work_dir else Path(tempfile.mkdtemp(prefix="sparkle-vid-"))
    work.mkdir(parents=True, exist_ok=True)
    return work


def effective_chunk_length(opts: VideoOpts) -> int:
    """The chunk length for this attempt: shrunk after an OOM, never below the minimum."""
    shrink = current_run_context().hints.get("shrink")
    if not shrink:
        return opts.chunk_length_frames
    return max(opts.min_chunk_frames, math.ceil(opts.chunk_length_frames * float(shrink)))


def render_video(
    start_frames: list[Path | str],
    end_frames: list[Path | str],
    prompt: str,
    opts: VideoOpts | dict[str, Any],
) -> ArtifactRef:
    """Render a clip from keyframes (local paths) and a prompt; returns its ArtifactRef."""
    opts = opts if isinstance(opts, VideoOpts) else VideoOpts.model_validate(opts)
    ctx = current_run_context()
    call_opts = {
        **opts.model_dump(exclude_none=True),
        "chunk_length_frames": effective_chunk_length(opts),
        "provider": ctx.providers.get("videos_wan", "fixture"),
    }
    out = _work_dir() / "clip.mp4"
    meta = wan_entrypoint.run_wan_inference(start_frames, end_frames, prompt, call_opts, out)
    meta["chunk_length_frames"] = call_opts["chunk_length_frames"]
    try:
        return publish_local(out, "video/mp4", meta)
    finally:
        out.unlink(missing_ok=True)


def lipsync(
    face_video: Path | str,
    audio: Path | str,
    opts: Wav2LipOpts | dict[str, Any] | None = None,
    *,
    size: tuple[int, int] | None = None,
) -> ArtifactRef:
    """Lip-sync a face clip (or still) to a narration WAV; returns the clip's ArtifactRef.

    Args:
        size: (width, height) of the movie, so the clip needs no rescaling later.
    """
    opts = opts if isinstance(opts, Wav2LipOpts) else Wav2LipOpts.model_validate(opts or {})
    ctx = current_run_context()
    call_opts = {
        **opts.model_dump(exclude_none=True),
        "provider": ctx.providers.get("lipsync_wav2lip", "fixture"),
    }
    if size:
        call_opts["width"], call_opts["height"] = size
    out = _work_dir() / "lipsync.mp4"
    meta = lipsync_entrypoint.run_wav2lip(face_video, audio, out, opts=call_opts)
    try:
        return publish_local(out, "video/mp4", meta)
    finally:
        out.unlink(missing_ok=True)
