"""qa_qwen2vl, full profile: Qwen2-VL reads each frame and scores it, inside ``model_context``.

``inspect(frames, prompts, opts) -> QAReport`` is the backend contract (``inspect_frames``):

1. each frame (a path, ``file:`` URI or PNG bytes) becomes one conversation in the spec's
   message shape (:mod:`messages`): the image, the caller's prompts, and the answer format
   (one JSON object, a 0-1 confidence per ``QAScores`` category);
2. frames are grouped into as few model calls as ``max_visual_tokens_per_call`` and
   ``max_frames_per_call`` allow (:mod:`batching`); a call is one batched, left-padded
   ``generate`` (greedy, so the same frames give the same report);
3. each answer is parsed (:mod:`answers`) and the spec's thresholds
   (``types.qa_decision``: >= 0.70 reject, >= 0.40 escalate) decide the frame. A category
   the answer does not give is set to the escalation threshold and flagged: a frame nobody
   could read is escalated to a person, never approved, and an agent that applies the
   thresholds to ``per_frame`` scores (images_agent) reaches the same decision.

The report is filled like the preview backend's (``ok``, ``reason``, ``per_frame``,
``global_flags``, ``top_responses``, ``confidence_summary``, ``opts_snapshot``, ``report``),
plus ``decision`` (the worst frame's) and ``scores`` (the worst per category). Publishing it
and asking a person (``request_human_input``) on ``escalate`` is the agent's job.

The model stays in the gpu_utils pool keyed by weights, device, dtype, device map and
attention implementation, so a run's QA loads Qwen2-VL once. Inputs go through
``AutoProcessor`` + ``qwen_vl_utils`` where both import, else the torchvision-free route
(see :mod:`qwen_loading` and docs/qa_qwen2vl.md); ``opts["processing"]`` forces one.
"""

from __future__ import annotations

import base64
import functools
import io
import time
from pathlib import Path
from typing import Any

from PIL import Image

from sparkle_motion import gpu_utils
from sparkle_motion.errors import ConfigError
from sparkle_motion.function_tools.qa_qwen2vl import batching, messages, qwen_loading
from sparkle_motion.function_tools.qa_qwen2vl.answers import ParsedAnswer, parse_answer
from sparkle_motion.types import (
    QA_ESCALATE_AT,
    QADecision,
    QAFrameResult,
    QAReport,
    QAScores,
    qa_decision,
    uri_to_path,
)

PROVIDER_ID = "qa_qwen2vl/full"
VERSION = "1"
MODEL_KEY = "qwen2vl"

DEFAULTS: dict[str, Any] = {
    "model_id": qwen_loading.DEFAULT_MODEL,
    "models_root": None,
    "min_pixels": batching.DEFAULT_MIN_PIXELS,
    "max_pixels": batching.DEFAULT_MAX_PIXELS,
    "resized_height": None,
    "resized_width": None,
    "max_new_tokens": 128,
    "attn_implementation": None,  # transformers' choice (sdpa); "flash_attention_2" on GPUs
    "torch_dtype": None,  # auto on a GPU, float32 on the CPU
    "device_map": None,
    "device": None,
    "max_visual_tokens_per_call": batching.DEFAULT_MAX_VISUAL_TOKENS_PER_CALL,
    "max_frames_per_call": batching.DEFAULT_MAX_FRAMES_PER_CALL,
    "categories": None,  # QAScores' five safety categories
    "processing": "auto",  # "upstream" (AutoProcessor + qwen_vl_utils), "pil", or auto
}
_INTS = (
    "min_pixels", "max_pixels", "resized_height", "resized_width", "max_new_tokens",
    "max_visual_tokens_per_call", "max_frames_per_call",
)  # fmt: skip
_ORDER: dict[str, int] = {"approve": 0, "escalate": 1, "reject": 2}
_ANSWER_CHARS = 500  # of each answer kept in top_responses


