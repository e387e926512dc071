"""images_sdxl FunctionTool entrypoint (the spec's ``render_images``)."""

from __future__ import annotations

from typing import Any

from sparkle_motion.providers import backend

TOOL = "images_sdxl"
# How long one call may take when the caller does not say (images_agent's default deadline
# for a batch: it gives up then, so the call must not go on using the GPU).
DEFAULT_PER_BATCH_TIMEOUT_S = 120.0


def render_images(prompt: str, count: int, seed: int | None, opts: dict[str, Any]) -> list[dict]:
    """Render ``count`` images; returns ``[{'data': bytes, 'metadata': {...}}]`` in order.

    Args:
        opts: ImagesOpts fields plus ``provider`` (fixture, preview or full).
    """
    module = backend(TOOL, opts.get("provider", "fixture"))
    return module.render(prompt, count, seed, opts)
