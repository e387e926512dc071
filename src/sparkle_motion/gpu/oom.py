"""Out-of-memory normalisation: recognise an OOM, and turn it into one ``ModelOOMError``.

Shared by loading (an OOM during the load) and the context (an OOM inside the block).
"""

from __future__ import annotations

import traceback
from typing import Any

from sparkle_motion.errors import ModelOOMError
from sparkle_motion.gpu._torch import _torch
from sparkle_motion.gpu.telemetry import peak_vram_mb


def is_oom_error(exc: BaseException) -> bool:
    """Whether an exception means "out of memory" (CUDA, MPS or host)."""
    if isinstance(exc, (ModelOOMError, MemoryError)):
        return True
    torch = _torch(import_=False)
    oom_type = getattr(torch, "OutOfMemoryError", None) if torch is not None else None
    if oom_type is not None and isinstance(exc, oom_type):
        return True
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()


def _oom_error(
    exc: BaseException, *, model_key: str, weights: str | None, device_map: Any, stage: str
) -> ModelOOMError:
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    first = str(exc).strip().splitlines()[0][:240] if str(exc).strip() else type(exc).__name__
    # The finished frames of the failed call hold activations and the pipeline; clear their
    # locals, or the cleanup that follows cannot free them (a retry would OOM again).
    traceback.clear_frames(exc.__traceback__)
    return ModelOOMError(
        f"out of memory during {stage} of {model_key} ({weights or 'default weights'}): {first}",
        model_key=model_key,
        weights=weights,
        attempted_device_map=device_map,
        peak_vram_mb=peak_vram_mb(),
        traceback_snippet=text[-2000:],
        stage=stage,
        hint="shrink the batch or chunk (suggest_shrink_for_oom), offload, or use a smaller preset",
    )


def _one_line(exc: BaseException, limit: int = 300) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 1] + "…"
