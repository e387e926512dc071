"""Loading Qwen2-VL for the full QA backend: packages, weights, model and input processing.

The model is ``Qwen2VLForConditionalGeneration``. Its inputs are built one of two ways:

* **upstream** (``qwen_vl_utils`` and torchvision importable, as on a full GPU install):
  ``AutoProcessor`` and ``qwen_vl_utils.process_vision_info``, the spec's snippet;
* **pil** (otherwise): ``Qwen2VLImageProcessorPil`` and the tokenizer, with the chat
  template applied and each ``<|image_pad|>`` expanded by :mod:`full` itself. transformers'
  ``Qwen2VLProcessor`` and ``qwen_vl_utils`` both need torchvision, and the only torch /
  torchvision pair that imports beside this project's torch is a 5.9 GB CUDA build, so the
  dev environment (and CI) has none; image frames need nothing torchvision does.

Weights are a hub id (default ``Qwen/Qwen2-VL-7B-Instruct``) or a folder under the models
root; anything missing is one line saying what to get and where to put it.
"""

from __future__ import annotations

import functools
import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sparkle_motion import gpu_utils
from sparkle_motion.errors import ConfigError, MissingDependencyError
from sparkle_motion.utils import hf_hub
from sparkle_motion.utils.heavy_imports import HEAVY_IMPORT_LOCK

DEFAULT_MODEL = "Qwen/Qwen2-VL-7B-Instruct"
INSTALL_HINT = 'pip install -e ".[full]"'
DTYPES = ("auto", "bfloat16", "float16", "float32")


# transformers' lazy module is not thread-safe on first use: two image steps of one run
# asking for Qwen2VLForConditionalGeneration at once made one of them see no such class.
_IMPORT_LOCK = HEAVY_IMPORT_LOCK


def require() -> tuple[Any, Any]:
    """(torch, transformers) with Qwen2-VL importable, or one MissingDependencyError line."""
    with _IMPORT_LOCK:
        try:
            import torch
        except ImportError:
            raise MissingDependencyError(f"qa_qwen2vl (full) needs torch: {INSTALL_HINT}") from None
        try:
            import transformers

            # every lazy name the loader uses, resolved here under the lock
            transformers.Qwen2VLForConditionalGeneration  # noqa: B018
            transformers.AutoTokenizer  # noqa: B018
            transformers.AutoProcessor  # noqa: B018
        except (ImportError, AttributeError, RuntimeError) as exc:
            raise MissingDependencyError(
                f"qa_qwen2vl (full) needs transformers with Qwen2-VL: {INSTALL_HINT}",
                details={"error": f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}"},
            ) from None
        if pil_image_processor() is None and not upstream_processing():
            raise MissingDependencyError(
                "qa_qwen2vl (full) needs transformers 5 (its torchvision-free Qwen2-VL image "
                f"processor) or qwen-vl-utils with torchvision: {INSTALL_HINT}"
            )
    return torch, transformers


def pil_image_processor() -> Any:
    """transformers 5's ``Qwen2VLImageProcessorPil`` class, or None (transformers 4)."""
    try:
        from transformers.models.qwen2_vl import Qwen2VLImageProcessorPil
    except ImportError:
        return None
    return Qwen2VLImageProcessorPil


@functools.cache
def upstream_processing() -> bool:
    """Whether qwen_vl_utils and torchvision import here (the spec's processing route)."""
    try:
        importlib.import_module("torchvision")
        importlib.import_module("qwen_vl_utils")
    except Exception:  # a broken torchvision raises RuntimeError at import, not ImportError
        return False
    return True


def torch_dtype(name: str | None, torch: Any, cuda: bool) -> Any:
    """``opts["torch_dtype"]`` as from_pretrained takes it: "auto" on a GPU (bf16 from the
    checkpoint), float32 on the CPU (bf16 matmuls there are slow or missing)."""
    name = (name or ("auto" if cuda else "float32")).removeprefix("torch.")
    if name not in DTYPES:
        raise ConfigError(
            f"unknown torch_dtype {name!r} (use one of {', '.join(DTYPES)})",
            field="opts.torch_dtype",
        )
    return "auto" if name == "auto" else getattr(torch, name)


# --------------------------------------------------------------------------- weights


def missing_weights_line(ref: str, root: Path | None) -> str:
    """The one line saying where Qwen2-VL weights go."""
    return hf_hub.missing_weights_line(
        "qa_qwen2vl",
        "Qwen2-VL",
        "folder (config.json, *.safetensors, tokenizer files, preprocessor_config.json)",
        ref,
        root,
    )


def resolve_weights(value: str | None, models_root: Path | str | None) -> str:
    """``opts["model_id"]`` as the weights string model_context keys on: an absolute folder
    under the models root, or a hub id (checked against the local cache when offline). The
    default id is looked for under the models root first."""
    value = value or DEFAULT_MODEL
    return hf_hub.resolve_weights(value, models_root, "config.json", missing_weights_line)


# ---------------------------------------------------------------------------- loading


@dataclass(eq=False)
class QwenBundle:
    """What the pool holds for one set of weights: the model and what builds its inputs."""

    model: Any
    tokenizer: Any
    image_processor: Any
    chat_template: str
    processor: Any = None  # AutoProcessor on the upstream route
    route: str = "pil"

    def to(self, device: str) -> QwenBundle:
        self.model.to(device)
        return self

    @property
    def device(self) -> Any:
        return self.model.device


def load_qwen(req: gpu_utils.LoadRequest, *, attn_implementation: str | None = None) -> QwenBundle:
    """gpu_utils loader: model, tokenizer, image processor and chat template of ``req.weights``."""
    from sparkle_motion.function_tools.qa_qwen2vl.messages import QWEN2VL_CHAT_TEMPLATE

    _, transformers = require()
    pil_class = pil_image_processor()
    weights = req.weights or DEFAULT_MODEL
    kwargs = req.hf_kwargs()
    if "torch_dtype" in kwargs:
        kwargs["dtype"] = kwargs.pop("torch_dtype")  # transformers 5's name
    if attn_implementation:
        kwargs["attn_implementation"] = attn_implementation
    try:
        model = transformers.Qwen2VLForConditionalGeneration.from_pretrained(weights, **kwargs)
        tokenizer = transformers.AutoTokenizer.from_pretrained(weights)
        image_processor = pil_class.from_pretrained(weights) if pil_class else None
        processor = None
        if upstream_processing():
            processor = transformers.AutoProcessor.from_pretrained(weights)
    except OSError as exc:
        raise MissingDependencyError(
            missing_weights_line(weights, None),
            field="opts.model_id",
            details={"error": " ".join(str(exc).split())[:300]},
        ) from exc
    model.eval()
    template = (
        getattr(processor, "chat_template", None)
        or getattr(tokenizer, "chat_template", None)
        or QWEN2VL_CHAT_TEMPLATE
    )
    return QwenBundle(
        model=model,
        tokenizer=tokenizer,
        image_processor=image_processor,
        chat_template=template,
        processor=processor,
        route="upstream" if processor is not None else "pil",
    )
