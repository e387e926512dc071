"""Model lifecycle: guarded loading, a per-process model pool, OOM normalisation, telemetry.

``model_context`` is the one way adapters load a model::

    with model_context("sdxl", weights=model_id, loader=load_sdxl) as ctx:
        with ctx.inference(seed=seed, batch_size=n) as pipe:
            images = pipe(prompt, generator=gen)

Within one process a loaded pipeline stays in a :class:`ModelPool` after the context exits and
is reused by later contexts with the same key (model key, weights, device, dtype, device map),
so a 10-image plan loads SDXL once. The pool is LRU and bounded by a memory budget; evicting an
entry runs the cleanup checklist (:func:`release`). Calls into one pipeline are serialised by
``ctx.inference()``, because diffusers schedulers keep per-call state.

torch is imported lazily, inside functions: importing this module must stay cheap for the
preview and fixture profiles, which never load a model. See ``docs/gpu.md``.
"""

from __future__ import annotations

import asyncio
import contextvars
import gc
import logging
import math
import os
import sys
import threading
import time
import traceback
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from sparkle_motion.errors import (
    ConfigError,
    ModelLoadError,
    ModelLoadTimeout,
    ModelOOMError,
    SparkleError,
)

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

log = logging.getLogger(__name__)

_MB = 1024 * 1024

# Exceptions a host raises when it cannot honour an optional request (offload, xformers,
# compile, device placement). See notes/verified-stack.md: CPU offload → RuntimeError, absent
# xformers → ModuleNotFoundError, .to("cuda") on a CPU build → AssertionError.
_DEGRADABLE = (
    RuntimeError,
    ImportError,
    ModuleNotFoundError,
    ValueError,
    AssertionError,
    AttributeError,
    NotImplementedError,
    TypeError,
)

# The spec's default weights per model key (used when ``weights`` is omitted).
DEFAULT_WEIGHTS: dict[str, str] = {
    "sdxl": "stabilityai/stable-diffusion-xl-base-1.0",
    "sdxl/refiner": "stabilityai/stable-diffusion-xl-refiner-1.0",
    "wan2.1": "Wan-AI/Wan2.1-FLF2V-14B-720P-diffusers",
    "wan2.1/flf2v": "Wan-AI/Wan2.1-FLF2V-14B-720P-diffusers",
    "qwen2vl": "Qwen/Qwen2-VL-7B-Instruct",
    "chatterbox": "ResembleAI/chatterbox",
}

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


# ------------------------------------------------------------------------ torch access


def _torch(import_: bool = True) -> Any:
    """torch, or None; with ``import_=False`` only if something already imported it."""
    mod = sys.modules.get("torch")
    if mod is not None or not import_:
        return mod
    try:
        import torch
    except ImportError:
        return None
    return torch


def _cuda_available(import_: bool = True) -> bool:
    torch = _torch(import_)
    if torch is None:
        return False
    try:
        return bool(torch.cuda.is_available())
    except Exception:
        return False


def _cuda_sync() -> bool:
    if not _cuda_available(import_=False):
        return False
    try:
        _torch().cuda.synchronize()
        return True
    except Exception:
        log.debug("torch.cuda.synchronize failed", exc_info=True)
        return False


def _empty_cache() -> bool:
    # A no-op without CUDA, but called anyway so that the checklist is the same everywhere.
    torch = _torch(import_=False)
    if torch is None:
        return False
    try:
        torch.cuda.empty_cache()
        return True
    except Exception:
        log.debug("torch.cuda.empty_cache failed", exc_info=True)
        return False


def _reset_peak() -> None:
    if not _cuda_available(import_=False):
        return
    torch = _torch()
    try:
        for i in range(torch.cuda.device_count()):
            torch.cuda.reset_peak_memory_stats(i)
    except Exception:
        log.debug("reset_peak_memory_stats failed", exc_info=True)


def peak_vram_mb() -> float | None:
    """Peak memory torch allocated on any CUDA device (MB), or None without CUDA."""
    if not _cuda_available(import_=False):
        return None
    torch = _torch()
    try:
        peaks = [torch.cuda.max_memory_allocated(i) for i in range(torch.cuda.device_count())]
    except Exception:
        return None
    return round(max(peaks) / _MB, 1) if peaks else None


def is_oom_error(exc: BaseException) -> bool:
    """Whether an exception means "out of memory" (CUDA, MPS or host)."""
    if isinstance(exc, (ModelOOMError, MemoryError)):
        return True
    torch = _torch(import_=False)
    oom_type = getattr(torch, "OutOfMemoryError", None) if torch is not None else None
    if oom_type is not None and isinstance(exc, oom_type):
        return True
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()


# ---------------------------------------------------------------------- memory metrics

_NVML: Any = None  # None: not tried yet; False: unavailable; else the pynvml module
_NVML_LOCK = threading.Lock()


def _nvml() -> Any:
    global _NVML
    with _NVML_LOCK:
        if _NVML is None:
            try:
                import pynvml  # optional: nvidia-ml-py

                pynvml.nvmlInit()
                _NVML = pynvml
            except Exception:
                _NVML = False
        return _NVML or None


