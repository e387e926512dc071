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


def inspect_movie(
    path: Path | str,
    segments: list[tuple[float, float]] | None = None,
    *,
    opts: dict[str, Any] | None = None,
) -> QAReport | None:
    """Check a finished movie per segment (black or frozen pictures, silence, clipping,
    loudness, A/V length); None when the provider has no movie check (fixture)."""
    opts = dict(opts or {})
    module = backend(TOOL, opts.get("provider", "fixture"))
    check = getattr(module, "inspect_movie", None)
    return None if check is None else check(Path(path), segments, opts)


def checks_movies(provider: str) -> bool:
    """Whether the provider checks finished movies (fixture does not)."""
    return hasattr(backend(TOOL, provider), "inspect_movie")


def measure_segment(provider: str, path: Path | str, key: str, measure_cache: Path | str) -> bool:
    """Measure a segment of a movie still being made, ahead of its checks (providers that
    check movies; False for the others, and when it was measured before)."""
    measure = getattr(backend(TOOL, provider), "measure_segment", None)
    return bool(measure and measure(path, key, measure_cache))


def report_warnings(report: QAReport, provider: str) -> list[str]:
    """One line per failed check, with the time it occurs."""
    module = backend(TOOL, provider)
    lines = getattr(module, "warnings", None)
    return lines(report) if lines else [report.reason] if report.reason else []
