"""images_sdxl adapter overhead: DiffusersAdapter against a direct diffusers call.

    python bench/images_adapter.py [--pairs 6] [--steps 20] [--size 512] [--no-cuda]

A random SDXL-shaped pipeline (the real UNet, VAE and CLIP classes with small configs and
locally built tokenizers; no download) is saved under a temporary models root and loaded by
the adapter through its own from_pretrained path. Sized so that one 512x512, 20-step call
takes about a second on a small CPU. For each device (the CPU, and CUDA where torch sees a
GPU):

- the first adapter call, which loads the pipeline into the gpu_utils pool;
- interleaved pairs of warm calls: the adapter (model_context, inference lock, telemetry
  events, scheduler and generator set-up, metadata, PNG encoding) and a direct call of the
  same pooled pipeline with the same arguments and seeds, then the same PNG encoding. The
  median of the per-pair ratios is the result (target <= 1.05); the two must give
  identical pixels. On a shared machine the pairs differ by tens of ms either way, so the
  adapter's own work is also measured directly: the time of each call spent outside the
  pipeline's ``__call__``, less the PNG encoding the direct path does too (ms per image);
- a 10-image plan (ten one-image calls on a fresh pool): how many times the model loads
  (target 1).

Imports stay to torch, gpu_utils and the adapter (diffusers and transformers build the
random pipeline), so the same script runs on a GPU host with only the full extras installed.
Prints one table and writes bench/results/images_adapter.json.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent
RESULTS = ROOT / "results" / "images_adapter.json"
MODEL_NAME = "bench-sdxl"
PROMPT = "a lighthouse on a cliff at dusk, oil painting"
TARGET_RATIO = 1.05
TARGET_LOADS = 1


# ------------------------------------------------------------------ random pipeline


def build_pipeline(folder: Path) -> dict[str, Any]:
    """Save a random SDXL pipeline (8x VAE, two CLIP encoders) to ``folder``; its config."""
    import torch
    from diffusers import (
        AutoencoderKL,
        EulerDiscreteScheduler,
        StableDiffusionXLPipeline,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    from sparkle_motion.utils.tiny_tokenizers import clip_tokenizer

    torch.manual_seed(0)
    # Three levels like SDXL, attention only at the lowest (16x16 tokens at 512x512): small
    # enough that one 512x512, 20-step call takes about a second on two CPU cores.
    unet_cfg = {
        "block_out_channels": (32, 32, 64), "layers_per_block": 1, "sample_size": 64,
        "in_channels": 4, "out_channels": 4,
        "down_block_types": ("DownBlock2D", "DownBlock2D", "CrossAttnDownBlock2D"),
        "up_block_types": ("CrossAttnUpBlock2D", "UpBlock2D", "UpBlock2D"),
        "attention_head_dim": (2, 2, 4), "use_linear_projection": True,
        "addition_embed_type": "text_time", "addition_time_embed_dim": 8,
        "transformer_layers_per_block": (1, 1, 1),
        "projection_class_embeddings_input_dim": 80, "cross_attention_dim": 64,
        "norm_num_groups": 32,
    }  # fmt: skip
    # Four VAE blocks: latents are 1/8 of the image, as in the real SDXL.
    vae_cfg = {
        "block_out_channels": [16, 16, 32, 32], "in_channels": 3, "out_channels": 3,
        "down_block_types": ["DownEncoderBlock2D"] * 4,
        "up_block_types": ["UpDecoderBlock2D"] * 4, "latent_channels": 4,
        "sample_size": 512, "norm_num_groups": 16, "layers_per_block": 1,
    }  # fmt: skip
    text = CLIPTextConfig(
        bos_token_id=512, eos_token_id=513, pad_token_id=513, hidden_size=32,
        intermediate_size=37, num_attention_heads=4, num_hidden_layers=2, vocab_size=1000,
        hidden_act="gelu", projection_dim=32, max_position_embeddings=77,
    )  # fmt: skip
    pipe = StableDiffusionXLPipeline(
        vae=AutoencoderKL(**vae_cfg),
        text_encoder=CLIPTextModel(text),
        text_encoder_2=CLIPTextModelWithProjection(text),
        tokenizer=clip_tokenizer(folder.parent / "_tok1", "<|endoftext|>"),
        tokenizer_2=clip_tokenizer(folder.parent / "_tok2", "!"),
        unet=UNet2DConditionModel(**unet_cfg),
        scheduler=EulerDiscreteScheduler(
            beta_start=0.00085, beta_end=0.012, steps_offset=1, beta_schedule="scaled_linear",
            timestep_spacing="leading",
        ),
    )  # fmt: skip
    pipe.save_pretrained(folder)
    params = sum(p.numel() for m in (pipe.unet, pipe.vae) for p in m.parameters())
    return {
        "unet": {k: list(v) if isinstance(v, tuple) else v for k, v in unet_cfg.items()},
        "vae": vae_cfg,
        "unet_vae_parameters": params,
    }


# ------------------------------------------------------------------------ timing


def _png(image: Any) -> bytes:
    from sparkle_motion.function_tools.images_sdxl import sdxl

    buf = io.BytesIO()
    image.convert("RGB").save(buf, format="PNG", compress_level=sdxl._PNG_LEVEL)
    return buf.getvalue()


def _pixels(data: bytes) -> bytes:
    from PIL import Image

    return Image.open(io.BytesIO(data)).convert("RGB").tobytes()


def measure(device: str, pairs: int, steps: int, size: int) -> dict[str, Any]:
    """Cold call, interleaved warm pairs, and the 10-image plan on ``device``."""
    import torch

    from sparkle_motion import gpu_utils
    from sparkle_motion.function_tools.images_sdxl import sdxl

    models_root = os.environ["SPARKLE_MODELS_DIR"]
    adapter = sdxl.DiffusersAdapter(device=device, models_root=models_root)
    opts = {"model_id": MODEL_NAME, "width": size, "height": size, "steps": steps}

    def adapter_call(seed: int) -> tuple[float, list[dict[str, Any]]]:
        started = time.perf_counter()
        items = adapter.render_images(PROMPT, {**opts, "num_images": 1, "seed": seed})
        return time.perf_counter() - started, items

    gpu_utils.reset_pool()
    cold_s, _ = adapter_call(0)
    pool = gpu_utils.get_pool()
    loads_after_cold = pool.loads

    # The very pipeline the adapter uses: a pool hit with the adapter's own arguments.
    kwargs = adapter.model_context_kwargs(torch)
    weights = sdxl.resolve_weights(MODEL_NAME, models_root)
    with gpu_utils.model_context("sdxl", weights=weights, loader=sdxl.load_sdxl, **kwargs) as ctx:
        pipe = ctx.pipeline
        gen_device = torch.device(ctx.device).type

    def direct_call(seed: int) -> tuple[float, float, bytes]:
        started = time.perf_counter()
        images = pipe(
            prompt=PROMPT,
            num_images_per_prompt=1,
            num_inference_steps=steps,
            guidance_scale=sdxl.DEFAULT_CFG_SCALE,
            width=size,
            height=size,
            generator=[torch.Generator(gen_device).manual_seed(seed)],
        ).images
        in_pipe = time.perf_counter() - started
        data = _png(images[0])
        return time.perf_counter() - started, in_pipe, data

    # Time spent inside the pipeline's __call__ during adapter calls: what is left of an
    # adapter call is its own work, measured without the drift of a shared machine.
    pipe_cls = type(pipe)
    real_call = pipe_cls.__call__
    inside = {"s": 0.0}

    def timed_call(self: Any, *args: Any, **kw: Any) -> Any:
        started = time.perf_counter()
        try:
            return real_call(self, *args, **kw)
        finally:
            inside["s"] += time.perf_counter() - started

    def timed_adapter_call(seed: int) -> tuple[float, float, list[dict[str, Any]]]:
        inside["s"] = 0.0
        total, items = adapter_call(seed)
        return total, inside["s"], items

    direct_call(0)  # warm the direct path's allocations too
    adapter_s: list[float] = []
    direct_s: list[float] = []
    adapter_outside_s: list[float] = []
    direct_outside_s: list[float] = []
    identical = True
    peak_vram = None
    pipe_cls.__call__ = timed_call
    try:
        for i in range(pairs):
            seed = 1000 + i
            # Alternate the order, so that drift on a shared machine hits both sides alike.
            if i % 2:
                d, d_in, direct_png = direct_call(seed)
                a, a_in, items = timed_adapter_call(seed)
            else:
                a, a_in, items = timed_adapter_call(seed)
                d, d_in, direct_png = direct_call(seed)
            adapter_s.append(a)
            direct_s.append(d)
            adapter_outside_s.append(a - a_in)
            direct_outside_s.append(d - d_in)
            identical = identical and _pixels(items[0]["data"]) == _pixels(direct_png)
            peak_vram = items[0]["metadata"]["peak_vram_mb"]
    finally:
        pipe_cls.__call__ = real_call
    loads_warm = pool.loads - loads_after_cold
    # A 10-image plan: ten one-image calls, as images_agent makes with max_images_per_call=1.
    gpu_utils.reset_pool()
    plan_started = time.perf_counter()
    for i in range(10):
        adapter_call(2000 + i)
    plan_s = time.perf_counter() - plan_started
    plan_loads = gpu_utils.get_pool().loads
    gpu_utils.reset_pool()

    med_a, med_d = statistics.median(adapter_s), statistics.median(direct_s)
    ratios = [a / d for a, d in zip(adapter_s, direct_s, strict=True)]
    # The adapter's own work per image: its time outside the pipeline call, less the PNG
    # encoding the direct path does too (both measured per call, so drift cancels).
    own_ms = (statistics.median(adapter_outside_s) - statistics.median(direct_outside_s)) * 1000
    return {
        "device": device,
        "device_name": (
            torch.cuda.get_device_name(torch.device(device)) if device.startswith("cuda") else None
        ),
        "dtype": str(kwargs["dtype"]).replace("torch.", ""),
        "pairs": pairs,
        "cold_first_call_s": round(cold_s, 4),
        "adapter_s": [round(x, 4) for x in adapter_s],
        "direct_s": [round(x, 4) for x in direct_s],
        "adapter_median_s": round(med_a, 4),
        "direct_median_s": round(med_d, 4),
        "ratio_median": round(med_a / med_d, 4),
        "ratio_median_of_pairs": round(statistics.median(ratios), 4),
        "ratio_best": round(min(adapter_s) / min(direct_s), 4),
        "overhead_ms_per_image": round((med_a - med_d) * 1000, 1),
        "adapter_outside_pipeline_ms": round(statistics.median(adapter_outside_s) * 1000, 2),
        "direct_outside_pipeline_ms": round(statistics.median(direct_outside_s) * 1000, 2),
        "own_overhead_ms_per_image": round(own_ms, 2),
        "extra_loads_during_warm_calls": loads_warm,
        "pixels_identical_to_direct": identical,
        "peak_vram_mb": peak_vram,
        "plan_10_images_s": round(plan_s, 3),
        "plan_10_images_loads": plan_loads,
        "meets_ratio_target": statistics.median(ratios) <= TARGET_RATIO,
        "meets_loads_target": plan_loads == TARGET_LOADS,
    }


# ------------------------------------------------------------------------- report


def _cell(result: dict[str, Any] | None, key: str, fmt: str) -> str:
    if result is None:
        return "n/a"
    value = result[key]
    if isinstance(value, bool):
        return "yes" if value else "NO"
    return format(value, fmt)


def table(results: dict[str, dict[str, Any] | None], steps: int, size: int) -> str:
    rows = [
        ("direct call, median (s)", "direct_median_s", ".3f"),
        ("adapter call, median (s)", "adapter_median_s", ".3f"),
        (
            f"adapter / direct, median of pairs (target <= {TARGET_RATIO})",
            "ratio_median_of_pairs",
            ".3f",
        ),
        ("adapter / direct, ratio of medians", "ratio_median", ".3f"),
        ("adapter / direct, best of each", "ratio_best", ".3f"),
        ("median difference (ms per image)", "overhead_ms_per_image", ".1f"),
        ("adapter's own work (ms per image)", "own_overhead_ms_per_image", ".2f"),
        ("first call incl. load (s)", "cold_first_call_s", ".2f"),
        ("pixels identical to the direct call", "pixels_identical_to_direct", ""),
        (f"model loads, 10-image plan (target {TARGET_LOADS})", "plan_10_images_loads", "d"),
        ("10-image plan wall time (s)", "plan_10_images_s", ".2f"),
    ]
    devices = list(results)
    width = max(len(r[0]) for r in rows) + 2
    lines = [
        f"images_sdxl adapter vs direct diffusers call — random SDXL pipeline, {size}x{size}, "
        f"{steps} steps, 1 image per call",
        "".ljust(width) + "".join(d.rjust(12) for d in devices),
    ]
    for label, key, fmt in rows:
        lines.append(
            label.ljust(width) + "".join(_cell(results[d], key, fmt).rjust(12) for d in devices)
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=6, help="interleaved warm call pairs")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--no-cuda", action="store_true", help="measure the CPU only")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="bench-images-"))
    models = work / "models"
    os.environ["SPARKLE_MODELS_DIR"] = str(models)
    os.environ["SPARKLE_HOME"] = str(work / "home")  # telemetry events land here, not in ~
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    import torch

    config = build_pipeline(models / MODEL_NAME)
    results: dict[str, dict[str, Any] | None] = {
        "cpu": measure("cpu", args.pairs, args.steps, args.size)
    }
    cuda_note = None
    if args.no_cuda:
        cuda_note = "skipped (--no-cuda)"
    elif torch.cuda.is_available():
        results["cuda"] = measure("cuda", args.pairs, args.steps, args.size)
    else:
        cuda_note = "no CUDA device on this host"
    if "cuda" not in results:
        results["cuda"] = None

    print(table(results, args.steps, args.size))
    if cuda_note:
        print(f"cuda: {cuda_note}")

    import diffusers

    report = {
        "bench": "images_adapter",
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "host": {
            "python": sys.version.split()[0],
            "platform": platform.platform(),
            "cpu_count": os.cpu_count(),
            "torch": torch.__version__,
            "torch_threads": torch.get_num_threads(),
            "diffusers": diffusers.__version__,
            "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        },
        "conditions": {
            "prompt": PROMPT,
            "width": args.size,
            "height": args.size,
            "steps": args.steps,
            "images_per_call": 1,
            "pairs": args.pairs,
            "pipeline": config,
        },
        "targets": {"ratio_median_max": TARGET_RATIO, "plan_10_images_loads": TARGET_LOADS},
        "results": results,
        "cuda_note": cuda_note,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")
    ok = all(
        r is None or (r["meets_ratio_target"] and r["meets_loads_target"]) for r in results.values()
    )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
