"""images_sdxl full backend on tiny random SDXL pipelines (CPU, offline).

A tiny SDXL base and a tiny refiner are built from small random configs with locally built
CLIP tokenizers (notes/verified-stack.md), saved with ``save_pretrained`` under a temporary
models root, and loaded by the adapter through its own ``from_pretrained`` path.
"""

from __future__ import annotations

import gc
import io
import json
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from sparkle_motion import gpu_utils, images_agent, providers
from sparkle_motion.errors import (
    ConfigError,
    MissingDependencyError,
    ModelOOMError,
    PlanSchemaError,
)
from sparkle_motion.function_tools.images_sdxl import entrypoint, sdxl
from sparkle_motion.providers import provider_version
from sparkle_motion.run_context import run_context
from sparkle_motion.types import ImagesOpts
from sparkle_motion.utils import rate_limiter
from sparkle_motion.utils.tiny_tokenizers import clip_tokenizer

diffusers = pytest.importorskip("diffusers")
transformers = pytest.importorskip("transformers")

# diffusers' schedulers call numpy on torch tensors; numpy 2 warns on every element-wise call
# (thousands per run, and recording them costs more time than the denoising).
pytestmark = [
    pytest.mark.filterwarnings("ignore:__array_wrap__ must accept context:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept:DeprecationWarning"),
]

BASE = "tiny-sdxl"
REFINER = "tiny-sdxl-refiner"
SMALL = {"model_id": BASE, "width": 64, "height": 48, "steps": 3}
REQUIRED_METADATA = (
    "seed", "sampler", "scheduler", "prompt", "model_id", "device", "width", "height", "steps",
    "inference_time_s", "peak_vram_mb", "opts",
)  # fmt: skip


# ----------------------------------------------------------------- tiny pipelines


def _unet(projection_dim: int, cross_attention_dim: int) -> Any:
    return diffusers.UNet2DConditionModel(
        block_out_channels=(32, 64), layers_per_block=1, sample_size=32, in_channels=4,
        out_channels=4, down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), attention_head_dim=(2, 4),
        use_linear_projection=True, addition_embed_type="text_time", addition_time_embed_dim=8,
        transformer_layers_per_block=(1, 1),
        projection_class_embeddings_input_dim=projection_dim,
        cross_attention_dim=cross_attention_dim, norm_num_groups=32,
    )  # fmt: skip


def build_tiny_models(root: Path) -> None:
    """Save a tiny SDXL base and a tiny standalone refiner under ``root``."""
    torch.manual_seed(0)
    vae = diffusers.AutoencoderKL(
        block_out_channels=[32, 64], in_channels=3, out_channels=3,
        down_block_types=["DownEncoderBlock2D"] * 2, up_block_types=["UpDecoderBlock2D"] * 2,
        latent_channels=4, sample_size=128,
    )  # fmt: skip
    text = transformers.CLIPTextConfig(
        bos_token_id=512, eos_token_id=513, pad_token_id=513, hidden_size=32,
        intermediate_size=37, num_attention_heads=4, num_hidden_layers=2, vocab_size=1000,
        hidden_act="gelu", projection_dim=32, max_position_embeddings=77,
    )  # fmt: skip
    scheduler = diffusers.EulerDiscreteScheduler(
        beta_start=0.00085, beta_end=0.012, steps_offset=1, beta_schedule="scaled_linear",
        timestep_spacing="leading",
    )  # fmt: skip
    tokenizer = clip_tokenizer(root / "_tok1", "<|endoftext|>")
    tokenizer_2 = clip_tokenizer(root / "_tok2", "!")
    text_encoder_2 = transformers.CLIPTextModelWithProjection(text)
    base = diffusers.StableDiffusionXLPipeline(
        vae=vae, text_encoder=transformers.CLIPTextModel(text), text_encoder_2=text_encoder_2,
        tokenizer=tokenizer, tokenizer_2=tokenizer_2, unet=_unet(80, 64), scheduler=scheduler,
    )  # fmt: skip
    base.save_pretrained(root / BASE)
    # A standalone refiner: second text encoder only, aesthetic-score conditioning (6*8 + 24).
    refiner = diffusers.StableDiffusionXLImg2ImgPipeline(
        vae=vae, text_encoder=None, text_encoder_2=text_encoder_2, tokenizer=None,
        tokenizer_2=tokenizer_2, unet=_unet(72, 32), scheduler=scheduler,
        requires_aesthetics_score=True,
    )  # fmt: skip
    refiner.save_pretrained(root / REFINER)


