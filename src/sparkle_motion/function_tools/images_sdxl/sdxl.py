"""images_sdxl, full profile: diffusers SDXL base (+ refiner) through ``gpu_utils.model_context``.

``render(prompt, count, seed, opts)`` is the backend the entrypoint calls; it wraps
:meth:`DiffusersAdapter.render_images`. Image ``i`` of a call is drawn from its own
``torch.Generator`` seeded ``seed + i``, so an image does not depend on how a plan was split
into batches (images_agent offsets each batch's seed by its first index).

Weights (``opts["model_id"]``, default the spec's SDXL base) are a Hugging Face id or a
folder under the models root (``SPARKLE_MODELS_DIR``): a diffusers folder, or a single-file
checkpoint (``.safetensors``/``.ckpt``) loaded with ``from_single_file`` and ``config=`` a
diffusers folder (``opts["single_file_config"]``, else the checkpoint's own folder when it
holds a ``model_index.json``). On CUDA the pipeline loads in fp16 with ``variant="fp16"``
and safetensors, falling back to the default weights when the repo has no fp16 variant; on
the CPU in fp32. Pipelines stay in the gpu_utils pool, so a plan loads SDXL once.

Two-stage rendering:

- ``refiner_model_id`` with ``denoising_end`` (or ``denoising_start``): ensemble of expert
  denoisers; the base stops at ``denoising_end`` and hands latents to the refiner, which
  starts at ``denoising_start`` (default: the same fraction);
- ``refiner_model_id`` alone: the refiner runs img2img over the base's finished latents
  (``opts["refiner_strength"]``, default 0.3);
- ``denoising_end`` without a refiner: the base finishes its own hand-off through
  ``StableDiffusionXLImg2ImgPipeline.from_pipe`` (shares every module, no second load).

Cancellation is cooperative: with ``opts["cancel_event"]`` (a ``threading.Event``) or
``opts["per_batch_timeout_s"]``, a ``callback_on_step_end`` sets the pipeline's interrupt
flag once the event is set or the deadline (measured from the call's start) has passed; the
denoising loop then skips its remaining steps and the call raises :class:`ImagesSDXLTimeout`
(or :class:`ImagesSDXLCancelled`). A caller that stops waiting therefore does not leave a
thread behind that keeps the GPU busy for the rest of the schedule. ``render`` applies
images_agent's default deadline when the opts carry none, since the agent gives up then.
"""

from __future__ import annotations

import io
import json
import logging
import math
import os
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from PIL import PngImagePlugin

from sparkle_motion import gpu_utils
from sparkle_motion.errors import (
    ConfigError,
    ImagesSDXLCancelled,
    ImagesSDXLTimeout,
    MissingDependencyError,
)
from sparkle_motion.function_tools.images_sdxl.entrypoint import DEFAULT_PER_BATCH_TIMEOUT_S
from sparkle_motion.utils import hf_hub
from sparkle_motion.utils.heavy_imports import HEAVY_IMPORT_LOCK
from sparkle_motion.validation import resolve_model_path

PROVIDER_ID = "images_sdxl/sdxl"
VERSION = "1"

MODEL_KEY = "sdxl"
REFINER_KEY = "sdxl/refiner"
DEFAULT_MODEL_ID = gpu_utils.DEFAULT_WEIGHTS[MODEL_KEY]
DEFAULT_STEPS = 30
DEFAULT_CFG_SCALE = 5.0  # SDXL base's own default guidance
DEFAULT_REFINER_STRENGTH = 0.3  # diffusers' img2img default for refining a finished image
SINGLE_FILE_SUFFIXES = (".safetensors", ".ckpt", ".pt", ".pth", ".bin")
INSTALL_HINT = "pip install 'sparkle-motion[full]'"

