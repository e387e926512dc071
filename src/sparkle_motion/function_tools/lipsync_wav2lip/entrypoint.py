"""lipsync_wav2lip FunctionTool entrypoint (the spec's ``run_wav2lip``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sparkle_motion.providers import backend

TOOL = "lipsync_wav2lip"


def run_wav2lip(
    face_video: Path | str, audio: Path | str, out_path: Path | str, *, opts: dict | None = None
) -> dict[str, Any]:
    """Lip-sync ``face_video`` (a clip or a still) to ``audio`` into ``out_path``.

    Returns metadata (duration_s, model_checkpoint, face_detector, simulated, ...).
    """
    opts = dict(opts or {})
    module = backend(TOOL, opts.get("provider", "fixture"))
    meta = module.run(Path(face_video), Path(audio), Path(out_path), opts)
    meta["opts"] = {k: v for k, v in opts.items() if k != "provider"}
    return meta