@pytest.fixture(scope="session")
def models_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("models")
    build_tiny_models(root)
    return root


@pytest.fixture(scope="module", autouse=True)
def frozen_heap() -> Iterator[None]:
    """Keep torch's and transformers' import-time objects out of gc.collect: the cleanup
    checklist collects on every release, and scanning that heap costs ~0.2 s a time here."""
    gc.collect()
    gc.freeze()
    yield
    gc.unfreeze()


@pytest.fixture(autouse=True)
def env(models_root: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[gpu_utils.ModelPool]:
    monkeypatch.setenv("SPARKLE_MODELS_DIR", str(models_root))
    monkeypatch.setattr(sdxl._ADAPTER, "models_root", models_root)  # what images_agent passes
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    pool = gpu_utils.reset_pool(budget_mb=10_000)
    yield pool
    gpu_utils.reset_pool(budget_mb=10_000)


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


class UNetSpy:
    """Wraps UNet2DConditionModel.forward: counts denoising steps, runs a hook before each."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, hook: Any = None) -> None:
        self.calls = 0
        self.hook = hook
        real = diffusers.UNet2DConditionModel.forward

        def forward(module: Any, *args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            if self.hook is not None:
                self.hook(self.calls)
            return real(module, *args, **kwargs)

        monkeypatch.setattr(diffusers.UNet2DConditionModel, "forward", forward)


class CallSpy:
    """Records the keyword arguments of every call of a pipeline class."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, cls: Any) -> None:
        self.kwargs: list[dict[str, Any]] = []
        real = cls.__call__

        def call(pipe: Any, *args: Any, **kwargs: Any) -> Any:
            self.kwargs.append(kwargs)
            return real(pipe, *args, **kwargs)

        monkeypatch.setattr(cls, "__call__", call)


def pixels(item: dict[str, Any]) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(item["data"])).convert("RGB"), dtype=np.int16)


def render(count: int = 1, seed: int | None = 7, **opts: Any) -> list[dict[str, Any]]:
    return sdxl.render("a lighthouse at dusk", count, seed, {**SMALL, **opts})


# ------------------------------------------------------------------------- outputs


def test_outputs_have_the_requested_size_and_complete_metadata() -> None:
    items = render(count=2, seed=11, width=64, height=48)

    assert len(items) == 2
    for index, item in enumerate(items):
        img = Image.open(io.BytesIO(item["data"]))
        assert img.format == "PNG" and img.size == (64, 48) and img.mode == "RGB"
        meta = item["metadata"]
        assert not [k for k in REQUIRED_METADATA if k not in meta]
        assert meta["provider"] == sdxl.PROVIDER_ID
        assert meta["seed"] == 11 + index and meta["index"] == index
        assert (meta["width"], meta["height"], meta["steps"]) == (64, 48, 3)
        assert meta["sampler"] == "euler" and meta["scheduler"] == "EulerDiscreteScheduler"
        assert meta["model_id"] == BASE and meta["device"] == "cpu" and meta["dtype"] == "float32"
        assert meta["inference_time_s"] > 0 and meta["peak_vram_mb"] is None  # no CUDA here
        assert meta["opts"]["model_id"] == BASE and meta["opts"]["num_images"] == 2
        json.dumps(meta)  # publishable as is
        # The PNG itself says how it was made (and which colour space its pixels are in).
        embedded = json.loads(img.info["sparkle_motion"])
        assert embedded["seed"] == 11 + index and embedded["prompt"] == "a lighthouse at dusk"
        assert "srgb" in img.info


def test_same_seed_same_pixels_other_seed_different() -> None:
    first = render(seed=5)
    again = render(seed=5)
    other = render(seed=6)

    assert again[0]["metadata"]["from_pool"] is True
    assert np.array_equal(pixels(first[0]), pixels(again[0]))
    assert np.abs(pixels(first[0]) - pixels(other[0])).max() > 0