def _nvml_metrics() -> dict[str, dict[str, int]] | None:
    """Per-GPU memory and utilisation from NVML, or None when NVML is not here."""
    nvml = _nvml()
    if nvml is None:
        return None
    try:
        out: dict[str, dict[str, int]] = {}
        for i in range(nvml.nvmlDeviceGetCount()):
            handle = nvml.nvmlDeviceGetHandleByIndex(i)
            mem = nvml.nvmlDeviceGetMemoryInfo(handle)
            util = nvml.nvmlDeviceGetUtilizationRates(handle)
            out[f"cuda:{i}"] = {
                "used_mb": int(mem.used // _MB),
                "total_mb": int(mem.total // _MB),
                "gpu_utilization_pct": int(util.gpu),
            }
        return out or None
    except Exception:
        return None


def _cuda_memory() -> dict[str, dict[str, int]]:
    if not _cuda_available(import_=False):
        return {}
    torch = _torch()
    out: dict[str, dict[str, int]] = {}
    for i in range(torch.cuda.device_count()):
        free, total = torch.cuda.mem_get_info(i)
        out[f"cuda:{i}"] = {
            "used_mb": int((total - free) // _MB),
            "total_mb": int(total // _MB),
            "allocated_mb": int(torch.cuda.memory_allocated(i) // _MB),
        }
    return out


def _host_memory() -> dict[str, int]:
    used_kb = total_kb = 0
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                used_kb = int(line.split()[1])
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                total_kb = int(line.split()[1])
                break
    except (OSError, ValueError, IndexError):
        try:
            import resource

            # Peak rather than current, but the best a host without /proc offers.
            rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            used_kb = rss // 1024 if sys.platform == "darwin" else rss
        except Exception:
            pass
    return {"used_mb": int(used_kb // 1024), "total_mb": int(total_kb // 1024)}


def report_memory() -> dict[str, dict[str, int]]:
    """Best-effort memory snapshot ``{device: {"used_mb", "total_mb"}}``; never raises.

    CUDA through torch (when torch is already imported), else NVML, then the host process
    from ``/proc`` as ``"cpu"``.
    """
    snapshot: dict[str, dict[str, int]] = {}
    try:
        snapshot.update(_cuda_memory())
    except Exception:
        log.debug("CUDA memory query failed", exc_info=True)
    if not snapshot:
        try:
            for device, stats in (_nvml_metrics() or {}).items():
                snapshot[device] = {"used_mb": stats["used_mb"], "total_mb": stats["total_mb"]}
        except Exception:
            log.debug("NVML memory query failed", exc_info=True)
    try:
        snapshot["cpu"] = _host_memory()
    except Exception:
        snapshot["cpu"] = {"used_mb": 0, "total_mb": 0}
    return snapshot


# ------------------------------------------------------------------------- telemetry


def _emit(phase: str, payload: dict[str, Any]) -> None:
    """Write a ``model_<phase>`` memory event; telemetry never breaks a render."""
    try:
        from sparkle_motion.adk_helpers import write_memory_event
        from sparkle_motion.run_context import current_run_context

        rc = current_run_context()
        body: dict[str, Any] = {
            "phase": phase,
            "timestamp": time.time(),
            "plan_id": rc.plan_id,
            "run_id": rc.run_id,
            "step_id": rc.step_id,
        }
        body.update(payload)
        if "device_stats" not in body:
            body["device_stats"] = report_memory()
        cuda_metrics = _nvml_metrics()
        if cuda_metrics:
            body["cuda_metrics"] = cuda_metrics
        write_memory_event(f"model_{phase}", body)
    except Exception:
        log.debug("model telemetry %s failed", phase, exc_info=True)


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


def release(ctx_or_pipeline: Any, *, reason: str = "release") -> dict[str, Any]:
    """Run the cleanup checklist on a ModelContext (dropping it from the pool) or a pipeline.

    Returns the cleanup event's payload (final memory snapshot, gc duration, checklist).
    """
    if isinstance(ctx_or_pipeline, ModelContext):
        ctx = ctx_or_pipeline
        entry, ctx._entry, ctx.pipeline = ctx._entry, None, None
        held, ctx._held = ctx._held, False
        payload = entry.pool.drop(entry, reason=reason, release_now=held) if entry else None
        if payload is None:
            # Others still use it: free what can be freed now; the rest on their exit.
            payload = _cleanup([], model_key=ctx.model_key, weights=ctx.weights, reason=reason)
        return payload
    entry = get_pool()._find(ctx_or_pipeline)
    if entry is not None:
        del ctx_or_pipeline
        payload = entry.pool.drop(entry, reason=reason)
        if payload is not None:
            return payload
        return _cleanup([], model_key=entry.model_key, weights=entry.weights, reason=reason)
    holder = [ctx_or_pipeline]
    del ctx_or_pipeline
    return _cleanup(holder, model_key=None, weights=None, reason=reason)


# --------------------------------------------------------------------- load requests


@dataclass(frozen=True)
class LoadRequest:
    """What a loader is asked to load, and how."""

    model_key: str
    weights: str | None
    device: str
    dtype: Any = None
    device_map: Any = None
    max_memory: Mapping[Any, str] | None = None
    low_cpu_mem_usage: bool = True

    def hf_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for Hugging Face ``from_pretrained`` (only those that are set)."""
        kwargs: dict[str, Any] = {"low_cpu_mem_usage": self.low_cpu_mem_usage}
        if self.dtype is not None:
            kwargs["torch_dtype"] = self.dtype
        if self.device_map is not None:
            kwargs["device_map"] = self.device_map
        if self.max_memory is not None:
            kwargs["max_memory"] = dict(self.max_memory)
        return kwargs


Loader = Callable[[LoadRequest], Any]

_LOADERS: dict[str, tuple[Loader, str | None]] = {}
_LOADERS_LOCK = threading.Lock()


def register_loader(prefix: str, fn: Loader, *, default_weights: str | None = None) -> None:
    """Use ``fn`` to load model keys equal to, or starting with, ``prefix``."""
    with _LOADERS_LOCK:
        _LOADERS[prefix] = (fn, default_weights)


def unregister_loader(prefix: str) -> None:
    """Forget the loader registered for ``prefix`` (if any)."""
    with _LOADERS_LOCK:
        _LOADERS.pop(prefix, None)


def _registered(model_key: str) -> tuple[Loader, str | None] | None:
    with _LOADERS_LOCK:
        matches = [p for p in _LOADERS if model_key == p or model_key.startswith(p)]
        return _LOADERS[max(matches, key=len)] if matches else None


def _freeze(value: Any) -> Any:
    if isinstance(value, Mapping):
        return tuple(sorted(((str(k), _freeze(v)) for k, v in value.items())))
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(v) for v in value)
    return value if isinstance(value, (str, int, float, bool, type(None))) else str(value)


# -------------------------------------------------------------------------- the pool


class _CallLock:
    """A reentrant lock that threads and asyncio tasks can hold, one owner at a time."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._owner: tuple[str, int] | None = None
        self._count = 0

    def acquire(self) -> None:
        me = ("thread", threading.get_ident())
        if self._owner == me:
            self._count += 1
            return
        self._lock.acquire()
        self._owner, self._count = me, 1

    async def acquire_async(self) -> None:
        me = ("task", id(asyncio.current_task()))
        if self._owner == me:
            self._count += 1
            return
        # Polling keeps the event loop free while another caller holds the pipeline.
        while not self._lock.acquire(blocking=False):
            await asyncio.sleep(0.005)
        self._owner, self._count = me, 1

    def release(self) -> None:
        self._count -= 1
        if self._count <= 0:
            self._owner, self._count = None, 0
            self._lock.release()

    def locked(self) -> bool:
        return self._lock.locked()


@dataclass(eq=False)
class _Entry:
    key: tuple[Any, ...]
    model_key: str
    weights: str | None
    pipeline: Any
    device: str
    device_map: Any
    allocated_devices: list[str]
    warnings: list[str]
    size_mb: float
    pool: ModelPool
    pooled: bool = True
    lock: _CallLock = field(default_factory=_CallLock)
    users: int = 0
    dropped: bool = False
    released: bool = False
    loaded_at: float = field(default_factory=time.time)
    last_used: float = field(default_factory=time.time)


def _default_budget_mb() -> float:
    raw = os.environ.get("SPARKLE_MODEL_POOL_MB")
    if raw not in (None, ""):
        try:
            value = float(raw)
        except ValueError:
            value = -1.0
        if value < 0 or math.isnan(value):
            raise ConfigError(
                f"must be a number of megabytes ≥ 0, got {raw!r}", field="SPARKLE_MODEL_POOL_MB"
            )
        return value
    # Without a setting: most of the GPUs' memory, else half the host's. Import torch now (a
    # model is about to load anyway), so that report_memory can see the GPUs.
    _cuda_available()
    memory = report_memory()
    gpu_total = sum(v["total_mb"] for k, v in memory.items() if k.startswith("cuda"))
    if gpu_total:
        return 0.8 * gpu_total
    host_total = memory.get("cpu", {}).get("total_mb", 0)
    return 0.5 * host_total if host_total else 16384.0


class ModelPool:
    """Loaded pipelines of this process, reused by key, LRU within a memory budget (MB).

    Keyed by (model_key, weights, device, dtype, device_map). One load lock per key, so
    concurrent requests for one key load once; one call lock per pipeline (see
    ``ModelContext.inference``). An entry in use is never released: dropping or evicting it
    defers the cleanup checklist to its last user's exit.
    """

    def __init__(self, budget_mb: float | None = None) -> None:
        self._budget_mb = budget_mb
        self._entries: OrderedDict[tuple[Any, ...], _Entry] = OrderedDict()
        self._lock = threading.Lock()
        self._load_locks: dict[tuple[Any, ...], threading.Lock] = {}
        self.loads = 0
        self.hits = 0
        self.evictions = 0

    # ------------------------------------------------------------------ inspection

    @property
    def budget_mb(self) -> float:
        """The memory budget: the constructor's, else SPARKLE_MODEL_POOL_MB, else host-based."""
        if self._budget_mb is None:
            self._budget_mb = _default_budget_mb()
        return self._budget_mb

    @budget_mb.setter
    def budget_mb(self, value: float | None) -> None:
        self._budget_mb = value

    @property
    def size_mb(self) -> float:
        """Memory held by pooled entries (parameter and buffer bytes), MB."""
        with self._lock:
            return sum(e.size_mb for e in self._entries.values())

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def __contains__(self, model_key: object) -> bool:
        with self._lock:
            return any(k[0] == model_key or k == model_key for k in self._entries)

    def lru_keys(self) -> list[tuple[Any, ...]]:
        """Pool keys (model_key, weights, device, dtype, device_map), least recently used first."""
        with self._lock:
            return list(self._entries)

    def stats(self) -> dict[str, Any]:
        """Counters and entries, for telemetry and benchmarks."""
        with self._lock:
            entries = [
                {
                    "model_key": e.model_key,
                    "weights": e.weights,
                    "device": e.device,
                    "size_mb": e.size_mb,
                    "users": e.users,
                }
                for e in self._entries.values()
            ]
        return {
            "loads": self.loads,
            "hits": self.hits,
            "evictions": self.evictions,
            "budget_mb": self.budget_mb,
            "entries": entries,
        }

    # ------------------------------------------------------------------ lifecycle

    def _acquire(self, key: tuple[Any, ...], load: Callable[[], _Entry]) -> tuple[_Entry, bool]:
        budget = self.budget_mb  # may raise ConfigError: before anything is loaded or locked
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                return self._take(entry), False
            load_lock = self._load_locks.setdefault(key, threading.Lock())
        with load_lock:
            with self._lock:
                entry = self._entries.get(key)
                if entry is not None:  # another thread loaded it while we waited
                    return self._take(entry), False
            # Load outside the pool lock: other keys load (and hit) meanwhile.
            entry = load()
            with self._lock:
                self.loads += 1
                self._entries[key] = entry
                entry.users += 1
                evicted = self._over_budget(budget)
        self._release_all(evicted, "evicted")
        return entry, True

    def _take(self, entry: _Entry) -> _Entry:
        # Called with self._lock held.
        self._entries.move_to_end(entry.key)
        entry.users += 1
        entry.last_used = time.time()
        self.hits += 1
        return entry

    def _over_budget(self, budget: float) -> list[_Entry]:
        # Called with self._lock held: idle entries, least recently used first.
        total = sum(e.size_mb for e in self._entries.values())
        evicted = []
        for entry in list(self._entries.values()):
            if total <= budget:
                break
            if entry.users == 0:
                del self._entries[entry.key]
                entry.dropped = True
                total -= entry.size_mb
                self.evictions += 1
                evicted.append(entry)
        return evicted

    def _find(self, pipeline: Any) -> _Entry | None:
        with self._lock:
            return next((e for e in self._entries.values() if e.pipeline is pipeline), None)

    def _relinquish(self, entry: _Entry) -> None:
        try:
            budget = self.budget_mb
        except ConfigError:
            budget = math.inf  # already reported when the entry was loaded
        with self._lock:
            entry.users = max(0, entry.users - 1)
            entry.last_used = time.time()
            if entry.users == 0 and (entry.dropped or not entry.pooled):
                todo = [entry]
                reason = "oom_deferred" if entry.dropped and entry.pooled else "exit"
            else:
                todo = self._over_budget(budget) if entry.pooled else []
                reason = "evicted"
        self._release_all(todo, reason)

    def drop(
        self, entry: _Entry, *, reason: str, release_now: bool = False
    ) -> dict[str, Any] | None:
        """Take an entry out of the pool; run the checklist now if nobody uses it.

        With ``release_now`` the caller gives up its own use first. Returns the cleanup
        payload when the checklist ran.
        """
        with self._lock:
            if self._entries.get(entry.key) is entry:
                del self._entries[entry.key]
            entry.dropped = True
            if release_now:
                entry.users = max(0, entry.users - 1)
            ready = entry.users == 0
        return self._release(entry, reason) if ready else None

    def evict_idle(self, *, reason: str = "evicted") -> int:
        """Release every entry nobody is using; returns how many."""
        with self._lock:
            idle = [e for e in self._entries.values() if e.users == 0]
            for entry in idle:
                del self._entries[entry.key]
                entry.dropped = True
                self.evictions += 1
        self._release_all(idle, reason)
        return len(idle)

    def clear(self) -> None:
        """Empty the pool: idle entries are released now, busy ones when their users exit."""
        with self._lock:
            entries = list(self._entries.values())
            self._entries.clear()
            idle = []
            for entry in entries:
                entry.dropped = True
                if entry.users == 0:
                    idle.append(entry)
        self._release_all(idle, "cleared")

    def _release_all(self, entries: list[_Entry], reason: str) -> None:
        for entry in entries:
            self._release(entry, reason)

    def _release(self, entry: _Entry, reason: str) -> dict[str, Any] | None:
        with self._lock:
            if entry.released:
                return None
            entry.released = True
            holder, entry.pipeline = [entry.pipeline], None
        try:
            return _cleanup(
                holder,
                model_key=entry.model_key,
                weights=entry.weights,
                reason=reason,
                extra={"size_mb": entry.size_mb, "held_s": round(time.time() - entry.loaded_at, 3)},
            )
        except Exception:
            # The checklist must not turn a successful step into a failure.
            log.warning("cleanup of %s failed", entry.model_key, exc_info=True)
            return None


_POOL: ModelPool | None = None
_POOL_PID: int | None = None
_POOL_LOCK = threading.Lock()


def get_pool() -> ModelPool:
    """The process-wide model pool (a fresh one after a fork)."""
    global _POOL, _POOL_PID
    with _POOL_LOCK:
        if _POOL is None or os.getpid() != _POOL_PID:
            _POOL, _POOL_PID = ModelPool(), os.getpid()
        return _POOL


def reset_pool(budget_mb: float | None = None) -> ModelPool:
    """Clear the process-wide pool and start a new one (optionally with a budget in MB)."""
    global _POOL, _POOL_PID
    with _POOL_LOCK:
        old, _POOL, _POOL_PID = _POOL, ModelPool(budget_mb), os.getpid()
        new = _POOL
    if old is not None:
        old.clear()
    return new


# ----------------------------------------------------------------------- the context


class ModelContext:
    """What ``model_context`` yields: the pipeline and where it lives.

    ``pipeline``/``model`` is None once the context has exited or after an OOM.
    """

    def __init__(self, entry: _Entry, *, from_pool: bool) -> None:
        self._entry: _Entry | None = entry
        self.model_key = entry.model_key
        self.weights = entry.weights
        self.pipeline: Any = entry.pipeline
        self.device = entry.device
        self.device_map: Any = entry.device_map
        self.allocated_devices: list[str] = list(entry.allocated_devices)
        self.warnings: list[str] = list(entry.warnings)
        self.from_pool = from_pool
        self.size_mb = entry.size_mb
        self._held = True

    @property
    def model(self) -> Any:
        """Alias of ``pipeline``."""
        return self.pipeline

    def report_memory(self) -> dict[str, dict[str, int]]:
        """Memory snapshot ``{device: {"used_mb", "total_mb"}}`` (best effort)."""
        return report_memory()

    def inference(self, **telemetry: Any) -> _Inference:
        """Hold the pipeline's call lock for one call (``with`` or ``async with``).

        Keyword arguments (``input_shape``, ``num_frames``, ``batch_size``, ``seed``, ...) go
        into the inference telemetry. An OOM inside becomes ``ModelOOMError(stage=
        "inference")`` after the cleanup checklist, and the model leaves the pool.
        """
        return _Inference(self, telemetry)

    # ------------------------------------------------------------------ internals

    def _base(self) -> dict[str, Any]:
        return {"model_key": self.model_key, "weights": self.weights, "device": self.device}

    def _relinquish(self) -> None:
        entry, self._entry = self._entry, None
        self.pipeline = None
        if entry is not None and self._held:
            self._held = False
            entry.pool._relinquish(entry)

    def _oom(self, exc: BaseException, stage: str) -> ModelOOMError:
        """Build the error, drop the model from the pool and run the checklist."""
        error = _oom_error(
            exc,
            model_key=self.model_key,
            weights=self.weights,
            device_map=self.device_map,
            stage=stage,
        )
        entry, self._entry = self._entry, None
        self.pipeline = None
        ran = None
        if entry is not None:
            held, self._held = self._held, False
            ran = entry.pool.drop(entry, reason="oom", release_now=held)
        if ran is None:
            # Someone else still uses the pipeline: free what can be freed now.
            _cleanup([], model_key=self.model_key, weights=self.weights, reason="oom")
        return error

    def __repr__(self) -> str:
        return (
            f"ModelContext({self.model_key!r}, weights={self.weights!r}, "
            f"device_map={self.device_map!r}, loaded={self.pipeline is not None})"
        )


class _Inference:
    def __init__(self, ctx: ModelContext, telemetry: dict[str, Any]) -> None:
        self._ctx = ctx
        self._telemetry = telemetry
        self._lock: _CallLock | None = None
        self._started = 0.0

    def _lock_of(self) -> _CallLock:
        entry = self._ctx._entry
        if entry is None or self._ctx.pipeline is None:
            raise ModelLoadError(
                f"{self._ctx.model_key} is no longer loaded (its context exited or it ran out"
                " of memory); open a new model_context"
            )
        return entry.lock

    def _start(self) -> Any:
        _reset_peak()
        _emit("inference_start", {**self._ctx._base(), **self._telemetry})
        self._started = time.monotonic()
        return self._ctx.pipeline

    def __enter__(self) -> Any:
        lock = self._lock_of()
        lock.acquire()
        self._lock = lock
        try:
            return self._start()
        except BaseException:
            self._lock = None
            lock.release()
            raise

    async def __aenter__(self) -> Any:
        lock = self._lock_of()
        await lock.acquire_async()
        self._lock = lock
        try:
            return self._start()
        except BaseException:
            self._lock = None
            lock.release()
            raise

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        ctx = self._ctx
        oom = False
        error: ModelOOMError | None = None
        try:
            _cuda_sync()
            payload = {
                **ctx._base(),
                **self._telemetry,
                "ok": exc is None,
                "inference_time_s": round(time.monotonic() - self._started, 4),
                "peak_vram_mb": peak_vram_mb(),
                "allocated_devices": ctx.allocated_devices,
            }
            metrics = _nvml_metrics()
            if metrics:
                payload["gpu_utilization"] = {
                    d: m.get("gpu_utilization_pct") for d, m in metrics.items()
                }
            if exc is not None:
                payload["error_type"] = type(exc).__name__
            _emit("inference_end", payload)
            oom = (
                exc is not None
                and isinstance(exc, Exception)
                and not isinstance(exc, ModelOOMError)
                and is_oom_error(exc)
            )
            if oom:
                error = ctx._oom(exc, "inference")  # type: ignore[arg-type]
        finally:
            lock, self._lock = self._lock, None
            if lock is not None:
                lock.release()
        if error is not None:
            raise error from exc
        return False

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        return self.__exit__(exc_type, exc, tb)


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


# ----------------------------------------------------------------------------- loading


@dataclass
class _Request:
    model_key: str
    weights: str | None
    offload: bool
    xformers: bool
    compile: bool
    device_map: Any
    low_cpu_mem_usage: bool
    max_memory: Mapping[Any, str] | None
    timeout_s: float | None
    loader: Loader | None
    device: str
    dtype: Any
    pooled: bool

    def key(self) -> tuple[Any, ...]:
        dtype = None if self.dtype is None else str(self.dtype)
        return (self.model_key, self.weights, self.device, dtype, _freeze(self.device_map))

    def load_request(self) -> LoadRequest:
        return LoadRequest(
            model_key=self.model_key,
            weights=self.weights,
            device=self.device,
            dtype=self.dtype,
            device_map=self.device_map,
            max_memory=self.max_memory,
            low_cpu_mem_usage=self.low_cpu_mem_usage,
        )


def _call_with_timeout(req: _Request, loader: Loader) -> Any:
    """Run the loader; with a timeout, in a daemon thread we stop waiting for."""
    request = req.load_request()
    if not req.timeout_s:
        return loader(request)
    state: dict[str, Any] = {}
    done = threading.Event()
    guard = threading.Lock()

    def work() -> None:
        try:
            state["value"] = loader(request)
        except BaseException as exc:
            state["error"] = exc
        with guard:
            if not state.get("abandoned"):
                done.set()
                return
        # Nobody waits any more: free what the late load produced.
        if "value" in state:
            _cleanup(
                [state.pop("value")],
                model_key=req.model_key,
                weights=req.weights,
                reason="abandoned_after_timeout",
            )

    context = contextvars.copy_context()
    thread = threading.Thread(
        target=context.run, args=(work,), name=f"sparkle-load-{req.model_key}", daemon=True
    )
    thread.start()
    done.wait(req.timeout_s)
    with guard:
        if not done.is_set():
            state["abandoned"] = True
            raise ModelLoadTimeout(
                f"loading {req.model_key} ({req.weights or 'default weights'}) took longer than"
                f" {req.timeout_s:g}s",
                hint="raise timeout_s, or check the weights are on local disk",
                details={
                    "model_key": req.model_key,
                    "weights": req.weights,
                    "timeout_s": req.timeout_s,
                },
            )
    if "error" in state:
        raise state["error"]
    return state["value"]


def _apply_requests(pipeline: Any, req: _Request) -> tuple[list[str], bool, str]:
    """Placement, offload, xformers and compile; each degrades to a warning. Returns
    (warnings, offloaded, device). An OOM is never degraded: it propagates."""
    warnings: list[str] = []
    cuda = _cuda_available() and req.device.startswith("cuda")
    offloaded = False

    def attempt(what: str, fn: Callable[[], Any]) -> bool:
        try:
            fn()
            return True
        except _DEGRADABLE as exc:
            if is_oom_error(exc):
                raise
            warnings.append(f"{what} unavailable: {type(exc).__name__}: {_one_line(exc, 200)}")
            return False

    device = req.device
    if req.offload:
        if req.device_map is not None:
            warnings.append("offload skipped: device_map already places the model")
        elif not cuda:
            warnings.append(f"offload skipped: needs a CUDA device (running on {req.device})")
        elif not callable(getattr(pipeline, "enable_model_cpu_offload", None)):
            warnings.append("offload skipped: the pipeline has no enable_model_cpu_offload()")
        else:
            offload_fn = pipeline.enable_model_cpu_offload
            # Only name the device when it has an index: older diffusers take no argument.
            target = req.device
            offloaded = attempt(
                "offload",
                (lambda: offload_fn(device=target)) if ":" in target else offload_fn,
            )

    # Offload and device_map placements manage devices themselves.
    if not offloaded and req.device_map is None and callable(getattr(pipeline, "to", None)):
        placed = attempt(f"placement on {device}", lambda: pipeline.to(device))
        if (
            not placed
            and device != "cpu"
            and attempt("placement on cpu", lambda: pipeline.to("cpu"))
        ):
            device = "cpu"
            cuda = False

    if req.xformers:
        fn = getattr(pipeline, "enable_xformers_memory_efficient_attention", None)
        if callable(fn):
            attempt("xformers", fn)
        else:
            warnings.append("xformers skipped: the pipeline has no memory-efficient attention hook")

    if req.compile:
        target_name = next(
            (n for n in ("unet", "transformer") if getattr(pipeline, n, None) is not None), None
        )
        if not cuda:
            warnings.append(f"compile skipped: torch.compile needs a CUDA device here ({device})")
        elif target_name is None:
            warnings.append("compile skipped: the pipeline has no unet or transformer")
        else:
            torch = _torch()

            def do_compile() -> None:
                target = getattr(pipeline, target_name)
                setattr(pipeline, target_name, torch.compile(target, mode="reduce-overhead"))

            attempt("compile", do_compile)
    return warnings, offloaded, device


def _load(req: _Request, pool: ModelPool) -> _Entry:
    """Load, apply the requests, and describe the result; errors normalised."""
    registered = _registered(req.model_key)
    loader = req.loader or (registered[0] if registered else None)
    if loader is None:
        raise ModelLoadError(
            f"no loader for model key {req.model_key!r}",
            hint=f"pass loader= to model_context or register_loader({req.model_key!r}, fn)",
            details={"model_key": req.model_key, "weights": req.weights},
        )
    hint_map = req.device_map if req.device_map is not None else {"": req.device}
    base = {"model_key": req.model_key, "weights": req.weights, "device": req.device}
    _emit(
        "load_start",
        {
            **base,
            "device_map_hint": hint_map,
            "max_memory": req.max_memory,
            "pooled": req.pooled,
            "requests": {"offload": req.offload, "xformers": req.xformers, "compile": req.compile},
        },
    )
    _reset_peak()
    started = time.monotonic()
    retried = False
    while True:
        # The pipeline lives in a list so that cleanup after a failure can take it away.
        holder: list[Any] = []
        try:
            holder.append(_call_with_timeout(req, loader))
            warnings, offloaded, device = _apply_requests(holder[0], req)
            break
        except ModelLoadTimeout as exc:
            _emit("load_failed", {**base, "error": exc.to_dict()})
            raise
        except Exception as exc:
            if is_oom_error(exc):
                # Idle pooled models may be what fills the device: free them, try once more.
                if not retried and pool.evict_idle(reason="evicted_for_load") > 0:
                    retried = True
                    traceback.clear_frames(exc.__traceback__)
                    _cleanup(holder, model_key=req.model_key, weights=req.weights, reason="oom")
                    continue
                error: SparkleError = _oom_error(
                    exc,
                    model_key=req.model_key,
                    weights=req.weights,
                    device_map=hint_map,
                    stage="load",
                )
                _cleanup(holder, model_key=req.model_key, weights=req.weights, reason="oom")
            elif isinstance(exc, SparkleError):
                error = exc  # already one clear line (e.g. a missing dependency)
                if holder:
                    _cleanup(holder, model_key=req.model_key, weights=req.weights, reason="failed")
            else:
                error = ModelLoadError(
                    f"could not load {req.model_key} from "
                    f"{req.weights or 'default weights'}: {type(exc).__name__}: {_one_line(exc)}",
                    hint=(
                        "install the full extras: pip install 'sparkle-motion[full]'"
                        if isinstance(exc, ImportError)
                        else None
                    ),
                    details={"model_key": req.model_key, "weights": req.weights},
                )
                if holder:
                    _cleanup(holder, model_key=req.model_key, weights=req.weights, reason="failed")
            _emit("load_failed", {**base, "error": error.to_dict()})
            if error is exc:
                raise
            raise error from exc
    for warning in warnings:
        log.warning("%s: %s", req.model_key, warning)
    pipeline = holder[0]
    entry = _Entry(
        key=req.key(),
        model_key=req.model_key,
        weights=req.weights,
        pipeline=pipeline,
        device=device,
        device_map=(
            req.device_map
            if req.device_map is not None
            else getattr(pipeline, "hf_device_map", None) or {"": device}
        ),
        allocated_devices=_devices_of(pipeline, device, offloaded),
        warnings=warnings,
        size_mb=_size_mb(pipeline),
        pool=pool,
        pooled=req.pooled,
    )
    _emit(
        "load_complete",
        {
            **base,
            "allocated_devices": entry.allocated_devices,
            "device_map": entry.device_map,
            "peak_vram_mb_estimate": peak_vram_mb(),
            "load_duration_s": round(time.monotonic() - started, 4),
            "size_mb": entry.size_mb,
            "warnings": warnings,
            "offloaded": offloaded,
            "pooled": req.pooled,
        },
    )
    return entry


class ModelContextManager:
    """What ``model_context`` returns: usable once, as ``with`` or ``async with``."""

    def __init__(self, req: _Request, pool: ModelPool) -> None:
        self._req = req
        self._pool = pool
        self._ctx: ModelContext | None = None
        self._entered = False
        self._opened = 0.0

    def __enter__(self) -> ModelContext:
        if self._entered:
            raise RuntimeError("a model_context can be entered once; call model_context again")
        self._entered = True
        req = self._req
        self._opened = time.monotonic()
        if req.pooled:
            entry, fresh = self._pool._acquire(req.key(), lambda: _load(req, self._pool))
        else:
            entry, fresh = _load(req, self._pool), True
            with self._pool._lock:
                self._pool.loads += 1
            entry.users = 1
        ctx = self._ctx = ModelContext(entry, from_pool=not fresh)
        if not fresh:
            _emit("pool_hit", {**ctx._base(), "size_mb": entry.size_mb})
        return ctx

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        ctx = self._ctx
        if ctx is None:
            return False
        oom = (
            exc is not None
            and isinstance(exc, Exception)
            and not isinstance(exc, ModelOOMError)
            and is_oom_error(exc)
        )
        error: ModelOOMError | None = None
        try:
            _cuda_sync()
            if oom:
                error = ctx._oom(exc, "inference")  # type: ignore[arg-type]
            else:
                ctx._relinquish()
        finally:
            _emit(
                "context_exit",
                {
                    **ctx._base(),
                    "ok": exc is None,
                    "error_type": type(exc).__name__ if exc is not None else None,
                    "held_s": round(time.monotonic() - self._opened, 4),
                    "pooled": self._req.pooled,
                    "from_pool": ctx.from_pool,
                },
            )
        if error is not None:
            raise error from exc
        return False

    async def __aenter__(self) -> ModelContext:
        # Loading blocks: run it in a worker thread (contextvars are copied by to_thread).
        task = asyncio.ensure_future(asyncio.to_thread(self.__enter__))
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            # The load goes on in its thread; give the model back once it is done.
            def give_back(t: asyncio.Future[ModelContext]) -> None:
                if not t.cancelled() and t.exception() is None:
                    self.__exit__(None, None, None)

            task.add_done_callback(give_back)
            raise

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        return await asyncio.to_thread(self.__exit__, exc_type, exc, tb)


def _default_device() -> str:
    return "cuda" if _cuda_available() else "cpu"


def model_context(
    model_key: str,
    *,
    weights: str | Path | None = None,
    offload: bool = True,
    xformers: bool = True,
    compile: bool = False,
    device_map: Mapping[Any, Any] | str | None = None,
    low_cpu_mem_usage: bool = True,
    max_memory: Mapping[Any, str] | None = None,
    timeout_s: float | None = None,
    loader: Loader | None = None,
    device: str | None = None,
    dtype: Any = None,
    pooled: bool = True,
) -> ModelContextManager:
    """Guarded model loading (``with`` or ``async with``), yielding a :class:`ModelContext`.

    ``loader(LoadRequest) -> pipeline`` loads the model (default: the loader registered for
    ``model_key``). Pooled pipelines outlive the context and are reused by the next context
    with the same key; ``pooled=False`` releases on exit. Raises ``ModelLoadError``,
    ``ModelLoadTimeout`` (``timeout_s``) or ``ModelOOMError`` (``stage="load"`` or
    ``"inference"`` for an OOM inside the block).
    """
    if not model_key or not isinstance(model_key, str):
        raise ModelLoadError("model_key must be a non-empty string", field="model_key")
    if timeout_s is not None and timeout_s <= 0:
        raise ModelLoadError(f"timeout_s must be > 0, got {timeout_s}", field="timeout_s")
    if weights is None:
        registered = _registered(model_key)
        weights = (registered[1] if registered else None) or DEFAULT_WEIGHTS.get(model_key)
    req = _Request(
        model_key=model_key,
        weights=None if weights is None else str(weights),
        offload=offload,
        xformers=xformers,
        compile=compile,
        device_map=device_map,
        low_cpu_mem_usage=low_cpu_mem_usage,
        max_memory=max_memory,
        timeout_s=timeout_s,
        loader=loader,
        device=str(device) if device is not None else _default_device(),
        dtype=dtype,
        pooled=pooled,
    )
    return ModelContextManager(req, get_pool())


# ---------------------------------------------------------------------- heuristics


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
