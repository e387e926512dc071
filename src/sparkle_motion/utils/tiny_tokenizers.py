"""Tokenizers built locally, with no download: for tiny random pipelines (tests, benches).

No machine here can fetch a tokenizer from a hub, and a random pipeline needs one whose
ids fit its tiny text encoders.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def _byte_chars() -> list[str]:
    """GPT-2's byte-to-unicode table: the 256 characters of a byte-level BPE vocabulary."""
    keep = [*range(ord("!"), ord("~") + 1), *range(0xA1, 0xAD), *range(0xAE, 0x100)]
    codes, extra = list(keep), 0
    for b in range(256):
        if b not in keep:
            keep.append(b)
            codes.append(256 + extra)
            extra += 1
    return [chr(c) for c in codes]


def clip_tokenizer(folder: Path, pad_token: str) -> Any:
    """A CLIP tokenizer of the 256 byte characters (+ ``</w>`` forms, bos 512, eos 513).

    Args:
        folder: where its vocab.json and merges.txt are written (and loaded from).
        pad_token: ``"<|endoftext|>"`` for SDXL's first tokenizer, ``"!"`` for the second.
    """
    from transformers import CLIPTokenizer

    folder.mkdir(parents=True, exist_ok=True)
    chars = _byte_chars()
    vocab = {c: i for i, c in enumerate(chars)}
    vocab.update({c + "</w>": i + 256 for i, c in enumerate(chars)})
    vocab.update({"<|startoftext|>": 512, "<|endoftext|>": 513})
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n")
    # without model_max_length=77 SDXL's padding breaks (verified-stack pitfalls)
    return CLIPTokenizer.from_pretrained(folder, model_max_length=77, pad_token=pad_token)


QWEN2_SPECIAL_TOKENS = (
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|image_pad|>",
    "<|video_pad|>",
)


def qwen2_tokenizer(folder: Path, chat_template: str | None = None) -> Any:
    """A byte-level Qwen2 tokenizer of the 256 byte characters plus Qwen2-VL's special
    tokens (eos ``<|im_end|>``, pad ``<|endoftext|>``), saved in ``folder`` and loaded back.

    Without the special tokens added as such, ``<|image_pad|>`` would split into bytes and
    no image could find its place (verified-stack's Qwen2-VL notes).
    """
    from transformers import Qwen2TokenizerFast

    folder.mkdir(parents=True, exist_ok=True)
    vocab = {c: i for i, c in enumerate(_byte_chars())}
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n")
    tokenizer = Qwen2TokenizerFast.from_pretrained(
        folder, eos_token="<|im_end|>", pad_token="<|endoftext|>", unk_token=None
    )
    tokenizer.add_special_tokens({"additional_special_tokens": list(QWEN2_SPECIAL_TOKENS)})
    if chat_template is not None:
        tokenizer.chat_template = chat_template
    tokenizer.save_pretrained(folder)
    return Qwen2TokenizerFast.from_pretrained(folder)
