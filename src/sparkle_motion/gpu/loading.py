"""Loading one model: the loader registry, the guarded loader call and the optional requests.

``_load`` calls the loader (with a timeout in a worker thread when asked), applies placement,
offload, xformers and compile (each degrades to a warning), normalises errors, and describes
the result as a pool entry. It does not decide about reuse: that is the pool's job.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sparkle_motion.errors import ModelLoadError, ModelLoadTimeout, SparkleError
from sparkle_motion.gpu._torch import _cuda_available, _reset_peak, _torch
from sparkle_motion.gpu.cleanup import _cleanup, _devices_of, _size_mb
from sparkle_motion.gpu.oom import _one_line, _oom_error, is_oom_error
from sparkle_motion.gpu.pool import ModelPool, _Entry
from sparkle_motion.gpu.telemetry import _emit, peak_vram_mb
from sparkle_motion.utils.deadline import DeadlineExceeded, call_with_deadline

log = logging.getLogger(__name__)

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
    """Run the loader; with a timeout, in a daemon thread we stop waiting for (a load that
    finishes after it is freed at once)."""
    request = req.load_request()

    def free_late(pipeline: Any) -> None:
        _cleanup(
            [pipeline], model_key=req.model_key, weights=req.weights,
            reason="abandoned_after_timeout",
        )  # fmt: skip

    try:
        return call_with_deadline(
            lambda: loader(request), req.timeout_s,
            name=f"sparkle-load-{req.model_key}", on_late_result=free_late,
        )  # fmt: skip
    except DeadlineExceeded:
        raise ModelLoadTimeout(
            f"loading {req.model_key} ({req.weights or 'default weights'}) took longer than"
            f" {req.timeout_s:g}s",
            hint="raise timeout_s, or check the weights are on local disk",
            details={
                "model_key": req.model_key,
                "weights": req.weights,
                "timeout_s": req.timeout_s,
            },
        ) from None


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