# ImagesOpts sampler names -> (diffusers scheduler class, from_config overrides).
SAMPLERS: dict[str, tuple[str, dict[str, Any]]] = {
    "euler": ("EulerDiscreteScheduler", {}),
    "euler_a": ("EulerAncestralDiscreteScheduler", {}),
    "heun": ("HeunDiscreteScheduler", {}),
    "lms": ("LMSDiscreteScheduler", {}),
    "ddim": ("DDIMScheduler", {}),
    "ddpm": ("DDPMScheduler", {}),
    # PRK warm-up steps break short schedules (< 4 steps) and SD never used them.
    "pndm": ("PNDMScheduler", {"skip_prk_steps": True}),
    "dpm2": ("KDPM2DiscreteScheduler", {}),
    "dpmpp_2m": ("DPMSolverMultistepScheduler", {"algorithm_type": "dpmsolver++"}),
    "dpmpp_2m_karras": (
        "DPMSolverMultistepScheduler",
        {"algorithm_type": "dpmsolver++", "use_karras_sigmas": True},
    ),
    "dpmpp_sde": ("DPMSolverSDEScheduler", {}),
    "unipc": ("UniPCMultistepScheduler", {}),
}

# Fields of the deterministic PNG text chunk (timings stay out: same inputs, same bytes).
_PNG_FIELDS = (
    "provider", "prompt", "prompt_2", "negative_prompt", "negative_prompt_2", "seed", "index",
    "sampler", "scheduler", "steps", "cfg_scale", "width", "height", "model_id",
    "refiner_model_id", "refiner_mode", "denoising_end", "denoising_start", "original_size",
    "target_size", "crop_conditioning",
)  # fmt: skip
_PNG_LEVEL = 3  # much faster than the default 6 on photographic pixels, files barely larger

# A module-level clock, so that tests can move a deadline without sleeping.
_clock: Callable[[], float] = time.monotonic


# --------------------------------------------------------------------------- imports


def _require() -> tuple[Any, Any]:
    """(torch, diffusers), or one clear MissingDependencyError line."""
    with HEAVY_IMPORT_LOCK:  # the lazy modules' first use is not thread-safe
        return _require_unlocked()


def _require_unlocked() -> tuple[Any, Any]:
    try:
        import torch
    except ImportError:
        raise MissingDependencyError(f"images_sdxl (full) needs torch: {INSTALL_HINT}") from None
    try:
        import diffusers

        # diffusers imports lazily: touching the class is what needs transformers.
        diffusers.StableDiffusionXLPipeline  # noqa: B018
    except ImportError:
        raise MissingDependencyError(
            f"images_sdxl (full) needs diffusers: {INSTALL_HINT}"
        ) from None
    except RuntimeError as exc:  # diffusers' lazy import wraps a missing transformers
        raise MissingDependencyError(
            f"images_sdxl (full) needs diffusers and transformers: {INSTALL_HINT}",
            details={"error": " ".join(str(exc).split())[:300]},
        ) from None
    return torch, diffusers


def _dtype_key(diffusers: Any) -> str:
    # diffusers renamed torch_dtype to dtype (0.36+); the old name warns there, the new one
    # is unknown before it.
    try:
        from diffusers.utils import deprecation_utils

        return "dtype" if hasattr(deprecation_utils, "_resolve_dtype") else "torch_dtype"
    except ImportError:
        return "torch_dtype"


def _hf_kwargs(req: gpu_utils.LoadRequest, diffusers: Any) -> dict[str, Any]:
    kwargs = req.hf_kwargs()
    if "torch_dtype" in kwargs:
        kwargs[_dtype_key(diffusers)] = kwargs.pop("torch_dtype")
    return kwargs


# --------------------------------------------------------------------------- weights


