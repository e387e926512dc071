"""Preview images on the CPU: an illustrated storyboard frame per shot, no model needed.

The subjects a prompt names are drawn as OpenMoji pictures (or from shapes where the font
has none) over a painted background for the scene's place and time: as many as it says, at
a size for what they are, showing its mood; a named character keeps one spot in every scene.
Palette, props and the painting come from the seed, so the same inputs always give the same
PNG. The metadata's "subjects" list every picture drawn (word, picture, copy index, box,
mood, role).

The storyboard (Pillow, the OpenMoji font, fontTools, emoji names) is imported when a frame
is drawn: a run whose pictures all come from the cache never loads it.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

from sparkle_motion.types import DEFAULT_IMAGE_SIZE

if TYPE_CHECKING:
    from PIL import PngImagePlugin

PROVIDER_ID = "images_sdxl/preview"
# 2: counts, moods, sizes by kind, places, spots kept per character
# 3: a counted group drawn one by one, a room over a city's name, towns and gardens
VERSION = "3"
MODEL_ID = "openmoji-storyboard"
_PNG_LEVEL = 3  # smaller files than level 1, and far faster than the default 6 on paintings


def _png_info() -> PngImagePlugin.PngInfo:
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add(b"sRGB", b"\x00")  # the pixels are sRGB (perceptual intent): say so in the file
    return info


def render(prompt: str, count: int, seed: int | None, opts: dict[str, Any]) -> list[dict]:
    """``count`` PNG storyboard frames as ``{'data', 'metadata'}`` items; image i uses seed + i."""
    from sparkle_motion.function_tools.images_sdxl.storyboard import compose
    from sparkle_motion.function_tools.images_sdxl.storyboard.glyphs import ATTRIBUTION

    seed = 0 if seed is None else int(seed)
    width, height = (
        int(opts.get("width") or DEFAULT_IMAGE_SIZE),
        int(opts.get("height") or DEFAULT_IMAGE_SIZE),
    )
    items = []
    for index in range(count):
        frame = compose(prompt, seed + index, width, height)
        buf = io.BytesIO()
        frame.image.convert("RGB").save(
            buf, format="PNG", compress_level=_PNG_LEVEL, pnginfo=_png_info()
        )
        setting = frame.setting
        items.append(
            {
                "data": buf.getvalue(),
                "metadata": {
                    "prompt": prompt,
                    "seed": seed + index,
                    "index": index,
                    "width": width,
                    "height": height,
                    "provider": PROVIDER_ID,
                    "model_id": MODEL_ID,
                    "device": "cpu",
                    "sampler": None,
                    "steps": 0,
                    "subjects": [p.as_dict() for p in frame.placements],
                    "background": {
                        "kind": setting.kind,
                        "time": setting.time,
                        "weather": sorted(setting.weather),
                        "named": setting.named,
                        "interior": setting.interior,
                        "place": setting.place,
                        "words": list(setting.words),
                    },
                    "attribution": ATTRIBUTION,
                },
            }
        )
    return items
