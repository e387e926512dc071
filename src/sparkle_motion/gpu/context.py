"""``model_context``: the one way adapters hold a model, and ``release``.

A context takes an entry from the pool (loading it on a miss), serialises calls into the
pipeline through ``ctx.inference()``, turns an OOM inside the block into ``ModelOOMError``
and gives the entry back on exit. ``release`` runs the checklist now, for a context or a
pipeline.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

from sparkle_motion.errors import ModelLoadError, ModelOOMError
from sparkle_motion.gpu._torch import _cuda_available, _cuda_sync, _reset_peak
from sparkle_motion.gpu.cleanup import _cleanup
from sparkle_motion.gpu.loading import DEFAULT_WEIGHTS, Loader, _load, _registered, _Request
from sparkle_motion.gpu.oom import _oom_error, is_oom_error
from sparkle_motion.gpu.pool import ModelPool, _CallLock, _Entry, get_pool
from sparkle_motion.gpu.telemetry import _emit, _nvml_metrics, peak_vram_mb, report_memory


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