def _settings(opts: dict[str, Any] | None) -> dict[str, Any]:
    """DEFAULTS overridden by the known keys of ``opts``, checked."""
    s = dict(DEFAULTS)
    for key, value in (opts or {}).items():
        if key in DEFAULTS and value is not None:
            s[key] = value
    for key in _INTS:
        if s[key] is None:
            continue
        try:
            s[key] = int(s[key])
        except (TypeError, ValueError):
            raise ConfigError(f"{s[key]!r} is not a whole number", field=f"opts.{key}") from None
        if s[key] < 1:
            raise ConfigError(f"must be at least 1, got {s[key]}", field=f"opts.{key}")
    if s["min_pixels"] > s["max_pixels"]:
        raise ConfigError("min_pixels is above max_pixels", field="opts.min_pixels")
    if bool(s["resized_height"]) != bool(s["resized_width"]):
        raise ConfigError("give both resized_height and resized_width", field="opts.resized_height")
    dtype = s["torch_dtype"]
    if dtype is not None and str(dtype).removeprefix("torch.") not in qwen_loading.DTYPES:
        raise ConfigError(
            f"unknown torch_dtype {dtype!r} (use one of {', '.join(qwen_loading.DTYPES)})",
            field="opts.torch_dtype",
        )
    if s["processing"] not in ("auto", "upstream", "pil"):
        raise ConfigError("use auto, upstream or pil", field="opts.processing")
    categories = tuple(s["categories"] or messages.CATEGORIES)
    unknown = [c for c in categories if not str(c).endswith(("_confidence", "_score"))]
    if unknown:
        raise ConfigError(
            f"score categories end in _confidence or _score, not {unknown[0]!r}",
            field="opts.categories",
        )
    s["categories"] = list(categories)
    return s


# ------------------------------------------------------------------------------ frames


def _to_rgb(image: Image.Image) -> Image.Image:
    """RGB as qwen_vl_utils makes it: transparency composited onto white."""
    if image.mode == "RGBA":
        white = Image.new("RGB", image.size, (255, 255, 255))
        white.paste(image, mask=image.split()[3])
        return white
    return image.convert("RGB")


def open_frame(uri: str) -> Image.Image:
    """A frame's picture from its :func:`messages.frame_uri` string."""
    if uri.startswith("data:image"):
        source: Any = io.BytesIO(base64.b64decode(uri.split("base64,", 1)[1]))
    else:
        source = uri_to_path(uri) if uri.startswith("file:") else Path(uri)
    with Image.open(source) as image:
        image.load()
        return _to_rgb(image)


def _vision(s: dict[str, Any]) -> dict[str, Any]:
    """The resize keys of every image item: exact size, or the pixel range."""
    if s["resized_height"]:
        return {"resized_height": s["resized_height"], "resized_width": s["resized_width"]}
    return {"min_pixels": s["min_pixels"], "max_pixels": s["max_pixels"]}


def _size(image: Image.Image, s: dict[str, Any]) -> tuple[int, int]:
    return batching.target_size(
        image.height, image.width,
        min_pixels=s["min_pixels"], max_pixels=s["max_pixels"],
        resized_height=s["resized_height"], resized_width=s["resized_width"],
    )  # fmt: skip


# ------------------------------------------------------------------------------ inputs


def expand_image_pads(text: str, counts: list[int]) -> str:
    """Each ``<|image_pad|>`` of ``text`` repeated its image's token count, in order."""
    parts = text.split(messages.IMAGE_PAD)
    if len(parts) - 1 != len(counts):
        raise ValueError(f"{len(parts) - 1} image placeholders for {len(counts)} images")
    out = [parts[0]]
    for count, rest in zip(counts, parts[1:], strict=True):
        out += [messages.IMAGE_PAD * count, rest]
    return "".join(out)


