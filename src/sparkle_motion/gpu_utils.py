"""Model lifecycle: guarded loading, a per-process model pool, OOM normalisation, telemetry.

``model_context`` is the one way adapters load a model::

    with model_context("sdxl", weights=model_id, loader=load_sdxl) as ctx:
        with ctx.inference(seed=seed, batch_size=n) as pipe:
            images = pipe(prompt, generator=gen)

A loaded pipeline stays in a :class:`ModelPool` after the context exits and is reused by later
contexts with the same key, so a 10-image plan loads SDXL once. The pool is LRU within a
memory budget; evicting an entry runs the cleanup checklist (:func:`release`). Calls into one
pipeline are serialised by ``ctx.inference()``, because diffusers schedulers keep per-call
state.

This module is the public import path; the code lives in :mod:`sparkle_motion.gpu`, one
concern per module (see its docstring). torch is imported lazily, inside functions, so
importing this module stays cheap for the preview and fixture profiles. See ``docs/gpu.md``.
"""

from __future__ import annotations

from sparkle_motion.gpu.context import ModelContext, ModelContextManager, model_context, release
from sparkle_motion.gpu.loading import (
    DEFAULT_WEIGHTS,
    LoadRequest,
    register_loader,
    unregister_loader,
)
from sparkle_motion.gpu.oom import is_oom_error
from sparkle_motion.gpu.pool import ModelPool, get_pool, reset_pool
from sparkle_motion.gpu.presets import (
    DEVICE_MAP_PRESETS,
    preset_for_host,
    preset_kwargs,
    suggest_shrink_for_oom,
)
from sparkle_motion.gpu.telemetry import _nvml_metrics as _nvml_metrics  # its old path
from sparkle_motion.gpu.telemetry import peak_vram_mb, report_memory

__all__ = [
    "DEFAULT_WEIGHTS",
    "DEVICE_MAP_PRESETS",
    "LoadRequest",
    "ModelContext",
    "ModelContextManager",
    "ModelPool",
    "get_pool",
    "is_oom_error",
    "model_context",
    "peak_vram_mb",
    "preset_for_host",
    "preset_kwargs",
    "register_loader",
    "release",
    "report_memory",
    "reset_pool",
    "suggest_shrink_for_oom",
    "unregister_loader",
]
