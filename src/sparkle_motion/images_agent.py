"""images_agent: the decision layer in front of the images_sdxl FunctionTool.

``render(prompt, opts)`` runs, in order:

1. **Text moderation** of ``prompt`` and ``opts.prompt_2`` (negative prompts: length only)
   with :func:`sparkle_motion.policy.check_text`. A disallowed term raises
   ``PlanPolicyViolation`` before any adapter call.
2. **Batching**: ``opts.num_images`` images in calls of at most ``max_images_per_call``
   (default 8; the last batch takes the remainder), seeds offset by the first image's
   index, every artifact tagged with ``batch_index`` and its plan-order ``item_index``.
3. **Rate limiting** before every adapter call (retries included): the call costs one token
   per image from the bucket of (run context's tenant, :func:`rate_limit_host`). When
   ``opts.queue_allowed`` the call waits up to ``QUEUE_TTL_S`` and reports a ``queued``
   CallbackEvent; otherwise ``RateLimitError``. The in-process providers (fixture, preview)
   are unlimited by default, so a 1,000-image fixture run is not throttled, but they take
   the same path: a bucket installed with ``rate_limiter.set_bucket`` limits them too.
4. **Timeout**: each adapter call runs in a worker thread under ``per_batch_timeout_s``
   (default 120 s). At 80 % of it a watchdog records an ``images_batch_watchdog`` memory
   event with the worker's current stack. At 100 % the attempt is failed
   (``images_batch_timeout`` event) and the batch alone is retried with the settings'
   backoff (``retry_max_attempts``); finished batches are kept. When every attempt times
   out, :class:`ImagesBatchTimeout` is raised; it is a ``TimeoutError`` but not retryable,
   so production_agent does not multiply the attempts. A Python thread cannot be killed:
   a timed-out call runs on in the background and its result is discarded. Other adapter
   errors (OOM, or the adapter's own TimeoutError) go straight to the caller's retry policy.
5. **Post-render QA** of every batch through qa_qwen2vl's ``inspect_frames`` (the run
   context's ``qa_qwen2vl`` provider) with the spec's prompt. Each image's worst category
   confidence decides: >= 0.70 reject, >= 0.40 escalate, else approve. One ``reject``
   raises ``PlanPolicyViolation`` and nothing of the step is published.
6. **Publishing**, only once every batch has passed QA:

   - approved images are published normally (``quarantined: False``);
   - escalated images are published with ``quarantined: True`` and a review request
     (``request_human_input``) carrying the QAReport. They stay in the returned list, in
     their place, so the step keeps its shape; a caller must not put an artifact whose
     ``metadata["quarantined"]`` is true into a movie until a reviewer approves it;
   - with ``opts.dedupe``, an approved image whose pHash is within Hamming 6 of an earlier
     approved image *of the same call* is not published: its slot returns the canonical
     artifact (same URI). Dedupe stops at the call (one step): across steps the canonical
     would depend on which step finished first;
   - every approved image is looked up in the workspace's recent pHash index. A match
     published under another URI (an earlier run, or another step) is recorded in the
     metadata (``recent_duplicate_of``, ``recent_duplicate_run_id``) but never replaces
     the output: the step cache would otherwise depend on history.

Pre-render rejections and warnings, and every batch's post-render decision (QAReport
attached), are ``policy_decision`` memory events; a clean prompt adds no event of its own.
"""

from __future__ import annotations

import hashlib
import math
import socket
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Literal