def _missing_weights(ref: str | Path, root: Path) -> MissingDependencyError:
    if isinstance(ref, Path) or os.path.isabs(str(ref)):
        return MissingDependencyError(
            f"no SDXL weights at {ref}: put a diffusers folder (model_index.json, unet/, vae/, "
            "text_encoder*/, tokenizer*/, scheduler/) or a single .safetensors checkpoint there,"
            " or give a Hugging Face id",
            field="opts.model_id",
        )
    return MissingDependencyError(
        f"SDXL weights {ref!r} are neither a folder under the models root {root} nor in the "
        f"local Hugging Face cache, and cannot be downloaded here: run `hf download {ref}` on a "
        f"connected machine (or unset HF_HUB_OFFLINE), or put a diffusers folder under {root} "
        "and name it in opts.model_id",
        field="opts.model_id",
    )


def resolve_weights(value: str, models_root: Path | str) -> str:
    """``opts["model_id"]`` as the ``weights`` string for model_context: an absolute local
    path under ``models_root``, or a hub id (checked against the cache when offline)."""
    root = Path(models_root)
    ref = resolve_model_path(value, root)
    if isinstance(ref, Path):
        if not ref.exists():
            raise _missing_weights(ref, root)
        if ref.is_dir() and not (ref / "model_index.json").is_file():
            raise _missing_weights(ref, root)
        return str(ref)
    if hf_hub.offline() and not hf_hub.cached(ref):
        raise _missing_weights(ref, root)
    return ref


# ---------------------------------------------------------------------------- loading


def _from_pretrained(cls: Any, weights: str, kwargs: dict[str, Any], fp16: bool) -> Any:
    """``cls.from_pretrained`` with the spec's fp16 arguments, falling back step by step
    when the repo has no fp16 variant or no safetensors files."""
    attempts: list[dict[str, Any]] = []
    if fp16:
        attempts.append({"variant": "fp16", "use_safetensors": True})
    attempts += [{"use_safetensors": True}, {}]
    for i, extra in enumerate(attempts):
        try:
            return cls.from_pretrained(weights, **kwargs, **extra)
        except (ValueError, OSError) as exc:
            text = str(exc).lower()
            last = i == len(attempts) - 1
            if not last and (
                ("variant" in extra and "variant" in text)
                or ("use_safetensors" in extra and "safetensors" in text)
            ):
                continue
            if isinstance(exc, OSError):
                raise _missing_weights(weights) from exc
            raise
    raise AssertionError("unreachable")  # the last attempt returns or raises


def _from_single_file(
    cls: Any, path: Path, kwargs: dict[str, Any], config: str | None, dtype_key: str
) -> Any:
    if config is None and (path.parent / "model_index.json").is_file():
        config = str(path.parent)
    single: dict[str, Any] = {k: v for k, v in kwargs.items() if k == dtype_key}
    if config is not None:
        single["config"] = config
    try:
        return cls.from_single_file(str(path), **single)
    except OSError as exc:
        raise MissingDependencyError(
            f"cannot load the single-file checkpoint {path}: its diffusers config is not here"
            " (give opts.single_file_config, a diffusers folder under the models root, or put"
            " model_index.json beside the file)",
            field="opts.model_id",
        ) from exc


def load_sdxl(
    req: gpu_utils.LoadRequest, *, refiner: bool = False, single_file_config: str | None = None
) -> Any:
    """gpu_utils loader: the SDXL base (or, with ``refiner``, an img2img refiner) pipeline."""
    torch, diffusers = _require()
    cls = (
        diffusers.StableDiffusionXLImg2ImgPipeline
        if refiner
        else diffusers.StableDiffusionXLPipeline
    )
    weights = req.weights or (gpu_utils.DEFAULT_WEIGHTS[REFINER_KEY if refiner else MODEL_KEY])
    kwargs = _hf_kwargs(req, diffusers)
    path = Path(weights)
    if path.is_absolute() and path.is_file():
        if path.suffix.lower() not in SINGLE_FILE_SUFFIXES:
            raise _missing_weights(path)
        pipe = _from_single_file(cls, path, kwargs, single_file_config, _dtype_key(diffusers))
    else:
        pipe = _from_pretrained(cls, weights, kwargs, fp16=req.dtype == torch.float16)
    if callable(getattr(pipe, "set_progress_bar_config", None)):
        pipe.set_progress_bar_config(disable=True)
    return pipe


