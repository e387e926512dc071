"""The QA loop: every visual step's output is inspected after it renders, and a shot
rejected for quality is rendered again with a new seed.

Why at the production layer: images_agent and videos_agent each render one thing; whether
to spend another render on a bad shot is a run's decision (a per-step limit,
``qa.max_regenerations``, and a run-wide budget, ``qa.run_budget``), and the step's cache
must keep the outcome, so an unchanged re-run inspects nothing again. The loop wraps the
step's call in the worker (production/jobs.py); what it decides travels on the step's
final artifacts:

- ``metadata["regenerations"]``: every attempt (seed, flags, scores, decision);
- ``metadata["qa_loop"]``: the step's decision (``approve``, ``escalate``: a safety review
  images_agent already asked for, or ``review``: still failing when the limit or the budget
  ran out) and the number of attempts.

A shot still failing goes to human review: it is quarantined and ``request_human_input``
is called, so the assembly leaves it out until ``sparkle-motion review`` approves it.

Each output is checked for

- safety: images_agent already scored images with the spec's thresholds; clips are scored
  here on their thumbnails with the same prompt and thresholds (reject raises, escalate
  holds the clip for review: neither is re-rendered);
- the prompt's subjects: on the preview profile from what the storyboard recorded drawing
  (``metadata["subjects"]``: a lead subject whose box lies in the frame); on the full profile
  Qwen2-VL answers ``SUBJECTS_PROMPT`` as a fault, like its other categories
  (``subjects_missing_confidence``; shown = 1 - missing);
- technical faults: the QA backend's flags (black, flat, clipped, unreadable), and a clip
  whose first and last thumbnails match is frozen (full profile: two thumbnails).

Preview stays cheap: an image's checks read its metadata (the flags images_agent's
inspection recorded); a clip costs one small first-frame thumbnail.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sparkle_motion.images_agent import qa_opts
from sparkle_motion.types import ArtifactRef, QAScores

VISUAL_TYPES = frozenset({"image", "video", "lipsync"})
QUALITY_FLAGS = frozenset(
    {"black", "flat", "clipped", "unreadable", "garbled", "frozen", "no_video", "no_subjects"}
)
SUBJECTS_PROMPT = (
    "This picture was made for the description {prompt!r}. Is what the description names "
    "missing from the picture? Give subjects_missing_confidence from 0 (all of it clearly "
    "shown) to 1 (none of it shown)."
)
# asked as a fault, like the backend's other categories (high = bad); the scorecard keeps
# the readable side, subjects_shown_confidence = 1 - missing
SUBJECTS_CATEGORY = "subjects_missing_confidence"
SUBJECTS_MIN = 0.5  # a lower subjects_shown_confidence is a picture of something else
FROZEN_MAD = 0.5  # mean absolute difference (0-255) of gray thumbnails, as preview QA
BUDGET_FILE = "qa-budget.txt"
_THUMB_WIDTH = {"full": 448}  # Qwen2-VL sees more in a larger thumbnail; heuristics: 256
_SAFETY = tuple(QAScores.model_fields)


@dataclass
class Verdict:
    """What QA made of one output."""

    decision: str = "approve"  # approve | regenerate | escalate | reject
    flags: list[str] = field(default_factory=list)
    scores: dict[str, float] = field(default_factory=dict)
    subjects: list[str] | None = None  # what the picture shows, where known

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"decision": self.decision, "flags": self.flags}
        out["scores"] = self.scores
        if self.subjects is not None:
            out["subjects"] = self.subjects
        return out


_ORDER = {"approve": 0, "regenerate": 1, "escalate": 2, "reject": 3}


def next_seed(seed: int, attempt: int) -> int:
    """The seed of re-render ``attempt`` (1, 2, ...): derived from the old one, so a re-run
    renders the same shots again."""
    digest = hashlib.sha256(f"{int(seed)}/qa-regeneration/{attempt}".encode()).hexdigest()
    return int(digest[:8], 16)


def claim_regeneration(run_dir: Path | str, budget: int) -> bool:
    """Take one re-render from the run's budget; False when it is spent. A counter file in
    the run's folder under an exclusive lock: threads and worker processes share it."""
    import fcntl

    path = Path(run_dir) / BUDGET_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+", encoding="ascii") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        fh.seek(0)
        used = int(fh.read().strip() or 0)
        if used >= budget:
            return False
        fh.seek(0)
        fh.truncate()
        fh.write(str(used + 1))
        return True