from sparkle_motion import policy
from sparkle_motion.adk_helpers import publish_local, request_human_input, write_memory_event
from sparkle_motion.config import get_settings
from sparkle_motion.db.store import get_store
from sparkle_motion.errors import (
    ImagesBatchTimeout,
    ModelError,
    PlanPolicyViolation,
    RateLimitError,
)
from sparkle_motion.function_tools.images_sdxl import entrypoint
from sparkle_motion.function_tools.images_sdxl.entrypoint import DEFAULT_PER_BATCH_TIMEOUT_S
from sparkle_motion.function_tools.qa_qwen2vl import entrypoint as qa_entrypoint
from sparkle_motion.progress import emit_progress
from sparkle_motion.run_context import RunContext, current_run_context
from sparkle_motion.types import ArtifactRef, ImagesOpts, QAReport, QAScores
from sparkle_motion.utils import rate_limiter
from sparkle_motion.utils.backoff import backoff_from_settings
from sparkle_motion.utils.deadline import DeadlineExceeded, call_with_deadline
from sparkle_motion.utils.phash import phash
from sparkle_motion.utils.recent_index_sqlite import (
    DEFAULT_THRESHOLD,
    SharedRecentIndex,
    hamming,
)
from sparkle_motion.workspace import Workspace, get_workspace

DEFAULT_MAX_IMAGES_PER_CALL = 8
WATCHDOG_FRACTION = 0.8
QUEUE_TTL_S = rate_limiter.DEFAULT_TTL_S
# (rate_per_min, capacity) per images_sdxl provider; absent = unlimited (in-process stubs)
PROVIDER_RATE_LIMITS: dict[str, tuple[float, float]] = {
    "full": (rate_limiter.DEFAULT_RATE_PER_MIN, rate_limiter.DEFAULT_CAPACITY),
}
REJECT_AT = 0.70
ESCALATE_AT = 0.40
PHASH_THRESHOLD = DEFAULT_THRESHOLD
RECENT_WINDOW = 1000
RECENT_MAX_AGE_S = 30 * 24 * 3600
RECENT_PRUNE_EVERY_S = 60.0
QA_PROMPT = (
    "Does this image contain sexual content, minors, graphic violence, or other "
    "policy-prohibited material? Provide a confidence score for each category."
)
MEDIA_TYPE = "image/png"

Decision = Literal["approve", "escalate", "reject"]


@dataclass
class _Image:
    """One rendered image on its way to publishing."""

    data: bytes
    metadata: dict[str, Any]
    batch_index: int
    item_index: int
    decision: Decision = "approve"
    category: str | None = None
    confidence: float = 0.0
    flags: list[str] = field(default_factory=list)  # technical faults (black, flat, ...)
    qa_report: dict[str, Any] = field(default_factory=dict)


# ----------------------------------------------------------------------- helpers


def qa_opts(provider: str) -> dict[str, Any]:
    """What a qa_qwen2vl call needs from us: the provider and where local weights live
    (tools read no configuration)."""
    return {"provider": provider, "models_root": str(get_settings().models_root)}


def plan_batches(count: int, per_call: int) -> list[tuple[int, int]]:
    """``(first item index, size)`` of each adapter call; the last takes the remainder."""
    return [(first, min(per_call, count - first)) for first in range(0, count, per_call)]


@cache
def _hostname() -> str:
    return socket.gethostname()


def rate_limit_host(provider: str) -> str:
    """The rate limiter's host key for an images_sdxl provider on this machine."""
    return f"images_sdxl/{provider}@{_hostname()}"


def qa_decision(confidence: float) -> Decision:
    """The spec's post-render thresholds applied to one confidence."""
    if confidence >= REJECT_AT:
        return "reject"
    if confidence >= ESCALATE_AT:
        return "escalate"
    return "approve"


def _worst(scores: QAScores) -> tuple[str | None, float]:
    numeric = {k: float(v) for k, v in scores.model_dump().items() if isinstance(v, int | float)}
    if not numeric:
        return None, 0.0
    name = max(numeric, key=lambda k: numeric[k])
    return name, numeric[name]


def _emit(ctx: RunContext, phase: str, progress: float, message: str, **extra: Any) -> None:
    emit_progress(
        ctx.on_progress, plan_id=ctx.plan_id, run_id=ctx.run_id, step_id=ctx.step_id,
        phase=phase, progress=progress, message=message, **extra,
    )  # fmt: skip


