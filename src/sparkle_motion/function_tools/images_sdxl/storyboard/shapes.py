"""Pictures the font lacks, drawn from shapes in OpenMoji's manner: flat colours, dark outline.

OpenMoji 17 has no lighthouse (U+1F6D9 draws a blank box), no barn, no pyramid and no
scarecrow, and stories ask for all four. Each is drawn at twice the size and scaled down, for
smooth edges, and comes with the points that matter to the frame (the lighthouse's lamp).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

from PIL import Image, ImageChops, ImageDraw

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


def eiffel_tower(height: int) -> Drawn:
    """The Eiffel Tower: four curved legs on a wide arch, two platforms, a tapering spire."""
    s = 2
    h = height * s
    w = h * 0.56
    img, d = _canvas(w, h)
    ink = max(2, round(h / 110))
    iron, dark = (150, 104, 72), (112, 74, 50)
    cx = w / 2
    # the legs and the lower arch, as one silhouette
    legs = [
        (cx - w * 0.47, h * 0.99), (cx - w * 0.3, h * 0.74), (cx - w * 0.19, h * 0.6),
        (cx - w * 0.1, h * 0.36), (cx - w * 0.035, h * 0.1), (cx, h * 0.03),
        (cx + w * 0.035, h * 0.1), (cx + w * 0.1, h * 0.36), (cx + w * 0.19, h * 0.6),
        (cx + w * 0.3, h * 0.74), (cx + w * 0.47, h * 0.99), (cx + w * 0.3, h * 0.99),
        (cx + w * 0.2, h * 0.85), (cx - w * 0.2, h * 0.85), (cx - w * 0.3, h * 0.99),
    ]  # fmt: skip
    d.polygon(legs, fill=iron, outline=INK, width=ink)
    d.pieslice(
        [cx - w * 0.2, h * 0.8, cx + w * 0.2, h * 1.1], 180, 360, fill=(0, 0, 0, 0), outline=None
    )
    d.arc([cx - w * 0.2, h * 0.8, cx + w * 0.2, h * 1.1], 180, 360, fill=INK, width=ink)
    # lattice: crossed lines within each section
    for ya, yb, half_a, half_b in (
        (0.62, 0.8, 0.18, 0.27),
        (0.38, 0.58, 0.095, 0.17),
        (0.14, 0.34, 0.035, 0.09),
    ):
        for k in range(3):
            y0 = h * (ya + (yb - ya) * k / 3)
            y1 = h * (ya + (yb - ya) * (k + 1) / 3)
            ha = w * (half_a + (half_b - half_a) * k / 3)
            hb = w * (half_a + (half_b - half_a) * (k + 1) / 3)
            d.line([cx - ha, y0, cx + hb * 0.6, y1], fill=dark, width=max(1, ink // 2))
            d.line([cx + ha, y0, cx - hb * 0.6, y1], fill=dark, width=max(1, ink // 2))
    # platforms
    for y, half in ((0.6, 0.25), (0.36, 0.14), (0.12, 0.06)):
        d.rectangle(
            [cx - w * half, h * y - h * 0.018, cx + w * half, h * y + h * 0.018],
            fill=dark,
            outline=INK,
            width=ink,
        )
    d.line([cx, 0, cx, h * 0.05], fill=INK, width=ink)
    return _finish(img, s, {}, (iron, dark))


def treehouse(height: int) -> Drawn:
    """A big oak with a wooden house in its branches and a ladder down the trunk."""
    s = 2
    h = height * s
    w = h * 0.95
    img, d = _canvas(w, h)
    ink = max(2, round(h / 110))
    bark, bark_dark = (139, 94, 60), (106, 70, 44)
    leaf, leaf_dark = (92, 167, 74), (62, 130, 58)
    wall, roof = (214, 160, 98), (178, 62, 50)
    cx = w / 2
    # trunk with two branches and roots
    d.polygon(
        [
            (cx - w * 0.09, h * 0.99), (cx - w * 0.06, h * 0.6), (cx - w * 0.2, h * 0.4),
            (cx - w * 0.14, h * 0.38), (cx - w * 0.02, h * 0.5), (cx + w * 0.05, h * 0.36),
            (cx + w * 0.11, h * 0.38), (cx + w * 0.06, h * 0.6), (cx + w * 0.09, h * 0.99),
        ],
        fill=bark,
        outline=INK,
        width=ink,
    )  # fmt: skip
    # the crown: overlapping round clumps
    for bx, by, r, col in (
        (-0.28, 0.37, 0.2, leaf_dark), (0.28, 0.35, 0.2, leaf_dark), (0.0, 0.25, 0.24, leaf),
        (-0.22, 0.24, 0.17, leaf), (0.22, 0.23, 0.17, leaf), (-0.36, 0.46, 0.13, leaf),
        (0.36, 0.45, 0.13, leaf),
    ):  # fmt: skip
        x, y, rr = cx + bx * w, by * h, r * w
        d.ellipse([x - rr, y - rr, x + rr, y + rr], fill=col, outline=INK, width=ink)
    # the platform and the house on it
    px0, px1, py = cx - w * 0.3, cx + w * 0.3, h * 0.58
    d.rectangle([px0, py, px1, py + h * 0.035], fill=bark_dark, outline=INK, width=ink)
    for x in (px0 + w * 0.04, px1 - w * 0.04):  # struts
        d.line([x, py + h * 0.035, cx + (x - cx) * 0.2, h * 0.7], fill=bark_dark, width=ink * 2)
    hx0, hx1, hy0 = cx - w * 0.2, cx + w * 0.2, h * 0.42
    d.rectangle([hx0, hy0, hx1, py], fill=wall, outline=INK, width=ink)
    for k in range(1, 4):  # boards
        y = hy0 + (py - hy0) * k / 4
        d.line([hx0, y, hx1, y], fill=(180, 128, 76), width=max(1, ink // 2))
    d.polygon(
        [(hx0 - w * 0.05, hy0), (cx, h * 0.28), (hx1 + w * 0.05, hy0)],
        fill=roof,
        outline=INK,
        width=ink,
    )
    d.rectangle(
        [cx - w * 0.15, h * 0.46, cx - w * 0.05, h * 0.53],
        fill=(120, 190, 230),
        outline=INK,
        width=ink,
    )
    d.rectangle(
        [cx + w * 0.04, h * 0.47, cx + w * 0.14, py], fill=bark_dark, outline=INK, width=ink
    )
    # the ladder down the trunk
    lx0, lx1 = cx + w * 0.1, cx + w * 0.17
    d.line([lx0, py + h * 0.03, lx0 + w * 0.02, h * 0.99], fill=bark_dark, width=ink * 2)
    d.line([lx1, py + h * 0.03, lx1 + w * 0.02, h * 0.99], fill=bark_dark, width=ink * 2)
    for k in range(1, 9):
        y = py + (h * 0.99 - py) * k / 9
        t = (y - py) / (h * 0.99 - py)
        d.line([lx0 + w * 0.02 * t, y, lx1 + w * 0.02 * t, y], fill=bark_dark, width=ink)
    return _finish(img, s, {"floor": (cx, py)}, (leaf, wall, roof))


def beehive(height: int) -> Drawn:
    """A straw skep: a dome of stacked rings with a dark entrance, on a wooden stand."""
    s = 2
    h = height * s
    w = h * 0.8
    img, d = _canvas(w, h)
    ink = max(2, round(h / 70))
    straw, straw_dark, wood = (236, 182, 70), (204, 146, 44), (140, 98, 60)
    cx = w / 2
    d.rectangle(
        [cx - w * 0.04, h * 0.78, cx + w * 0.04, h * 0.99], fill=wood, outline=INK, width=ink
    )
    d.rectangle([w * 0.08, h * 0.74, w * 0.92, h * 0.8], fill=wood, outline=INK, width=ink)
    rings = 5
    for k in range(rings):
        t0 = k / rings
        y1 = h * (0.74 - 0.68 * t0)
        y0 = h * (0.74 - 0.68 * (k + 1) / rings)
        half = w * 0.42 * (1 - t0**2.2) + w * 0.06
        d.rounded_rectangle(
            [cx - half, y0, cx + half, y1 + h * 0.01],
            radius=(y1 - y0) * 0.5,
            fill=straw if k % 2 == 0 else straw_dark,
            outline=INK,
            width=ink,
        )
    d.ellipse(
        [cx - w * 0.09, h * 0.6, cx + w * 0.09, h * 0.72], fill=(60, 40, 20), outline=INK, width=ink
    )
    return _finish(img, s, {"door": (cx, h * 0.66)}, (straw, straw_dark))


def easel(height: int) -> Drawn:
    """A wooden easel holding a canvas with a painted landscape on it."""
    s = 2
    h = height * s
    w = h * 0.72
    img, d = _canvas(w, h)
    ink = max(2, round(h / 80))
    wood = (176, 122, 72)
    cx = w / 2
    d.line([cx, h * 0.02, w * 0.12, h * 0.99], fill=INK, width=ink * 4)
    d.line([cx, h * 0.02, w * 0.12, h * 0.99], fill=wood, width=ink * 2)
    d.line([cx, h * 0.02, w * 0.88, h * 0.99], fill=INK, width=ink * 4)
    d.line([cx, h * 0.02, w * 0.88, h * 0.99], fill=wood, width=ink * 2)
    d.line([cx, h * 0.1, cx, h * 0.95], fill=INK, width=ink * 4)
    d.line([cx, h * 0.1, cx, h * 0.95], fill=wood, width=ink * 2)
    # the canvas and its picture
    x0, y0, x1, y1 = w * 0.08, h * 0.1, w * 0.92, h * 0.62
    d.rectangle([x0, y0, x1, y1], fill=(250, 248, 240), outline=INK, width=ink)
    m = ink * 2
    d.rectangle([x0 + m, y0 + m, x1 - m, y0 + (y1 - y0) * 0.6], fill=(150, 200, 235))
    d.ellipse(
        [x1 - w * 0.26, y0 + h * 0.05, x1 - w * 0.14, y0 + h * 0.05 + w * 0.12], fill=(250, 210, 70)
    )
    d.polygon(
        [
            (x0 + m, y1 - m),
            (x0 + (x1 - x0) * 0.35, y0 + (y1 - y0) * 0.35),
            (x0 + (x1 - x0) * 0.7, y1 - m),
        ],
        fill=(110, 170, 90),
    )
    d.rectangle([x0 + m, y0 + (y1 - y0) * 0.75, x1 - m, y1 - m], fill=(120, 180, 100))
    # the ledge it rests on
    d.rectangle([w * 0.04, y1, w * 0.96, y1 + h * 0.035], fill=wood, outline=INK, width=ink)
    return _finish(img, s, {}, (wood, (250, 248, 240)))


def oven(height: int) -> Drawn:
    """A kitchen range: hob with a pot, a glowing oven window, knobs."""
    s = 2
    h = height * s
    w = h * 0.95
    img, d = _canvas(w, h)
    ink = max(2, round(h / 70))
    body, trim, glow_c = (226, 226, 222), (160, 162, 166), (255, 170, 70)
    d.rectangle([w * 0.04, h * 0.22, w * 0.96, h * 0.99], fill=body, outline=INK, width=ink)
    d.rectangle([w * 0.04, h * 0.22, w * 0.96, h * 0.34], fill=trim, outline=INK, width=ink)
    for k in range(4):  # knobs
        x = w * (0.2 + 0.2 * k)
        d.ellipse([x - h * 0.03, h * 0.25, x + h * 0.03, h * 0.31], fill=(60, 60, 66), outline=INK)
    d.rounded_rectangle(
        [w * 0.14, h * 0.42, w * 0.86, h * 0.84],
        radius=h * 0.04,
        fill=(70, 60, 60),
        outline=INK,
        width=ink,
    )
    d.rounded_rectangle([w * 0.2, h * 0.48, w * 0.8, h * 0.78], radius=h * 0.03, fill=glow_c)
    d.rectangle([w * 0.2, h * 0.38, w * 0.8, h * 0.41], fill=(90, 90, 96), outline=INK, width=ink)
    # a pot on the hob
    d.rectangle(
        [w * 0.28, h * 0.04, w * 0.62, h * 0.22], fill=(200, 70, 60), outline=INK, width=ink
    )
    d.rectangle(
        [w * 0.24, h * 0.02, w * 0.66, h * 0.06], fill=(170, 50, 44), outline=INK, width=ink
    )
    return _finish(img, s, {}, (body, glow_c))


def blackboard(height: int) -> Drawn:
    """A green school board in a wooden frame, with chalk sums and a tray."""
    s = 2
    h = height * s
    w = h * 1.5
    img, d = _canvas(w, h)
    ink = max(2, round(h / 60))
    wood, board, chalk = (160, 110, 64), (46, 96, 70), (236, 240, 232)
    d.rectangle([0, 0, w - 1, h * 0.92], fill=wood, outline=INK, width=ink)
    d.rectangle([w * 0.04, h * 0.06, w * 0.96, h * 0.86], fill=board, outline=INK, width=ink)
    lw = max(2, ink)
    # "1+2=3" as chalk strokes, and a little drawing of a house
    x, y, k = w * 0.12, h * 0.3, h * 0.1
    d.line([x, y - k, x, y + k], fill=chalk, width=lw)
    d.line([x + k * 0.8, y, x + k * 2.2, y], fill=chalk, width=lw)
    d.line([x + k * 1.5, y - k * 0.7, x + k * 1.5, y + k * 0.7], fill=chalk, width=lw)
    d.arc([x + k * 2.6, y - k, x + k * 3.8, y + k * 0.2], 180, 360, fill=chalk, width=lw)
    d.line([x + k * 3.8, y - k * 0.4, x + k * 2.6, y + k], fill=chalk, width=lw)
    d.line([x + k * 2.6, y + k, x + k * 3.9, y + k], fill=chalk, width=lw)
    d.line([x + k * 4.4, y - k * 0.3, x + k * 5.4, y - k * 0.3], fill=chalk, width=lw)
    d.line([x + k * 4.4, y + k * 0.3, x + k * 5.4, y + k * 0.3], fill=chalk, width=lw)
    d.arc([x + k * 6.0, y - k, x + k * 7.2, y], 200, 90, fill=chalk, width=lw)
    d.arc([x + k * 6.0, y, x + k * 7.2, y + k], 270, 160, fill=chalk, width=lw)
    hx, hy = w * 0.72, h * 0.7
    d.rectangle([hx, hy - k * 1.4, hx + k * 2, hy], outline=chalk, width=lw)
    d.line(
        [hx - k * 0.2, hy - k * 1.4, hx + k, hy - k * 2.4, hx + k * 2.2, hy - k * 1.4],
        fill=chalk,
        width=lw,
    )
    d.rectangle([w * 0.1, h * 0.86, w * 0.9, h * 0.99], fill=wood, outline=INK, width=ink)
    return _finish(img, s, {}, (board, wood))


def colosseum(height: int) -> Drawn:
    """The Colosseum: a broken oval wall of three tiers of arches in warm stone."""
    s = 2
    h = height * s
    w = h * 1.9
    img, d = _canvas(w, h)
    ink = max(2, round(h / 80))
    stone, shade, dark = (226, 196, 150), (196, 162, 116), (120, 90, 64)
    # the wall rises on the left and is broken down on the right
    top = [(w * 0.02, h * 0.1), (w * 0.55, h * 0.06), (w * 0.62, h * 0.22), (w * 0.7, h * 0.3),
           (w * 0.78, h * 0.44), (w * 0.88, h * 0.52), (w * 0.98, h * 0.62)]  # fmt: skip
    body = [*top, (w * 0.98, h * 0.99), (w * 0.02, h * 0.99)]
    d.polygon(body, fill=stone)
    mask = Image.new("L", img.size, 0)
    ImageDraw.Draw(mask).polygon(body, fill=255)
    arches = Image.new("RGBA", img.size, (0, 0, 0, 0))
    ad = ImageDraw.Draw(arches)
    tiers = ((0.7, 0.99), (0.42, 0.68), (0.16, 0.4))
    for t, (y0f, y1f) in enumerate(tiers):
        y0, y1 = h * y0f, h * y1f
        ad.line([0, y1, w, y1], fill=(*shade, 255), width=ink * 2)
        n = 9
        for k in range(n):
            x0 = w * (0.04 + 0.94 * k / n)
            aw = w * 0.94 / n * 0.6
            ay0 = y0 + (y1 - y0) * 0.18
            ad.rectangle([x0, ay0 + aw * 0.5, x0 + aw, y1 - h * 0.02], fill=(*dark, 255))
            ad.pieslice([x0, ay0, x0 + aw, ay0 + aw], 180, 360, fill=(*dark, 255))
        if t == 2:
            ad.line([0, h * 0.13, w, h * 0.13], fill=(*shade, 255), width=ink * 2)
    img.paste(
        arches, (0, 0), Image.composite(arches, Image.new("RGBA", img.size), mask).getchannel("A")
    )
    d.polygon(body, outline=INK, width=ink)
    return _finish(img, s, {}, (stone, dark))


def sailing_ship(height: int) -> Drawn:
    """A wooden sailing ship: a curved hull, two masts with sails, a skull flag on top."""
    s = 2
    h = height * s
    w = h * 1.25
    img, d = _canvas(w, h)
    ink = max(2, round(h / 90))
    hull, hull_dark, sail, trim = (140, 90, 52), (104, 64, 38), (246, 240, 222), (220, 180, 70)
    deck = h * 0.66
    # masts and sails
    for mx, top, span in ((0.36, 0.06, 0.2), (0.66, 0.14, 0.16)):
        x = w * mx
        d.line([x, h * top, x, deck], fill=INK, width=ink * 3)
        d.line([x, h * top, x, deck], fill=hull_dark, width=ink)
        for y0, y1, k in ((top + 0.05, top + 0.27, 1.0), (top + 0.3, 0.58, 1.2)):
            half = w * span * k * 0.5
            d.polygon(
                [
                    (x - half, h * y0),
                    (x + half, h * y0),
                    (x + half * 1.1, h * y1),
                    (x - half * 1.1, h * y1),
                ],
                fill=sail,
                outline=INK,
                width=ink,
            )
    # the skull flag on the main mast
    fx, fy = w * 0.36, h * 0.06
    d.rectangle([fx, fy - h * 0.05, fx + w * 0.12, fy + h * 0.03], fill=(30, 30, 30), outline=INK)
    d.ellipse([fx + w * 0.04, fy - h * 0.035, fx + w * 0.08, fy + h * 0.005], fill=(240, 240, 240))
    # the hull: a curved shape with a raised stern, a row of gun ports and a gold stripe
    d.polygon(
        [(w * 0.02, deck - h * 0.06), (w * 0.2, deck), (w * 0.82, deck),
         (w * 0.9, deck - h * 0.1), (w * 0.99, deck - h * 0.12), (w * 0.92, h * 0.82),
         (w * 0.8, h * 0.97), (w * 0.2, h * 0.97), (w * 0.1, h * 0.86)],
        fill=hull,
        outline=INK,
        width=ink,
    )  # fmt: skip
    d.line([w * 0.12, h * 0.76, w * 0.93, h * 0.76], fill=trim, width=ink * 2)
    for k in range(6):
        x = w * (0.24 + 0.1 * k)
        d.rectangle(
            [x, h * 0.8, x + w * 0.04, h * 0.86],
            fill=hull_dark,
            outline=INK,
            width=max(1, ink // 2),
        )
    d.line([w * 0.2, deck, w * 0.82, deck], fill=INK, width=ink)
    d.line([w * 0.02, deck - h * 0.06, w * 0.0, deck - h * 0.1], fill=hull_dark, width=ink * 2)
    return _finish(
        img,
        s,
        {"deck": (w * 0.5, deck), "deck_l": (w * 0.22, deck), "deck_r": (w * 0.8, deck)},
        (hull, sail),
    )


def earth(height: int) -> Drawn:
    """The Earth seen from the Moon: blue ocean, green and brown land, white clouds."""
    s = 2
    h = height * s
    img, d = _canvas(h, h)
    ink = max(2, round(h / 60))
    r = h / 2 - ink
    c = h / 2
    d.ellipse([c - r, c - r, c + r, c + r], fill=(60, 130, 210))
    land = Image.new("L", img.size, 0)
    ld = ImageDraw.Draw(land)
    for bx, by, rx, ry in (
        (-0.3, -0.25, 0.28, 0.35),
        (0.25, 0.1, 0.3, 0.22),
        (-0.1, 0.45, 0.2, 0.12),
        (0.4, -0.45, 0.15, 0.1),
    ):
        ld.ellipse(
            [c + (bx - rx) * r, c + (by - ry) * r, c + (bx + rx) * r, c + (by + ry) * r], fill=255
        )
    disc = Image.new("L", img.size, 0)
    ImageDraw.Draw(disc).ellipse([c - r, c - r, c + r, c + r], fill=255)
    img.paste((96, 170, 84, 255), (0, 0, *img.size), ImageChops.multiply(land, disc))
    clouds = Image.new("L", img.size, 0)
    cd = ImageDraw.Draw(clouds)
    for bx, by in ((-0.5, 0.1), (0.1, -0.55), (0.45, 0.45), (-0.15, 0.15)):
        cd.ellipse(
            [c + (bx - 0.22) * r, c + (by - 0.06) * r, c + (bx + 0.22) * r, c + (by + 0.06) * r],
            fill=230,
        )
    img.paste((250, 250, 250, 255), (0, 0, *img.size), ImageChops.multiply(clouds, disc))
    # night side
    shade = Image.new("L", img.size, 0)
    ImageDraw.Draw(shade).ellipse([c - r * 0.6, c - r * 1.3, c + r * 1.9, c + r * 1.3], fill=110)
    img.paste((10, 20, 50, 255), (0, 0, *img.size), ImageChops.multiply(shade, disc))
    d.ellipse([c - r, c - r, c + r, c + r], outline=INK, width=ink)
    return _finish(img, s, {}, ((60, 130, 210), (96, 170, 84)))


DRAWERS = {
    "lighthouse": lighthouse, "barn": barn, "pyramid": pyramid, "scarecrow": scarecrow,
    "eiffel_tower": eiffel_tower, "treehouse": treehouse, "beehive": beehive, "easel": easel,
    "oven": oven, "blackboard": blackboard, "colosseum": colosseum,
    "sailing_ship": sailing_ship, "earth": earth,
}  # fmt: skip


@lru_cache(maxsize=64)
def draw_shape(name: str, height: int) -> Drawn:
    """The drawn picture ``name`` (a key of ``DRAWERS``), about ``height`` px tall."""
    return DRAWERS[name](max(8, height))