# --------------------------------------------------------------------------- samplers


def make_scheduler(base: Any, sampler: str | None) -> Any:
    """A scheduler for ``sampler`` built from ``base``'s config (``base`` itself for None)."""
    if sampler is None:
        return base
    check_sampler(sampler)
    _, diffusers = _require()
    name, overrides = SAMPLERS[sampler]
    return getattr(diffusers, name).from_config(base.config, **overrides)


def check_sampler(sampler: str | None) -> None:
    """Fail before loading anything when ``sampler`` is unknown or its package is missing."""
    if sampler is None:
        return
    if sampler not in SAMPLERS:
        raise ConfigError(
            f"unknown sampler {sampler!r} (use one of {', '.join(SAMPLERS)})",
            field="opts.sampler",
        )
    _, diffusers = _require()
    cls = getattr(diffusers, SAMPLERS[sampler][0])
    backends = getattr(cls, "_backends", None)  # diffusers' stand-in for a missing package
    if backends:
        missing = [b for b in backends if b != "torch"]
        raise MissingDependencyError(
            f"sampler {sampler!r} needs {' and '.join(missing)}: pip install {' '.join(missing)}",
            field="opts.sampler",
        )


def sampler_name(scheduler: Any) -> str | None:
    """The ImagesOpts sampler name a scheduler corresponds to (None when it has none)."""
    cls = type(scheduler).__name__
    config = getattr(scheduler, "config", {}) or {}
    matches = [
        name
        for name, (cls_name, overrides) in SAMPLERS.items()
        if cls_name == cls and all(config.get(k) == v for k, v in overrides.items())
    ]
    # dpmpp_2m's settings are a subset of dpmpp_2m_karras's: the longer match wins.
    return max(matches, key=lambda n: len(SAMPLERS[n][1]), default=None)


# ------------------------------------------------------------------------ the adapter


def _size_pair(value: Any) -> tuple[int, int] | None:
    if value is None:
        return None
    a, b = value
    return int(a), int(b)


def _json_safe(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v) for k, v in value.items() if _json_ok(v)}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def _json_ok(value: Any) -> bool:
    try:
        json.dumps(value)
        return True
    except (TypeError, ValueError):
        return False


class _Stop:
    """What the step callback saw: why it interrupted the pipeline, and where."""

    def __init__(self, cancel_event: threading.Event | None, deadline: float | None) -> None:
        self.cancel_event = cancel_event
        self.deadline = deadline
        self.reason: str | None = None
        self.step: int | None = None

    @property
    def active(self) -> bool:
        return self.cancel_event is not None or self.deadline is not None

    def check(self) -> str | None:
        if self.reason is None:
            if self.cancel_event is not None and self.cancel_event.is_set():
                self.reason = "cancelled"
            elif self.deadline is not None and _clock() >= self.deadline:
                self.reason = "timeout"
        return self.reason

    def callback(self, pipe: Any, step: int, timestep: Any, tensors: dict[str, Any]) -> dict:
        """``callback_on_step_end``: ask the pipeline to skip its remaining steps."""
        if self.check() is not None:
            # diffusers' denoising loops skip every step once the flag is set.
            pipe._interrupt = True
            if self.step is None:
                self.step = step
        return tensors

    def raise_if_interrupted(self, timeout_s: float | None) -> None:
        """Raise when the callback interrupted a pipeline during this call."""
        if self.step is not None:
            self.raise_if_stopped(f"at denoising step {self.step + 1}", timeout_s)

    def raise_if_stopped(self, where: str, timeout_s: float | None) -> None:
        """Raise when the event is set or the deadline has passed."""
        reason = self.check()
        if reason is None:
            return
        details = {"where": where, "interrupted_at_step": self.step, "timeout_s": timeout_s}
        if reason == "cancelled":
            raise ImagesSDXLCancelled(
                f"images_sdxl call cancelled; stopped {where}", details=details
            )
        raise ImagesSDXLTimeout(
            f"images_sdxl call ran past per_batch_timeout_s={timeout_s:g} s; stopped {where}",
            field="opts.per_batch_timeout_s",
            hint="raise per_batch_timeout_s, or lower steps or the batch size",
            details=details,
        )


