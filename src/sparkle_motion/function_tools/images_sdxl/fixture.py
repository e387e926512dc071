"""Fixture images: a PNG whose colour and pattern come from the spec's deterministic_bytes."""

from __future__ import annotations

import io
from typing import Any

from PIL import Image, ImageDraw

from sparkle_motion.function_tools.fixture_support import deterministic_bytes, fixture_delay
from sparkle_motion.types import DEFAULT_IMAGE_SIZE

PROVIDER_ID = "images_sdxl/fixture"
VERSION = "1"


def draw(prompt: str, seed: int, index: int, width: int, height: int) -> Image.Image:
    """A deterministic picture: background colour, a pattern and three shapes from the bytes."""
    b = deterministic_bytes(prompt, seed, index)
    bg = (b[0], b[1], b[2])
    fg = (255 - b[0], 255 - b[1], 255 - b[2])
    img = Image.new("RGB", (width, height), bg)
    d = ImageDraw.Draw(img)
    step = max(8, min(width, height) // (4 + b[3] % 8))
    pattern = b[4] % 3
    for x in range(0, width + height, step * 2):
        if pattern == 0:  # stripes
            d.rectangle([x, 0, x + step - 1, height], fill=fg)
        elif pattern == 1:  # diagonals
            d.line([(x, 0), (x - height, height)], fill=fg, width=max(2, step // 3))
        else:  # checker
            for y in range(0, height, step * 2):
                d.rectangle([x, y, x + step - 1, y + step - 1], fill=fg)
    for k in range(3):
        cx, cy = b[5 + k] * width // 256, b[8 + k] * height // 256
        r = max(4, (b[11 + k] % 64 + 16) * min(width, height) // 256)
        colour = (b[14 + k], b[17 + k], b[20 + k])
        d.ellipse([cx - r, cy - r, cx + r, cy + r], fill=colour, outline=(0, 0, 0))
    return img


def render(prompt: str, count: int, seed: int | None, opts: dict[str, Any]) -> list[dict]:
    """``count`` PNGs as ``{'data', 'metadata'}`` items (the spec's adapter shape)."""
    fixture_delay()
    seed = 0 if seed is None else seed
    width, height = (
        int(opts.get("width") or DEFAULT_IMAGE_SIZE),
        int(opts.get("height") or DEFAULT_IMAGE_SIZE),
    )
    items = []
    for index in range(count):
        buf = io.BytesIO()
        draw(prompt, seed, index, width, height).save(buf, format="PNG", optimize=False)
        items.append(
            {
                "data": buf.getvalue(),
                "metadata": {
                    "prompt": prompt,
                    "seed": seed,
                    "index": index,
                    "width": width,
                    "height": height,
                    "provider": PROVIDER_ID,
                    "model_id": "fixture",
                    "device": "cpu",
                    "sampler": None,
                    "steps": 0,
                },
            }
        )
    return items
