"""tts_chatterbox, full profile: Resemble AI's Chatterbox / Chatterbox-Multilingual.

The text is split at sentence boundaries (the preview's splitter; a sentence longer than
``MAX_SENTENCE_CHARS`` is cut at clause marks, then spaces) and each sentence is one
``generate()`` call seeded ``seed + i``, so every sentence's place in the audio is exact
(subtitles need it) and a sentence sounds the same whatever its neighbours. Each piece is
trimmed of its own leading and trailing silence and joined with fixed pauses, then
resampled to the requested rate and written as 16-bit mono WAV.

Explicit arguments only (tts_agent resolves them): ``language_id`` (the multilingual
model's language; without one, or ``en``, the English model speaks), ``exaggeration``,
``cfg_weight``, ``audio_prompt_path`` (a reference clip to clone, already inside the
workspace) and its ``reference_language`` (a clip's language cannot be detected offline:
when it is declared and differs from the text's, ``cfg_weight`` is 0, as upstream advises
against accent transfer), ``seed``, ``sample_rate``, ``model_id`` (a Hugging Face id or a
checkpoint folder under ``models_root``), ``device``, and the route:

- ``chatterbox_route="worker"`` with ``chatterbox_python``: Chatterbox runs in that
  interpreter as a long-lived worker (:mod:`.worker`), the default, because chatterbox-tts
  pins torch 2.6 / transformers / diffusers versions that break our other models;
- ``chatterbox_route="in_process"``: only when the installed chatterbox's pins match ours.

Either way the model is loaded once per process through ``gpu_utils.model_context`` and
stays in the model pool (for the worker route the pool holds the worker handle; evicting it
stops the worker). Chatterbox watermarks every output (Resemble's Perth), so
``watermarked`` is True.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from sparkle_motion import gpu_utils
from sparkle_motion.errors import TTSInvalidInputError, TTSProviderUnavailable
from sparkle_motion.function_tools.tts_chatterbox import chatterbox_worker, preview
from sparkle_motion.function_tools.tts_chatterbox.wav import write_wav
from sparkle_motion.validation import resolve_model_path

PROVIDER_ID = "tts_chatterbox/full"
VERSION = "1"

DEFAULT_MODEL_ID = chatterbox_worker.DEFAULT_MODEL
WORKER_SCRIPT = Path(chatterbox_worker.__file__)
MAX_SENTENCE_CHARS = 300  # Chatterbox drifts on much longer inputs
LEAD_S, TAIL_S, SENTENCE_PAUSE_S = 0.05, 0.12, 0.35
SILENCE = 10 ** (-50 / 20)  # -50 dBFS: below it, a piece's ends are trimmed
DEFAULT_LOAD_TIMEOUT_S = 1800.0  # a first load may download the weights
DEFAULT_LINE_TIMEOUT_S = 300.0
DEFAULT_EXAGGERATION, DEFAULT_CFG_WEIGHT = 0.5, 0.5
# Chatterbox-Multilingual's languages (its SUPPORTED_LANGUAGES)
LANGUAGES = frozenset(
    "ar da de el en es fi fr he hi it ja ko ms nl no pl pt ru sv sw tr zh".split()
)
_LANGUAGE_ALIASES = {"cmn": "zh", "zho": "zh", "spa": "es", "iw": "he", "jp": "ja", "nb": "no"}


def _primary(tag: str | None) -> str | None:
    if not tag:
        return None
    primary = tag.strip().replace("_", "-").lower().split("-")[0]
    return _LANGUAGE_ALIASES.get(primary, primary)


def split_text(text: str) -> list[str]:
    """Sentences, each at most MAX_SENTENCE_CHARS (longer ones cut at clauses, then spaces)."""
    out: list[str] = []
    for sentence in preview.split_sentences(text) or [text.strip()]:
        rest = sentence
        while len(rest) > MAX_SENTENCE_CHARS:
            window = rest[: MAX_SENTENCE_CHARS + 1]
            marks = [m.end() for m in re.finditer(r"[,;:—–、，；：]\s*", window)]
            cut = marks[-1] if marks and marks[-1] > MAX_SENTENCE_CHARS // 3 else 0
            if not cut:
                cut = window.rfind(" ") + 1 or MAX_SENTENCE_CHARS
            out.append(rest[:cut].strip())
            rest = rest[cut:].strip()
        if rest:
            out.append(rest)
    return [s for s in out if s]


# --------------------------------------------------------------------------- engines


class InProcessEngine:
    """Chatterbox in this interpreter (the pins matched); same calls as the worker's."""

    def __init__(self, model: Any, model_id: str) -> None:
        self.model, self.model_id = model, model_id
        self.sample_rate = int(model.sr)
        self.device = str(getattr(model, "device", "cpu"))
        self.watermarked = getattr(model, "watermarker", True) is not None

    def generate(self, text: str, *, out_dir: Path, **kw: Any) -> np.ndarray:
        return chatterbox_worker.generate(self.model, text, **kw)


def _variant(language_id: str | None) -> str:
    return "multilingual" if language_id and language_id != "en" else "english"


def _model_ref(opts: dict[str, Any]) -> str:
    model_id = opts.get("model_id") or DEFAULT_MODEL_ID
    if opts.get("models_root"):
        return str(resolve_model_path(model_id, opts["models_root"]))
    return model_id