class DiffusersAdapter:
    """SDXL through diffusers: one ``render_images`` call is one batch of images.

    Args:
        device: force a device ("cpu", "cuda:1"); default: this host's gpu_utils preset.
        context_kwargs: extra ``model_context`` arguments (offload, xformers, compile, ...).
        models_root: where local weights may live; a call's ``opts["models_root"]`` (which
            images_agent always passes) wins. This tool reads no configuration.
    """

    def __init__(
        self,
        *,
        device: str | None = None,
        context_kwargs: Mapping[str, Any] | None = None,
        models_root: Path | str | None = None,
    ) -> None:
        self.device = device
        self.extra_context = dict(context_kwargs or {})
        self.models_root = Path(models_root) if models_root else None

    def _models_root(self, opts: Mapping[str, Any]) -> Path:
        root = opts.get("models_root") or self.models_root
        if not root:
            raise ConfigError(
                "images_sdxl (full) was given no models root", field="opts.models_root",
                hint="images_agent passes it; direct callers pass models_root=",
            )  # fmt: skip
        return Path(root)

    # ------------------------------------------------------------------ placement

    def model_context_kwargs(self, torch: Any) -> dict[str, Any]:
        """The ``model_context`` arguments this adapter loads with (device, dtype, offload...)."""
        preset = gpu_utils.preset_for_host() if self.device is None else None
        if preset == "a100_balanced":
            preset = "single_large_gpu"  # SDXL fits one GPU; sharding it only adds transfers
        if preset is not None:
            kwargs = gpu_utils.preset_kwargs(preset)
        else:
            on_cpu = not str(self.device).startswith("cuda")
            kwargs = gpu_utils.preset_kwargs("cpu" if on_cpu else "single_large_gpu")
            kwargs["device"] = str(self.device)
        kwargs.update(self.extra_context)
        if "dtype" not in kwargs:
            # fp16 halves SDXL's memory on a GPU; CPU kernels want fp32.
            cuda = str(kwargs.get("device", "cpu")).startswith("cuda")
            kwargs["dtype"] = torch.float16 if cuda else torch.float32
        return kwargs

    # ------------------------------------------------------------------ rendering

    def render_images(self, prompt: str, opts: Mapping[str, Any] | Any) -> list[dict[str, Any]]:
        """Render ``opts["num_images"]`` images for ``prompt``.

        Returns ``[{'data': png_bytes, 'metadata': {...}}]`` in order; image ``i`` uses seed
        ``opts["seed"] + i``. Raises MissingDependencyError (diffusers or weights missing),
        ModelOOMError (after the cleanup checklist), ImagesSDXLTimeout/ImagesSDXLCancelled.
        """
        started = _clock()
        if hasattr(opts, "model_dump"):
            opts = opts.model_dump(exclude_none=True)
        opts = dict(opts)
        timeout_s = opts.get("per_batch_timeout_s")
        stop = _Stop(
            opts.get("cancel_event"),
            started + float(timeout_s) if timeout_s else None,
        )
        torch, _ = _require()
        root = self._models_root(opts)

        count = int(opts.get("num_images") or 1)
        seed = opts.get("seed")
        seed = secrets.randbelow(2**32) if seed is None else int(seed)
        steps = int(opts.get("steps") or DEFAULT_STEPS)
        cfg = float(opts["cfg_scale"]) if opts.get("cfg_scale") is not None else DEFAULT_CFG_SCALE
        sampler = opts.get("sampler")
        check_sampler(sampler)
        model_id = str(opts.get("model_id") or DEFAULT_MODEL_ID)
        refiner_id = opts.get("refiner_model_id")
        weights = resolve_weights(model_id, root)
        refiner_weights = resolve_weights(str(refiner_id), root) if refiner_id else None
        single_cfg = opts.get("single_file_config")
        single_cfg = str(resolve_model_path(str(single_cfg), root)) if single_cfg else None

        handoff = opts.get("denoising_end")
        if handoff is None:
            handoff = opts.get("denoising_start")
        handoff = float(handoff) if handoff is not None and 0.0 < float(handoff) < 1.0 else None
        if refiner_weights is not None:
            mode = "ensemble" if handoff is not None else "refine"
        else:
            mode = "self_ensemble" if handoff is not None else None

        ctx_kwargs = self.model_context_kwargs(torch)
        stop.raise_if_stopped("before loading", timeout_s)
        load_started = _clock()
        with ExitStack() as stack:
            base_ctx = stack.enter_context(
                gpu_utils.model_context(
                    MODEL_KEY,
                    weights=weights,
                    loader=lambda req: load_sdxl(req, single_file_config=single_cfg),
                    **ctx_kwargs,
                )
            )
            refiner_ctx = None
            if refiner_weights is not None:
                refiner_ctx = stack.enter_context(
                    gpu_utils.model_context(
                        REFINER_KEY,
                        weights=refiner_weights,
                        loader=lambda req: load_sdxl(req, refiner=True),
                        **ctx_kwargs,
                    )
                )
            load_s = _clock() - load_started
            stop.raise_if_stopped("after loading", timeout_s)

            device = base_ctx.device
            call = self._call_kwargs(prompt, opts, count, steps, cfg)
            generators = self._generators(torch, device, seed, count)
            telemetry = {
                "seed": seed,
                "batch_size": count,
                "steps": steps,
                "sampler": sampler,
                "input_shape": [call.get("height"), call.get("width")],
            }
            peaks: list[float] = []
            infer_started = _clock()
            with base_ctx.inference(stage="base", refiner_mode=mode, **telemetry) as pipe:
                images, scheduler = _run_base(
                    pipe, call, sampler, generators, stop, mode, handoff, opts
                )
                peaks.append(gpu_utils.peak_vram_mb())
            del pipe
            if refiner_ctx is not None:
                # Starting the refiner after the deadline would only delay the error.
                stop.raise_if_stopped("before the refiner", timeout_s)
                with refiner_ctx.inference(stage="refiner", refiner_mode=mode, **telemetry) as ref:
                    images = _run_refiner(
                        ref, images, call, sampler, generators, stop, mode, handoff, opts
                    )
                    peaks.append(gpu_utils.peak_vram_mb())
                del ref
            # Finished images are kept even when the deadline passed after the last step.
            stop.raise_if_interrupted(timeout_s)
            inference_s = _clock() - infer_started
            from_pool = base_ctx.from_pool

        peak = max((p for p in peaks if p is not None), default=None)
        scheduler_name = type(scheduler).__name__
        snapshot = _json_safe({k: v for k, v in opts.items() if k != "cancel_event"})
        items = []
        for index, image in enumerate(images):
            width, height = image.size
            meta: dict[str, Any] = {
                "provider": PROVIDER_ID,
                "prompt": prompt,
                "prompt_2": opts.get("prompt_2"),
                "negative_prompt": opts.get("negative_prompt"),
                "negative_prompt_2": opts.get("negative_prompt_2"),
                "seed": seed + index,
                "batch_seed": seed,
                "index": index,
                "sampler": sampler or sampler_name(scheduler),
                "scheduler": scheduler_name,
                "steps": steps,
                "cfg_scale": cfg,
                "width": width,
                "height": height,
                "model_id": model_id,
                "weights": weights,
                "refiner_model_id": refiner_id,
                "refiner_mode": mode,
                "denoising_end": handoff if mode else None,
                "denoising_start": _refiner_start(opts, handoff) if mode else None,
                "refiner_strength": _strength(opts) if mode == "refine" else None,
                "original_size": _list_or_none(opts.get("original_size")),
                "target_size": _list_or_none(opts.get("target_size")),
                "crop_conditioning": _list_or_none(opts.get("crop_conditioning")),
                "device": device,
                "dtype": str(ctx_kwargs["dtype"]).replace("torch.", ""),
                "batch_size": count,
                "inference_time_s": round(inference_s, 4),
                "load_time_s": round(load_s, 4),
                "from_pool": from_pool,
                "peak_vram_mb": peak,
                "opts": snapshot,
            }
            items.append({"data": _png(image, meta), "metadata": meta})
        return items

    # ------------------------------------------------------------------ helpers

    @staticmethod
    def _call_kwargs(
        prompt: str, opts: Mapping[str, Any], count: int, steps: int, cfg: float
    ) -> dict[str, Any]:
        call: dict[str, Any] = {
            "prompt": prompt,
            "num_images_per_prompt": count,
            "num_inference_steps": steps,
            "guidance_scale": cfg,
        }
        for key in ("prompt_2", "negative_prompt", "negative_prompt_2"):
            if opts.get(key):
                call[key] = opts[key]
        if opts.get("width"):
            call["width"] = int(opts["width"])
        if opts.get("height"):
            call["height"] = int(opts["height"])
        # SDXL micro-conditioning: sizes are (height, width) as diffusers takes them.
        if opts.get("original_size") is not None:
            call["original_size"] = _size_pair(opts["original_size"])
        if opts.get("target_size") is not None:
            call["target_size"] = _size_pair(opts["target_size"])
        if opts.get("crop_conditioning") is not None:
            call["crops_coords_top_left"] = _size_pair(opts["crop_conditioning"])
        return call

    @staticmethod
    def _generators(torch: Any, device: str, seed: int, count: int) -> list[Any]:
        try:
            gen_device = torch.device(device).type
        except (RuntimeError, TypeError):
            gen_device = "cpu"  # a device map, not one device: CPU noise is portable anyway
        if gen_device not in ("cpu", "cuda", "mps"):
            gen_device = "cpu"
        return [torch.Generator(gen_device).manual_seed(seed + i) for i in range(count)]


