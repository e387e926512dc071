"""The Chatterbox worker: loads Resemble AI's Chatterbox and speaks, on request, over stdio.

``chatterbox-tts`` pins torch, transformers and diffusers to versions that break SDXL and
Wan in our environment, so by default Chatterbox runs in an interpreter of its own
(``SPARKLE_CHATTERBOX_PYTHON``, e.g. a venv made with ``pip install chatterbox-tts``) as a
long-lived process running this file. It must therefore import nothing of Sparkle Motion:
only the standard library at the top, chatterbox, torch and numpy inside the functions.
The in-process route (when the installed chatterbox's pins match ours) imports this module
for the same :func:`load_model` and :func:`generate`, so the real loading code is here once.

Protocol (one JSON object a line; replies on the process's original stdout, everything
else a library prints goes to stderr):

- worker: ``{"event": "ready", "protocol": 1, "pid": N}`` once started;
- ``{"id": 1, "op": "load", "variant": "english"|"multilingual", "model": ID_OR_DIR,
  "device": "auto"|"cuda"|"cpu"}`` → ``{"id": 1, "ok": true, "sample_rate": 24000,
  "device": "cuda", "model_id": ...}``;
- ``{"id": 2, "op": "generate", "text": ..., "out": PATH, "seed": 5, "language_id": "es",
  "audio_prompt_path": ..., "exaggeration": 0.5, "cfg_weight": 0.5}`` → ``{"id": 2,
  "ok": true, "samples": N, "sample_rate": 24000, "watermarked": true}``, the audio at
  ``out`` as little-endian float32 mono;
- a failure: ``{"id": n, "ok": false, "kind": "invalid_input"|"oom"|"error", "error": ...}``;
- ``{"op": "quit"}``, or the end of stdin (the parent is gone), ends the worker.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

PROTOCOL = 1
DEFAULT_MODEL = "ResembleAI/chatterbox"
_GENERATE_ARGS = ("seed", "language_id", "audio_prompt_path", "exaggeration", "cfg_weight")


def load_model(variant: str, model: str | None, device: str) -> Any:
    """ChatterboxTTS (English) or ChatterboxMultilingualTTS, from the Hugging Face hub
    (``from_pretrained(device=...)``), or ``from_local`` a checkpoint folder."""
    if variant == "multilingual":
        from chatterbox.mtl_tts import ChatterboxMultilingualTTS as cls
    else:
        from chatterbox.tts import ChatterboxTTS as cls
    if device == "auto":
        import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"
    if model and os.path.isdir(model):
        return cls.from_local(model, device)
    if not model or model == DEFAULT_MODEL:
        return cls.from_pretrained(device=device)
    from huggingface_hub import snapshot_download  # another repo with the same files

    return cls.from_local(snapshot_download(repo_id=model), device)


def _seed_all(seed: int | None) -> None:
    if seed is None:
        return
    import random

    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)


def generate(model: Any, text: str, **kw: Any) -> Any:
    """One generate() call, seeded; returns float32 mono samples (numpy) at ``model.sr``."""
    import numpy as np

    _seed_all(kw.pop("seed", None))
    args = {k: v for k, v in kw.items() if v is not None}
    if "language_id" in args and not _multilingual(model):
        args.pop("language_id")
    wav = model.generate(text, **args)
    if hasattr(wav, "detach"):
        wav = wav.detach().float().cpu().numpy()
    return np.asarray(wav, dtype=np.float32).reshape(-1)


def _multilingual(model: Any) -> bool:
    return type(model).__name__ == "ChatterboxMultilingualTTS" or getattr(
        model, "multilingual", False
    )


def _device_of(model: Any) -> str:
    return str(getattr(model, "device", "unknown"))


def _kind(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}".lower()
    if "out of memory" in text:
        return "oom"
    if isinstance(exc, (ValueError, KeyError, AssertionError, FileNotFoundError)):
        return "invalid_input"
    return "error"


def main() -> int:
    proto = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
    os.dup2(2, 1)  # what libraries print goes to stderr, never into the protocol

    def reply(obj: dict[str, Any]) -> None:
        proto.write(json.dumps(obj) + "\n")
        proto.flush()

    reply({"event": "ready", "protocol": PROTOCOL, "pid": os.getpid()})
    model = None
    model_id = None
    for line in sys.stdin:
        if not line.strip():
            continue
        req = json.loads(line)
        op, rid = req.get("op"), req.get("id")
        if op == "quit":
            break
        try:
            if op == "load":
                model_id = req.get("model") or DEFAULT_MODEL
                model = load_model(req.get("variant", "english"), model_id, req["device"])
                reply(
                    {
                        "id": rid, "ok": True, "sample_rate": int(model.sr),
                        "device": _device_of(model), "model_id": model_id,
                    }
                )  # fmt: skip
            elif op == "generate":
                if model is None:
                    raise RuntimeError("generate before load")
                kw = {k: req.get(k) for k in _GENERATE_ARGS}
                samples = generate(model, req["text"], **kw)
                with open(req["out"], "wb") as handle:
                    handle.write(samples.astype("<f4").tobytes())
                reply(
                    {
                        "id": rid, "ok": True, "samples": int(samples.size),
                        "sample_rate": int(model.sr),
                        "watermarked": getattr(model, "watermarker", True) is not None,
                    }
                )  # fmt: skip
            else:
                raise ValueError(f"unknown op {op!r}")
        except Exception as exc:  # reported, and the worker keeps serving
            error = f"{type(exc).__name__}: {exc}"
            reply({"id": rid, "ok": False, "kind": _kind(exc), "error": error})
    return 0


if __name__ == "__main__":
    sys.exit(main())