# ----------------------------------------------------------------------- the checks


def _safety(scores: QAScores | dict[str, Any]) -> dict[str, float]:
    data = scores.model_dump() if isinstance(scores, QAScores) else dict(scores)
    return {k: float(data[k]) for k in _SAFETY if isinstance(data.get(k), int | float)}


def _decide(flags: list[str], scores: dict[str, float], subjects_ok: bool | None) -> str:
    from sparkle_motion.images_agent import qa_decision

    safety = qa_decision(max(scores.values(), default=0.0))
    if safety != "approve":
        return safety
    if subjects_ok is False or any(f in QUALITY_FLAGS for f in flags):
        return "regenerate"
    return "approve"


def subjects_from_metadata(meta: dict[str, Any]) -> tuple[bool | None, list[str] | None]:
    """(shown, words) from what the preview storyboard recorded drawing: a lead subject
    counts when its box lies inside the frame. (None, None): nothing recorded to check."""
    placed = meta.get("subjects")
    if not isinstance(placed, list):
        return None, None
    leads = [p for p in placed if isinstance(p, dict) and p.get("role") == "subject"]
    if not leads:
        return None, []  # the prompt named nothing the storyboard draws as a subject
    width, height = float(meta.get("width") or 0), float(meta.get("height") or 0)

    def inside(box: Any) -> bool:
        try:
            x0, y0, x1, y1 = (float(v) for v in box)
        except (TypeError, ValueError):
            return False
        if width and height:
            x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, width), min(y1, height)
        return x1 > x0 and y1 > y0

    words = [str(p.get("word")) for p in leads if inside(p.get("box"))]
    return bool(words), words


def _subjects_asked(
    frames: list[Path | bytes], prompt: str, qa_provider: str
) -> tuple[bool | None, float | None]:
    """Qwen2-VL's answer to SUBJECTS_PROMPT: the best frame's confidence (None: no answer)."""
    from sparkle_motion.function_tools.qa_qwen2vl import entrypoint as qa

    opts = {**qa_opts(qa_provider), "categories": [SUBJECTS_CATEGORY]}
    report = qa.inspect_frames(frames, [SUBJECTS_PROMPT.format(prompt=prompt)], opts=opts)
    found = [
        1.0 - float(v)
        for f in report.per_frame
        if isinstance(v := f.scores.model_dump().get(SUBJECTS_CATEGORY), int | float)
    ]
    if not found:
        return None, None
    best = max(found)
    return best >= SUBJECTS_MIN, best


def check_image(ref: ArtifactRef, prompt: str, qa_provider: str) -> Verdict:
    """An image: images_agent's inspection (flags, safety) is in its metadata already."""
    meta = ref.metadata
    qa = meta.get("qa") or {}
    flags = list(qa.get("flags") or [])
    scores: dict[str, float] = {}
    if qa.get("category"):
        scores[str(qa["category"])] = float(qa.get("confidence") or 0.0)
    if qa_provider == "full":
        ok, confidence = _subjects_asked([ref.path], prompt, qa_provider)
        words = None
        if confidence is not None:
            scores["subjects_shown_confidence"] = confidence
    else:
        ok, words = subjects_from_metadata(meta)
    if ok is False:
        flags.append("no_subjects")
    decision = "escalate" if meta.get("quarantined") else _decide(flags, scores, ok)
    return Verdict(decision, flags, scores, words)