# ------------------------------------------------------------------ moderation


def moderate_prompt(prompt: str, opts: ImagesOpts) -> None:
    """Pre-render text check; raises PlanPolicyViolation (recorded) on a disallowed term."""
    fields = [
        ("prompt", prompt, True),
        ("opts.prompt_2", opts.prompt_2, True),
        ("opts.negative_prompt", opts.negative_prompt, False),  # names what to avoid
        ("opts.negative_prompt_2", opts.negative_prompt_2, False),
    ]
    decisions = []
    try:
        for name, text, terms in fields:
            if text:
                decisions += policy.check_text(text, name, check_terms=terms)
    except PlanPolicyViolation as exc:
        write_memory_event(
            "policy_decision", {"stage": "pre_render", "decision": "reject", **exc.to_dict()}
        )
        raise
    if decisions:
        # a "warn" term is the spec's "ambiguous": post-render QA, which always runs, decides.
        # Approvals are not written: the post-render event of every batch records the step.
        write_memory_event(
            "policy_decision",
            {
                "stage": "pre_render",
                "decision": "warn",
                "decisions": [d.model_dump(mode="json") for d in decisions],
            },
        )


# --------------------------------------------------------------- adapter calls


def _thread_stack(thread: threading.Thread, limit: int = 8) -> list[str]:
    frame = sys._current_frames().get(thread.ident or -1)
    if frame is None:
        return []
    return [line.rstrip() for line in traceback.format_stack(frame)[-limit:]]


def _render_batch(
    prompt: str,
    opts: ImagesOpts,
    call_opts: dict[str, Any],
    batch: tuple[int, int, int, int],
    bucket: rate_limiter.TokenBucket,
    host: str,
    ctx: RunContext,
) -> list[dict[str, Any]]:
    """One batch: rate limit, adapter call under the timeout, retries on timeout."""
    batch_index, n_batches, first, n = batch
    count = opts.num_images or 1
    timeout_s = opts.per_batch_timeout_s or DEFAULT_PER_BATCH_TIMEOUT_S
    seed = None if opts.seed is None else opts.seed + first
    attempts = get_settings().retry_max_attempts
    where = {"batch_index": batch_index, "batches": n_batches, "images": n}

    def on_queued(wait_s: float) -> None:
        write_memory_event(
            "rate_limit_queued",
            {**where, "tenant": ctx.tenant_id, "host": host, "wait_s": wait_s},
        )
        _emit(
            ctx, "queued", first / count,
            f"queued by the rate limiter: {n} image(s) wait about {wait_s:.1f} s",
            chunk_index=batch_index, eta_s=wait_s,
        )  # fmt: skip

    for attempt in range(1, attempts + 1):
        try:
            bucket.acquire(
                n, queue_allowed=opts.queue_allowed, ttl_s=QUEUE_TTL_S, on_queued=on_queued
            )
        except RateLimitError as exc:
            write_memory_event("rate_limited", {**where, **exc.to_dict()})
            raise
        started = time.monotonic()

        def on_watchdog(
            worker: threading.Thread, attempt: int = attempt, started: float = started
        ) -> None:
            elapsed = time.monotonic() - started
            write_memory_event(
                "images_batch_watchdog",
                {
                    **where, "attempt": attempt, "elapsed_s": round(elapsed, 3),
                    "timeout_s": timeout_s, "stack": _thread_stack(worker),
                },
            )  # fmt: skip
            _emit(
                ctx, "rendering", first / count,
                f"batch {batch_index + 1}/{n_batches} slow: {elapsed:.1f} of {timeout_s:g} s",
                chunk_index=batch_index,
            )  # fmt: skip

        try:
            items = call_with_deadline(
                lambda: entrypoint.render_images(prompt, n, seed, call_opts),
                timeout_s,
                name="images-sdxl-batch",
                watchdog_fraction=WATCHDOG_FRACTION,
                on_watchdog=on_watchdog,
            )
        except DeadlineExceeded:
            retry = attempt < attempts
            write_memory_event(
                "images_batch_timeout",
                {**where, "attempt": attempt, "timeout_s": timeout_s, "will_retry": retry},
            )
            if retry:
                time.sleep(backoff_from_settings(attempt, get_settings()))
                continue
            raise ImagesBatchTimeout(
                f"images_sdxl batch {batch_index + 1}/{n_batches} gave no answer within "
                f"{timeout_s:g} s ({attempts} attempts)",
                field="opts.per_batch_timeout_s",
                hint="raise per_batch_timeout_s or lower max_images_per_call",
                details=where,
            ) from None
        if len(items) != n:
            raise ModelError(
                f"images_sdxl returned {len(items)} images for a batch of {n}", details=where
            )
        return items
    raise AssertionError("unreachable")  # the loop returns or raises


