"""Loading Wan 2.1 for the full backend: packages, weights, the spec's loading recipe.

Split from ``full.py`` so that the render path reads as the spec's inference flow. What is
here follows the spec's ``videos_wan (pilot)`` notes: the VAE and the CLIP image encoder
load in fp32 (the transformer in the requested dtype: bf16 on a GPU), a pipeline without a
``CLIPImageProcessor`` gets the one saved beside the weights, and the scheduler is swapped
per call (flow-matching variants only: Wan predicts a flow, a beta-schedule solver would
turn its output into noise). Weights are a Hugging Face id or a diffusers folder under the
models root; anything missing is one line saying what to get and where to put it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sparkle_motion import gpu_utils
from sparkle_motion.errors import ConfigError, MissingDependencyError
from sparkle_motion.utils import hf_hub
from sparkle_motion.utils.heavy_imports import HEAVY_IMPORT_LOCK

INSTALL_HINT = 'pip install -e ".[full]"'
# The spec's model family, one checkpoint per mode (FLF2V weights need an end frame; T2V
# weights take no image).
DEFAULT_MODELS: dict[str, str] = {
    "t2v": "Wan-AI/Wan2.1-T2V-14B-Diffusers",
    "i2v": "Wan-AI/Wan2.1-I2V-14B-480P-Diffusers",
    "flf2v": "Wan-AI/Wan2.1-FLF2V-14B-720P-diffusers",
}
MODEL_KEYS = {"t2v": "wan2.1/t2v", "i2v": "wan2.1/i2v", "flf2v": "wan2.1/i2v"}

# opts["scheduler"] -> (diffusers class, from_config overrides); every one a flow solver.
SCHEDULERS: dict[str, tuple[str, dict[str, Any]]] = {
    "dpmpp_2m": (
        "DPMSolverMultistepScheduler",
        {
            "algorithm_type": "dpmsolver++",
            "use_flow_sigmas": True,
            "prediction_type": "flow_prediction",
        },
    ),
    "unipc": (
        "UniPCMultistepScheduler",
        {"use_flow_sigmas": True, "prediction_type": "flow_prediction"},
    ),
    "euler": ("FlowMatchEulerDiscreteScheduler", {}),
}
DEFAULT_SCHEDULER = "dpmpp_2m"  # the spec's swap (dpmsolver++)


def require() -> tuple[Any, Any]:
    """(torch, diffusers) with the Wan pipelines importable, or one MissingDependencyError
    line naming the package and the install command."""
    with HEAVY_IMPORT_LOCK:  # the lazy modules' first use is not thread-safe
        return _require_unlocked()


def _require_unlocked() -> tuple[Any, Any]:
    try:
        import torch
    except ImportError:
        raise MissingDependencyError(f"videos_wan (full) needs torch: {INSTALL_HINT}") from None
    try:
        import diffusers

        diffusers.WanImageToVideoPipeline  # noqa: B018  (touching it imports transformers)
    except ImportError:
        raise MissingDependencyError(
            f"videos_wan (full) needs diffusers (0.33 or later, with the Wan pipelines): "
            f"{INSTALL_HINT}"
        ) from None
    except (RuntimeError, AttributeError) as exc:
        raise MissingDependencyError(
            f"videos_wan (full) needs diffusers with the Wan pipelines and transformers: "
            f"{INSTALL_HINT}",
            details={"error": " ".join(str(exc).split())[:300]},
        ) from None
    try:
        import ftfy  # noqa: F401  (WanImageToVideoPipeline calls it without checking)
    except ImportError:
        raise MissingDependencyError(f"videos_wan (full) needs ftfy: {INSTALL_HINT}") from None
    return torch, diffusers


def _dtype_key() -> str:
    # diffusers 0.36 renamed torch_dtype to dtype; the old name warns there.
    try:
        from diffusers.utils import deprecation_utils

        return "dtype" if hasattr(deprecation_utils, "_resolve_dtype") else "torch_dtype"
    except ImportError:
        return "torch_dtype"


# --------------------------------------------------------------------------- weights


def missing_weights_line(ref: str, root: Path | None) -> str:
    """The one line saying where Wan weights go."""
    return hf_hub.missing_weights_line(
        "videos_wan",
        "Wan",
        "diffusers folder (model_index.json, transformer/, vae/, text_encoder/, tokenizer/,"
        " image_encoder/)",
        ref,
        root,
    )


def resolve_weights(value: str, models_root: Path | str | None) -> str:
    """``opts["model_id"]`` as the weights string model_context keys on: an absolute folder
    under the models root, or a hub id (checked against the local cache when offline)."""
    return hf_hub.resolve_weights(value, models_root, "model_index.json", missing_weights_line)


# ---------------------------------------------------------------------------- loading


def load_wan(req: gpu_utils.LoadRequest, *, mode: str) -> Any:
    """gpu_utils loader: ``WanPipeline`` (t2v) or ``WanImageToVideoPipeline`` (i2v, flf2v)
    with the VAE and the image encoder in fp32 and the processor fixed up."""
    torch, diffusers = require()
    weights = req.weights or DEFAULT_MODELS[mode]
    kwargs = req.hf_kwargs()
    dtype_key = _dtype_key()
    if "torch_dtype" in kwargs:
        kwargs[dtype_key] = kwargs.pop("torch_dtype")
    fp32 = {dtype_key: torch.float32}
    try:
        vae = diffusers.AutoencoderKLWan.from_pretrained(weights, subfolder="vae", **fp32)
        if mode == "t2v":
            pipe = diffusers.WanPipeline.from_pretrained(weights, vae=vae, **kwargs)
        else:
            import transformers

            parts: dict[str, Any] = {"vae": vae}
            if (Path(weights) / "image_encoder").is_dir() or not Path(weights).is_absolute():
                parts["image_encoder"] = transformers.CLIPVisionModel.from_pretrained(
                    weights, subfolder="image_encoder", **fp32
                )
            pipe = diffusers.WanImageToVideoPipeline.from_pretrained(weights, **parts, **kwargs)
            if getattr(pipe, "image_encoder", None) is not None and not isinstance(
                getattr(pipe, "image_processor", None), transformers.CLIPImageProcessor
            ):
                pipe.image_processor = transformers.CLIPImageProcessor.from_pretrained(
                    weights, subfolder="image_processor"
                )
    except OSError as exc:
        raise MissingDependencyError(
            missing_weights_line(weights, None),
            field="opts.model_id",
            details={"error": " ".join(str(exc).split())[:300]},
        ) from exc
    if req.device_map is not None:
        # Components handed in are not placed by the pipeline's device map: put the fp32
        # VAE and image encoder on the first GPU the map uses.
        target = "cuda:0" if torch.cuda.is_available() else "cpu"
        for name in ("vae", "image_encoder"):
            module = getattr(pipe, name, None)
            if module is not None:
                module.to(target)
    if callable(getattr(pipe, "set_progress_bar_config", None)):
        pipe.set_progress_bar_config(disable=True)
    return pipe


def check_scheduler(name: str | None) -> None:
    """ConfigError for an unknown ``opts["scheduler"]`` (None/"default": the loaded one)."""
    if name not in (None, "default") and name not in SCHEDULERS:
        raise ConfigError(
            f"unknown Wan scheduler {name!r} (use one of default, {', '.join(SCHEDULERS)})",
            field="opts.scheduler",
        )


def make_scheduler(base: Any, name: str | None) -> Any:
    """A flow-matching scheduler ``name`` from ``base``'s config (its shift kept)."""
    if name in (None, "default"):
        return base
    check_scheduler(name)
    _, diffusers = require()
    cls_name, overrides = SCHEDULERS[name]
    config = dict(base.config)
    shift = config.get("flow_shift") or config.get("shift")
    extra = dict(overrides)
    if shift is not None:
        extra["flow_shift" if cls_name != "FlowMatchEulerDiscreteScheduler" else "shift"] = shift
    return getattr(diffusers, cls_name).from_config(config, **extra)
