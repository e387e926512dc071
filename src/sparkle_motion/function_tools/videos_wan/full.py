"""videos_wan, full profile: Wan 2.1 through diffusers, inside ``gpu_utils.model_context``.

``render(start_frames, end_frames, prompt, opts, out_path, *, on_progress=None)`` is the
backend contract every videos_wan module keeps. The mode follows the keyframes:

- start and end frame: FLF2V, ``WanImageToVideoPipeline(image=..., last_image=...)``;
- start frame only: I2V, ``WanImageToVideoPipeline(image=...)``;
- no keyframe: T2V, ``WanPipeline``.

Weights (``opts["model_id"]``, default one checkpoint per mode, wan_loading.DEFAULT_MODELS)
are a hub id or a diffusers folder under ``opts["models_root"]``. Pipelines stay in the
gpu_utils pool keyed by mode and weights, so a plan whose video steps share weights loads
Wan once.

Shapes: Wan renders 4k+1 frames (FRAME_MULTIPLE, FRAME_OFFSET) at sizes that are multiples
of the VAE's spatial factor times the transformer's patch size. Another frame count is
rendered snapped up and trimmed back; another size is rendered at the nearest aligned size
(keyframes resized aspect-preserving and centre-cropped to it) and scaled to the requested
one when encoding, so the clip is always exactly ``num_frames`` at ``width`` x ``height``.

Placement: ``opts["device_preset"]`` (a gpu_utils DEVICE_MAP_PRESETS name), else the one
matching ``opts["device"]`` and this host; ``opts["device_map"]``/``opts["max_memory"]``
override the preset's. All are recorded in the metadata.

Progress and cancellation ride on the pipeline's ``callback_on_step_end`` when its
signature has one: each denoising step reports ``phase="rendering"``; ``opts["cancel"]``
(anything with ``is_set()``) sets the pipeline's interrupt flag, and the call raises
VideosWanCancelled once the loop has stopped, so a cancelled clip frees the GPU at the next
step instead of finishing the schedule. An out-of-memory error is ModelOOMError.
"""

from __future__ import annotations

import inspect
import math
import secrets
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PIL import Image, ImageOps

from sparkle_motion import gpu_utils
from sparkle_motion.errors import ConfigError, VideosWanCancelled
from sparkle_motion.function_tools.videos_wan import wan_loading
from sparkle_motion.function_tools.videos_wan.entrypoint import clip_shape
from sparkle_motion.utils.ffmpeg import INTERMEDIATE_VIDEO_ARGS, TO_BT709, ffmpeg_exe
from sparkle_motion.utils.run_command import run_command

PROVIDER_ID = "videos_wan/full"
VERSION = "1"
FRAME_MULTIPLE = 4
FRAME_OFFSET = 1

DEFAULT_STEPS = 30
DEFAULT_GUIDANCE = 5.0  # Wan 2.1's own default
DEFAULT_MAX_SEQUENCE_LENGTH = 512

Progress = Callable[[dict[str, Any]], None]


def snap_frames(count: int) -> int:
    """The smallest ``FRAME_MULTIPLE * k + FRAME_OFFSET`` at least ``count``."""
    k = max(0, math.ceil((max(1, count) - FRAME_OFFSET) / FRAME_MULTIPLE))
    return FRAME_MULTIPLE * k + FRAME_OFFSET


def aligned_size(width: int, height: int, pipe: Any) -> tuple[int, int, int]:
    """(width, height, mod): the nearest size the pipeline takes, a multiple of the VAE's
    spatial factor times the transformer's spatial patch size (never below one block)."""
    factor = int(getattr(pipe, "vae_scale_factor_spatial", 8) or 8)
    patch = getattr(getattr(pipe, "transformer", None), "config", None)
    patch_size = getattr(patch, "patch_size", None) or (1, 2, 2)
    mod = factor * int(patch_size[-1])
    return max(mod, round(width / mod) * mod), max(mod, round(height / mod) * mod), mod