def test_image_i_uses_seed_plus_i_whatever_the_batch() -> None:
    batch = render(count=3, seed=20)
    alone = render(count=1, seed=21)

    assert [item["metadata"]["seed"] for item in batch] == [20, 21, 22]
    # Batched matmuls may round differently from single ones: at most one level apart.
    assert np.abs(pixels(batch[1]) - pixels(alone[0])).max() <= 1
    assert np.abs(pixels(batch[0]) - pixels(batch[1])).max() > 0


def test_no_seed_picks_one_and_records_it() -> None:
    item = render(seed=None)[0]
    again = render(seed=item["metadata"]["seed"])[0]
    assert np.array_equal(pixels(item), pixels(again))


def test_prompts_and_micro_conditioning_reach_the_pipeline(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    spy = CallSpy(monkeypatch, diffusers.StableDiffusionXLPipeline)
    plain = render(count=2, seed=3)
    conditioned = render(
        count=2,
        seed=3,
        prompt_2="oil painting",
        negative_prompt="blurry",
        negative_prompt_2="low contrast",
        cfg_scale=7.5,
        original_size=(96, 128),
        target_size=(48, 64),
        crop_conditioning=(8, 16),
    )

    call = spy.kwargs[-1]
    assert call["prompt_2"] == "oil painting" and call["negative_prompt"] == "blurry"
    assert call["negative_prompt_2"] == "low contrast" and call["guidance_scale"] == 7.5
    assert call["original_size"] == (96, 128) and call["target_size"] == (48, 64)
    assert call["crops_coords_top_left"] == (8, 16)
    assert call["num_images_per_prompt"] == 2 and len(call["generator"]) == 2
    assert (call["width"], call["height"], call["num_inference_steps"]) == (64, 48, 3)
    assert np.abs(pixels(plain[0]) - pixels(conditioned[0])).max() > 0
    assert conditioned[0]["metadata"]["original_size"] == [96, 128]
    assert conditioned[0]["metadata"]["crop_conditioning"] == [8, 16]


def test_accepts_an_images_opts_model(models_root: Path) -> None:
    opts = ImagesOpts(model_id=BASE, width=64, height=64, steps=2, seed=4, num_images=2)
    items = sdxl.DiffusersAdapter(models_root=models_root).render_images("a fox", opts)
    assert [i["metadata"]["seed"] for i in items] == [4, 5]
    assert Image.open(io.BytesIO(items[0]["data"])).size == (64, 64)


# ------------------------------------------------------------------------ samplers


def test_every_sampler_name_maps_to_its_scheduler(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, (cls_name, overrides) in sdxl.SAMPLERS.items():
        if getattr(getattr(diffusers, cls_name), "_backends", None):
            # diffusers' stand-in for a scheduler whose package (scipy, torchsde) is missing
            with pytest.raises(MissingDependencyError, match=f"sampler '{name}' needs"):
                render(sampler=name, steps=2)
            continue
        meta = render(sampler=name, steps=2)[0]["metadata"]
        assert (meta["sampler"], meta["scheduler"]) == (name, cls_name)
        built = sdxl.make_scheduler(diffusers.EulerDiscreteScheduler(), name)
        assert all(built.config[k] == v for k, v in overrides.items())
        assert sdxl.sampler_name(built) == name

    # The pooled pipeline keeps the scheduler it was loaded with.
    meta = render(steps=2)[0]["metadata"]
    assert (meta["sampler"], meta["scheduler"]) == ("euler", "EulerDiscreteScheduler")
    assert gpu_utils.get_pool().loads == 1


def test_unknown_sampler_fails_before_loading() -> None:
    with pytest.raises(ConfigError, match="unknown sampler 'k_magic'"):
        render(sampler="k_magic")
    assert gpu_utils.get_pool().loads == 0


# ------------------------------------------------------------------------- refiner


def test_refiner_ensemble_hands_off_at_denoising_end(monkeypatch: pytest.MonkeyPatch) -> None:
    base_spy = CallSpy(monkeypatch, diffusers.StableDiffusionXLPipeline)
    refiner_spy = CallSpy(monkeypatch, diffusers.StableDiffusionXLImg2ImgPipeline)
    plain = render(count=2, seed=9, steps=4)
    refined = render(count=2, seed=9, steps=4, refiner_model_id=REFINER, denoising_end=0.5)

    assert [Image.open(io.BytesIO(i["data"])).size for i in refined] == [(64, 48)] * 2
    base_call, refiner_call = base_spy.kwargs[-1], refiner_spy.kwargs[-1]
    assert base_call["denoising_end"] == 0.5 and base_call["output_type"] == "latent"
    assert refiner_call["denoising_start"] == 0.5
    assert refiner_call["image"].shape[0] == 2  # the base's latents, not decoded images
    meta = refined[0]["metadata"]
    assert meta["refiner_mode"] == "ensemble" and meta["refiner_model_id"] == REFINER
    assert (meta["denoising_end"], meta["denoising_start"]) == (0.5, 0.5)
    assert np.abs(pixels(plain[0]) - pixels(refined[0])).max() > 0
    again = render(count=2, seed=9, steps=4, refiner_model_id=REFINER, denoising_end=0.5)
    assert np.array_equal(pixels(refined[1]), pixels(again[1]))
    keys = {key[0] for key in gpu_utils.get_pool().lru_keys()}
    assert keys == {"sdxl", "sdxl/refiner"} and gpu_utils.get_pool().loads == 2


def test_refiner_refines_the_finished_base_output(monkeypatch: pytest.MonkeyPatch) -> None:
    refiner_spy = CallSpy(monkeypatch, diffusers.StableDiffusionXLImg2ImgPipeline)
    items = render(seed=2, steps=2, refiner_model_id=REFINER, refiner_strength=0.25)

    call = refiner_spy.kwargs[-1]
    assert call["strength"] == 0.25 and "denoising_start" not in call
    # img2img runs int(steps * strength) steps; the adapter keeps that at one or more.
    assert call["num_inference_steps"] * call["strength"] >= 1
    assert items[0]["metadata"]["refiner_mode"] == "refine"
    assert items[0]["metadata"]["refiner_strength"] == 0.25
    assert Image.open(io.BytesIO(items[0]["data"])).size == (64, 48)


def test_denoising_end_without_refiner_composes_with_from_pipe(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    composed: list[Any] = []
    real = diffusers.StableDiffusionXLImg2ImgPipeline.from_pipe.__func__

    def from_pipe(cls: Any, pipeline: Any, **kwargs: Any) -> Any:
        composed.append(pipeline)
        return real(cls, pipeline, **kwargs)

    monkeypatch.setattr(
        diffusers.StableDiffusionXLImg2ImgPipeline, "from_pipe", classmethod(from_pipe)
    )
    items = render(seed=3, steps=4, denoising_end=0.6)

    assert len(composed) == 1 and isinstance(composed[0], diffusers.StableDiffusionXLPipeline)
    assert items[0]["metadata"]["refiner_mode"] == "self_ensemble"
    assert gpu_utils.get_pool().loads == 1  # the second stage shares the base's modules


# ---------------------------------------------------------------- memory and pool


def test_oom_during_inference_runs_the_cleanup_checklist(
    monkeypatch: pytest.MonkeyPatch, spy_cleanup: dict[str, int]
) -> None:
    render()
    pool = gpu_utils.get_pool()
    assert len(pool) == 1 and spy_cleanup == {"empty_cache": 0, "gc_collect": 0}

    def oom(calls: int) -> None:
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")

    spy = UNetSpy(monkeypatch, oom)
    with pytest.raises(ModelOOMError) as info:
        render()

    err = info.value
    assert err.stage == "inference" and err.model_key == "sdxl" and err.retryable
    assert isinstance(err.__cause__, torch.OutOfMemoryError) and spy.calls == 1
    assert spy_cleanup["empty_cache"] >= 1 and spy_cleanup["gc_collect"] >= 1
    assert len(pool) == 0  # the pool dropped the model

    spy.hook = None
    render()
    assert pool.loads == 2  # the next call loads a fresh copy


def test_a_ten_image_plan_loads_the_model_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(
        providers._BACKENDS,
        ("images_sdxl", "full"),
        "sparkle_motion.function_tools.images_sdxl.sdxl",
    )
    monkeypatch.setenv("SPARKLE_RETRY_BACKOFF_BASE_S", "0")
    rate_limiter.reset()
    opts = ImagesOpts(
        num_images=10, max_images_per_call=1, seed=100, model_id=BASE, width=64, height=64,
        steps=2,
    )  # fmt: skip
    with run_context(providers={"images_sdxl": "full", "qa_qwen2vl": "fixture"}):
        refs = images_agent.render("a whale under the moon", opts)
    rate_limiter.reset()

    pool = gpu_utils.get_pool()
    assert len(refs) == 10 and (pool.loads, pool.hits) == (1, 9)
    assert [r.metadata["seed"] for r in refs] == list(range(100, 110))
    assert {r.metadata["provider"] for r in refs} == {sdxl.PROVIDER_ID}


def test_entrypoint_full_profile_calls_this_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(
        providers._BACKENDS,
        ("images_sdxl", "full"),
        "sparkle_motion.function_tools.images_sdxl.sdxl",
    )
    items = entrypoint.render_images("a kite", 2, 1, {**SMALL, "provider": "full"})
    assert [i["metadata"]["seed"] for i in items] == [1, 2]
    assert provider_version("images_sdxl", "full") == "images_sdxl/sdxl@1"


# -------------------------------------------------------------------- cancellation


def test_cancel_event_interrupts_the_denoising_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    render()  # load first: the spy then counts denoising steps only
    cancel = threading.Event()
    spy = UNetSpy(monkeypatch, lambda calls: cancel.set() if calls == 2 else None)

    with pytest.raises(sdxl.ImagesSDXLCancelled) as info:
        render(steps=20, cancel_event=cancel)

    assert spy.calls == 2  # the loop skipped its other 18 steps
    assert isinstance(info.value, TimeoutError) and not info.value.retryable
    assert info.value.details["interrupted_at_step"] == 1

    spy.calls, spy.hook = 0, None
    items = render(steps=3)  # the pooled pipeline is not left interrupted
    assert spy.calls == 3 and len(items) == 1 and gpu_utils.get_pool().loads == 1


def test_deadline_interrupts_the_denoising_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    render()
    clock = {"now": 0.0}
    monkeypatch.setattr(sdxl, "_clock", lambda: clock["now"])

    def tick(calls: int) -> None:
        clock["now"] += 1.0  # each denoising step "takes" one second

    spy = UNetSpy(monkeypatch, tick)
    with pytest.raises(sdxl.ImagesSDXLTimeout) as info:
        render(steps=20, per_batch_timeout_s=2.5)

    assert spy.calls == 3 and isinstance(info.value, TimeoutError) and info.value.retryable
    assert info.value.field == "opts.per_batch_timeout_s"
    assert not isinstance(info.value, sdxl.ImagesSDXLCancelled)


def test_deadline_passed_before_the_call_starts_fails_fast(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = {"now": 0.0}

    def now() -> float:
        clock["now"] += 10.0  # every reading is ten seconds later: loading "took" too long
        return clock["now"]

    monkeypatch.setattr(sdxl, "_clock", now)
    spy = UNetSpy(monkeypatch)
    with pytest.raises(sdxl.ImagesSDXLTimeout):
        render(per_batch_timeout_s=5)
    assert spy.calls == 0


def test_a_timed_out_call_stops_its_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    """What images_agent relies on: after its watchdog gives up on a call, the worker thread
    stops using the model at the next step instead of running out the schedule."""
    render()
    spy = UNetSpy(monkeypatch, lambda calls: time.sleep(0.02))
    box: dict[str, Any] = {}

    def work() -> None:
        try:
            render(steps=200, per_batch_timeout_s=0.3)
        except BaseException as exc:
            box["error"] = exc

    started = time.monotonic()
    worker = threading.Thread(target=work)
    worker.start()
    worker.join(timeout=30)
    elapsed = time.monotonic() - started

    assert not worker.is_alive() and isinstance(box.get("error"), sdxl.ImagesSDXLTimeout)
    # ~15 steps fit in 0.3 s; the whole schedule would take over 4 s.
    assert spy.calls < 100 and elapsed < 10.0


def test_backend_stops_at_the_agents_default_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    # images_agent passes per_batch_timeout_s only when the plan sets it, yet always gives up
    # on a call at its default: the backend must stop there too.
    render()
    clock = {"now": 0.0}
    monkeypatch.setattr(sdxl, "_clock", lambda: clock["now"])
    monkeypatch.setattr(sdxl, "DEFAULT_PER_BATCH_TIMEOUT_S", 2.5)
    spy = UNetSpy(monkeypatch, lambda calls: clock.__setitem__("now", clock["now"] + 1.0))

    with pytest.raises(sdxl.ImagesSDXLTimeout) as info:
        render(steps=20)
    assert spy.calls == 3 and info.value.details["timeout_s"] == 2.5


# -------------------------------------------------------------- weights, packages


def test_missing_diffusers_is_one_clear_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "diffusers", None)
    with pytest.raises(MissingDependencyError) as info:
        render()
    assert str(info.value) == (
        "images_sdxl (full) needs diffusers: pip install 'sparkle-motion[full]'"
    )


def test_hub_weights_not_cached_offline_are_one_clear_line(models_root: Path) -> None:
    with pytest.raises(MissingDependencyError) as info:
        render(model_id="nobody/no-such-sdxl")
    text = str(info.value)
    assert "\n" not in text and "hf download nobody/no-such-sdxl" in text
    assert str(models_root) in text
    assert gpu_utils.get_pool().loads == 0


def test_local_weights_must_exist_under_the_models_root(models_root: Path, tmp_path: Path) -> None:
    with pytest.raises(MissingDependencyError, match="no SDXL weights at"):
        render(model_id=str(models_root / "not-here"))
    (models_root / "empty-folder").mkdir(exist_ok=True)
    with pytest.raises(MissingDependencyError, match=r"model_index\.json"):
        render(model_id="empty-folder")
    with pytest.raises(PlanSchemaError, match="outside the models root"):
        render(model_id=str(tmp_path))


def test_absolute_path_under_the_root_loads(models_root: Path) -> None:
    items = render(model_id=str(models_root / BASE))
    assert items[0]["metadata"]["weights"] == str((models_root / BASE).resolve())


def test_missing_fp16_variant_falls_back_to_default_weights(
    models_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    attempts: list[dict[str, Any]] = []
    real = diffusers.StableDiffusionXLPipeline.from_pretrained.__func__

    def from_pretrained(cls: Any, weights: str, **kwargs: Any) -> Any:
        attempts.append(kwargs)
        return real(cls, weights, **kwargs)

    monkeypatch.setattr(
        diffusers.StableDiffusionXLPipeline, "from_pretrained", classmethod(from_pretrained)
    )
    req = gpu_utils.LoadRequest(
        model_key="sdxl", weights=str(models_root / BASE), device="cpu", dtype=torch.float16
    )
    pipe = sdxl.load_sdxl(req)

    assert [a.get("variant") for a in attempts] == ["fp16", None]
    assert all(a["use_safetensors"] for a in attempts)
    assert pipe.unet.dtype == torch.float16

    # A folder that has the fp16 variant loads it on the first try.
    variant_dir = models_root / "tiny-sdxl-fp16"
    if not variant_dir.exists():
        pipe.save_pretrained(variant_dir, variant="fp16")
    attempts.clear()
    sdxl.load_sdxl(
        gpu_utils.LoadRequest(
            model_key="sdxl", weights=str(variant_dir), device="cpu", dtype=torch.float16
        )
    )
    assert [a.get("variant") for a in attempts] == ["fp16"]

    # fp32 (the CPU) never asks for the variant.
    attempts.clear()
    sdxl.load_sdxl(
        gpu_utils.LoadRequest(model_key="sdxl", weights=str(models_root / BASE), device="cpu")
    )
    assert [a.get("variant") for a in attempts] == [None]


def test_single_file_checkpoint_dispatches_to_from_single_file(
    models_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No single-file SDXL checkpoint can be made here: a stand-in loads the diffusers folder
    # that config= names, which is all the real from_single_file would read besides weights.
    calls: list[tuple[str, dict[str, Any]]] = []

    def from_single_file(cls: Any, path: str, **kwargs: Any) -> Any:
        calls.append((path, kwargs))
        if "config" not in kwargs:
            raise OSError("cannot reach the hub for the default config")
        return cls.from_pretrained(kwargs["config"])

    monkeypatch.setattr(
        diffusers.StableDiffusionXLPipeline, "from_single_file", classmethod(from_single_file)
    )
    ckpt = models_root / "checkpoints" / "tiny-sdxl.safetensors"
    ckpt.parent.mkdir(exist_ok=True)
    ckpt.write_bytes(b"stand-in")

    items = render(model_id="checkpoints/tiny-sdxl.safetensors", single_file_config=BASE)
    path, kwargs = calls[-1]
    assert path == str(ckpt.resolve()) and kwargs["config"] == str((models_root / BASE).resolve())
    assert kwargs[sdxl._dtype_key(diffusers)] == torch.float32
    assert items[0]["metadata"]["weights"] == str(ckpt.resolve())

    gpu_utils.reset_pool(budget_mb=10_000)
    with pytest.raises(MissingDependencyError, match="single-file checkpoint"):
        render(model_id="checkpoints/tiny-sdxl.safetensors")


def test_placement_follows_the_host_preset(monkeypatch: pytest.MonkeyPatch) -> None:
    cpu = sdxl.DiffusersAdapter().model_context_kwargs(torch)
    assert (cpu["device"], cpu["dtype"], cpu["offload"]) == ("cpu", torch.float32, False)

    # A 24 GB card: fp16 with model CPU offload; a multi-GPU host: SDXL on one GPU, unsharded.
    monkeypatch.setattr(gpu_utils, "preset_for_host", lambda: "consumer_gpu")
    small = sdxl.DiffusersAdapter().model_context_kwargs(torch)
    assert (small["device"], small["dtype"], small["offload"]) == ("cuda:0", torch.float16, True)
    monkeypatch.setattr(gpu_utils, "preset_for_host", lambda: "a100_balanced")
    large = sdxl.DiffusersAdapter().model_context_kwargs(torch)
    assert large["device_map"] is None and large["offload"] is False
    assert sdxl.DiffusersAdapter(device="cpu").model_context_kwargs(torch)["device"] == "cpu"


# ---------------------------------------------------------------------------- GPU


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_fp16_render_is_deterministic() -> None:
    adapter = sdxl.DiffusersAdapter(device="cuda")
    opts = {**SMALL, "num_images": 2, "seed": 5}
    first = adapter.render_images("a red boat", opts)
    again = adapter.render_images("a red boat", opts)

    meta = first[0]["metadata"]
    assert meta["device"].startswith("cuda") and meta["dtype"] == "float16"
    assert meta["peak_vram_mb"] is not None and meta["peak_vram_mb"] > 0
    assert Image.open(io.BytesIO(first[0]["data"])).size == (64, 48)
    assert np.array_equal(pixels(first[1]), pixels(again[1]))


def test_preview_profile_with_the_full_sdxl_provider_end_to_end() -> None:
    """`--profile preview --provider images_sdxl=full` with opts.model_id naming a saved tiny
    pipeline under the models root: the plan's pictures come from SDXL, the rest from preview."""
    from sparkle_motion.production_agent import run_plan
    from sparkle_motion.utils.ffmpeg import probe

    plan = {
        "title": "Tiny SDXL",
        "steps": [
            {"id": "pic", "type": "image", "prompt": "a lighthouse at dawn",
             "opts": {"model_id": BASE, "steps": 2, "seed": 3, "scene": "one"}},
            {"id": "say", "type": "tts", "text": "The lamp is lit.", "opts": {"scene": "one"}},
        ],
        "assemble_opts": {"width": 64, "height": 64, "fps": 8, "preset": "ultrafast"},
    }  # fmt: skip
    result = run_plan(plan, profile="preview", providers={"images_sdxl": "full"})
    assert result.status == "succeeded", result.summary
    pic = next(a for a in result.artifacts if a.step_id == "pic")
    assert pic.metadata["provider"] == sdxl.PROVIDER_ID and pic.metadata["steps"] == 2
    assert (pic.metadata["width"], pic.metadata["height"]) == (64, 64)
    info = probe(result.movie.path)
    assert info.has_video and info.has_audio