def _thumbnails(path: Path, width: int, last: bool, work: Path) -> list[Path]:
    """PNG thumbnails of a clip's first (and last) frame, one ffmpeg run; [] when it does
    not decode."""
    from sparkle_motion.errors import SparkleError
    from sparkle_motion.utils.ffmpeg import ffmpeg_exe
    from sparkle_motion.utils.run_command import run_command

    scale = f"scale={width}:-2:flags=area"
    outs = [work / "first.png"] + ([work / "last.png"] if last else [])
    cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-v", "error", "-y", "-i", str(path)]
    if last:
        cmd += ["-sseof", "-0.25", "-i", str(path)]
    for index, out in enumerate(outs):
        cmd += ["-map", f"{index}:v:0", "-frames:v", "1", "-vf", scale, str(out)]
    try:
        run_command(cmd, timeout_s=120)
    except (SparkleError, OSError):
        return []
    return [p for p in outs if p.is_file() and p.stat().st_size]


def _frozen(first: Path, last: Path) -> bool:
    import numpy as np
    from PIL import Image

    with Image.open(first) as a, Image.open(last) as b:
        ga = np.asarray(a.convert("L"), dtype=np.int16)
        gb = np.asarray(b.convert("L").resize(a.size), dtype=np.int16)
    return float(np.abs(ga - gb).mean()) <= FROZEN_MAD


def check_clip(
    ref: ArtifactRef, prompt: str, qa_provider: str, source: dict[str, Any] | None
) -> Verdict:
    """A clip (video or lip-synced): safety, faults and subjects on small thumbnails;
    ``source`` is the metadata of the picture it was made from (preview subjects)."""
    from sparkle_motion.function_tools.qa_qwen2vl import entrypoint as qa
    from sparkle_motion.images_agent import QA_PROMPT

    full = qa_provider == "full"
    with tempfile.TemporaryDirectory(prefix="sparkle-qa-") as tmp:
        thumbs = _thumbnails(ref.path, _THUMB_WIDTH.get(qa_provider, 256), full, Path(tmp))
        if not thumbs:
            return Verdict("regenerate", ["unreadable"])
        frames: list[Path | bytes] = [p.read_bytes() for p in thumbs]
        report = qa.inspect_frames(frames, [QA_PROMPT], opts=qa_opts(qa_provider))
        frozen = len(thumbs) > 1 and int(ref.metadata.get("num_frames") or 2) > 1
        frozen = frozen and _frozen(thumbs[0], thumbs[-1])
    flags = sorted({f for r in report.per_frame for f in r.flags})
    flags += ["frozen"] if frozen else []
    worst: dict[str, float] = {}
    for r in report.per_frame or []:
        for k, v in _safety(r.scores).items():
            worst[k] = max(worst.get(k, 0.0), v)
    worst = {k: v for k, v in worst.items() if v > 0}
    words: list[str] | None = None
    if full:
        ok, confidence = _subjects_asked(frames, prompt, qa_provider)
        if confidence is not None:
            worst["subjects_shown_confidence"] = confidence
    else:
        ok, words = (None, None)
        if source is not None:
            ok, words = subjects_from_metadata(source)
            if ok is None and isinstance(source.get("qa_loop"), dict):
                words = source["qa_loop"].get("subjects")
    if ok is False:
        flags.append("no_subjects")
    safety = {k: v for k, v in worst.items() if k in _SAFETY}
    return Verdict(_decide(flags, safety, ok), flags, worst, words)


def inspect_outputs(
    step_type: str,
    prompt: str,
    refs: list[ArtifactRef],
    inputs: dict[str, ArtifactRef],
    qa_provider: str,
) -> list[Verdict]:
    """One verdict per output of a visual step."""
    if step_type == "image":
        return [check_image(ref, prompt, qa_provider) for ref in refs]
    source = inputs.get("start_frames[0]") or inputs.get("face_video")
    meta = source.metadata if source is not None else None
    return [check_clip(ref, prompt, qa_provider, meta) for ref in refs]


