"""images_sdxl FunctionTool entrypoint (the spec's ``render_images``)."""

from __future__ import annotations

from typing import Any

from sparkle_motion.providers import backend

TOOL = "images_sdxl"


def render_images(prompt: str, count: int, seed: int | None, opts: dict[str, Any]) -> list[dict]:
    """Render ``count`` images; returns ``[{'data': bytes, 'metadata': {...}}]`` in order.

    Args:
        opts: ImagesOpts fields plus ``provider`` (fixture, preview or full).
    """
    module = backend(TOOL, opts.get("provider", "fixture"))
    return module.render(prompt, count, seed, opts)