def _loader(opts: dict[str, Any], variant: str, model_ref: str) -> Any:
    route = opts.get("chatterbox_route", "worker")
    line_timeout = float(opts.get("line_timeout_s") or DEFAULT_LINE_TIMEOUT_S)
    load_timeout = float(opts.get("load_timeout_s") or DEFAULT_LOAD_TIMEOUT_S)

    def load(req: gpu_utils.LoadRequest) -> Any:
        if route == "in_process":
            device = req.device
            if device == "auto":
                import torch

                device = "cuda" if torch.cuda.is_available() else "cpu"
            model = chatterbox_worker.load_model(variant, model_ref, device)
            return InProcessEngine(model, model_ref)
        python = opts.get("chatterbox_python")
        if not python:
            raise TTSProviderUnavailable("tts_chatterbox (full): no chatterbox_python given")
        from sparkle_motion.function_tools.tts_chatterbox.worker import WorkerEngine

        return WorkerEngine(
            python, opts.get("worker_script") or WORKER_SCRIPT, variant=variant,
            model=model_ref, device=req.device, load_timeout_s=load_timeout,
            line_timeout_s=line_timeout,
        )  # fmt: skip

    return load


# --------------------------------------------------------------------------- synthesis


def _trim(samples: np.ndarray, rate: int) -> np.ndarray:
    loud = np.flatnonzero(np.abs(samples) > SILENCE)
    if loud.size == 0:
        return samples[:0]
    pad = int(0.01 * rate)
    return samples[max(0, loud[0] - pad) : loud[-1] + 1 + pad]


def _number(value: Any, default: float) -> float:
    return default if value is None else float(value)


def synthesize(text: str, voice_id: str, opts: dict[str, Any], out_path: Path) -> dict:
    """Speak ``text`` into ``out_path`` (WAV) with Chatterbox; returns its metadata.

    Raises:
        TTSInvalidInputError: nothing speakable, a language Chatterbox does not speak, or a
            reference clip that is not there.
        TTSProviderUnavailable: the worker could not start, crashed or timed out (tts_agent
            fails over).
    """
    sentences = split_text(text)
    if not sentences:
        raise TTSInvalidInputError("nothing speakable in the text")
    language_id = _primary(opts.get("language_id")) or _primary(opts.get("language"))
    if language_id and language_id not in LANGUAGES:
        raise TTSInvalidInputError(
            f"Chatterbox does not speak {language_id!r} (it speaks {', '.join(sorted(LANGUAGES))})"
        )
    prompt = opts.get("audio_prompt_path")
    if prompt and not Path(prompt).is_file():
        raise TTSInvalidInputError(f"reference clip not found: {Path(prompt).name}")
    exaggeration = _number(opts.get("exaggeration"), DEFAULT_EXAGGERATION)
    cfg_weight = _number(opts.get("cfg_weight"), DEFAULT_CFG_WEIGHT)
    reference_language = _primary(opts.get("reference_language"))
    cross_lingual = bool(
        prompt and reference_language and reference_language != (language_id or "en")
    )
    if cross_lingual:
        cfg_weight = 0.0  # upstream: no accent transfer from a clip in another language
    seed = opts.get("seed")
    variant = _variant(language_id)
    model_ref = _model_ref(opts)
    out_rate = int(opts.get("sample_rate") or 24000)

    scratch = Path(tempfile.gettempdir())
    pieces: list[tuple[str, np.ndarray]] = []
    with gpu_utils.model_context(
        f"chatterbox/{variant}", weights=model_ref, loader=_loader(opts, variant, model_ref),
        device=opts.get("device") or "auto", offload=False, xformers=False,
    ) as ctx:  # fmt: skip
        try:
            with ctx.inference(seed=seed, sentences=len(sentences)) as engine:
                for i, sentence in enumerate(sentences):
                    samples = engine.generate(
                        sentence, out_dir=scratch,
                        seed=None if seed is None else int(seed) + i,
                        language_id=language_id if variant == "multilingual" else None,
                        audio_prompt_path=str(prompt) if prompt else None,
                        exaggeration=exaggeration, cfg_weight=cfg_weight,
                    )  # fmt: skip
                    pieces.append((sentence, samples))
                src_rate, device = engine.sample_rate, engine.device
                model_id, watermarked = engine.model_id, bool(engine.watermarked)
        except TTSProviderUnavailable:
            gpu_utils.release(ctx, reason="worker_failed")  # the next call starts a new one
            raise

    timeline: list[np.ndarray] = [np.zeros(int(LEAD_S * out_rate), np.float32)]
    cursor = len(timeline[0])
    marks = []
    for i, (sentence, samples) in enumerate(pieces):
        spoken = preview.resample(_trim(samples, src_rate), src_rate, out_rate)
        if i:
            gap = np.zeros(int(SENTENCE_PAUSE_S * out_rate), np.float32)
            timeline.append(gap)
            cursor += len(gap)
        marks.append(
            {
                "text": sentence,
                "start_s": round(cursor / out_rate, 4),
                "end_s": round((cursor + len(spoken)) / out_rate, 4),
                "language": language_id or "en",
            }
        )
        timeline.append(spoken.astype(np.float32))
        cursor += len(spoken)
    timeline.append(np.zeros(int(TAIL_S * out_rate), np.float32))
    audio = np.concatenate(timeline)
    write_wav(out_path, audio, out_rate)
    return {
        "duration_s": len(audio) / out_rate,
        "sample_rate": out_rate,
        "voice_id": voice_id,
        "provider_voice_id": opts.get("provider_voice_id") or "default",
        "provider": PROVIDER_ID,
        "model_id": model_id,
        "model_variant": variant,
        "device": device,
        "route": opts.get("chatterbox_route", "worker"),
        "watermarked": watermarked,
        "format": "wav",
        "seed": seed,
        "language_id": language_id or "en",
        "exaggeration": exaggeration,
        "cfg_weight": cfg_weight,
        "cross_lingual_reference": cross_lingual,
        "audio_prompt": Path(prompt).name if prompt else None,
        "sentences": marks,
    }
