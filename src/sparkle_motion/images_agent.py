"""images_agent: decides how images are rendered and publishes them (thin for now).

Chooses the images_sdxl provider from the run context's profile, calls the FunctionTool
and publishes each image in order with ``batch_index``/``item_index``.
"""

from __future__ import annotations

from typing import Any

from sparkle_motion.adk_helpers import publish_local
from sparkle_motion.function_tools.images_sdxl import entrypoint
from sparkle_motion.run_context import current_run_context
from sparkle_motion.types import ArtifactRef, ImagesOpts

DEFAULT_MAX_IMAGES_PER_CALL = 8


def render(prompt: str, opts: ImagesOpts | dict[str, Any]) -> list[ArtifactRef]:
    """Render ``opts.num_images`` images for ``prompt``; returns ordered ArtifactRefs."""
    opts = opts if isinstance(opts, ImagesOpts) else ImagesOpts.model_validate(opts)
    ctx = current_run_context()
    provider = ctx.providers.get("images_sdxl", "fixture")
    count = opts.num_images or 1
    per_call = opts.max_images_per_call or DEFAULT_MAX_IMAGES_PER_CALL
    call_opts = {**opts.model_dump(exclude_none=True), "provider": provider}
    refs: list[ArtifactRef] = []
    for batch_index, first in enumerate(range(0, count, per_call)):
        n = min(per_call, count - first)
        seed = None if opts.seed is None else opts.seed + first
        for item_index, item in enumerate(entrypoint.render_images(prompt, n, seed, call_opts)):
            meta = {
                **item["metadata"],
                "batch_index": batch_index,
                "item_index": first + item_index,
            }
            refs.append(publish_local(item["data"], "image/png", meta))
    return refs
