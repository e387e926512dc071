"""Fixture QA: a clean report for every frame, or scores scripted by the caller.

``opts['scripted_scores']`` maps a frame index to category scores, so tests can make a
frame look unsafe without a model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sparkle_motion.types import QAFrameResult, QAReport, QAScores

PROVIDER_ID = "qa_qwen2vl/fixture"
VERSION = "1"


def inspect(frames: list[Path | str | bytes], prompts: list[str], opts: dict[str, Any]) -> QAReport:
    scripted = {int(k): v for k, v in (opts.get("scripted_scores") or {}).items()}
    per_frame = [
        QAFrameResult(frame_index=i, scores=QAScores(**scripted.get(i, {})))
        for i in range(len(frames))
    ]
    worst = QAScores(
        **{
            name: max([getattr(f.scores, name) for f in per_frame], default=0.0)
            for name in QAScores.model_fields
        }
    )
    return QAReport(
        ok=worst.max_confidence() < 0.4,
        reason=None if worst.max_confidence() < 0.4 else "scripted scores",
        scores=worst,
        per_frame=per_frame,
        top_responses=["fixture: no model consulted"],
        confidence_summary={"max": worst.max_confidence()},
        opts_snapshot={k: v for k, v in opts.items() if k != "scripted_scores"},
    )