# ------------------------------------------------------------------------- the loop


def _worst(verdicts: list[Verdict]) -> str:
    return max((v.decision for v in verdicts), key=_ORDER.__getitem__, default="approve")


def render_checked(
    step_type: str,
    prompt: str,
    opts: dict[str, Any],
    inputs: dict[str, ArtifactRef],
    render: Callable[[dict[str, Any]], list[ArtifactRef]],
    *,
    qa_provider: str,
    max_regenerations: int,
    run_budget: int,
    run_dir: Path | str,
) -> list[ArtifactRef]:
    """Render, inspect, render again with a new seed while rejected for quality; returns
    the last attempt's artifacts with the loop's record in their metadata.

    Raises:
        PlanPolicyViolation: a clip failed the safety check (>= the reject threshold).
    """
    from sparkle_motion.adk_helpers import request_human_input, write_memory_event
    from sparkle_motion.errors import PlanPolicyViolation

    first_seed = int(opts.get("seed") or 0)
    seed = first_seed
    history: list[dict[str, Any]] = []
    while True:
        refs = render({**opts, "seed": seed})
        verdicts = inspect_outputs(step_type, prompt, refs, inputs, qa_provider)
        decision = _worst(verdicts)
        attempt = len(history) + 1
        history.append({
            "attempt": attempt, "seed": seed, "decision": decision,
            "artifact_uris": [r.artifact_uri for r in refs],
            "outputs": [v.as_dict() for v in verdicts],
        })  # fmt: skip
        if decision == "reject":
            write_memory_event("qa_loop", {"decision": "reject", "attempts": history})
            raise PlanPolicyViolation(
                f"{step_type} failed post-render QA (safety); nothing used",
                field="prompt", details={"stage": "post_render", "attempts": history},
            )  # fmt: skip
        if decision != "regenerate":
            break
        if attempt > max_regenerations or not claim_regeneration(run_dir, run_budget):
            decision = "review"
            history[-1]["decision"] = "review"
            break
        seed = next_seed(first_seed, attempt)
    write_memory_event("qa_loop", {"decision": decision, "attempts": len(history)})
    record = {
        "decision": decision, "attempts": len(history), "qa_provider": qa_provider,
        "subjects": next((v.subjects for v in verdicts if v.subjects), None),
    }  # fmt: skip
    out = []
    for ref, verdict in zip(refs, verdicts, strict=True):
        meta = {**ref.metadata, "regenerations": history, "qa_loop": record}
        if decision == "review" and verdict.decision == "regenerate":
            meta["quarantined"] = True
            request_human_input(
                reason=(
                    f"{step_type} still failing QA after {len(history)} attempt(s): "
                    f"{', '.join(verdict.flags) or 'rejected'}"
                ),
                artifact_uri=ref.artifact_uri,
                report={"attempts": history},
            )
        out.append(ref.model_copy(update={"metadata": meta}))
    return out


# ------------------------------------------------------------------------- reviews


def held(refs: list[ArtifactRef]) -> list[str]:
    """URIs of the quarantined artifacts among ``refs`` (waiting for a reviewer)."""
    return [r.artifact_uri for r in refs if r.metadata.get("quarantined")]


def review_states(store: Any, uris: list[str]) -> dict[str, str]:
    """uri -> the latest review request's status (pending, approved, rejected)."""
    states: dict[str, str] = {}
    for uri in dict.fromkeys(uris):
        rows = store.review_requests(artifact_uri=uri)
        if rows:
            states[uri] = str(rows[-1]["status"])
    return states


def rejected_seed(refs: list[ArtifactRef], seed: int) -> int:
    """The seed a step rejected by its reviewer renders with next: derived from the seed of
    the rejected render (its last attempt)."""
    history = refs[0].metadata.get("regenerations") if refs else None
    last = int(history[-1].get("seed", seed)) if history else int(seed)
    return next_seed(last, 0)