# ------------------------------------------------------------------------- QA


def _inspect(batch: list[_Image], qa_provider: str) -> None:
    """Post-render QA of one batch; sets each image's decision, raises on a reject."""
    report: QAReport = qa_entrypoint.inspect_frames(
        [img.data for img in batch], [QA_PROMPT], opts=qa_opts(qa_provider)
    )
    per_frame = {f.frame_index: f.scores for f in report.per_frame}
    flags = {f.frame_index: list(f.flags) for f in report.per_frame}
    order = {"approve": 0, "escalate": 1, "reject": 2}
    worst: Decision = "approve"
    for i, img in enumerate(batch):
        img.category, img.confidence = _worst(per_frame.get(i, report.scores))
        img.decision = qa_decision(img.confidence)
        img.flags = flags.get(i, [])
        if order[img.decision] > order[worst]:
            worst = img.decision
    audit = report.model_copy(update={"decision": worst}).model_dump(mode="json")
    for img in batch:
        img.qa_report = audit
    write_memory_event(
        "policy_decision",
        {
            "stage": "post_render",
            "batch_index": batch[0].batch_index if batch else None,
            "decision": worst,
            "decisions": [
                {
                    "item_index": img.item_index,
                    "decision": img.decision,
                    "category": img.category,
                    "confidence": img.confidence,
                }
                for img in batch
            ],
            "qa_report": audit,
        },
    )
    for img in batch:
        if img.decision == "reject":
            raise PlanPolicyViolation(
                f"image {img.item_index} failed post-render QA "
                f"({img.category} {img.confidence:.2f} >= {REJECT_AT:.2f}); nothing published",
                field="prompt",
                details={
                    "stage": "post_render",
                    "item_index": img.item_index,
                    "category": img.category,
                    "confidence": img.confidence,
                    "qa_report": audit,
                },
            )


# ------------------------------------------------------------------- publishing


def _recent_match(ws: Workspace, hash_hex: str, data: bytes) -> dict[str, Any]:
    """Register an approved image in the recent index; metadata about an earlier match.

    Only a match published under another URI counts (the same bytes again are the same
    artifact). It is recorded, never substituted: see the module docstring.
    """
    own = ws.blob_path(hashlib.sha256(data).hexdigest(), ".png").as_uri()
    shared = SharedRecentIndex.get(ws.db_path)
    uri = shared.register(hash_hex, own, RECENT_MAX_AGE_S, RECENT_WINDOW, RECENT_PRUNE_EVERY_S)
    if uri == own:
        return {}
    rows = get_store().artifacts(uri=uri)
    return {
        "recent_duplicate_of": uri,
        "recent_duplicate_run_id": rows[0]["run_id"] if rows else None,
    }


def _deduped(canonical: ArtifactRef, img: _Image) -> ArtifactRef:
    """The canonical artifact in a duplicate's slot (same URI, this slot's indexes)."""
    meta = {
        **canonical.metadata,
        "batch_index": img.batch_index,
        "item_index": img.item_index,
        "deduped": True,
        "duplicate_of_item": canonical.metadata["item_index"],
    }
    return canonical.model_copy(update={"metadata": meta})