def fit_keyframe(path: Path, size: tuple[int, int]) -> Image.Image:
    """Resize aspect-preserving to cover ``size``, then centre-crop to it."""
    with Image.open(path) as image:
        return ImageOps.fit(image.convert("RGB"), size, Image.Resampling.LANCZOS)


def _mode(start_frames: list[Path], end_frames: list[Path]) -> str:
    if start_frames and end_frames:
        return "flf2v"
    if start_frames or end_frames:
        return "i2v"
    return "t2v"


# ------------------------------------------------------------------------- placement


def placement(opts: dict[str, Any], torch: Any) -> tuple[str, dict[str, Any]]:
    """(preset name, model_context kwargs) for this call."""
    device = str(opts.get("device") or "")
    preset = opts.get("device_preset")
    if not preset:
        if device == "cpu" or (not device and not torch.cuda.is_available()):
            preset = "cpu"
        else:
            preset = gpu_utils.preset_for_host()
            if preset == "cpu" and device.startswith("cuda"):
                preset = "single_large_gpu"
    kwargs = gpu_utils.preset_kwargs(preset)
    if device and kwargs.get("device_map") is None:
        kwargs["device"] = device
    kwargs.setdefault("device", "cpu" if preset == "cpu" else "cuda:0")
    if opts.get("device_map") == "cpu":
        kwargs.update(device="cpu", device_map=None, offload=False)
    elif opts.get("device_map"):
        kwargs["device_map"] = opts["device_map"]
    if opts.get("max_memory"):
        kwargs["max_memory"] = dict(opts["max_memory"])
    cuda = str(kwargs["device"]).startswith("cuda") or kwargs.get("device_map") is not None
    dtype = opts.get("dtype") or ("bfloat16" if cuda else "float32")
    if dtype not in ("float32", "float16", "bfloat16"):
        raise ConfigError(f"dtype {dtype!r}: use float32, float16 or bfloat16", field="opts.dtype")
    kwargs["dtype"] = getattr(torch, dtype)
    return preset, kwargs


# -------------------------------------------------------------------------- progress


class _Steps:
    """The pipeline's ``callback_on_step_end``: progress events and cooperative cancel."""

    def __init__(
        self, on_progress: Progress | None, cancel: Any, steps: int, frames: int, device: str
    ) -> None:
        self.on_progress = on_progress
        self.cancel = cancel
        self.steps = max(1, steps)
        self.frames = frames
        self.device = device
        self.stopped_at: int | None = None

    def emit(self, phase: str, progress: float, frame_index: int, **extra: Any) -> None:
        if self.on_progress is not None:
            self.on_progress(
                {
                    "phase": phase,
                    "frame_index": frame_index,
                    "num_frames": self.frames,
                    "progress": round(min(1.0, max(0.0, progress)), 4),
                    "device": self.device,
                    **extra,
                }
            )

    def cancelled(self) -> bool:
        return self.cancel is not None and bool(self.cancel.is_set())

    def callback(self, pipe: Any, step: int, timestep: Any, tensors: dict[str, Any]) -> dict:
        if self.cancelled():
            pipe._interrupt = True  # diffusers' loops skip every remaining step
            if self.stopped_at is None:
                self.stopped_at = step
            return tensors
        done = (step + 1) / self.steps
        # Every frame is denoised together: frame_index says how far the clip has come.
        self.emit(
            "rendering", done, min(self.frames - 1, int(done * self.frames)),
            step=step + 1, steps=self.steps,
        )  # fmt: skip
        return tensors

    def raise_if_cancelled(self, where: str) -> None:
        if self.cancelled():
            raise VideosWanCancelled(
                f"videos_wan call cancelled; stopped {where}",
                details={"where": where, "interrupted_at_step": self.stopped_at},
            )


def _generator(torch: Any, device: str, seed: int) -> Any:
    try:
        kind = torch.device(device).type
    except (RuntimeError, TypeError):
        kind = "cpu"
    return torch.Generator(kind if kind in ("cpu", "cuda") else "cpu").manual_seed(seed)