def _list_or_none(value: Any) -> list[int] | None:
    pair = _size_pair(value)
    return list(pair) if pair is not None else None


def _strength(opts: Mapping[str, Any]) -> float:
    return float(opts.get("refiner_strength") or DEFAULT_REFINER_STRENGTH)


def _refiner_start(opts: Mapping[str, Any], handoff: float | None) -> float | None:
    start = opts.get("denoising_start")
    if start is not None and 0.0 < float(start) < 1.0:
        return float(start)
    return handoff


def _step_kwargs(stop: _Stop) -> dict[str, Any]:
    return {"callback_on_step_end": stop.callback} if stop.active else {}


def _run_base(
    pipe: Any,
    call: dict[str, Any],
    sampler: str | None,
    generators: list[Any],
    stop: _Stop,
    mode: str | None,
    handoff: float | None,
    opts: Mapping[str, Any],
) -> tuple[list[Any], Any]:
    """The base stage (and the self-ensemble's second half); images, or latents for a
    refiner. Runs in its own frame, so that an OOM's cleanup can clear its locals."""
    loaded = pipe.scheduler
    scheduler = make_scheduler(loaded, sampler)
    pipe.scheduler = scheduler
    try:
        kwargs = {**call, "generator": generators, **_step_kwargs(stop)}
        if mode is None:
            return pipe(**kwargs).images, scheduler
        if mode in ("ensemble", "self_ensemble"):
            kwargs["denoising_end"] = handoff
        latents = pipe(**kwargs, output_type="latent").images
        if mode != "self_ensemble" or stop.check() is not None:
            return latents, scheduler
        _, diffusers = _require()
        _quiet_empty_fp32_warning()
        # from_pipe shares the base's modules: the second half costs no memory and no load.
        img2img = diffusers.StableDiffusionXLImg2ImgPipeline.from_pipe(
            pipe, scheduler=scheduler, **{_dtype_key(diffusers): pipe.dtype}
        )
        img2img.set_progress_bar_config(disable=True)
        second = _second_stage_kwargs(call, generators, stop, mode, handoff, opts)
        return img2img(image=latents, **second).images, scheduler
    finally:
        # The pipeline is pooled: leave the scheduler it was loaded with for the next call.
        pipe.scheduler = loaded


