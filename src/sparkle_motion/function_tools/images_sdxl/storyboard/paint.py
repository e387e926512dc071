"""Small painting helpers: colour mixing, gradients, soft masks, glows and paper texture.

Soft things (glows, clouds, light rays, texture) are computed at a fraction of the frame's
size and scaled up: they have no detail to lose, and it keeps a frame well under the time
budget.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

RGB = tuple[int, int, int]
Point = tuple[float, float]


def mix(a: Sequence[float], b: Sequence[float], t: float) -> RGB:
    """``a`` moved ``t`` of the way to ``b``."""
    t = min(1.0, max(0.0, t))
    r, g, b_ = (round(x + (y - x) * t) for x, y in zip(a, b, strict=True))
    return (r, g, b_)


def tint(c: Sequence[float], light: Sequence[float]) -> RGB:
    """``c`` under coloured light (per-channel multipliers)."""
    r, g, b = (min(255, max(0, round(x * f))) for x, f in zip(c, light, strict=True))
    return (r, g, b)


def vgradient(size: tuple[int, int], stops: Sequence[tuple[float, RGB]]) -> Image.Image:
    """A vertical gradient through ``stops`` (fraction of height, colour), smoothly eased."""
    w, h = size
    ys = np.linspace(0.0, 1.0, max(h, 1), dtype=np.float32)
    pos = np.array([p for p, _ in stops], dtype=np.float32)
    # smoothstep between stops: a painted sky has no visible kinks at its bands
    idx = np.clip(np.searchsorted(pos, ys, side="right") - 1, 0, len(stops) - 2)
    span = np.maximum(pos[idx + 1] - pos[idx], 1e-6)
    t = np.clip((ys - pos[idx]) / span, 0.0, 1.0)
    t = t * t * (3 - 2 * t)
    cols = np.array([c for _, c in stops], dtype=np.float32)
    rows = cols[idx] + (cols[idx + 1] - cols[idx]) * t[:, None]
    column = Image.fromarray(np.ascontiguousarray(rows.round().astype(np.uint8)[:, None, :]))
    return column.resize((max(w, 1), max(h, 1)), Image.Resampling.NEAREST)


def fill(img: Image.Image, mask: Image.Image, paint: RGB | Image.Image) -> None:
    """Paint ``paint`` (a colour or an image) into ``img`` where ``mask`` is set."""
    if isinstance(paint, Image.Image):
        img.paste(paint, (0, 0), mask)
    else:
        img.paste(paint, (0, 0, *img.size), mask)


def polygon_mask(size: tuple[int, int], points: Sequence[Point]) -> Image.Image:
    """An L mask of one polygon."""
    mask = Image.new("L", size, 0)
    ImageDraw.Draw(mask).polygon([(float(x), float(y)) for x, y in points], fill=255)
    return mask


def soft_mask(
    size: tuple[int, int],
    draw_fn: Callable[[ImageDraw.ImageDraw, int], None],
    blur: float,
    factor: int = 4,
) -> Image.Image:
    """A blurred L mask drawn at ``1/factor`` size by ``draw_fn(draw, factor)`` and scaled up."""
    w, h = size
    small = Image.new("L", (max(1, w // factor), max(1, h // factor)), 0)
    draw_fn(ImageDraw.Draw(small), factor)
    if blur > 0:
        small = small.filter(ImageFilter.GaussianBlur(blur / factor))
    return small.resize(size, Image.Resampling.BILINEAR)


def glow(
    img: Image.Image,
    centre: Point,
    radius: float,
    colour: RGB,
    strength: float,
    factor: int = 8,
) -> Image.Image:
    """``img`` brightened towards ``colour`` around ``centre``, falling off over ``radius``."""
    w, h = img.size
    sw, sh = max(2, w // factor), max(2, h // factor)
    ys, xs = np.mgrid[0:sh, 0:sw].astype(np.float32)
    d2 = ((xs + 0.5) * factor - centre[0]) ** 2 + ((ys + 0.5) * factor - centre[1]) ** 2
    a = np.exp(-d2 / max(radius * radius, 1.0)) * strength
    mask = Image.fromarray((np.clip(a, 0, 1) * 255).astype(np.uint8))
    mask = mask.resize((w, h), Image.Resampling.BICUBIC)
    return Image.composite(Image.new("RGB", (w, h), colour), img, mask)


def texture(img: Image.Image, rng: np.random.Generator, amount: float) -> Image.Image:
    """Paper texture: soft blotches of light and dark, as washes of paint dry unevenly."""
    w, h = img.size
    coarse = rng.standard_normal((max(2, h // 48), max(2, w // 48))).astype(np.float32)
    fine = rng.standard_normal((max(2, h // 12), max(2, w // 12))).astype(np.float32)
    c = np.asarray(Image.fromarray(coarse).resize((w, h), Image.Resampling.BICUBIC))
    f = np.asarray(Image.fromarray(fine).resize((w, h), Image.Resampling.BICUBIC))
    gain = 1.0 + amount * (0.8 * c + 0.35 * f)
    arr = np.asarray(img, dtype=np.float32) * gain[:, :, None]
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))


def vignette(img: Image.Image, strength: float) -> Image.Image:
    """Darken the corners a little: it pulls the eye to the middle, as a framed shot does."""
    w, h = img.size
    sw, sh = max(2, w // 16), max(2, h // 16)
    ys, xs = np.mgrid[0:sh, 0:sw].astype(np.float32)
    d = ((xs / (sw - 1) - 0.5) ** 2 + (ys / (sh - 1) - 0.5) ** 2) * 2.0
    a = np.clip(d * strength, 0, 1)
    mask = Image.fromarray((a * 255).astype(np.uint8)).resize((w, h), Image.Resampling.BICUBIC)
    return Image.composite(Image.new("RGB", (w, h), (10, 10, 25)), img, mask)


def ridge(
    rng: np.random.Generator, width: int, base: float, amp: float, waves: int, points: int = 48
) -> list[Point]:
    """A hill line across ``width``: a few sine waves with random phases around ``base``."""
    xs = np.linspace(-0.02 * width, 1.02 * width, points)
    ys = np.full(points, base, dtype=np.float64)
    for k in range(1, 4):
        freq = waves * k * 0.7 * 2 * np.pi / width
        ys += amp / k * np.sin(xs * freq + rng.uniform(0, 2 * np.pi))
    return [(float(x), float(y)) for x, y in zip(xs, ys, strict=True)]


def below(line: Sequence[Point], height: int) -> list[Point]:
    """The polygon under a line, down to the bottom of the frame."""
    return [*line, (line[-1][0], height + 2), (line[0][0], height + 2)]


def interp_y(line: Sequence[Point], x: float) -> float:
    """The line's height at ``x``."""
    xs = [p[0] for p in line]
    ys = [p[1] for p in line]
    return float(np.interp(x, xs, ys))
