"""qa_qwen2vl FunctionTool entrypoint (the spec's ``inspect_frames``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sparkle_motion.providers import backend
from sparkle_motion.types import QAReport

TOOL = "qa_qwen2vl"


def inspect_frames(
    frames: list[Path | str | bytes], prompts: list[str], *, opts: dict[str, Any] | None = None
) -> QAReport:
    """Inspect frames (paths or PNG bytes) with QA prompts; returns a QAReport."""
    opts = dict(opts or {})
    return backend(TOOL, opts.get("provider", "fixture")).inspect(frames, prompts, opts)
