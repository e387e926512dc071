"""gpu_utils: model_context, the model pool, OOM normalisation, cleanup and telemetry (CPU)."""

from __future__ import annotations

import asyncio
import gc
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import torch

from sparkle_motion import gpu_utils
from sparkle_motion.db.store import get_store
from sparkle_motion.errors import ConfigError, ModelLoadError, ModelLoadTimeout, ModelOOMError
from sparkle_motion.gpu import loading, telemetry
from sparkle_motion.gpu_utils import (
    DEVICE_MAP_PRESETS,
    LoadRequest,
    ModelPool,
    get_pool,
    model_context,
    preset_for_host,
    preset_kwargs,
    register_loader,
    release,
    report_memory,
    reset_pool,
    suggest_shrink_for_oom,
    unregister_loader,
)
from sparkle_motion.run_context import run_context


class FakePipe:
    """A diffusers-shaped pipeline: a ``components`` mapping of torch modules and a call."""

    def __init__(self, hidden: int = 4) -> None:
        self.unet: torch.nn.Module | None = torch.nn.Linear(hidden, hidden)
        self.vae: torch.nn.Module | None = torch.nn.Linear(hidden, hidden)
        self.hidden = hidden
        self.calls = 0
        self.moved_to: list[str] = []

    @property
    def components(self) -> dict[str, Any]:
        return {"unet": self.unet, "vae": self.vae, "scheduler": object()}

    def to(self, device: str) -> FakePipe:
        self.moved_to.append(str(device))
        for module in (self.unet, self.vae):
            if module is not None:
                module.to(device)
        return self

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        assert self.unet is not None and self.vae is not None
        return self.vae(self.unet(x))


def counting_loader(
    calls: list[LoadRequest], hidden: int = 4, delay: float = 0.0
) -> Callable[[LoadRequest], FakePipe]:
    def load(req: LoadRequest) -> FakePipe:
        calls.append(req)
        if delay:
            time.sleep(delay)
        return FakePipe(hidden)

    return load


@pytest.fixture(autouse=True)
def fresh_pool() -> Iterator[ModelPool]:
    pool = reset_pool(budget_mb=10_000)
    yield pool
    reset_pool(budget_mb=10_000)
    for prefix in ("reg", "sdxl"):
        unregister_loader(prefix)


