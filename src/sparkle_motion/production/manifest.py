"""The movie's provenance manifest (``movie.manifest.json``, written beside the movie).

Why: a movie mixes outputs of several models and packaged assets, each with its own terms;
whoever publishes it needs to know, per step, which provider and model made it (weights
revision or hash where the backend records one), under which licence, with which seed and
whether it is watermarked, and which packaged assets it carries. ``commercial_use`` is false
as soon as one step used weights that are not licensed for it (licences.py's table, or the
backend's own ``metadata["commercial_use"]``, e.g. Wav2Lip's research-only checkpoint).
"""

from __future__ import annotations

from typing import Any

from sparkle_motion import licences
from sparkle_motion.production.steps import kind_of
from sparkle_motion.types import ArtifactRef, MoviePlan

FORMAT = "sparkle-manifest/1"
_REVISION_KEYS = ("weights_revision", "revision", "model_revision", "weights_sha256", "model_hash")


def _revision(meta: dict[str, Any]) -> str | None:
    return next((str(meta[k]) for k in _REVISION_KEYS if meta.get(k)), None)


def step_entry(step: Any, refs: list[ArtifactRef], providers: dict[str, str]) -> dict[str, Any]:
    """One step's provenance, from its first output's metadata and the licence table."""
    kind = kind_of(step)
    meta = refs[0].metadata if refs else {}
    profile = providers.get(kind.tool, "fixture") if kind.tool else None
    licence = licences.licence_of(kind.tool, profile, meta)
    return {
        "step_id": step.id, "type": step.type, "tool": kind.tool, "profile": profile,
        "provider": meta.get("provider") or (f"{kind.tool}/{profile}" if kind.tool else "handler"),
        "model_id": meta.get("model_id") or meta.get("model_checkpoint"),
        "weights_revision": _revision(meta), "licence": licence.name,
        "licence_source": licence.source, "commercial_use": licence.commercial_use,
        "seed": meta.get("seed"), "watermarked": bool(meta.get("watermarked")),
        "artifacts": [r.sha256 for r in refs],
    }  # fmt: skip


def assets_used(steps: list[dict[str, Any]], movie_meta: dict[str, Any]) -> list[str]:
    """Packaged assets the movie carries: OpenMoji pictures (preview storyboard), eSpeak NG
    speech (preview narration), Noto CJK (title cards and subtitles drawn by the assembler)."""
    used = []
    if any(s["tool"] == "images_sdxl" and s["profile"] == "preview" for s in steps) or any(
        s["tool"] == "videos_wan" and s["profile"] == "preview" for s in steps
    ):
        used.append("openmoji")
    if any(s["tool"] == "tts_chatterbox" and s["profile"] == "preview" for s in steps):
        used.append("espeak-ng")
    segments = movie_meta.get("segments")
    kinds = {str(s.get("kind")) for s in segments if isinstance(s, dict)} if segments else set()
    if movie_meta.get("subtitle_cues") or kinds - {"scene", "None"}:
        used.append("noto-cjk")
    return used


def build(
    plan: MoviePlan,
    outputs: dict[str, list[ArtifactRef]],
    providers: dict[str, str],
    movie: ArtifactRef,
    run_id: str,
) -> dict[str, Any]:
    """The manifest of ``movie`` and the steps that made it."""
    steps = [step_entry(s, outputs.get(s.id) or [], providers) for s in plan.steps]
    assets = assets_used(steps, movie.metadata)
    not_commercial = [s["step_id"] for s in steps if not s["commercial_use"]]
    return {
        "format": FORMAT,
        "run_id": run_id,
        "plan_id": plan.id,
        "movie": {"uri": movie.artifact_uri, "sha256": movie.sha256},
        "commercial_use": not not_commercial,
        "not_for_commercial_use": not_commercial,
        "steps": steps,
        "assets": [{"id": a, **licences.ASSETS[a]} for a in assets],
    }