class _EmptyFp32Warning(logging.Filter):
    """Drops diffusers' "modules that should be kept in float32: []" warning: from_pipe
    casts to the dtype the modules already have, and the list it names is empty."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "should be kept in float32: []" not in record.getMessage()


def _quiet_empty_fp32_warning() -> None:
    target = logging.getLogger("diffusers.models.modeling_utils")
    if not any(isinstance(f, _EmptyFp32Warning) for f in target.filters):
        target.addFilter(_EmptyFp32Warning())


def _second_stage_kwargs(
    call: dict[str, Any],
    generators: list[Any],
    stop: _Stop,
    mode: str | None,
    handoff: float | None,
    opts: Mapping[str, Any],
) -> dict[str, Any]:
    kwargs = {k: v for k, v in call.items() if k not in ("width", "height")}
    # num_images_per_prompt stays: the prompt embeddings must match the latents' batch.
    kwargs["generator"] = generators
    kwargs.update(_step_kwargs(stop))
    if mode == "refine":
        strength = _strength(opts)
        kwargs["strength"] = strength
        # img2img runs int(steps * strength) steps: at least one.
        kwargs["num_inference_steps"] = max(call["num_inference_steps"], math.ceil(1 / strength))
    else:
        kwargs["denoising_start"] = _refiner_start(opts, handoff)
    return kwargs


def _run_refiner(
    refiner: Any,
    latents: Any,
    call: dict[str, Any],
    sampler: str | None,
    generators: list[Any],
    stop: _Stop,
    mode: str | None,
    handoff: float | None,
    opts: Mapping[str, Any],
) -> list[Any]:
    """The refiner stage over the base's latents (ensemble or refine)."""
    if stop.check() is not None:
        return []
    loaded = refiner.scheduler
    refiner.scheduler = make_scheduler(loaded, sampler)
    try:
        second = _second_stage_kwargs(call, generators, stop, mode, handoff, opts)
        return refiner(image=latents, **second).images
    finally:
        refiner.scheduler = loaded


