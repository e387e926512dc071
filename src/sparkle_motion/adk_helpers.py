"""Publishing artifacts, memory events, human review, and ADK availability checks.

``publish_artifact`` copies a file into the workspace's content-addressed blob store
(:mod:`sparkle_motion.artifacts`, re-exported here as ``publish_local``). Inside an ADK agent
or tool (see :func:`sparkle_motion.run_context.adk_context`) the artifact is also saved
through ADK's artifact service (a ``FileArtifactService`` rooted in the workspace). Nothing
here imports the ADK runtime at module level: a run that plans from the cache or a file
never loads it.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# publish_local lives with the blob store; the spec imports it from here.
from sparkle_motion.artifacts import publish_local
from sparkle_motion.db.store import get_store
from sparkle_motion.errors import ADKUnavailableError
from sparkle_motion.run_context import current_adk_context, current_run_context


def _run_blocking(coro: Any) -> Any:
    """Run a coroutine to completion from sync code, also when a loop runs in this thread."""
    import asyncio

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    result: dict[str, Any] = {}

    def runner() -> None:
        try:
            result["value"] = asyncio.run(coro)
        except BaseException as exc:  # handed back to the caller's thread
            result["error"] = exc

    thread = threading.Thread(target=runner, name="adk-artifact-save")
    thread.start()
    thread.join()
    if "error" in result:
        raise result["error"]
    return result.get("value")


def publish_artifact(
    path: Path | str,
    media_type: str,
    metadata: dict[str, Any] | None = None,
    *,
    cache_key: str | None = None,
) -> str:
    """Publish a file as an artifact and return its stable ``file://`` URI.

    Inside an ADK agent or tool context the file is also saved through ADK's artifact
    service, and the ADK filename and version are added to the artifact's metadata.
    """
    meta = dict(metadata or {})
    ctx = current_adk_context()
    path = Path(path)
    if ctx is not None:
        from google.genai import types as genai_types

        data = path.read_bytes()
        filename = (
            meta.get("adk_filename") or f"{hashlib.sha256(data).hexdigest()[:16]}{path.suffix}"
        )
        part = genai_types.Part.from_bytes(data=data, mime_type=media_type)
        version = _run_blocking(
            ctx.save_artifact(filename, part, custom_metadata={"media_type": media_type})
        )
        meta["adk_artifact"] = {"filename": filename, "version": version}
    return publish_local(path, media_type, meta, cache_key=cache_key).artifact_uri


def write_memory_event(
    event_type: str,
    payload: dict[str, Any] | None = None,
    *,
    plan_id: str | None = None,
    run_id: str | None = None,
    step_id: str | None = None,
) -> int:
    """Append an event to the memory timeline (ids default to the run context's)."""
    ctx = current_run_context()
    return get_store().add_memory_event(
        event_type,
        payload,
        plan_id=plan_id or ctx.plan_id,
        run_id=run_id or ctx.run_id,
        step_id=step_id or ctx.step_id,
    )


def request_human_input(
    *,
    reason: str,
    artifact_uri: str | None = None,
    report: dict[str, Any] | None = None,
) -> int:
    """Queue a human review (e.g. a quarantined image) and note it on the timeline.

    Returns the review request id (``sparkle-motion review`` lists them).
    """
    ctx = current_run_context()
    request_id = get_store().add_review_request(
        reason=reason,
        artifact_uri=artifact_uri,
        report=report,
        plan_id=ctx.plan_id,
        run_id=ctx.run_id,
        step_id=ctx.step_id,
    )
    write_memory_event(
        "review_requested",
        {"review_request_id": request_id, "reason": reason, "artifact_uri": artifact_uri},
    )
    return request_id


# ---------------------------------------------------------------- ADK availability


@dataclass
class SdkProbe:
    """What is available for ADK-backed providers."""

    adk_installed: bool
    adk_version: str | None
    credentials: dict[str, bool] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.missing


def _has_gemini_credentials() -> bool:
    if os.environ.get("GOOGLE_API_KEY") or os.environ.get("GEMINI_API_KEY"):
        return True
    vertex = os.environ.get("GOOGLE_GENAI_USE_VERTEXAI", "").lower() in ("1", "true")
    return vertex and bool(os.environ.get("GOOGLE_CLOUD_PROJECT"))


def probe_sdk(non_fatal: bool = True, *, model: str | None = None) -> SdkProbe:
    """Check the ADK package and, for ``model``, its credentials or extra package.

    Args:
        non_fatal: return the probe even when something is missing; False raises
            ADKUnavailableError instead.
        model: a planner model string (``gemini-*`` needs GOOGLE_API_KEY; ``openai/...``
            and other LiteLLM strings need the ``llm`` extra).
    """
    installed = importlib.util.find_spec("google.adk") is not None
    version = None
    missing: list[str] = []
    if installed:
        from importlib.metadata import version as dist_version

        version = dist_version("google-adk")
    else:
        missing.append("the google-adk package (pip install google-adk)")
    creds = {"gemini": _has_gemini_credentials()}
    if model and model.startswith("gemini") and not creds["gemini"]:
        missing.append(
            f"credentials for {model}: set GOOGLE_API_KEY (or GOOGLE_GENAI_USE_VERTEXAI=1 "
            "with GOOGLE_CLOUD_PROJECT)"
        )
    if model and "/" in model and importlib.util.find_spec("litellm") is None:
        missing.append(f"the litellm package for {model} (pip install 'sparkle-motion[llm]')")
    probe = SdkProbe(installed, version, creds, missing)
    if not non_fatal and missing:
        raise ADKUnavailableError("missing " + "; ".join(missing))
    return probe


def require_adk(model: str | None = None) -> SdkProbe:
    """Fail loudly, naming what is missing, when ADK (or ``model``'s needs) is absent."""
    return probe_sdk(non_fatal=False, model=model)
