"""Pictures the font lacks, drawn from shapes in OpenMoji's manner: flat colours, dark outline.

OpenMoji 17 has no lighthouse (U+1F6D9 draws a blank box), no barn, no pyramid and no
scarecrow, and stories ask for all four. Each is drawn at twice the size and scaled down, for
smooth edges, and comes with the points that matter to the frame (the lighthouse's lamp).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

from PIL import Image, ImageDraw

from sparkle_motion.function_tools.images_sdxl.storyboard.paint import RGB, Point

INK = (26, 26, 26)
LIGHTHOUSE_RED = (210, 47, 39)
LIGHTHOUSE_WHITE = (246, 244, 238)
LAMP = (252, 234, 43)


@dataclass
class Drawn:
    """A drawn picture (RGBA, cropped to its ink) and named points in its own pixels."""

    image: Image.Image
    anchors: dict[str, Point] = field(default_factory=dict)
    colours: tuple[RGB, ...] = ()


def _canvas(w: float, h: float) -> tuple[Image.Image, ImageDraw.ImageDraw]:
    img = Image.new("RGBA", (max(2, int(w)), max(2, int(h))), (0, 0, 0, 0))
    return img, ImageDraw.Draw(img)


def _finish(
    img: Image.Image, scale: int, anchors: dict[str, Point], colours: tuple[RGB, ...]
) -> Drawn:
    small = img.resize(
        (max(1, img.width // scale), max(1, img.height // scale)), Image.Resampling.LANCZOS
    )
    box = small.getchannel("A").getbbox() or (0, 0, *small.size)
    cropped = small.crop(box)
    moved = {k: (x / scale - box[0], y / scale - box[1]) for k, (x, y) in anchors.items()}
    return Drawn(cropped, moved, colours)


def lighthouse(height: int) -> Drawn:
    """A red-and-white striped tower on rocks, with a gallery, a glowing lamp and a dome."""
    s = 2
    h = height * s
    w = h * 0.5
    img, d = _canvas(w, h)
    ink = max(2, round(h / 90))
    cx = w / 2
    top_y, base_y = h * 0.27, h * 0.9
    top_half, base_half = h * 0.085, h * 0.15
    # rocks the tower stands on
    d.ellipse(
        [cx - h * 0.24, h * 0.86, cx + h * 0.24, h * 0.999],
        fill=(120, 116, 112),
        outline=INK,
        width=ink,
    )
    d.ellipse(
        [cx - h * 0.22, h * 0.9, cx - h * 0.02, h * 0.995],
        fill=(96, 92, 92),
        outline=INK,
        width=ink,
    )
    # the striped tower: bands clipped to the tapering body
    body = [
        (cx - top_half, top_y),
        (cx + top_half, top_y),
        (cx + base_half, base_y),
        (cx - base_half, base_y),
    ]
    mask = Image.new("L", img.size, 0)
    ImageDraw.Draw(mask).polygon(body, fill=255)
    stripes = Image.new("RGBA", img.size, (*LIGHTHOUSE_WHITE, 255))
    sd = ImageDraw.Draw(stripes)
    bands = 5
    for i in range(bands):
        if i % 2 == 0:
            y0 = top_y + (base_y - top_y) * i / bands
            y1 = top_y + (base_y - top_y) * (i + 1) / bands
            sd.rectangle([0, y0, w, y1], fill=(*LIGHTHOUSE_RED, 255))
    # a shaded side gives the tower its roundness
    shade = Image.new("L", img.size, 0)
    ImageDraw.Draw(shade).polygon(
        [
            (cx + top_half * 0.35, top_y),
            (cx + top_half, top_y),
            (cx + base_half, base_y),
            (cx + base_half * 0.35, base_y),
        ],
        fill=60,
    )
    stripes.paste((0, 0, 0, 255), (0, 0, *img.size), shade)
    img.paste(stripes, (0, 0), mask)
    d.polygon(body, outline=INK, width=ink)
    # door and a window
    d.rounded_rectangle(
        [cx - h * 0.035, h * 0.8, cx + h * 0.035, base_y],
        radius=h * 0.03,
        fill=(90, 60, 40),
        outline=INK,
        width=ink,
    )
    d.ellipse(
        [cx - h * 0.022, h * 0.5, cx + h * 0.022, h * 0.55],
        fill=(60, 90, 130),
        outline=INK,
        width=ink,
    )
    # gallery (balcony) with railing
    d.rectangle(
        [cx - h * 0.13, h * 0.245, cx + h * 0.13, h * 0.275],
        fill=(60, 60, 66),
        outline=INK,
        width=ink,
    )
    d.rectangle([cx - h * 0.12, h * 0.2, cx + h * 0.12, h * 0.245], outline=INK, width=ink)
    for i in range(7):
        x = cx - h * 0.12 + i * h * 0.04
        d.line([x, h * 0.2, x, h * 0.245], fill=INK, width=max(1, ink // 2))
    # lantern room: the glowing lamp behind glass
    d.rectangle(
        [cx - h * 0.075, h * 0.105, cx + h * 0.075, h * 0.2], fill=LAMP, outline=INK, width=ink
    )
    d.ellipse([cx - h * 0.035, h * 0.125, cx + h * 0.035, h * 0.185], fill=(255, 252, 210))
    d.line([cx, h * 0.105, cx, h * 0.2], fill=INK, width=max(1, ink // 2))
    # dome roof and finial
    d.pieslice(
        [cx - h * 0.095, h * 0.03, cx + h * 0.095, h * 0.18],
        180,
        360,
        fill=LIGHTHOUSE_RED,
        outline=INK,
        width=ink,
    )
    d.rectangle(
        [cx - h * 0.1, h * 0.095, cx + h * 0.1, h * 0.11], fill=(60, 60, 66), outline=INK, width=ink
    )
    d.ellipse(
        [cx - h * 0.014, h * 0.012, cx + h * 0.014, h * 0.04],
        fill=(60, 60, 66),
        outline=INK,
        width=ink,
    )
    return _finish(img, s, {"lamp": (cx, h * 0.15)}, (LIGHTHOUSE_RED, LIGHTHOUSE_WHITE, LAMP))


def barn(height: int) -> Drawn:
    """A red barn with a gambrel roof, white trim and a crossed door."""
    s = 2
    h = height * s
    w = h * 1.25
    img, d = _canvas(w, h)
    ink = max(2, round(h / 70))
    red, trim, roof = (196, 52, 44), (246, 244, 238), (92, 64, 60)
    x0, x1 = w * 0.08, w * 0.92
    wall_top = h * 0.42
    d.rectangle([x0, wall_top, x1, h * 0.98], fill=red, outline=INK, width=ink)
    d.polygon(
        [
            (x0 - w * 0.03, wall_top),
            (w * 0.2, h * 0.16),
            (w * 0.5, h * 0.02),
            (w * 0.8, h * 0.16),
            (x1 + w * 0.03, wall_top),
        ],
        fill=roof,
        outline=INK,
        width=ink,
    )
    # hay-loft window and the big door with its white cross
    d.rectangle([w * 0.42, h * 0.2, w * 0.58, h * 0.36], fill=trim, outline=INK, width=ink)
    d.rectangle([w * 0.45, h * 0.23, w * 0.55, h * 0.34], fill=(70, 50, 40))
    dx0, dx1, dy0, dy1 = w * 0.34, w * 0.66, h * 0.56, h * 0.98
    d.rectangle([dx0, dy0, dx1, dy1], fill=red, outline=trim, width=ink * 2)
    d.line([dx0, dy0, dx1, dy1], fill=trim, width=ink * 2)
    d.line([dx0, dy1, dx1, dy0], fill=trim, width=ink * 2)
    d.rectangle([dx0, dy0, dx1, dy1], outline=INK, width=ink)
    return _finish(img, s, {}, (red, trim))


def pyramid(height: int) -> Drawn:
    """A sandstone pyramid with a sunlit face, a shaded face and courses of blocks."""
    s = 2
    h = height * s
    w = h * 1.7
    img, d = _canvas(w, h)
    ink = max(2, round(h / 80))
    lit, shade = (232, 196, 120), (186, 140, 84)
    apex, left, right, mid = (
        (w * 0.5, h * 0.02),
        (w * 0.02, h * 0.98),
        (w * 0.98, h * 0.98),
        (w * 0.62, h * 0.98),
    )
    d.polygon([apex, left, mid], fill=lit)
    d.polygon([apex, mid, right], fill=shade)
    for i in range(1, 9):  # block courses
        y = h * 0.02 + (h * 0.96) * i / 9
        t = (y - apex[1]) / (left[1] - apex[1])
        d.line(
            [apex[0] + (left[0] - apex[0]) * t, y, apex[0] + (right[0] - apex[0]) * t, y],
            fill=(150, 110, 70),
            width=max(1, ink // 2),
        )
    d.polygon([apex, left, right], outline=INK, width=ink)
    return _finish(img, s, {}, (lit, shade))


def scarecrow(height: int) -> Drawn:
    """A scarecrow on its post: straw hat, sack head with a stitched smile, patched shirt."""
    s = 2
    h = height * s
    w = h * 0.8
    img, d = _canvas(w, h)
    ink = max(2, round(h / 80))
    cx = w / 2
    wood, straw, shirt, sack = (140, 98, 60), (236, 200, 90), (70, 120, 190), (222, 196, 150)
    d.rectangle(
        [cx - h * 0.02, h * 0.25, cx + h * 0.02, h * 0.99], fill=wood, outline=INK, width=ink
    )
    d.rectangle([w * 0.04, h * 0.36, w * 0.96, h * 0.4], fill=wood, outline=INK, width=ink)
    # shirt with straw at the cuffs
    d.polygon(
        [(w * 0.18, h * 0.34), (w * 0.82, h * 0.34), (w * 0.7, h * 0.72), (w * 0.3, h * 0.72)],
        fill=shirt,
        outline=INK,
        width=ink,
    )
    d.rectangle([w * 0.4, h * 0.45, w * 0.5, h * 0.55], fill=(200, 70, 60), outline=INK, width=ink)
    for sx in (w * 0.06, w * 0.94):
        for k in (-1, 0, 1):
            d.line(
                [sx, h * 0.38, sx + k * h * 0.03 - (h * 0.03 if sx < cx else -h * 0.03), h * 0.45],
                fill=straw,
                width=ink * 2,
            )
    # sack head and straw hat
    d.ellipse([cx - h * 0.11, h * 0.13, cx + h * 0.11, h * 0.35], fill=sack, outline=INK, width=ink)
    d.ellipse([cx - h * 0.05, h * 0.21, cx - h * 0.02, h * 0.24], fill=INK)
    d.ellipse([cx + h * 0.02, h * 0.21, cx + h * 0.05, h * 0.24], fill=INK)
    d.arc([cx - h * 0.05, h * 0.22, cx + h * 0.05, h * 0.3], 20, 160, fill=INK, width=ink)
    d.ellipse([cx - h * 0.2, h * 0.12, cx + h * 0.2, h * 0.18], fill=straw, outline=INK, width=ink)
    d.rectangle(
        [cx - h * 0.1, h * 0.04, cx + h * 0.1, h * 0.15], fill=straw, outline=INK, width=ink
    )
    d.rectangle([cx - h * 0.1, h * 0.11, cx + h * 0.1, h * 0.14], fill=(190, 60, 50))
    return _finish(img, s, {}, (shirt, straw, sack))


DRAWERS = {"lighthouse": lighthouse, "barn": barn, "pyramid": pyramid, "scarecrow": scarecrow}


@lru_cache(maxsize=64)
def draw_shape(name: str, height: int) -> Drawn:
    """The drawn picture ``name`` (a key of ``DRAWERS``), about ``height`` px tall."""
    return DRAWERS[name](max(8, height))