@pytest.fixture
def spy_cleanup(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Counts torch.cuda.empty_cache and gc.collect calls (the checklist's steps 3 and 4)."""
    counts = {"empty_cache": 0, "gc_collect": 0}
    real_collect = gc.collect

    def empty_cache() -> None:
        counts["empty_cache"] += 1

    def collect(*args: Any) -> int:
        counts["gc_collect"] += 1
        return real_collect(*args)

    monkeypatch.setattr(torch.cuda, "empty_cache", empty_cache)
    monkeypatch.setattr(gc, "collect", collect)
    return counts


def events(kind: str | None = None, **where: Any) -> list[dict[str, Any]]:
    rows = get_store().memory_events(**where)
    return [r for r in rows if kind is None or r["event_type"] == kind]


# ------------------------------------------------------------------------------ pool


def test_ten_steps_with_one_key_load_once(fresh_pool: ModelPool) -> None:
    calls: list[LoadRequest] = []
    loader = counting_loader(calls)
    pipes = set()
    for i in range(10):
        with model_context("sdxl", weights="w1", loader=loader) as ctx:
            assert ctx.from_pool is (i > 0)
            with ctx.inference(seed=i) as pipe:
                pipe(torch.ones(1, 4))
            pipes.add(id(ctx.pipeline))
        assert ctx.pipeline is None  # no stray reference once the context exits
    assert fresh_pool.loads == 1
    assert len(calls) == 1
    assert len(pipes) == 1
    assert calls[0].model_key == "sdxl" and calls[0].weights == "w1"
    assert calls[0].device == "cpu"


def test_four_threads_at_once_load_once(fresh_pool: ModelPool) -> None:
    calls: list[LoadRequest] = []
    loader = counting_loader(calls, delay=0.2)
    barrier = threading.Barrier(4)
    seen: list[int] = []
    errors: list[BaseException] = []

    def step() -> None:
        try:
            barrier.wait()
            with model_context("sdxl", weights="w1", loader=loader) as ctx:
                seen.append(id(ctx.pipeline))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=step) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert not errors
    assert fresh_pool.loads == 1 and len(calls) == 1
    assert len(set(seen)) == 1 and len(seen) == 4


def test_other_weights_dtype_or_device_map_load_again(fresh_pool: ModelPool) -> None:
    calls: list[LoadRequest] = []
    loader = counting_loader(calls)
    for weights in ("w1", "w2", "w1"):
        with model_context("sdxl", weights=weights, loader=loader):
            pass
    assert fresh_pool.loads == 2
    with model_context("sdxl", weights="w1", dtype=torch.float16, loader=loader):
        pass
    with model_context("sdxl", weights="w1", device_map={0: "cpu"}, loader=loader, offload=False):
        pass
    assert fresh_pool.loads == 4
    assert "sdxl" in fresh_pool and len(fresh_pool) == 4


def test_unpooled_context_releases_on_exit(
    fresh_pool: ModelPool, spy_cleanup: dict[str, int]
) -> None:
    calls: list[LoadRequest] = []
    with model_context("sdxl", loader=counting_loader(calls), pooled=False) as ctx:
        pipe = ctx.pipeline
    assert len(fresh_pool) == 0
    assert pipe.unet is None and pipe.vae is None  # references dropped (checklist 1)
    assert spy_cleanup == {"empty_cache": 1, "gc_collect": 1}
    (cleanup,) = events("model_cleanup")
    assert cleanup["payload"]["reason"] == "exit"


def test_lru_eviction_over_budget_runs_release(spy_cleanup: dict[str, int]) -> None:
    # Two Linear(512, 512) ≈ 2 MB per pipeline; the budget holds one.
    pool = reset_pool(budget_mb=3)
    calls: list[LoadRequest] = []
    loader = counting_loader(calls, hidden=512)
    with model_context("a", loader=loader) as ctx_a:
        pipe_a = ctx_a.pipeline
        assert 1.9 < ctx_a.size_mb < 2.2
    assert spy_cleanup["empty_cache"] == 0
    with model_context("b", loader=loader):
        pass
    assert [k[0] for k in pool.lru_keys()] == ["b"]
    assert pool.evictions == 1
    assert pipe_a.unet is None and pipe_a.vae is None
    assert spy_cleanup["empty_cache"] >= 1 and spy_cleanup["gc_collect"] >= 1
    cleanups = events("model_cleanup")
    assert [(c["payload"]["model_key"], c["payload"]["reason"]) for c in cleanups] == [
        ("a", "evicted")
    ]
    payload = cleanups[0]["payload"]
    assert "cpu" in payload["device_stats"] and payload["gc_collect_duration_s"] >= 0
    assert payload["checklist"]["deleted_components"] == ["unet", "vae"]
    with model_context("a", loader=loader):
        pass
    assert pool.loads == 3


def test_a_model_in_use_is_never_evicted() -> None:
    pool = reset_pool(budget_mb=3)
    loader = counting_loader([], hidden=512)
    with model_context("a", loader=loader) as ctx_a, model_context("b", loader=loader):
        assert ctx_a.pipeline.unet is not None
        assert len(pool) == 2  # over budget, but both are in use
    assert len(pool) == 1  # the least recently used went when its user left


def test_pool_budget_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPARKLE_MODEL_POOL_MB", "123")
    assert ModelPool().budget_mb == 123.0
    monkeypatch.setenv("SPARKLE_MODEL_POOL_MB", "lots")
    with pytest.raises(ConfigError, match="SPARKLE_MODEL_POOL_MB"):
        _ = ModelPool().budget_mb
    monkeypatch.delenv("SPARKLE_MODEL_POOL_MB")
    assert ModelPool().budget_mb > 0


def test_release_and_clear(fresh_pool: ModelPool, spy_cleanup: dict[str, int]) -> None:
    loader = counting_loader([])
    with model_context("a", loader=loader) as ctx:
        payload = release(ctx)
        assert ctx.pipeline is None
        assert payload["reason"] == "release"
    assert len(fresh_pool) == 0
    with model_context("b", loader=loader) as ctx:
        pipe = ctx.pipeline
    release(pipe)
    assert len(fresh_pool) == 0 and pipe.unet is None
    with model_context("c", loader=loader):
        pass
    fresh_pool.clear()
    assert len(fresh_pool) == 0
    assert [e["payload"]["reason"] for e in events("model_cleanup")] == [
        "release",
        "release",
        "cleared",
    ]


# ------------------------------------------------------------------------------- OOM


def test_oom_during_inference_cleans_up_and_raises_model_oom(
    fresh_pool: ModelPool, spy_cleanup: dict[str, int]
) -> None:
    with (
        pytest.raises(ModelOOMError) as info,
        model_context("sdxl", weights="w1", loader=counting_loader([])) as ctx,
    ):
        pipe = ctx.pipeline
        with ctx.inference(batch_size=4):
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
    err = info.value
    assert err.stage == "inference"
    assert err.model_key == "sdxl" and err.weights == "w1"
    assert err.attempted_device_map == {"": "cpu"}
    assert err.peak_vram_mb is None  # no CUDA here
    assert "OutOfMemoryError" in err.traceback_snippet
    assert err.retryable and "\n" not in str(err)
    assert isinstance(err.__cause__, torch.OutOfMemoryError)
    assert "sdxl" not in fresh_pool
    assert pipe.unet is None
    assert spy_cleanup["empty_cache"] >= 1 and spy_cleanup["gc_collect"] >= 1
    (cleanup,) = events("model_cleanup")
    assert cleanup["payload"]["reason"] == "oom"
    (end,) = events("model_inference_end")
    assert end["payload"]["ok"] is False and end["payload"]["error_type"] == "OutOfMemoryError"
    # The next step loads afresh.
    with model_context("sdxl", weights="w1", loader=counting_loader([])) as ctx:
        assert ctx.pipeline is not None
    assert fresh_pool.loads == 2


def test_oom_in_the_block_outside_inference_is_normalised(
    fresh_pool: ModelPool, spy_cleanup: dict[str, int]
) -> None:
    with (
        pytest.raises(ModelOOMError) as info,
        model_context("sdxl", loader=counting_loader([])),
    ):
        raise RuntimeError("CUDA error: out of memory")
    assert info.value.stage == "inference"
    assert len(fresh_pool) == 0 and spy_cleanup["empty_cache"] >= 1


def test_oom_while_another_user_holds_the_model_defers_release(fresh_pool: ModelPool) -> None:
    loader = counting_loader([])
    with model_context("sdxl", loader=loader) as other:
        with (
            pytest.raises(ModelOOMError),
            model_context("sdxl", loader=loader) as ctx,
            ctx.inference(),
        ):
            raise torch.OutOfMemoryError("out of memory")
        assert "sdxl" not in fresh_pool
        assert other.pipeline.unet is not None  # still usable by its other user
        with other.inference() as pipe:
            pipe(torch.ones(1, 4))
        pipe = other.pipeline
    assert pipe.unet is None  # released when the last user left
    reasons = [e["payload"]["reason"] for e in events("model_cleanup")]
    assert reasons == ["oom", "oom_deferred"]


def test_oom_during_load_is_stage_load(fresh_pool: ModelPool, spy_cleanup: dict[str, int]) -> None:
    def loader(req: LoadRequest) -> Any:
        raise torch.OutOfMemoryError("CUDA out of memory while loading")

    with pytest.raises(ModelOOMError) as info, model_context("wan2.1/flf2v", loader=loader):
        pytest.fail("the body must not run")
    err = info.value
    assert err.stage == "load" and err.model_key == "wan2.1/flf2v"
    assert err.weights == gpu_utils.DEFAULT_WEIGHTS["wan2.1/flf2v"]
    assert len(fresh_pool) == 0 and fresh_pool.loads == 0
    assert spy_cleanup["empty_cache"] >= 1 and spy_cleanup["gc_collect"] >= 1
    (failed,) = events("model_load_failed")
    assert failed["payload"]["error"]["code"] == "model_oom"


def test_oom_while_placing_the_model_is_not_degraded(fresh_pool: ModelPool) -> None:
    class Huge(FakePipe):
        def to(self, device: str) -> FakePipe:
            raise torch.OutOfMemoryError("out of memory moving to device")

    with (
        pytest.raises(ModelOOMError) as info,
        model_context("sdxl", loader=lambda req: Huge()),
    ):
        pass
    assert info.value.stage == "load"


def test_oom_at_load_evicts_idle_models_and_retries_once(fresh_pool: ModelPool) -> None:
    with model_context("idle", loader=counting_loader([])):
        pass
    attempts: list[int] = []

    def loader(req: LoadRequest) -> FakePipe:
        attempts.append(1)
        if len(attempts) == 1:
            raise torch.OutOfMemoryError("out of memory")
        return FakePipe()

    with model_context("big", loader=loader) as ctx:
        assert ctx.pipeline is not None
    assert len(attempts) == 2
    assert [k[0] for k in fresh_pool.lru_keys()] == ["big"]


# ---------------------------------------------------------------------- load errors


def test_loader_exception_is_one_line_model_load_error(fresh_pool: ModelPool) -> None:
    def loader(req: LoadRequest) -> Any:
        raise OSError("no file named\nmodel_index.json\nin /nowhere")

    with (
        pytest.raises(ModelLoadError) as info,
        model_context("sdxl", weights="/nowhere", loader=loader),
    ):
        pass
    text = str(info.value)
    assert "\n" not in text
    assert "/nowhere" in text and "OSError" in text and "sdxl" in text
    assert len(fresh_pool) == 0


def test_missing_loader_names_the_key() -> None:
    with (
        pytest.raises(ModelLoadError, match="no loader for model key 'mystery'"),
        model_context("mystery"),
    ):
        pass


def test_registered_loader_by_prefix_with_default_weights(fresh_pool: ModelPool) -> None:
    calls: list[LoadRequest] = []
    register_loader("reg", counting_loader(calls), default_weights="org/reg-model")
    with model_context("reg/variant") as ctx:
        assert ctx.weights == "org/reg-model"
    assert calls[0].model_key == "reg/variant"
    assert calls[0].hf_kwargs() == {"low_cpu_mem_usage": True}


def test_slow_loader_times_out(fresh_pool: ModelPool) -> None:
    go_on = threading.Event()
    finished = threading.Event()

    def loader(req: LoadRequest) -> FakePipe:
        go_on.wait(10)
        finished.set()
        return FakePipe()

    started = time.monotonic()
    with (
        pytest.raises(ModelLoadTimeout) as info,
        model_context("sdxl", loader=loader, timeout_s=0.2),
    ):
        pass
    assert time.monotonic() - started < 5
    assert "0.2s" in str(info.value)
    assert len(fresh_pool) == 0
    (failed,) = events("model_load_failed")
    assert failed["payload"]["error"]["code"] == "model_load_timeout"
    # The late result is released, not leaked.
    go_on.set()
    assert finished.wait(5)
    deadline = time.monotonic() + 5
    while not events("model_cleanup") and time.monotonic() < deadline:
        time.sleep(0.02)
    (cleanup,) = events("model_cleanup")
    assert cleanup["payload"]["reason"] == "abandoned_after_timeout"


def test_a_fast_loader_within_timeout_is_fine(fresh_pool: ModelPool) -> None:
    with run_context(step_id="t1"), model_context("sdxl", loader=counting_loader([]), timeout_s=5):
        pass
    assert fresh_pool.loads == 1


# ------------------------------------------------------------------------ telemetry


def test_telemetry_events_carry_the_run_context(fresh_pool: ModelPool) -> None:
    with (
        run_context(plan_id="p1", run_id="r1", step_id="s1"),
        model_context("sdxl", weights="w1", loader=counting_loader([])) as ctx,
        ctx.inference(seed=7, batch_size=2, input_shape=[1, 4]) as pipe,
    ):
        pipe(torch.ones(1, 4))
    kinds = [e["event_type"] for e in events(step_id="s1")]
    assert kinds == [
        "model_load_start",
        "model_load_complete",
        "model_inference_start",
        "model_inference_end",
        "model_context_exit",
    ]
    by_kind = {e["event_type"]: e for e in events(step_id="s1")}
    assert all(e["plan_id"] == "p1" and e["run_id"] == "r1" for e in by_kind.values())
    start = by_kind["model_load_start"]["payload"]
    assert start["model_key"] == "sdxl" and start["weights"] == "w1"
    assert start["device_map_hint"] == {"": "cpu"} and start["step_id"] == "s1"
    done = by_kind["model_load_complete"]["payload"]
    assert done["allocated_devices"] == ["cpu"] and done["load_duration_s"] >= 0
    assert "peak_vram_mb_estimate" in done
    inf = by_kind["model_inference_start"]["payload"]
    assert (inf["seed"], inf["batch_size"], inf["input_shape"]) == (7, 2, [1, 4])
    end = by_kind["model_inference_end"]["payload"]
    assert end["ok"] is True and end["inference_time_s"] >= 0
    assert end["allocated_devices"] == ["cpu"] and "cpu" in end["device_stats"]

    with run_context(step_id="s2"):
        with model_context("sdxl", weights="w1", loader=counting_loader([])):
            pass
        fresh_pool.clear()
    kinds = [e["event_type"] for e in events(step_id="s2")]
    assert kinds == ["model_pool_hit", "model_context_exit", "model_cleanup"]


def test_telemetry_failure_never_breaks_a_render(
    fresh_pool: ModelPool, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sparkle_motion import adk_helpers

    def broken(*args: Any, **kwargs: Any) -> int:
        raise RuntimeError("database is locked")

    monkeypatch.setattr(adk_helpers, "write_memory_event", broken)
    with model_context("sdxl", loader=counting_loader([])) as ctx, ctx.inference() as pipe:
        pipe(torch.ones(1, 4))


# ---------------------------------------------------------------------- degradation


class Fussy(FakePipe):
    """Exposes the optimisation hooks, each failing the way it does on a CPU host."""

    def __init__(self) -> None:
        super().__init__()
        self.offload_calls = 0

    def enable_model_cpu_offload(self) -> None:
        self.offload_calls += 1
        raise RuntimeError("enable_model_cpu_offload requires accelerator, but not found")

    def enable_xformers_memory_efficient_attention(self) -> None:
        raise ModuleNotFoundError("No module named 'xformers'")


def test_requests_degrade_with_warnings_on_a_cpu_host(fresh_pool: ModelPool) -> None:
    pipe = Fussy()
    with model_context(
        "sdxl", loader=lambda req: pipe, offload=True, xformers=True, compile=True
    ) as ctx:
        assert ctx.pipeline is pipe and ctx.device == "cpu"
        with ctx.inference() as p:
            p(torch.ones(1, 4))
    assert len(ctx.warnings) == 3
    offload, xformers, compile_ = ctx.warnings
    assert offload.startswith("offload skipped") and "CUDA" in offload
    assert xformers.startswith("xformers unavailable") and "ModuleNotFoundError" in xformers
    assert compile_.startswith("compile skipped")
    assert pipe.offload_calls == 0
    (done,) = events("model_load_complete")
    assert done["payload"]["warnings"] == ctx.warnings


def test_requests_degrade_when_the_host_claims_cuda(
    fresh_pool: ModelPool, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As if torch saw a GPU that the hooks then fail on: every request must still degrade.
    monkeypatch.setattr(loading, "_cuda_available", lambda import_=True: True)

    def no_compile(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("Dynamo is not supported on this host")

    monkeypatch.setattr(torch, "compile", no_compile)
    pipe = Fussy()
    pipe.to = lambda device: pipe.moved_to.append(device)  # type: ignore[method-assign]
    with model_context(
        "sdxl", loader=lambda req: pipe, device="cuda", offload=True, compile=True
    ) as ctx:
        assert ctx.device == "cuda"
    assert pipe.offload_calls == 1
    assert pipe.moved_to == ["cuda"]  # offload failed: placed on the device instead
    assert [w.split(":")[0] for w in ctx.warnings] == [
        "offload unavailable",
        "xformers unavailable",
        "compile unavailable",
    ]
    assert "RuntimeError" in ctx.warnings[0] and "RuntimeError" in ctx.warnings[2]


def test_placement_on_a_missing_gpu_falls_back_to_cpu(
    fresh_pool: ModelPool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(loading, "_cuda_available", lambda import_=True: True)
    with model_context(
        "sdxl", loader=lambda req: FakePipe(), device="cuda", offload=False, xformers=False
    ) as ctx:
        assert ctx.device == "cpu"
        assert ctx.allocated_devices == ["cpu"]
        with ctx.inference() as pipe:
            pipe(torch.ones(1, 4))
    assert len(ctx.warnings) == 1 and ctx.warnings[0].startswith("placement on cuda unavailable")


def test_device_map_requests_skip_placement_and_offload(fresh_pool: ModelPool) -> None:
    pipe = FakePipe()
    with model_context(
        "wan2.1", loader=lambda req: pipe, device_map="balanced", max_memory={0: "74GiB"}
    ) as ctx:
        assert ctx.device_map == "balanced"
    assert pipe.moved_to == []
    assert ctx.warnings[0].startswith("offload skipped: device_map")


# ------------------------------------------------------------- async and serialising


def test_async_with_model_context(fresh_pool: ModelPool) -> None:
    calls: list[LoadRequest] = []
    loader = counting_loader(calls)

    async def main() -> list[float]:
        async with (
            model_context("sdxl", loader=loader) as ctx,
            ctx.inference(seed=1) as pipe,
        ):
            out = await asyncio.to_thread(pipe, torch.ones(1, 4))
        async with model_context("sdxl", loader=loader) as again:
            assert again.from_pool
        return out.tolist()[0]

    with run_context(step_id="async-1"):
        out = asyncio.run(main())
    assert len(out) == 4 and fresh_pool.loads == 1
    kinds = {e["event_type"] for e in events(step_id="async-1")}
    assert {"model_load_start", "model_inference_end", "model_pool_hit"} <= kinds


def test_async_inference_calls_do_not_overlap(fresh_pool: ModelPool) -> None:
    active, peak = [0], [0]

    async def call(ctx: Any) -> None:
        async with ctx.inference():
            active[0] += 1
            peak[0] = max(peak[0], active[0])
            await asyncio.sleep(0.02)
            active[0] -= 1

    async def main() -> None:
        async with model_context("sdxl", loader=counting_loader([])) as ctx:
            await asyncio.gather(*(call(ctx) for _ in range(4)))

    asyncio.run(main())
    assert peak[0] == 1


def test_calls_into_one_pipeline_are_serialised(fresh_pool: ModelPool) -> None:
    loader = counting_loader([])
    lock = threading.Lock()
    active, peak, done = [0], [0], [0]
    barrier = threading.Barrier(3)

    def step() -> None:
        barrier.wait()
        with model_context("sdxl", loader=loader) as ctx:
            for _ in range(3):
                with ctx.inference() as pipe:
                    with lock:
                        active[0] += 1
                        peak[0] = max(peak[0], active[0])
                    time.sleep(0.01)
                    pipe(torch.ones(1, 4))
                    with lock:
                        active[0] -= 1
                        done[0] += 1

    threads = [threading.Thread(target=step) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert done[0] == 9 and peak[0] == 1
    assert fresh_pool.loads == 1


def test_inference_is_reentrant_in_one_thread(fresh_pool: ModelPool) -> None:
    with (
        model_context("sdxl", loader=counting_loader([])) as ctx,
        ctx.inference(),
        ctx.inference() as pipe,
    ):
        pipe(torch.ones(1, 4))
    with pytest.raises(ModelLoadError, match="no longer loaded"), ctx.inference():
        pass


def test_other_errors_pass_through_and_keep_the_model(fresh_pool: ModelPool) -> None:
    with (
        pytest.raises(KeyError),
        model_context("sdxl", loader=counting_loader([])) as ctx,
        ctx.inference(),
    ):
        raise KeyError("prompt")
    assert "sdxl" in fresh_pool


# ------------------------------------------------------------------ memory, helpers


def test_report_memory_never_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    snap = report_memory()
    assert set(snap) == {"cpu"}
    assert snap["cpu"]["used_mb"] > 0 and snap["cpu"]["total_mb"] > 0
    assert all(isinstance(v, int) for v in snap["cpu"].values())
    assert gpu_utils._nvml_metrics() is None  # pynvml is not installed here: quiet
    assert gpu_utils.peak_vram_mb() is None

    def broken() -> Any:
        raise OSError("no /proc")

    monkeypatch.setattr(telemetry, "_host_memory", broken)
    monkeypatch.setattr(telemetry, "_cuda_memory", broken)
    assert report_memory() == {"cpu": {"used_mb": 0, "total_mb": 0}}


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        ({"chunk_length_frames": 64}, 32),
        ({"chunk_length_frames": 64, "attempt": 2}, 16),
        ({"chunk_length_frames": 64, "attempt": 5}, 8),
        ({"chunk_length_frames": 10}, 8),
        ({"chunk_length_frames": 63}, 32),
        ({"chunk_length_frames": 4}, 4),
        ({"chunk_length_frames": 64, "attempt": 0}, 64),
        ({"chunk_length_frames": 64, "adaptive_shrink_factor": 0.25}, 16),
        ({"chunk_length_frames": 64, "min_chunk_frames": 40}, 40),
        ({"batch_size": 4}, 2),
        ({"batch_size": 4, "attempt": 3}, 1),
    ],
)
def test_suggest_shrink_for_oom(state: dict[str, Any], expected: int) -> None:
    assert suggest_shrink_for_oom(state) == expected


@pytest.mark.parametrize(
    "state",
    [{}, {"chunk_length_frames": 64, "adaptive_shrink_factor": 1.5}, {"batch_size": 0}],
)
def test_suggest_shrink_for_oom_rejects_bad_state(state: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        suggest_shrink_for_oom(state)


def test_presets(fresh_pool: ModelPool) -> None:
    assert set(DEVICE_MAP_PRESETS) == {"a100_balanced", "single_large_gpu", "consumer_gpu", "cpu"}
    assert preset_for_host() == "cpu"
    balanced = preset_kwargs("a100_balanced")
    assert balanced["device_map"] == "balanced" and balanced["low_cpu_mem_usage"] is True
    assert balanced["max_memory"]["cpu"] == "120GiB"
    assert preset_kwargs("consumer_gpu")["offload"] is True
    with model_context("sdxl", loader=counting_loader([]), **preset_kwargs()) as ctx:
        assert ctx.device == "cpu" and ctx.warnings == []
    with pytest.raises(ConfigError):
        preset_kwargs("tpu_pod")


def test_importing_gpu_utils_does_not_import_torch() -> None:
    code = (
        "import sys, sparkle_motion.gpu_utils as g; "
        "assert 'torch' not in sys.modules, 'torch imported'; "
        "assert g.report_memory()['cpu']['total_mb'] > 0; "
        "assert 'torch' not in sys.modules, 'torch imported by report_memory'"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_pool_is_process_wide() -> None:
    assert get_pool() is get_pool()
