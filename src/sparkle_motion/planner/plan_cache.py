"""The plan cache: an unchanged idea is planned once per workspace, by deterministic models.

Why: the offline planner (``offline-*``) writes the same plan for the same request, and
planning means loading the ADK runtime (about a second and a half). Running the same idea
again should cost what reading a plan file costs, so the plan is kept and reused.

What the key covers (sha256 over canonical JSON): the idea as cleaned, the model name,
:data:`sparkle_motion.planner.PLANNER_VERSION`, the package version, the step cap
(``max_steps``, which sets the scene count), the loaded voice catalog (a draft's voices are
mapped onto it) and the loaded policy terms (a plan passed the policy that was in force).
Change any of them and the idea is planned again.

What is stored: a row in the store's ``step_cache`` table (``step_type`` ``plan``,
``provider`` ``<model>@<PLANNER_VERSION>``) whose one artifact is the plan JSON that
script_agent already published to the content-addressed blob store. A hit is trusted only
while that blob is present with its recorded size and sha256; otherwise it is a miss.

Never cached: a real LLM's reply (``gemini-*``, LiteLLM strings) or a ``BaseLlm`` instance
passed in; those are planned every time. Nothing here imports the ADK runtime.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from typing import Any

from sparkle_motion import planner
from sparkle_motion.config import Settings, get_settings
from sparkle_motion.types import ArtifactRef, MoviePlan, uri_to_path

STEP_TYPE = "plan"


def plan_key(idea: str, model: str, settings: Settings | None = None) -> str:
    """The cache key of planning ``idea`` (already cleaned) with ``model`` under ``settings``."""
    from sparkle_motion import __version__
    from sparkle_motion.cache import canonical_json
    from sparkle_motion.policy import load_policy
    from sparkle_motion.voices import load_catalog

    settings = settings or get_settings()
    payload = {
        "idea": idea,
        "model": model,
        "planner_version": planner.PLANNER_VERSION,
        "package_version": __version__,
        "max_steps": settings.max_steps,
        "voices": load_catalog(settings).model_dump(mode="json"),
        "policy": dataclasses.asdict(load_policy(settings)),
    }
    return hashlib.sha256(canonical_json(payload).encode()).hexdigest()


def lookup(key: str, settings: Settings | None = None) -> MoviePlan | None:
    """The plan cached under ``key``, exactly as it was first returned; None on a miss."""
    from sparkle_motion.db.store import get_store

    hit = get_store(settings).get_cache(key)
    if not hit or hit["step_type"] != STEP_TYPE or len(hit["artifacts"]) != 1:
        return None
    ref = ArtifactRef.model_validate(hit["artifacts"][0])
    try:
        data = uri_to_path(ref.artifact_uri).read_bytes()
    except (OSError, ValueError):
        return None
    if hashlib.sha256(data).hexdigest() != ref.sha256:
        return None
    try:
        return MoviePlan.model_validate(json.loads(data))
    except ValueError:  # an unreadable entry is a miss: plan again
        return None


def remember(
    key: str, model: str, plan: MoviePlan, plan_uri: str, settings: Settings | None = None
) -> bool:
    """Cache the plan published at ``plan_uri`` under ``key``; False if it is not on record."""
    from sparkle_motion.db.store import get_store

    store = get_store(settings)
    rows = store.artifacts(uri=plan_uri)
    if not rows:
        return False
    row = rows[-1]
    ref = ArtifactRef(
        artifact_uri=plan_uri,
        media_type=row["media_type"],
        sha256=row["sha256"],
        size_bytes=row["size_bytes"],
        plan_id=plan.id,
    )
    meta: dict[str, Any] = {"plan_id": plan.id, "title": plan.title}
    store.put_cache(
        key,
        step_type=STEP_TYPE,
        provider=f"{model}@{planner.PLANNER_VERSION}",
        artifacts=[ref.model_dump(mode="json")],
        meta=meta,
    )
    return True