def _publish(images: list[_Image], dedupe: bool) -> list[ArtifactRef]:
    refs: list[ArtifactRef] = []
    canonical: list[tuple[str, ArtifactRef]] = []  # (pHash, ref) of approved, this call
    ws = get_workspace()
    for img in images:
        hash_hex = phash(img.data)
        meta = {
            **img.metadata,
            "batch_index": img.batch_index,
            "item_index": img.item_index,
            "phash": hash_hex,
            "qa": {
                "decision": img.decision,
                "category": img.category,
                "confidence": img.confidence,
                "flags": img.flags,  # read by the QA loop (production/qa_loop.py)
            },
            "quarantined": img.decision == "escalate",
        }
        if img.decision == "escalate":
            ref = publish_local(img.data, MEDIA_TYPE, meta)
            request_human_input(
                reason=(
                    f"image {img.item_index} quarantined by post-render QA: "
                    f"{img.category} {img.confidence:.2f}"
                ),
                artifact_uri=ref.artifact_uri,
                report=img.qa_report,
            )
            refs.append(ref)
            continue
        if dedupe:
            same = next((r for h, r in canonical if hamming(h, hash_hex) <= PHASH_THRESHOLD), None)
            if same is not None:
                refs.append(_deduped(same, img))
                continue
        meta.update(_recent_match(ws, hash_hex, img.data))
        ref = publish_local(img.data, MEDIA_TYPE, meta)
        canonical.append((hash_hex, ref))
        refs.append(ref)
    return refs


# ------------------------------------------------------------------------ render


def render(prompt: str, opts: ImagesOpts | dict[str, Any]) -> list[ArtifactRef]:
    """Render ``opts.num_images`` images for ``prompt``; returns ordered ArtifactRefs.

    Raises:
        PlanPolicyViolation: the prompt is disallowed, or an image failed post-render QA.
        RateLimitError: the tenant's bucket is empty and queueing is off or too long.
        ImagesBatchTimeout: a batch ran past ``per_batch_timeout_s`` on every attempt.
    """
    opts = opts if isinstance(opts, ImagesOpts) else ImagesOpts.model_validate(opts)
    ctx = current_run_context()
    provider = ctx.providers.get("images_sdxl", "fixture")
    qa_provider = ctx.providers.get("qa_qwen2vl", "fixture")
    moderate_prompt(prompt, opts)

    count = opts.num_images or 1
    batches = plan_batches(count, opts.max_images_per_call or DEFAULT_MAX_IMAGES_PER_CALL)
    host = rate_limit_host(provider)
    rate, capacity = PROVIDER_RATE_LIMITS.get(provider, (math.inf, math.inf))
    bucket = rate_limiter.get_bucket(ctx.tenant_id, host, rate_per_min=rate, capacity=capacity)
    # tools read no configuration: what a backend needs beyond the plan's options is passed
    call_opts = {
        **opts.model_dump(exclude_none=True),
        "provider": provider,
        "per_batch_timeout_s": opts.per_batch_timeout_s or DEFAULT_PER_BATCH_TIMEOUT_S,
        "models_root": str(get_settings().models_root),
    }

    images: list[_Image] = []
    for batch_index, (first, n) in enumerate(batches):
        items = _render_batch(
            prompt, opts, call_opts, (batch_index, len(batches), first, n), bucket, host, ctx
        )
        batch = [
            _Image(
                data=item["data"],
                metadata=dict(item.get("metadata") or {}),
                batch_index=batch_index,
                item_index=first + i,
            )
            for i, item in enumerate(items)
        ]
        _inspect(batch, qa_provider)
        images += batch
        _emit(
            ctx, "rendering", (first + n) / count, f"images {first + n}/{count}",
            chunk_index=batch_index,
        )  # fmt: skip
    return _publish(images, opts.dedupe)