def build_inputs_pil(bundle: Any, conversations: list[list[dict[str, Any]]], s: dict) -> Any:
    """Model inputs without torchvision: the chat template, the PIL image processor, each
    image pad expanded to ``grid_t * grid_h * grid_w / merge_size**2`` tokens, left padding."""
    import torch

    images: list[Image.Image] = []
    for conversation in conversations:
        for item in conversation[0]["content"]:
            if item.get("type") == "image":
                image = open_frame(item["image"])
                height, width = _size(image, s)
                images.append(image.resize((width, height), Image.Resampling.BICUBIC))
    vision = bundle.image_processor(images=images, do_resize=False, return_tensors="pt")
    grid = vision["image_grid_thw"]
    merge = int(getattr(bundle.image_processor, "merge_size", batching.MERGE))
    counts = [int(t * h * w) // (merge * merge) for t, h, w in grid.tolist()]
    texts, used = [], 0
    for conversation in conversations:
        text = bundle.tokenizer.apply_chat_template(
            conversation,
            chat_template=bundle.chat_template,
            tokenize=False,
            add_generation_prompt=True,
        )
        n = text.count(messages.IMAGE_PAD)
        texts.append(expand_image_pads(text, counts[used : used + n]))
        used += n
    tokens = bundle.tokenizer(texts, padding=True, padding_side="left", return_tensors="pt")
    return {
        "input_ids": tokens["input_ids"],
        "attention_mask": tokens["attention_mask"],
        "pixel_values": torch.as_tensor(vision["pixel_values"]),
        "image_grid_thw": torch.as_tensor(grid),
    }


def build_inputs_upstream(bundle: Any, conversations: list[list[dict[str, Any]]]) -> Any:
    """Model inputs the spec's way: AutoProcessor + ``qwen_vl_utils.process_vision_info``."""
    from qwen_vl_utils import process_vision_info

    processor = bundle.processor
    texts = [
        processor.apply_chat_template(c, tokenize=False, add_generation_prompt=True)
        for c in conversations
    ]
    image_inputs, video_inputs = process_vision_info(conversations)
    processor.tokenizer.padding_side = "left"  # batched generate continues every row
    inputs = processor(
        text=texts, images=image_inputs, videos=video_inputs, padding=True, return_tensors="pt"
    )
    return {k: inputs[k] for k in ("input_ids", "attention_mask", "pixel_values", "image_grid_thw")}


def _route(bundle: Any, s: dict[str, Any]) -> str:
    wanted = s["processing"]
    if wanted == "upstream" and bundle.processor is None:
        raise ConfigError(
            "opts.processing=upstream needs qwen_vl_utils and torchvision installed",
            field="opts.processing",
        )
    if wanted == "pil" and bundle.image_processor is None:
        raise ConfigError(
            "opts.processing=pil needs transformers 5 (Qwen2VLImageProcessorPil)",
            field="opts.processing",
        )
    return bundle.route if wanted == "auto" else wanted


def _generate(bundle: Any, conversations: list[list[dict[str, Any]]], s: dict) -> list[str]:
    """One batched, greedy ``generate``: the decoded answer of each conversation."""
    import torch

    if _route(bundle, s) == "upstream":
        inputs = build_inputs_upstream(bundle, conversations)
    else:
        inputs = build_inputs_pil(bundle, conversations, s)
    device = bundle.device
    inputs = {k: v.to(device) for k, v in inputs.items()}
    tokenizer = bundle.tokenizer
    with torch.inference_mode():
        out = bundle.model.generate(
            **inputs,
            max_new_tokens=s["max_new_tokens"],
            do_sample=False,
            pad_token_id=tokenizer.pad_token_id,
        )
    new = out[:, inputs["input_ids"].shape[1] :]
    return tokenizer.batch_decode(new, skip_special_tokens=True, clean_up_tokenization_spaces=False)


# ------------------------------------------------------------------------------ report


def _frame_result(
    index: int, answer: str | None, parsed: ParsedAnswer, notes: list[str], categories: list[str]
) -> tuple[QAFrameResult, QADecision]:
    scores = dict(parsed.scores)
    flags: list[str] = []
    for name in parsed.missing:
        # unknown is not safe: at the escalation threshold, so thresholds escalate it
        scores[name] = QA_ESCALATE_AT
    if answer is None:
        flags.append("unreadable")
    elif not parsed.found_json:
        flags.append("no_json_answer")
    elif parsed.missing:
        flags.append("unanswered: " + ", ".join(parsed.missing))
    worst = max((parsed.scores.get(c, 0.0) for c in categories), default=0.0)
    decision = qa_decision(worst)
    if parsed.missing and _ORDER[decision] < _ORDER["escalate"]:
        decision = "escalate"
    flags += [
        f"{c} {parsed.scores[c]:.2f}"
        for c in categories
        if c in parsed.scores and qa_decision(parsed.scores[c]) != "approve"
    ]
    notes = [f"decision={decision}", *notes]
    if parsed.extra:
        notes.append("other=" + ", ".join(f"{k}={v:g}" for k, v in sorted(parsed.extra.items())))
    if answer is not None:
        notes.append(f"answer={' '.join(answer.split())[:200]}")
    result = QAFrameResult(
        frame_index=index, scores=QAScores(**scores), flags=flags, annotations=notes
    )
    return result, decision


def _reason(decision: QADecision, flags: list[str]) -> str | None:
    if decision == "approve":
        return None
    head = "; ".join(flags[:3]) + (f" (+{len(flags) - 3} more)" if len(flags) > 3 else "")
    return f"{decision}: {head}"


def _snapshot(s: dict[str, Any], weights: str, route: str | None) -> dict[str, Any]:
    snap = {"provider_id": PROVIDER_ID, "version": VERSION, **s, "weights": weights}
    snap["route"] = route
    snap["device_map"] = None if s["device_map"] is None else str(s["device_map"])
    return snap


# ----------------------------------------------------------------------------- inspect


def inspect(frames: list[Path | str | bytes], prompts: list[str], opts: dict[str, Any]) -> QAReport:
    """Ask Qwen2-VL about every frame; the QAReport with each frame's scores and decision."""
    s = _settings(opts)
    torch, _ = qwen_loading.require()
    weights = qwen_loading.resolve_weights(s["model_id"], s["models_root"])
    categories: list[str] = s["categories"]
    vision = _vision(s)
    uris = [messages.frame_uri(f) for f in frames]

    sizes: dict[int, tuple[int, int]] = {}
    unreadable: dict[int, str] = {}
    for i, uri in enumerate(uris):
        try:
            image = open_frame(uri)
            sizes[i] = _size(image, s)
        except (OSError, ValueError) as exc:
            unreadable[i] = f"error={type(exc).__name__}: {' '.join(str(exc).split())[:160]}"
    readable = sorted(sizes)
    tokens = [batching.visual_tokens(*sizes[i]) for i in readable]
    plan = batching.plan_calls(tokens, s["max_visual_tokens_per_call"], s["max_frames_per_call"])
    calls = [(tuple(readable[k] for k in c.frames), c) for c in plan]

    answers: dict[int, str] = {}
    route: str | None = None
    timing: dict[str, float] = {"calls": float(len(calls)), "frames": float(len(frames))}
    if calls:
        cuda = torch.cuda.is_available()
        dtype = qwen_loading.torch_dtype(s["torch_dtype"], torch, cuda)
        attn = s["attn_implementation"]
        started = time.perf_counter()
        with gpu_utils.model_context(
            f"{MODEL_KEY}/{attn or 'default'}",
            weights=weights,
            loader=functools.partial(qwen_loading.load_qwen, attn_implementation=attn),
            offload=False,
            xformers=False,
            device_map=s["device_map"],
            device=s["device"],
            dtype=dtype,
        ) as ctx:
            timing["load_s"] = round(time.perf_counter() - started, 4)
            infer_started = time.perf_counter()
            for k, (members, call) in enumerate(calls):
                conversations = [
                    messages.frame_messages(uris[i], prompts, categories=categories, vision=vision)
                    for i in members
                ]
                with ctx.inference(
                    call_index=k, batch_size=len(members), visual_tokens=call.tokens
                ) as bundle:
                    route = _route(bundle, s)
                    for i, text in zip(members, _generate(bundle, conversations, s), strict=True):
                        answers[i] = text
            inference_s = time.perf_counter() - infer_started
        timing["inference_s"] = round(inference_s, 4)
        timing["s_per_call"] = round(inference_s / len(calls), 4)
        timing["s_per_frame"] = round(inference_s / len(readable), 4)

    call_of = {i: k for k, (members, _) in enumerate(calls) for i in members}
    per_frame: list[QAFrameResult] = []
    decisions: list[QADecision] = []
    global_flags: list[str] = []
    frame_records = []
    for i in range(len(frames)):
        if i in unreadable:
            notes = [unreadable[i]]
            parsed, answer = ParsedAnswer({}, tuple(categories)), None
        else:
            height, width = sizes[i]
            notes = [
                f"call={call_of[i]}",
                f"size={width}x{height}",
                f"visual_tokens={batching.visual_tokens(height, width)}",
            ]
            answer = answers[i]
            parsed = parse_answer(answer, categories)
        result, decision = _frame_result(i, answer, parsed, notes, categories)
        per_frame.append(result)
        decisions.append(decision)
        global_flags += [f"frame {i}: {flag}" for flag in result.flags]
        frame_records.append(
            {"frame_index": i, "decision": decision, "missing": list(parsed.missing)}
        )
    worst: QADecision = max(decisions, key=lambda d: _ORDER[d], default="approve")
    worst_scores = QAScores(
        **{
            c: max((float(getattr(f.scores, c)) for f in per_frame), default=0.0)
            for c in categories
        }
    )
    return QAReport(
        ok=worst == "approve",
        reason=_reason(worst, global_flags),
        decision=worst,
        scores=worst_scores,
        per_frame=per_frame,
        global_flags=global_flags,
        top_responses=[
            (answers.get(i) or "")[:_ANSWER_CHARS] for i in range(len(frames)) if i in answers
        ],
        confidence_summary={
            "max": worst_scores.max_confidence(),
            "frames": float(len(frames)),
            "calls": float(len(calls)),
            "escalated_frames": float(decisions.count("escalate")),
            "rejected_frames": float(decisions.count("reject")),
            "unanswered_frames": float(sum(1 for r in frame_records if r["missing"])),
        },
        opts_snapshot=_snapshot(s, weights, route),
        report={
            "provider": PROVIDER_ID,
            "version": VERSION,
            "model": weights,
            "route": route,
            "calls": [
                {"frames": list(members), "visual_tokens": c.tokens, "over_limit": c.over_limit}
                for members, c in calls
            ],
            "frames": frame_records,
            "timing": timing,
        },
    )


def warnings(report: QAReport) -> list[str]:
    """One line per flagged frame, or per failed movie check (for the run summary)."""
    if "findings" in report.report:
        from sparkle_motion.function_tools.qa_qwen2vl import preview

        return preview.warnings(report)
    return list(report.global_flags) or ([report.reason] if report.reason else [])


def inspect_movie(
    path: Path | str, segments: list[tuple[float, float]] | None = None, opts: Any = None
) -> QAReport:
    """The finished movie's checks (black, frozen, silence, loudness, lengths): the preview
    heuristics, which need no model and stay the same in the full profile."""
    from sparkle_motion.function_tools.qa_qwen2vl import preview

    return preview.inspect_movie(path, segments, opts)


def measure_segment(
    path: Path | str, key: str, measure_cache: Path | str, opts: dict[str, Any] | None = None
) -> bool:
    """A segment measured ahead of the movie's checks (the preview heuristics')."""
    from sparkle_motion.function_tools.qa_qwen2vl import preview

    return preview.measure_segment(path, key, measure_cache, opts)
