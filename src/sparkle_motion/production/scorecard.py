"""The movie's QA scorecard (``movie.qa.json``, beside the movie and in the run's folder).

Per shot (every visual step): what QA decided, after how many attempts, with which seeds
and scores, whether a reviewer has decided, and whether the shot is in the movie
(``in_movie``: not held back; a picture a clip animates is shown through that clip). It is
built from what the QA loop (qa_loop.py) left on each step's final artifacts, so a cached
re-run writes the same scorecard without inspecting anything. ``sparkle-motion status
RUN_ID`` shows it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sparkle_motion.production.qa_loop import VISUAL_TYPES
from sparkle_motion.types import ArtifactRef, MoviePlan

FORMAT = "sparkle-qa-scorecard/1"
FILE_NAME = "movie.qa.json"


def _decision(meta: dict[str, Any], review: str | None) -> str:
    loop = meta.get("qa_loop") or {}
    if review == "approved":
        return "approved_by_review"
    if review == "rejected":
        return "rejected_by_review"
    if meta.get("quarantined"):
        return "held_for_review"
    if not loop:
        return "not_inspected"
    return "approved"


def shot(
    step: Any, refs: list[ArtifactRef], reviews: dict[str, str], in_movie: set[str]
) -> dict[str, Any]:
    """One visual step's line of the scorecard."""
    meta = refs[0].metadata if refs else {}
    history = meta.get("regenerations") or []
    last = history[-1] if history else {}
    review = next((reviews[r.artifact_uri] for r in refs if r.artifact_uri in reviews), None)
    return {
        "step_id": step.id, "type": step.type, "decision": _decision(meta, review),
        "review": review, "in_movie": step.id in in_movie, "attempts": len(history),
        "seeds": [a.get("seed") for a in history],
        "scores": [o.get("scores", {}) for o in last.get("outputs", [])],
        "flags": sorted({f for o in last.get("outputs", []) for f in o.get("flags", [])}),
        "history": history,
    }  # fmt: skip


def build(
    plan: MoviePlan,
    outputs: dict[str, list[ArtifactRef]],
    reviews: dict[str, str],
    in_movie: set[str],
    *,
    run_id: str,
    qa_provider: str,
) -> dict[str, Any]:
    shots = [
        shot(s, outputs.get(s.id) or [], reviews, in_movie)
        for s in plan.steps
        if s.type in VISUAL_TYPES and outputs.get(s.id)
    ]
    counts: dict[str, int] = {}
    for s in shots:
        counts[s["decision"]] = counts.get(s["decision"], 0) + 1
    return {
        "format": FORMAT, "run_id": run_id, "plan_id": plan.id, "qa_provider": qa_provider,
        "shots": shots, "summary": {
            "shots": len(shots), "re_rendered": sum(s["attempts"] > 1 for s in shots),
            "extra_renders": sum(max(0, s["attempts"] - 1) for s in shots), **counts,
        },
    }  # fmt: skip


def write_json(path: Path, data: dict[str, Any]) -> Path:
    """``data`` as indented JSON at ``path``, replaced atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=False, default=str) + "\n", "utf-8")
    tmp.replace(path)
    return path


def read(run_dir: Path) -> dict[str, Any] | None:
    """A run's scorecard, if its movie was made."""
    path = run_dir / FILE_NAME
    if not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8"))