# ---------------------------------------------------------------------------- encoding


def _encode(frames: Any, fps: int, size: tuple[int, int], out_path: Path) -> None:
    """Frames (F, H, W, 3) floats in [0, 1] to the lossless intermediate at ``size``."""
    import numpy as np

    work = Path(tempfile.mkdtemp(prefix=".wan-frames-", dir=out_path.parent))
    try:
        pixels = (np.clip(np.asarray(frames, dtype=np.float32), 0.0, 1.0) * 255).round()
        for i, frame in enumerate(pixels.astype(np.uint8)):
            Image.fromarray(frame).save(work / f"{i:05d}.png", compress_level=1)
        height, width = pixels.shape[1:3]
        chain = TO_BT709
        if (width, height) != size:
            chain = f"scale={size[0]}:{size[1]}:flags=lanczos,setsar=1,{TO_BT709}"
        cmd = [
            ffmpeg_exe(), "-hide_banner", "-nostdin", "-y", "-loglevel", "error",
            "-f", "image2", "-framerate", str(fps), "-i", str(work / "%05d.png"),
            "-vf", chain, "-frames:v", str(len(pixels)), "-r", str(fps),
            *INTERMEDIATE_VIDEO_ARGS, "-an", str(out_path),
        ]  # fmt: skip
        run_command(cmd, timeout_s=600)
    finally:
        shutil.rmtree(work, ignore_errors=True)


# ------------------------------------------------------------------------------ render


def _call_kwargs(pipe: Any, base: dict[str, Any], steps: _Steps) -> dict[str, Any]:
    params = inspect.signature(pipe.__call__).parameters
    kwargs = {k: v for k, v in base.items() if k in params}
    if "callback_on_step_end" in params:
        kwargs["callback_on_step_end"] = steps.callback
    return kwargs


def _run(pipe: Any, kwargs: dict[str, Any], scheduler: str | None) -> tuple[Any, str]:
    """One pipeline call with the scheduler swapped in (and the pooled one put back)."""
    loaded = pipe.scheduler
    pipe.scheduler = wan_loading.make_scheduler(loaded, scheduler)
    try:
        name = type(pipe.scheduler).__name__
        return pipe(**kwargs).frames[0], name
    finally:
        pipe.scheduler = loaded


