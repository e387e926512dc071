"""Host presets (which ``model_context`` arguments suit this machine) and the OOM shrink rule."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from sparkle_motion.errors import ConfigError
from sparkle_motion.gpu._torch import _MB, _cuda_available, _torch

# Host presets (docs/gpu.md). ``context`` holds model_context keyword arguments; the rest are
# hints for the agents that chunk work (videos_agent) and for humans.
DEVICE_MAP_PRESETS: dict[str, dict[str, Any]] = {
    "a100_balanced": {
        "description": "multi-GPU A100/H100 (80 GB each): balanced sharding across GPUs",
        "context": {
            "device_map": "balanced",
            "max_memory": {0: "74GiB", 1: "74GiB", "cpu": "120GiB"},
            "low_cpu_mem_usage": True,
            "offload": False,
            "xformers": True,
        },
        "chunk_length_frames": 64,
    },
    "single_large_gpu": {
        "description": "one GPU with 40 GB or more: the whole pipeline on cuda:0",
        "context": {
            "device": "cuda:0",
            "device_map": None,
            "low_cpu_mem_usage": True,
            "offload": False,
            "xformers": True,
        },
        "chunk_length_frames": 64,
    },
    "consumer_gpu": {
        "description": "24 GB or less (4090/3090): model CPU offload, smaller chunks",
        "context": {
            "device": "cuda:0",
            "device_map": None,
            "low_cpu_mem_usage": True,
            "offload": True,
            "xformers": True,
        },
        "chunk_length_frames": 32,
    },
    "cpu": {
        "description": "no GPU: development and small jobs; slow but never a GPU OOM",
        "context": {
            "device": "cpu",
            "device_map": None,
            "low_cpu_mem_usage": True,
            "offload": False,
            "xformers": False,
        },
        "chunk_length_frames": 16,
    },
}


def suggest_shrink_for_oom(attempt_state: Mapping[str, Any]) -> int:
    """The next chunk (or batch) size after an OOM.

    ``attempt_state``: ``chunk_length_frames`` (or ``batch_size``) as configured for the
    first attempt, ``attempt`` (1 after the first OOM; the shrink compounds per attempt),
    ``adaptive_shrink_factor`` (0.5) and ``min_chunk_frames`` (8; ``min_batch_size``, 1, for
    batches). Never below the minimum, never above the configured size.
    """
    if "chunk_length_frames" in attempt_state:
        size, minimum = (
            attempt_state["chunk_length_frames"],
            attempt_state.get("min_chunk_frames", 8),
        )
    elif "batch_size" in attempt_state:
        size, minimum = attempt_state["batch_size"], attempt_state.get("min_batch_size", 1)
    else:
        raise ValueError("attempt_state needs chunk_length_frames or batch_size")
    factor = float(attempt_state.get("adaptive_shrink_factor", 0.5))
    attempt = int(attempt_state.get("attempt", 1))
    size, minimum = int(size), int(minimum)
    if size < 1 or minimum < 1:
        raise ValueError("sizes must be ≥ 1")
    if not 0 < factor < 1:
        raise ValueError(f"adaptive_shrink_factor must be between 0 and 1, got {factor}")
    if attempt < 0:
        raise ValueError(f"attempt must be ≥ 0, got {attempt}")
    shrunk = math.ceil(size * factor**attempt)
    return min(size, max(minimum, shrunk))


def preset_for_host() -> str:
    """The DEVICE_MAP_PRESETS name that fits the GPUs torch sees here."""
    if not _cuda_available():
        return "cpu"
    torch = _torch()
    try:
        count = torch.cuda.device_count()
        totals = [torch.cuda.get_device_properties(i).total_memory / _MB for i in range(count)]
    except Exception:
        return "cpu"
    if not totals:
        return "cpu"
    large = 40 * 1024
    if count >= 2 and min(totals) >= large:
        return "a100_balanced"
    if totals[0] >= large:
        return "single_large_gpu"
    return "consumer_gpu"


def preset_kwargs(name: str | None = None) -> dict[str, Any]:
    """``model_context`` keyword arguments of a preset (default: this host's), copied; the
    balanced preset's ``max_memory`` names every GPU visible here."""
    name = name or preset_for_host()
    if name not in DEVICE_MAP_PRESETS:
        raise ConfigError(
            f"unknown device preset {name!r}; choose from {sorted(DEVICE_MAP_PRESETS)}",
            field="device_preset",
        )
    kwargs = dict(DEVICE_MAP_PRESETS[name]["context"])
    if kwargs.get("max_memory") is not None:
        memory = dict(kwargs["max_memory"])
        if _cuda_available():
            try:
                count = _torch().cuda.device_count()
                per_gpu = next(v for k, v in memory.items() if isinstance(k, int))
                memory = {**{i: per_gpu for i in range(count)}, "cpu": memory.get("cpu")}
            except Exception:
                pass
        kwargs["max_memory"] = memory
    return kwargs
