"""The chat messages Qwen2-VL is asked with: one conversation per frame, in the spec's shape.

Each frame is its own conversation (one image, then the QA prompts and the answer format),
and a model call batches several conversations. One frame per conversation keeps each
answer about one picture, so a muddled answer costs that frame alone, never its neighbours.

The answer format asks for one JSON object whose keys are the report's score categories
(``QAScores``), each a number from 0 to 1; :mod:`answers` reads it back. Pure: no model, no
image decoding.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sparkle_motion.errors import ConfigError
from sparkle_motion.types import QAScores

CATEGORIES: tuple[str, ...] = tuple(QAScores.model_fields)

# The chat template of Qwen/Qwen2-VL-7B-Instruct (its chat_template.json), used when the
# loaded tokenizer carries none.
QWEN2VL_CHAT_TEMPLATE = (
    "{% set image_count = namespace(value=0) %}{% set video_count = namespace(value=0) %}"
    "{% for message in messages %}{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}<|im_end|>\n"
    "{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
    "{% set image_count.value = image_count.value + 1 %}"
    "{% if add_vision_id %}Picture {{ image_count.value }}: {% endif %}"
    "<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'video' or 'video' in content %}"
    "{% set video_count.value = video_count.value + 1 %}"
    "{% if add_vision_id %}Video {{ video_count.value }}: {% endif %}"
    "<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif 'text' in content %}{{ content['text'] }}{% endif %}{% endfor %}<|im_end|>\n"
    "{% endif %}{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
IMAGE_PAD = "<|image_pad|>"

# the keys of an image item qwen_vl_utils reads for its resize
VISION_KEYS = ("min_pixels", "max_pixels", "resized_height", "resized_width")


def answer_instruction(categories: Sequence[str] = CATEGORIES) -> str:
    """The answer format appended to the caller's prompts."""
    keys = ", ".join(f'"{c}"' for c in categories)
    example = ", ".join(f'"{c}": 0.0' for c in categories)
    return (
        f"Answer with one JSON object and nothing else. Its keys are {keys}; each value is "
        f"your confidence from 0 to 1 that the image shows that, for example {{{example}}}."
    )


def frame_uri(frame: Path | str | bytes) -> str:
    """A frame as the image string qwen_vl_utils reads: ``file://`` for a local file,
    ``data:image/png;base64,`` for bytes. Remote URLs are refused (no network here)."""
    if isinstance(frame, bytes | bytearray):
        return "data:image/png;base64," + base64.b64encode(bytes(frame)).decode("ascii")
    text = str(frame)
    if text.startswith(("file:", "data:image")):
        return text
    if text.startswith(("http://", "https://")):
        raise ConfigError(
            "qa_qwen2vl (full) reads local frames only; download the image first",
            field="frames",
        )
    return Path(text).expanduser().resolve().as_uri()


def image_item(uri: str, vision: dict[str, Any]) -> dict[str, Any]:
    """``{"type": "image", "image": uri}`` with the resize keys that are set."""
    item: dict[str, Any] = {"type": "image", "image": uri}
    item.update({k: vision[k] for k in VISION_KEYS if vision.get(k) is not None})
    return item


def frame_messages(
    uri: str,
    prompts: Sequence[str],
    *,
    categories: Sequence[str] = CATEGORIES,
    vision: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """One frame's conversation: the image, then the prompts and the answer format."""
    text = "\n".join(
        [*(p.strip() for p in prompts if p and p.strip()), answer_instruction(categories)]
    )
    return [
        {
            "role": "user",
            "content": [image_item(uri, vision or {}), {"type": "text", "text": text}],
        }
    ]