def render(
    start_frames: list[Path],
    end_frames: list[Path],
    prompt: str,
    opts: dict[str, Any],
    out_path: Path,
    *,
    on_progress: Progress | None = None,
) -> dict:
    """Render the clip into ``out_path`` (lossless MP4); returns its metadata."""
    torch, _ = wan_loading.require()
    width, height, fps, frames = clip_shape(opts)
    seed = opts.get("seed")
    seed = secrets.randbelow(2**32) if seed is None else int(seed)
    mode = _mode(start_frames, end_frames)
    keyframes = len(start_frames) + len(end_frames)
    if mode == "i2v" and not start_frames:
        start_frames = end_frames  # an end frame alone still anchors the shot
    model_id = str(opts.get("model_id") or wan_loading.DEFAULT_MODELS[mode])
    weights = wan_loading.resolve_weights(model_id, opts.get("models_root"))
    preset, ctx_kwargs = placement(opts, torch)
    steps_n = int(opts.get("steps") or DEFAULT_STEPS)
    guidance = opts.get("guidance_scale")
    guidance = DEFAULT_GUIDANCE if guidance is None else float(guidance)
    scheduler = opts.get("scheduler", wan_loading.DEFAULT_SCHEDULER)
    wan_loading.check_scheduler(scheduler)  # before loading anything
    rendered = snap_frames(frames)
    device_name = str(ctx_kwargs.get("device"))
    steps = _Steps(on_progress, opts.get("cancel"), steps_n, frames, device_name)
    steps.raise_if_cancelled("before loading")

    steps.emit("load", 0.0, 0, model_id=model_id)
    load_started = time.perf_counter()
    with gpu_utils.model_context(
        wan_loading.MODEL_KEYS[mode],
        weights=weights,
        loader=lambda req: wan_loading.load_wan(req, mode=mode),
        **ctx_kwargs,
    ) as ctx:
        load_s = time.perf_counter() - load_started
        steps.device = ctx.device
        steps.emit("load", 1.0, 0, model_id=model_id, from_pool=ctx.from_pool)
        steps.raise_if_cancelled("after loading")
        pipe = ctx.pipeline
        if mode == "i2v" and _needs_last_image(pipe):
            raise ConfigError(
                f"{model_id} is a first-last-frame (FLF2V) model: it needs an end frame",
                field="opts.model_id",
                hint=f"use {wan_loading.DEFAULT_MODELS['i2v']} for a start frame alone",
            )
        render_w, render_h, mod = aligned_size(width, height, pipe)
        call: dict[str, Any] = {
            "prompt": prompt,
            "negative_prompt": opts.get("negative_prompt"),
            "height": render_h,
            "width": render_w,
            "num_frames": rendered,
            "num_inference_steps": steps_n,
            "guidance_scale": guidance,
            "generator": _generator(torch, ctx.device, seed),
            "output_type": "np",
            "max_sequence_length": int(
                opts.get("max_sequence_length") or DEFAULT_MAX_SEQUENCE_LENGTH
            ),
        }
        if mode != "t2v":
            call["image"] = fit_keyframe(start_frames[0], (render_w, render_h))
        if mode == "flf2v":
            call["last_image"] = fit_keyframe(end_frames[0], (render_w, render_h))
        kwargs = _call_kwargs(pipe, call, steps)
        telemetry = {"seed": seed, "num_frames": rendered, "input_shape": [render_h, render_w]}
        infer_started = time.perf_counter()
        with ctx.inference(mode=mode, **telemetry) as live:
            video, scheduler_name = _run(live, kwargs, scheduler)
            peak = gpu_utils.peak_vram_mb()
        del live, pipe
        inference_s = time.perf_counter() - infer_started
        steps.raise_if_cancelled(f"at denoising step {(steps.stopped_at or 0) + 1}")
        from_pool = ctx.from_pool
        device = ctx.device
        device_map = ctx.device_map

    steps.emit("postprocess", 0.0, frames - 1)
    _encode(video[:frames], fps, (width, height), out_path)
    steps.emit("postprocess", 1.0, frames - 1)
    return {
        "provider": PROVIDER_ID,
        "mode": mode,
        "model_id": model_id,
        "weights": weights,
        "prompt": prompt,
        "negative_prompt": opts.get("negative_prompt"),
        "seed": seed,
        "num_frames": frames,
        "rendered_frames": rendered,
        "fps": fps,
        "width": width,
        "height": height,
        "render_width": render_w,
        "render_height": render_h,
        "size_multiple": mod,
        "duration_s": frames / fps,
        "steps": steps_n,
        "guidance_scale": guidance,
        "scheduler": scheduler_name,
        "device": device,
        "device_preset": preset,
        "device_map": device_map if isinstance(device_map, (str, dict)) else str(device_map),
        "max_memory": {str(k): v for k, v in (ctx_kwargs.get("max_memory") or {}).items()} or None,
        "dtype": str(ctx_kwargs["dtype"]).replace("torch.", ""),
        "keyframes": keyframes,
        "load_time_s": round(load_s, 4),
        "inference_time_s": round(inference_s, 4),
        "from_pool": from_pool,
        "peak_vram_mb": peak,
        "plan_step": opts.get("step_id"),
    }


def _needs_last_image(pipe: Any) -> bool:
    """FLF2V transformers carry a positional embedding for two images' tokens."""
    config = getattr(getattr(pipe, "transformer", None), "config", None)
    return bool(getattr(config, "pos_embed_seq_len", None))