def _png(image: Any, meta: Mapping[str, Any]) -> bytes:
    info = PngImagePlugin.PngInfo()
    info.add(b"sRGB", b"\x00")  # diffusers decodes to sRGB (perceptual intent)
    info.add_text("sparkle_motion", json.dumps({k: meta.get(k) for k in _PNG_FIELDS}))
    buf = io.BytesIO()
    image.convert("RGB").save(buf, format="PNG", compress_level=_PNG_LEVEL, pnginfo=info)
    return buf.getvalue()


_ADAPTER = DiffusersAdapter()


def render(prompt: str, count: int, seed: int | None, opts: dict[str, Any]) -> list[dict]:
    """The entrypoint's backend: ``count`` PNGs as ``{'data', 'metadata'}``; image i uses
    ``seed + i`` (a random seed, recorded in the metadata, when None).

    images_agent always passes ``per_batch_timeout_s`` (it gives up on a call then, and the
    call must not go on using the GPU); a direct call without it stops at this tool's
    default, DEFAULT_PER_BATCH_TIMEOUT_S.
    """
    call_opts = {**opts, "num_images": count, "seed": seed}
    if not call_opts.get("per_batch_timeout_s"):
        call_opts["per_batch_timeout_s"] = DEFAULT_PER_BATCH_TIMEOUT_S
    return _ADAPTER.render_images(prompt, call_opts)
