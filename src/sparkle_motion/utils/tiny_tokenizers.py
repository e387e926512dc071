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
