"""The cleanup checklist, and the module inspection it and the loader rely on.

``_cleanup`` runs the spec's six steps on a pipeline (offload hooks, dropped references, CUDA
sync, ``gc.collect``, ``empty_cache``, a final snapshot) and emits the ``model_cleanup``
event. The inspection helpers find the torch modules a pipeline holds, their size and devices.
"""

from __future__ import annotations

import gc
import logging
import sys
import time
from collections.abc import Mapping
from typing import Any

from sparkle_motion.gpu._torch import _MB, _cuda_sync, _empty_cache, _torch
from sparkle_motion.gpu.telemetry import _emit, report_memory

log = logging.getLogger(__name__)


# ------------------------------------------------------------------ module inspection


def _component_items(pipeline: Any) -> list[tuple[str, Any]]:
    """(name, object) of what a pipeline holds: its ``components``, else its attributes."""
    components = getattr(pipeline, "components", None)
    if isinstance(components, Mapping):
        return list(components.items())
    try:
        return list(vars(pipeline).items())
    except TypeError:
        return []


def _modules(pipeline: Any) -> list[Any]:
    """The torch modules a pipeline holds (its ``components``, else its attributes)."""
    torch = _torch(import_=False)
    if torch is None or pipeline is None:
        return []
    module_type = torch.nn.Module
    if isinstance(pipeline, module_type):
        return [pipeline]
    seen: set[int] = set()
    out = []
    for _, value in _component_items(pipeline):
        if isinstance(value, module_type) and id(value) not in seen:
            seen.add(id(value))
            out.append(value)
    return out


def _size_mb(pipeline: Any) -> float:
    """Parameter and buffer bytes of a pipeline's modules, in MB (shared tensors once)."""
    seen: set[int] = set()
    total = 0
    for module in _modules(pipeline):
        try:
            tensors = [*module.parameters(), *module.buffers()]
        except Exception:
            continue
        for tensor in tensors:
            if id(tensor) in seen:
                continue
            seen.add(id(tensor))
            try:
                total += tensor.numel() * tensor.element_size()
            except Exception:
                pass
    return round(total / _MB, 3)


def _devices_of(pipeline: Any, device: str, offloaded: bool) -> list[str]:
    devices: set[str] = set()
    hf_map = getattr(pipeline, "hf_device_map", None)
    if isinstance(hf_map, Mapping) and hf_map:
        for where in hf_map.values():
            devices.add(f"cuda:{where}" if isinstance(where, int) else str(where))
    else:
        for module in _modules(pipeline):
            try:
                for tensor in module.parameters():
                    devices.add(str(tensor.device))
            except Exception:
                pass
    if offloaded:
        devices.update({"cpu", device})
    return sorted(devices) or [device]


# ---------------------------------------------------------------------- the checklist


def _remove_offload_hooks(pipeline: Any) -> list[str]:
    done: list[str] = []
    if pipeline is None:
        return done
    for name in ("remove_all_hooks", "maybe_free_model_hooks"):
        fn = getattr(pipeline, name, None)
        if callable(fn):
            try:
                fn()
                done.append(name)
                break
            except Exception:
                log.debug("%s failed", name, exc_info=True)
    # accelerate is only worth asking when something already imported it (offload did).
    if "accelerate" in sys.modules:
        try:
            from accelerate.hooks import remove_hook_from_module

            for module in _modules(pipeline):
                remove_hook_from_module(module, recurse=True)
            done.append("accelerate.remove_hook_from_module")
        except Exception:
            log.debug("accelerate hook removal failed", exc_info=True)
    return done


def _drop_components(pipeline: Any) -> list[str]:
    """Drop the pipeline's references to its big modules, so a stray reference to the
    pipeline object does not keep gigabytes of weights alive."""
    if pipeline is None:
        return []
    torch = _torch(import_=False)
    if torch is None or isinstance(pipeline, torch.nn.Module):
        return []
    items = _component_items(pipeline)
    own = getattr(pipeline, "__dict__", {}).get("components")
    dropped = []
    for name, value in items:
        if not isinstance(value, torch.nn.Module):
            continue
        try:
            if hasattr(pipeline, name):
                setattr(pipeline, name, None)
            if isinstance(own, dict) and name in own:
                own[name] = None
            dropped.append(name)
        except Exception:
            log.debug("could not drop component %s", name, exc_info=True)
    return dropped


def _cleanup(
    holder: list[Any],
    *,
    model_key: str | None,
    weights: str | None,
    reason: str,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The spec's six-point checklist; returns the cleanup event's payload.

    The pipeline comes in a list that this function empties: a plain argument would stay
    referenced from the caller's frame until we return, past the collection.
    """
    started = time.monotonic()
    pipeline = holder.pop() if holder else None
    # (5) offload hooks first: they need the live pipeline.
    hooks = _remove_offload_hooks(pipeline)
    # (1) delete references to the large objects.
    dropped = _drop_components(pipeline)
    del pipeline
    # (2) flush queued kernels before freeing their memory.
    synced = _cuda_sync()
    # (4) collect before (3), so blocks freed by the collection go back to the driver too.
    gc_started = time.monotonic()
    collected = gc.collect()
    gc_s = time.monotonic() - gc_started
    emptied = _empty_cache()
    # (6) the final snapshot.
    snapshot = report_memory()
    payload: dict[str, Any] = {
        "model_key": model_key,
        "weights": weights,
        "reason": reason,
        "device_stats": snapshot,
        "gc_collect_duration_s": round(gc_s, 4),
        "gc_collected": collected,
        "cleanup_duration_s": round(time.monotonic() - started, 4),
        "checklist": {
            "deleted_components": dropped,
            "cuda_synchronized": synced,
            "empty_cache": emptied,
            "gc_collect": True,
            "offload_hooks": hooks,
        },
    }
    if extra:
        payload.update(extra)
    _emit("cleanup", payload)
    return payload
