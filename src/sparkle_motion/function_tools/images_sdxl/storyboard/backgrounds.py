"""Painted backgrounds: a sky for the time of day, then the place (sea, forest, city ...).

Each place returns a ``Stage`` with the painting: where the ground is, where the water is,
where a landmark may stand, so that subjects can be put where they belong (a whale in the
water, a person on the shore). Shapes, heights and colours vary with the seed.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from sparkle_motion.function_tools.images_sdxl.storyboard.paint import (
    RGB,
    Point,
    below,
    fill,
    glow,
    interp_y,
    mix,
    polygon_mask,
    ridge,
    soft_mask,
    texture,
    tint,
    vgradient,
    vignette,
)
from sparkle_motion.function_tools.images_sdxl.storyboard.settings import Setting


@dataclass(frozen=True)
class Sky:
    """Light of one time of day: sky colours top to horizon, the sun, the land's tint."""

    top: RGB
    mid: RGB
    horizon: RGB
    light: tuple[float, float, float]  # multipliers for land colours
    sun: RGB | None  # None: no sun (night, dusk)
    sun_height: float = 0.5  # 0 = at the horizon, 1 = top of the sky
    moon: bool = False
    stars: int = 0


SKIES: dict[str, Sky] = {
    "dawn": Sky(
        (70, 86, 150), (214, 142, 160), (255, 198, 150), (1.0, 0.87, 0.85), (255, 222, 176), 0.12
    ),
    "morning": Sky(
        (92, 156, 224), (160, 204, 240), (246, 236, 210), (1.0, 0.98, 0.93), (255, 248, 222), 0.55
    ),
    "day": Sky(
        (62, 136, 220), (124, 184, 238), (212, 232, 246), (1.0, 1.0, 1.0), (255, 252, 232), 0.8
    ),
    "golden": Sky(
        (92, 124, 192), (234, 182, 122), (255, 214, 142), (1.06, 0.9, 0.72), (255, 226, 156), 0.3
    ),
    "sunset": Sky(
        (56, 50, 118), (218, 104, 98), (255, 176, 94), (0.96, 0.72, 0.62), (255, 156, 84), 0.06
    ),
    "dusk": Sky(
        (32, 38, 90), (108, 88, 150), (224, 150, 140), (0.62, 0.56, 0.72), None, moon=True, stars=40
    ),
    "bluehour": Sky(
        (16, 28, 70), (50, 76, 138), (138, 156, 202), (0.5, 0.58, 0.8), None, moon=True, stars=60
    ),
    "night": Sky(
        (6, 10, 30), (18, 30, 74), (46, 60, 110), (0.34, 0.4, 0.64), None, moon=True, stars=260
    ),
}
_STORM = ((64, 68, 84), (94, 98, 112), (128, 130, 140))


@dataclass
class Stage:
    """What the painting offers the subjects: ground, water, sky, a landmark's spot."""

    width: int
    height: int
    kind: str
    time: str
    horizon: float
    foot: list[Point]  # the line ground subjects stand on (foreground)
    walk: tuple[float, float]  # x-range where ground subjects may stand
    water: tuple[float, float, float, float] | None = None  # x0, x1, y0, y1 of swimming room
    water_colour: RGB = (60, 110, 170)
    floating: bool = False  # underwater or open space: subjects float
    landmark: tuple[float, float] | None = None  # x, foot y of a landmark (lighthouse, barn)
    halo: RGB = (255, 255, 255)  # the glow that lifts subjects off the painting
    dark: bool = False
    props: list[str] = field(default_factory=list)  # small props this place suggests
    shows: set[str] = field(default_factory=set)  # pictures the painting already has (sun)
    window: tuple[float, float, float, float] | None = None  # a room's window: x0, y0, x1, y1

    def ground_y(self, x: float) -> float:
        """Where a subject standing at ``x`` has its feet."""
        return interp_y(self.foot, x)


Painter = Callable[[Image.Image, "Ctx"], Stage]  # paints a place into the image in place


@dataclass
class Ctx:
    """Everything a place painter needs."""

    setting: Setting
    sky: Sky
    rng: random.Random
    nrng: np.random.Generator
    horizon: float
    light: tuple[float, float, float]
    haze: RGB  # the colour far things fade into
    unit: float  # stroke scale: 1.0 at 720 px on the short side
    walkers: int = 1  # how many subjects need ground to stand on (the sea widens its shore)
    side: int | None = None  # 0 left, 1 right: where the coast, a room's window go (else seed)
    coast: bool = True  # whether a sea has a coast (not for a ship alone on the open sea)

    def land(self, colour: RGB, depth: float = 0.0) -> RGB:
        """A land colour under this light, faded into the haze with ``depth`` (0 near, 1 far)."""
        return mix(tint(colour, self.light), self.haze, depth)


# ------------------------------------------------------------------------ sky


def _sky_for(setting: Setting, rng: random.Random) -> Sky:
    base = SKIES[setting.time]
    jitter = [rng.uniform(0.93, 1.07) for _ in range(3)]

    def j(c: RGB) -> RGB:
        return tint(c, jitter)

    top, mid, hor = j(base.top), j(base.mid), j(base.horizon)
    light = base.light
    sun, moon, stars = base.sun, base.moon, base.stars
    if "storm" in setting.weather or "rain" in setting.weather:
        k = 0.7 if "storm" in setting.weather else 0.5
        top, mid, hor = (mix(c, s, k) for c, s in zip((top, mid, hor), _STORM, strict=True))
        light = tuple(v * (0.72 if "storm" in setting.weather else 0.85) for v in light)  # type: ignore[assignment]
        sun, stars = None, 0
        moon = moon and "storm" not in setting.weather
    elif "snow" in setting.weather or "fog" in setting.weather:
        top, mid, hor = (mix(c, (200, 206, 216), 0.35) for c in (top, mid, hor))
    return Sky(top, mid, hor, light, sun, base.sun_height, moon, stars)


def _paint_sky(img: Image.Image, ctx: Ctx, celestial: bool) -> Image.Image:
    w, h = img.size
    hz = ctx.horizon / h
    sky = ctx.sky
    img.paste(
        vgradient(
            (w, h), [(0.0, sky.top), (hz * 0.6, sky.mid), (hz, sky.horizon), (1.0, sky.horizon)]
        )
    )
    if sky.stars:
        _stars(img, ctx, sky.stars)
    if celestial and sky.sun is not None:
        sx = w * ctx.rng.uniform(0.2, 0.8)
        sy = ctx.horizon - (ctx.horizon * 0.85) * sky.sun_height - h * 0.02
        r = ctx.unit * (46 if sky.sun_height < 0.2 else 34)
        img = glow(img, (sx, sy), r * 7, sky.sun, 0.5)
        img = glow(img, (sx, sy), r * 2.0, mix(sky.sun, (255,) * 3, 0.3), 0.35)
        ImageDraw.Draw(img).ellipse(
            [sx - r, sy - r, sx + r, sy + r],
            fill=mix(sky.sun, (255,) * 3, 0.6 if sky.sun_height > 0.2 else 0.3),
        )
        img.info["sun"] = (sx, sy)
    elif celestial and sky.moon:
        mx, my = w * ctx.rng.uniform(0.15, 0.85), ctx.horizon * ctx.rng.uniform(0.18, 0.4)
        r = ctx.unit * 30
        img = glow(img, (mx, my), r * 5, (150, 170, 220), 0.35)
        d = ImageDraw.Draw(img)
        d.ellipse([mx - r, my - r, mx + r, my + r], fill=(238, 236, 220))
        for _ in range(4):  # craters
            cx, cy = mx + ctx.rng.uniform(-0.5, 0.5) * r, my + ctx.rng.uniform(-0.5, 0.5) * r
            cr = r * ctx.rng.uniform(0.1, 0.22)
            d.ellipse([cx - cr, cy - cr, cx + cr, cy + cr], fill=(214, 212, 200))
        img.info["moon"] = (mx, my)
    return img


def _stars(img: Image.Image, ctx: Ctx, count: int) -> None:
    w, _ = img.size
    d = ImageDraw.Draw(img)
    for _ in range(count):
        x = ctx.rng.uniform(0, w)
        y = ctx.horizon * ctx.rng.random() ** 1.6 * 0.95
        b = ctx.rng.uniform(0.4, 1.0)
        col = mix(ctx.sky.top, (255, 250, 225), b)
        r = ctx.unit * (0.8 + 1.6 * ctx.rng.random() ** 3)
        d.ellipse([x - r, y - r, x + r, y + r], fill=col)
        if r > ctx.unit * 2.0:  # a few twinkle
            d.line([x - 3 * r, y, x + 3 * r, y], fill=col, width=1)
            d.line([x, y - 3 * r, x, y + 3 * r], fill=col, width=1)


def clouds(
    img: Image.Image, ctx: Ctx, count: int, y0: float, y1: float, scale: float = 1.0
) -> Image.Image:
    """Soft cumulus clouds between heights ``y0`` and ``y1``, lit from above."""
    w, h = img.size
    storm = "storm" in ctx.setting.weather or "rain" in ctx.setting.weather
    lit = mix((255, 255, 255), ctx.sky.horizon, 0.18)
    lit = tint(lit, [min(1.0, v * 1.15) for v in ctx.light])
    shade = mix(lit, ctx.sky.top, 0.3)
    if storm:
        lit, shade = mix(ctx.sky.mid, (150, 150, 160), 0.3), mix(ctx.sky.top, (30, 30, 40), 0.4)
    blobs: list[tuple[float, float, float]] = []
    for _ in range(count):
        cx, cy = ctx.rng.uniform(-0.05, 1.05) * w, ctx.rng.uniform(y0, y1)
        size = ctx.unit * ctx.rng.uniform(60, 120) * scale
        for _k in range(ctx.rng.randint(4, 7)):
            blobs.append(
                (
                    cx + ctx.rng.uniform(-1.3, 1.3) * size,
                    cy + ctx.rng.uniform(-0.35, 0.15) * size,
                    size * ctx.rng.uniform(0.45, 0.8),
                )
            )

    def body(d: ImageDraw.ImageDraw, k: int, dy: float = 0.0) -> None:
        for x, y, r in blobs:
            d.ellipse(
                [(x - r * 1.3) / k, (y - r + dy) / k, (x + r * 1.3) / k, (y + r * 0.7 + dy) / k],
                fill=255,
            )

    mask = soft_mask((w, h), body, blur=ctx.unit * 3, factor=2)
    under = soft_mask((w, h), lambda d, k: body(d, k, ctx.unit * 26 * scale), blur=ctx.unit * 12)
    shaded = Image.new("RGB", (w, h), shade)
    cloud_layer = Image.new("RGB", (w, h), lit)
    cloud_layer = Image.composite(shaded, cloud_layer, under)
    return Image.composite(cloud_layer, img, mask.point(lambda v: int(v * 0.95)))


# ------------------------------------------------------------------------ places


def _hills(
    img: Image.Image, ctx: Ctx, colours: list[RGB], top: float, bottom: float
) -> list[Point]:
    """Layered rolling hills from far (``top``) to near (``bottom``); returns the nearest line."""
    w, h = img.size
    n = len(colours)
    line: list[Point] = []
    for i, colour in enumerate(colours):
        t = i / (n - 1) if n > 1 else 1.0
        base = top + (bottom - top) * t
        line = ridge(ctx.nrng, w, base, ctx.unit * (26 - 8 * t), ctx.rng.uniform(0.8, 1.6))
        depth = 0.55 * (1 - t)
        near, far = ctx.land(colour, depth), ctx.land(mix(colour, (0, 0, 0), 0.18), depth)
        grad = vgradient((w, h), [(0.0, near), (base / h, near), (1.0, far)])
        fill(img, polygon_mask((w, h), below(line, h)), grad)
    return line


def _trees_row(
    img: Image.Image,
    ctx: Ctx,
    line: list[Point],
    colour: RGB,
    height: float,
    count: int,
    pine: float = 0.6,
) -> None:
    """A row of tree silhouettes standing on ``line``: pines and round crowns."""
    w, _ = img.size
    d = ImageDraw.Draw(img)
    trunk = mix(colour, (40, 26, 20), 0.4)
    for i in range(count):
        x = (i + ctx.rng.uniform(0.0, 0.9)) * w / count
        base = interp_y(line, x) + height * 0.08
        hh = height * ctx.rng.uniform(0.7, 1.2)
        c = mix(colour, (255, 255, 255), ctx.rng.uniform(-0.04, 0.08))
        if ctx.rng.random() < pine:
            tiers = 3
            for k in range(tiers):
                tw = hh * (0.36 - 0.08 * k)
                ty0 = base - hh * (0.35 + 0.25 * k) - hh * 0.3
                ty1 = base - hh * (0.12 + 0.25 * k)
                d.polygon([(x, ty0), (x - tw, ty1), (x + tw, ty1)], fill=c)
            d.rectangle([x - hh * 0.03, base - hh * 0.14, x + hh * 0.03, base], fill=trunk)
        else:
            d.rectangle([x - hh * 0.04, base - hh * 0.5, x + hh * 0.04, base], fill=trunk)
            r = hh * 0.3
            for dx, dy, k in ((0, -0.75, 1.0), (-0.22, -0.6, 0.75), (0.22, -0.6, 0.75)):
                cx, cy, rr = x + dx * hh, base + dy * hh, r * k
                d.ellipse([cx - rr, cy - rr, cx + rr, cy + rr], fill=c)


def _meadow(img: Image.Image, ctx: Ctx) -> Stage:
    w, h = img.size
    img.paste(clouds(img, ctx, ctx.rng.randint(2, 4), h * 0.08, ctx.horizon * 0.6))
    greens = [(126, 176, 120), (104, 164, 92), (88, 150, 72), (112, 170, 70)]
    ctx.rng.shuffle(greens)
    far = _hills(img, ctx, greens[:2], ctx.horizon - ctx.unit * 10, ctx.horizon + h * 0.06)
    _trees_row(
        img, ctx, far, ctx.land((70, 120, 70), 0.3), ctx.unit * 60, ctx.rng.randint(3, 6), 0.3
    )
    if ctx.setting.kind == "meadow" and ctx.rng.random() < 0.7:
        _river(img, ctx, far)
    near = _hills(img, ctx, greens[2:3], h * 0.8, h * 0.8)
    _flowers(img, ctx, near)
    props = ["tulip", "sunflower", "butterfly", "deciduous_tree", "herb"]
    return Stage(
        w,
        h,
        ctx.setting.kind,
        ctx.setting.time,
        ctx.horizon,
        _foot(near, h, 0.06),
        (0.0, float(w)),
        props=props,
        landmark=(w * ctx.rng.choice((0.14, 0.86)), interp_y(far, w * 0.5) + h * 0.02),
    )


def _foot(line: list[Point], h: int, drop: float) -> list[Point]:
    """The feet line a little below a ridge, so subjects stand on it, not on its edge."""
    return [(x, min(h * 0.97, y + h * drop)) for x, y in line]


def _river(img: Image.Image, ctx: Ctx, far: list[Point]) -> None:
    w, h = img.size
    x0 = w * ctx.rng.uniform(0.35, 0.65)
    y0 = interp_y(far, x0) + ctx.unit * 6
    pts_l, pts_r = [], []
    steps = 12
    for i in range(steps + 1):
        t = i / steps
        y = y0 + (h - y0) * t
        cx = x0 + math.sin(t * 4.0 + ctx.rng.random()) * w * 0.08 * t + (t**2) * w * 0.1
        half = ctx.unit * (6 + 260 * t * t)
        pts_l.append((cx - half, y))
        pts_r.append((cx + half, y))
    far_water = mix(ctx.sky.horizon, (110, 170, 220), 0.55)
    near_water = ctx.land(mix(ctx.sky.mid, (50, 110, 170), 0.7))
    water = vgradient((w, h), [(0.0, far_water), (y0 / h, far_water), (1.0, near_water)])
    fill(img, polygon_mask((w, h), [*pts_l, *reversed(pts_r)]), water)


def _flowers(img: Image.Image, ctx: Ctx, line: list[Point]) -> None:
    w, h = img.size
    d = ImageDraw.Draw(img)
    palette = [(250, 220, 90), (250, 250, 245), (240, 130, 150), (190, 150, 230)]
    for _ in range(int(60 * w / 1280)):
        x = ctx.rng.uniform(0, w)
        y = ctx.rng.uniform(interp_y(line, x) + ctx.unit * 8, h)
        r = ctx.unit * (1.5 + 3.0 * (y - ctx.horizon) / max(1.0, h - ctx.horizon))
        d.ellipse([x - r, y - r, x + r, y + r], fill=ctx.land(ctx.rng.choice(palette)))


def _forest(img: Image.Image, ctx: Ctx) -> Stage:
    w, h = img.size
    img.paste(clouds(img, ctx, ctx.rng.randint(1, 3), h * 0.06, ctx.horizon * 0.45))
    base = (52, 104, 70) if ctx.rng.random() < 0.6 else (70, 110, 60)
    far_floor = ctx.land((80, 120, 70), 0.5)
    ImageDraw.Draw(img).rectangle([0, ctx.horizon, w, h], fill=far_floor)
    for i, depth in enumerate((0.6, 0.4, 0.2)):
        line = ridge(ctx.nrng, w, ctx.horizon + i * h * 0.03, ctx.unit * 8, 1.2)
        _trees_row(
            img,
            ctx,
            line,
            ctx.land(mix(base, (0, 0, 0), 0.1 * i), depth),
            ctx.unit * (130 + 50 * i),
            int(16 - 3 * i),
            pine=0.75,
        )
    ground = ridge(ctx.nrng, w, h * 0.78, ctx.unit * 10, 1.0)
    floor = ctx.land((92, 130, 64))
    grad = vgradient((w, h), [(0.0, floor), (0.78, floor), (1.0, ctx.land((60, 92, 48)))])
    fill(img, polygon_mask((w, h), below(ground, h)), grad)
    _mossy_stones(img, ctx, ground)
    # two big framing trunks: the viewer stands inside the forest, not outside it
    d = ImageDraw.Draw(img)
    dark = ctx.land((40, 56, 40), 0.0)
    for side in (0, 1):
        if ctx.rng.random() < 0.75:
            x = w * (ctx.rng.uniform(0.0, 0.06) if side == 0 else ctx.rng.uniform(0.94, 1.0))
            tw = ctx.unit * ctx.rng.uniform(26, 40)
            d.rectangle([x - tw, 0, x + tw, h], fill=mix(dark, (60, 40, 30), 0.3))
            for _ in range(9):  # leaves overhead: a ragged canopy, not one blob
                lx = x + ctx.rng.uniform(-7, 7) * tw
                ly = ctx.rng.uniform(-0.06, 0.1) * h
                lr = tw * ctx.rng.uniform(1.6, 2.8)
                shade = mix(dark, base, ctx.rng.uniform(0.0, 0.35))
                d.ellipse([lx - lr, ly - lr * 0.8, lx + lr, ly + lr * 0.8], fill=shade)
    props = ["mushroom", "evergreen_tree", "herb", "deciduous_tree"]
    return Stage(
        w,
        h,
        "forest",
        ctx.setting.time,
        ctx.horizon,
        _foot(ground, h, 0.1),
        (w * 0.08, w * 0.92),
        props=props,
        landmark=(w * ctx.rng.choice((0.2, 0.8)), interp_y(ground, w / 2) + h * 0.02),
    )


def _mossy_stones(img: Image.Image, ctx: Ctx, line: list[Point]) -> None:
    w, h = img.size
    d = ImageDraw.Draw(img)
    for _ in range(ctx.rng.randint(2, 4)):
        x = ctx.rng.uniform(0.05, 0.95) * w
        y = interp_y(line, x) + ctx.rng.uniform(0.05, 0.15) * h
        r = ctx.unit * ctx.rng.uniform(14, 30)
        d.ellipse([x - r * 1.4, y - r, x + r * 1.4, y + r * 0.6], fill=ctx.land((110, 112, 104)))
        d.ellipse(
            [x - r * 1.2, y - r * 1.02, x + r * 1.1, y - r * 0.3], fill=ctx.land((100, 150, 70))
        )


def _sea(img: Image.Image, ctx: Ctx) -> Stage:
    w, h = img.size
    img.paste(clouds(img, ctx, ctx.rng.randint(2, 4), h * 0.05, ctx.horizon * 0.55))
    hz = ctx.horizon
    near_water = ctx.land(mix((28, 82, 128), ctx.sky.top, 0.25))
    far_water = mix(ctx.land((70, 130, 170)), ctx.sky.horizon, 0.45)
    water = vgradient((w, h), [(0.0, far_water), (hz / h, far_water), (1.0, near_water)])
    img.paste(water.crop((0, int(hz), w, h)), (0, int(hz)))
    d = ImageDraw.Draw(img, "RGBA")
    # a far headland on the horizon
    if ctx.rng.random() < 0.7:
        x0 = w * ctx.rng.uniform(0.4, 0.9)
        line = ridge(ctx.nrng, int(w * 0.4), hz - ctx.unit * 10, ctx.unit * 8, 1.0, 16)
        pts = [(x0 + x, min(hz, y)) for x, y in line]
        d.polygon([*pts, (pts[-1][0], hz), (pts[0][0], hz)], fill=ctx.land((90, 110, 130), 0.6))
    sun = img.info.get("sun")
    # waves: rows of short light strokes, smaller and denser towards the horizon
    crest = mix(far_water, (255, 255, 255), 0.5)
    y = hz + ctx.unit * 4
    while y < h:
        t = (y - hz) / max(1.0, h - hz)
        length = ctx.unit * (10 + 90 * t)
        for _ in range(int(w / (length * 2.2)) + 1):
            x = ctx.rng.uniform(-length, w)
            a = int(90 + 110 * t)
            d.arc(
                [x, y - length * 0.12, x + length, y + length * 0.12],
                200,
                340,
                fill=(*crest, a),
                width=max(1, int(ctx.unit * (1 + 3 * t))),
            )
        y += ctx.unit * (4 + 38 * t * t) + 3
    if sun is not None:  # glitter under the sun
        sx = sun[0]
        glint = mix(ctx.sky.sun or (255, 255, 255), (255, 255, 255), 0.4)
        for _ in range(60):
            gy = ctx.rng.uniform(hz + 2, h)
            spread = (gy - hz) * 0.25 + ctx.unit * 8
            gx = sx + ctx.rng.gauss(0, spread * 0.5)
            gl = ctx.unit * ctx.rng.uniform(6, 24) * (0.4 + (gy - hz) / (h - hz))
            d.line([gx - gl, gy, gx + gl, gy], fill=(*glint, 170), width=max(1, int(ctx.unit * 2)))
    # the shore: a rocky coast on one side, where people stand and a lighthouse may rise
    left = ctx.rng.random() < 0.5
    lip = ctx.rng.uniform(0.36, 0.46) + 0.1 * min(2, max(0, ctx.walkers - 1))
    if ctx.side is not None:  # the cast decides, so that every scene has the coast there
        left = ctx.side == 0
        lip = 0.42 + 0.1 * min(2, max(0, ctx.walkers - 1))
    if not ctx.coast:  # the open sea: nothing but water to the horizon
        return Stage(
            w,
            h,
            "sea",
            ctx.setting.time,
            hz,
            [(0.0, h * 0.9), (float(w), h * 0.9)],
            (w * 0.04, w * 0.96),
            water=(w * 0.04, w * 0.96, hz + (h - hz) * 0.45, hz + (h - hz) * 0.7),
            water_colour=mix(far_water, near_water, 0.5),
            props=["bird"],
        )
    edge = 0.0 if left else float(w)
    sgn = 1 if left else -1
    profile = [
        (0.0, 0.60),
        (0.12, 0.58),
        (0.2, 0.64),
        (lip - 0.08, 0.74),
        (lip, 0.78),
        (lip + 0.1, 1.02),
    ]
    jitter = [ctx.rng.uniform(-0.01, 0.01) * h for _ in profile]
    if ctx.side is not None:  # the same coast in every scene of the story
        jitter = [0.0] * len(profile)
    top = [(edge + sgn * fx * w, fy * h + j) for (fx, fy), j in zip(profile, jitter, strict=True)]
    rock = ctx.land((96, 90, 86))
    rock_dark = ctx.land((60, 56, 58))
    rock_grad = vgradient((w, h), [(0.0, rock), (0.6, rock), (1.0, rock_dark)])
    fill(img, polygon_mask((w, h), [*top, (edge, h + 2)]), rock_grad)
    d = ImageDraw.Draw(img, "RGBA")
    for _ in range(14):  # cracks and boulders on the rock face
        fx = ctx.rng.uniform(0.0, lip)
        x = edge + sgn * fx * w
        y0 = interp_y(sorted(top), x) + ctx.unit * 10
        r = ctx.unit * ctx.rng.uniform(12, 34)
        y = ctx.rng.uniform(y0 + r, h + r)
        d.ellipse([x - r * 1.5, y - r, x + r * 1.5, y + r], fill=(*rock_dark, 120))
    grass = ctx.land((110, 140, 84))  # a grassy edge along the top of the rocks
    d.line(
        [(x, y - ctx.unit * 2) for x, y in sorted(top) if abs(x - edge) <= lip * w],
        fill=grass,
        width=max(2, int(ctx.unit * 10)),
    )
    # foam where the sea meets the rocks
    foam_pts = [p for p in sorted(top) if abs(p[0] - edge) >= (lip - 0.1) * w]
    d.line(foam_pts, fill=(255, 255, 255, 150), width=max(2, int(ctx.unit * 5)))
    walk = (
        min(edge + sgn * 0.03 * w, edge + sgn * (lip - 0.04) * w),
        max(edge + sgn * 0.03 * w, edge + sgn * (lip - 0.04) * w),
    )
    foot = sorted((x, y + ctx.unit * 8) for x, y in top)
    water_x = (w * (lip + 0.08), w * 0.96) if left else (w * 0.04, w * (1 - lip - 0.08))
    return Stage(
        w,
        h,
        "sea",
        ctx.setting.time,
        hz,
        foot,
        walk,
        water=(*water_x, hz + (h - hz) * 0.45, hz + (h - hz) * 0.7),
        water_colour=mix(far_water, near_water, 0.5),
        landmark=(edge + sgn * 0.08 * w, interp_y(foot, edge + sgn * 0.08 * w)),
        props=["sailboat", "bird"],
    )


def _underwater(img: Image.Image, ctx: Ctx) -> Stage:
    w, h = img.size
    light = [min(1.0, v * 1.3) for v in ctx.light]
    top = tint((86, 200, 220), light)
    mid = tint((30, 120, 170), light)
    deep = tint((10, 42, 90), light)
    img.paste(vgradient((w, h), [(0.0, top), (0.4, mid), (1.0, deep)]))
    # shafts of light from the surface
    rays = [(ctx.rng.uniform(-0.1, 1.1) * w, ctx.rng.uniform(0.03, 0.07) * w) for _ in range(6)]

    def shafts(d: ImageDraw.ImageDraw, k: int) -> None:
        for x, half in rays:
            slant = w * 0.18
            d.polygon(
                [
                    ((x - half) / k, 0),
                    ((x + half) / k, 0),
                    ((x + half * 2.4 + slant) / k, h / k),
                    ((x - half * 0.6 + slant) / k, h / k),
                ],
                fill=90,
            )

    mask = soft_mask((w, h), shafts, blur=ctx.unit * 30, factor=8)
    fade = np.linspace(1.0, 0.16, h, dtype=np.float32)[:, None]  # rays fade with depth
    mask = Image.fromarray((np.asarray(mask, np.float32) * fade).astype(np.uint8))
    img.paste(Image.composite(Image.new("RGB", (w, h), (220, 250, 240)), img, mask))
    d = ImageDraw.Draw(img, "RGBA")
    # the surface ripple at the very top
    for i in range(int(w / (ctx.unit * 40)) + 2):
        x = i * ctx.unit * 40 + ctx.rng.uniform(-8, 8)
        d.arc(
            [x, ctx.unit * 6, x + ctx.unit * 40, ctx.unit * 22],
            20,
            160,
            fill=(255, 255, 255, 120),
            width=max(1, int(ctx.unit * 2)),
        )
    floor = ridge(ctx.nrng, w, h * 0.84, ctx.unit * 14, 1.1)
    sand = tint((214, 196, 150), light)
    fill(
        img,
        polygon_mask((w, h), below(floor, h)),
        vgradient((w, h), [(0.0, sand), (0.84, sand), (1.0, mix(sand, deep, 0.45))]),
    )
    d = ImageDraw.Draw(img, "RGBA")
    # kelp: tall swaying strands
    kelp = tint((40, 120, 70), light)
    for _ in range(ctx.rng.randint(5, 9)):
        x0 = ctx.rng.uniform(0, w)
        y0 = interp_y(floor, x0) + ctx.unit * 10
        height = h * ctx.rng.uniform(0.3, 0.6)
        phase = ctx.rng.uniform(0, 6.28)
        pts = [
            (x0 + math.sin(phase + t * 5) * ctx.unit * 14, y0 - height * t)
            for t in np.linspace(0, 1, 14)
        ]
        d.line(pts, fill=(*kelp, 220), width=max(3, int(ctx.unit * 9)), joint="curve")
        for px, py in pts[2::3]:
            d.ellipse(
                [px, py - ctx.unit * 5, px + ctx.unit * 22, py + ctx.unit * 5], fill=(*kelp, 200)
            )
    for _ in range(26):  # bubbles
        x, y = ctx.rng.uniform(0, w), ctx.rng.uniform(0, h * 0.8)
        r = ctx.unit * ctx.rng.uniform(2, 7)
        d.ellipse(
            [x - r, y - r, x + r, y + r], outline=(255, 255, 255, 150), width=max(1, int(ctx.unit))
        )
    return Stage(
        w,
        h,
        "underwater",
        ctx.setting.time,
        h * 0.2,
        _foot(floor, h, 0.05),
        (0.0, float(w)),
        water=(w * 0.05, w * 0.95, h * 0.3, h * 0.6),
        water_colour=mid,
        floating=True,
        halo=(200, 240, 255),
        props=["tropical_fish", "coral", "spiral_shell", "blowfish", "crab"],
    )


def _space(img: Image.Image, ctx: Ctx) -> Stage:
    w, h = img.size
    a = (10, 10, 34)
    b = (34, 18, 64) if ctx.rng.random() < 0.5 else (12, 34, 70)
    on_moon = ctx.setting.surface == "moon"
    if on_moon:  # the Moon has a black sky, day or night
        a, b = (2, 2, 8), (8, 8, 18)
    img.paste(vgradient((w, h), [(0.0, a), (0.6, b), (1.0, mix(b, (0, 0, 0), 0.3))]))
    # nebula: coloured blotches of soft noise
    n = ctx.nrng.standard_normal((max(2, h // 180), max(2, w // 180))).astype(np.float32)
    neb = np.asarray(Image.fromarray(n).resize((w, h), Image.Resampling.BICUBIC))
    alpha = np.clip((neb - 0.1) * 0.22, 0, 0.32) * (0.15 if on_moon else 1.0)
    hue = np.array(ctx.rng.choice([(200, 90, 200), (80, 160, 230), (230, 110, 130)]), np.float32)
    arr = np.asarray(img, np.float32)
    arr = arr + (hue[None, None, :] - arr) * alpha[:, :, None]
    img.paste(Image.fromarray(arr.clip(0, 255).astype(np.uint8)))
    ctx.horizon = h * 0.98
    _stars(img, ctx, int(420 * w * h / (1280 * 720)))
    d = ImageDraw.Draw(img)
    if on_moon:
        return _moonscape(img, ctx)
    for _ in range(ctx.rng.randint(1, 2)):  # planets with a lit side
        r = ctx.unit * ctx.rng.uniform(40, 90)
        x, y = ctx.rng.uniform(0.1, 0.9) * w, ctx.rng.uniform(0.1, 0.45) * h
        base = ctx.rng.choice([(220, 140, 90), (120, 170, 220), (200, 190, 150), (170, 120, 200)])
        d.ellipse([x - r, y - r, x + r, y + r], fill=mix(base, (10, 10, 30), 0.45))
        d.ellipse([x - r * 0.92, y - r, x + r * 0.7, y + r * 0.8], fill=base)
        d.ellipse(
            [x - r * 0.6, y - r * 0.75, x - r * 0.05, y - r * 0.3], fill=mix(base, (255,) * 3, 0.3)
        )
        if ctx.rng.random() < 0.5:
            d.ellipse(
                [x - r * 1.8, y - r * 0.3, x + r * 1.8, y + r * 0.3],
                outline=mix(base, (255,) * 3, 0.4),
                width=max(2, int(ctx.unit * 4)),
            )
    surface = ctx.setting.surface
    if surface:
        ground_col = (190, 90, 60) if surface == "mars" else (170, 170, 176)
        line = ridge(ctx.nrng, w, h * 0.74, ctx.unit * 16, 0.8)
        fill(
            img,
            polygon_mask((w, h), below(line, h)),
            vgradient(
                (w, h),
                [(0.0, ground_col), (0.74, ground_col), (1.0, mix(ground_col, (20, 10, 10), 0.5))],
            ),
        )
        d = ImageDraw.Draw(img, "RGBA")
        for _ in range(10):  # craters
            x = ctx.rng.uniform(0, w)
            y = ctx.rng.uniform(interp_y(line, x) + ctx.unit * 20, h)
            r = ctx.unit * ctx.rng.uniform(10, 40) * (0.5 + (y - h * 0.74) / (h * 0.26))
            d.ellipse(
                [x - r, y - r * 0.35, x + r, y + r * 0.35],
                fill=(*mix(ground_col, (0, 0, 0), 0.35), 150),
            )
        return Stage(
            w,
            h,
            "space",
            ctx.setting.time,
            h * 0.74,
            _foot(line, h, 0.1),
            (0.0, float(w)),
            halo=(200, 210, 255),
            dark=True,
            props=["comet", "satellite"],
            shows={"ringed_planet", "star"},
        )
    mid = [(0.0, h * 0.8), (float(w), h * 0.8)]
    return Stage(
        w,
        h,
        "space",
        ctx.setting.time,
        h * 0.98,
        mid,
        (0.0, float(w)),
        floating=True,
        water=(w * 0.05, w * 0.95, h * 0.3, h * 0.7),
        halo=(200, 210, 255),
        dark=True,
        props=["comet", "satellite"],
        shows={"ringed_planet", "star"},
    )


def _moonscape(img: Image.Image, ctx: Ctx) -> Stage:
    """The Moon's grey ground to the horizon, pitted with craters, under a black sky."""
    w, h = img.size
    top = h * (0.62 if w >= h else 0.66)
    far = ridge(ctx.nrng, w, top, ctx.unit * 10, 1.4)
    grey, dark = (172, 172, 176), (104, 104, 112)
    fill(
        img,
        polygon_mask((w, h), below(far, h)),
        vgradient((w, h), [(0.0, mix(grey, dark, 0.35)), (top / h, mix(grey, dark, 0.3)),
                           (1.0, grey)]),
    )  # fmt: skip
    # far hills: a paler band of low mounds on the horizon
    hills = ridge(ctx.nrng, w, top - ctx.unit * 6, ctx.unit * 16, 2.2)
    hills = [(x, min(y, interp_y(far, x))) for x, y in hills]
    fill(img, polygon_mask((w, h), [*hills, *reversed(far)]), mix(grey, (230, 230, 236), 0.25))
    d = ImageDraw.Draw(img, "RGBA")
    craters = []
    for _ in range(ctx.rng.randint(9, 13)):
        x = ctx.rng.uniform(-0.02, 1.02) * w
        y = ctx.rng.uniform(interp_y(far, min(max(x, 0), w)) + ctx.unit * 14, h * 1.02)
        depth = (y - top) / max(1.0, h - top)
        r = ctx.unit * ctx.rng.uniform(18, 50) * (0.4 + 1.2 * depth)
        craters.append((y, x, r))
    for y, x, r in sorted(craters):  # far ones first
        flat = 0.32
        d.ellipse(
            [x - r * 1.08, y - r * flat * 1.2, x + r * 1.08, y + r * flat * 1.2],
            fill=(*mix(grey, (255, 255, 255), 0.35), 255),
        )  # the sunlit rim
        d.ellipse([x - r, y - r * flat, x + r, y + r * flat], fill=(*dark, 255))
        d.chord(
            [x - r, y - r * flat, x + r, y + r * flat], 0, 180, fill=(*mix(dark, grey, 0.45), 255)
        )  # the floor's lit far side
    # pebbles
    for _ in range(int(40 * w / 1280)):
        x, y = ctx.rng.uniform(0, w), ctx.rng.uniform(top + ctx.unit * 20, h)
        r = ctx.unit * ctx.rng.uniform(2, 5)
        d.ellipse([x - r, y - r * 0.6, x + r, y + r * 0.6], fill=(*dark, 200))
    return Stage(
        w,
        h,
        "space",
        ctx.setting.time,
        top,
        _foot(far, h, 0.22 if w >= h else 0.18),
        (0.0, float(w)),
        halo=(200, 210, 255),
        dark=True,
        props=[],
        shows={"ringed_planet", "star", "crescent_moon", "full_moon"},
        landmark=(w * 0.8, top + h * 0.05),
    )


def _city(img: Image.Image, ctx: Ctx) -> Stage:
    w, h = img.size
    img.paste(clouds(img, ctx, ctx.rng.randint(1, 3), h * 0.05, ctx.horizon * 0.4))
    d = ImageDraw.Draw(img)
    lit = ctx.sky.sun is None or "storm" in ctx.setting.weather
    street_y = h * 0.76
    for layer, depth in enumerate((0.6, 0.35, 0.0)):
        x = -ctx.rng.uniform(0, 40) * ctx.unit
        base_col = ctx.rng.choice([(120, 110, 130), (150, 120, 110), (110, 130, 150)])
        col = ctx.land(mix(base_col, (60, 60, 80), layer * 0.15), depth)
        while x < w:
            bw = ctx.unit * ctx.rng.uniform(60, 140) * (1 + layer * 0.3)
            bh = h * ctx.rng.uniform(0.25, 0.55) * (1 - layer * 0.18)
            top = street_y - bh - (2 - layer) * h * 0.05
            c = mix(col, (255, 255, 255), ctx.rng.uniform(-0.05, 0.08))
            d.rectangle([x, top, x + bw, street_y], fill=c)
            if layer == 2 and ctx.rng.random() < 0.3:
                d.polygon([(x, top), (x + bw / 2, top - bw * 0.35), (x + bw, top)], fill=c)
            if layer >= 1:  # windows: lit at night, reflecting the sky by day
                win_on = (255, 214, 120)
                win_off = mix(ctx.sky.mid, c, 0.45)
                ww, wh = ctx.unit * 10 * (1 + layer * 0.4), ctx.unit * 14 * (1 + layer * 0.4)
                gy = top + wh
                while gy < street_y - wh * 2:
                    gx = x + ww
                    while gx < x + bw - ww * 1.5:
                        on = lit and ctx.rng.random() < 0.55
                        d.rectangle([gx, gy, gx + ww, gy + wh], fill=win_on if on else win_off)
                        gx += ww * 2
                    gy += wh * 1.9
            x += bw + ctx.unit * ctx.rng.uniform(0, 14)
    # the street: pavement, road, dashes
    pave = ctx.land((150, 146, 140))
    road = ctx.land((70, 72, 80))
    d.rectangle([0, street_y, w, street_y + h * 0.06], fill=pave)
    d.rectangle([0, street_y + h * 0.06, w, h], fill=road)
    dash = ctx.land((230, 220, 170))
    for i in range(0, int(w / (ctx.unit * 120)) + 1):
        x = i * ctx.unit * 120 + ctx.rng.uniform(0, 10)
        y = street_y + h * 0.16
        d.polygon(
            [
                (x, y),
                (x + ctx.unit * 60, y),
                (x + ctx.unit * 56, y + ctx.unit * 8),
                (x - ctx.unit * 4, y + ctx.unit * 8),
            ],
            fill=dash,
        )
    for i in range(3):  # street lamps
        x = w * (0.1 + 0.4 * i) + ctx.rng.uniform(-20, 20) * ctx.unit
        top = street_y - h * 0.3
        d.rectangle(
            [x - ctx.unit * 3, top, x + ctx.unit * 3, street_y + h * 0.05], fill=(50, 50, 60)
        )
        d.ellipse(
            [x - ctx.unit * 12, top - ctx.unit * 10, x + ctx.unit * 12, top + ctx.unit * 8],
            fill=(255, 226, 150) if lit else (210, 210, 200),
        )
        if lit:
            img.paste(glow(img, (x, top), ctx.unit * 70, (255, 210, 130), 0.5))
            d = ImageDraw.Draw(img)
    foot = [(0.0, street_y + h * 0.14), (float(w), street_y + h * 0.14)]
    return Stage(
        w,
        h,
        "city",
        ctx.setting.time,
        street_y,
        foot,
        (w * 0.05, w * 0.95),
        props=["automobile", "taxi", "bus", "pigeon"],
        landmark=(w * ctx.rng.choice((0.15, 0.85)), street_y + h * 0.02),
    )


def _mountain(img: Image.Image, ctx: Ctx) -> Stage:
    w, h = img.size
    img.paste(clouds(img, ctx, ctx.rng.randint(1, 3), h * 0.05, ctx.horizon * 0.4))
    d = ImageDraw.Draw(img)
    snow = tint((246, 248, 252), ctx.light)
    for layer, depth in enumerate((0.55, 0.25)):
        x = -w * 0.1
        rock = ctx.land(mix((110, 116, 140), (70, 80, 100), layer * 0.6), depth)
        shade = mix(rock, (20, 20, 40), 0.25)
        while x < w * 1.1:
            pw = w * ctx.rng.uniform(0.22, 0.36)
            ph = h * ctx.rng.uniform(0.3, 0.46) * (1 - layer * 0.2)
            base = ctx.horizon + h * 0.04 * layer
            peak = (x + pw / 2 + ctx.rng.uniform(-0.1, 0.1) * pw, base - ph)
            d.polygon([(x, base), peak, (x + pw, base)], fill=rock)
            d.polygon([peak, (x + pw, base), (peak[0] + pw * 0.1, base)], fill=shade)
            cap = 0.3
            d.polygon(
                [
                    peak,
                    (peak[0] - (peak[0] - x) * cap, peak[1] + ph * cap),
                    (peak[0] - pw * 0.04, peak[1] + ph * cap * 0.8),
                    (peak[0] + pw * 0.05, peak[1] + ph * cap * 1.1),
                    (peak[0] + (x + pw - peak[0]) * cap, peak[1] + ph * cap),
                ],
                fill=mix(snow, ctx.haze, depth * 0.5),
            )
            x += pw * ctx.rng.uniform(0.55, 0.8)
    valley = ridge(ctx.nrng, w, ctx.horizon + h * 0.08, ctx.unit * 10, 1.0)
    snowy = "snow" in ctx.setting.weather or ctx.rng.random() < 0.5
    ground_col = (236, 240, 246) if snowy else (120, 150, 96)
    fill(img, polygon_mask((w, h), below(valley, h)), ctx.land(ground_col, 0.1))
    _trees_row(img, ctx, valley, ctx.land((40, 80, 70), 0.2), ctx.unit * 70, 14, pine=1.0)
    near = ridge(ctx.nrng, w, h * 0.8, ctx.unit * 14, 0.9)
    fill(
        img,
        polygon_mask((w, h), below(near, h)),
        vgradient(
            (w, h),
            [(0.0, ctx.land(ground_col)), (1.0, ctx.land(mix(ground_col, (80, 90, 120), 0.3)))],
        ),
    )
    return Stage(
        w,
        h,
        "mountain",
        ctx.setting.time,
        ctx.horizon,
        _foot(near, h, 0.08),
        (0.0, float(w)),
        props=["evergreen_tree", "snowflake", "goat"],
        landmark=(w * ctx.rng.choice((0.15, 0.85)), interp_y(valley, w / 2)),
    )


def _desert(img: Image.Image, ctx: Ctx) -> Stage:
    w, h = img.size
    d = ImageDraw.Draw(img)
    # far mesas
    for _ in range(ctx.rng.randint(1, 3)):
        x = ctx.rng.uniform(0, w)
        mw, mh = w * ctx.rng.uniform(0.08, 0.18), h * ctx.rng.uniform(0.04, 0.1)
        d.polygon(
            [
                (x - mw, ctx.horizon),
                (x - mw * 0.7, ctx.horizon - mh),
                (x + mw * 0.7, ctx.horizon - mh),
                (x + mw, ctx.horizon),
            ],
            fill=ctx.land((190, 120, 90), 0.5),
        )
    sands = [(232, 196, 128), (222, 176, 106), (236, 188, 112)]
    line: list[Point] = []
    for i, col in enumerate(sands):
        t = i / (len(sands) - 1)
        line = ridge(
            ctx.nrng, w, ctx.horizon + (h * 0.8 - ctx.horizon) * t, ctx.unit * (30 - 8 * t), 0.9
        )
        lit = ctx.land(col, 0.4 * (1 - t))
        shadow = mix(lit, (120, 70, 60), 0.35)
        crest = min(y for _, y in line) / h
        # each dune is bright at its crest and falls into shadow below it: layered dunes
        grad = vgradient(
            (w, h), [(0.0, lit), (crest, lit), (min(0.99, crest + 0.14), shadow), (1.0, shadow)]
        )
        fill(img, polygon_mask((w, h), below(line, h)), grad)
        # the crest catches the light
        ImageDraw.Draw(img).line(
            line, fill=mix(lit, (255, 240, 210), 0.5), width=max(2, int(ctx.unit * 3))
        )
    return Stage(
        w,
        h,
        "desert",
        ctx.setting.time,
        ctx.horizon,
        _foot(line, h, 0.07),
        (0.0, float(w)),
        props=["cactus", "scorpion", "palm_tree"],
        landmark=(w * ctx.rng.choice((0.16, 0.84)), ctx.horizon + h * 0.06),
    )


def _farm(img: Image.Image, ctx: Ctx) -> Stage:
    w, h = img.size
    img.paste(clouds(img, ctx, ctx.rng.randint(2, 4), h * 0.06, ctx.horizon * 0.55))
    _hills(img, ctx, [(130, 176, 110)], ctx.horizon, ctx.horizon)
    # striped fields on the middle hill
    mid = ridge(ctx.nrng, w, ctx.horizon + h * 0.08, ctx.unit * 14, 0.8)
    mask = polygon_mask((w, h), below(mid, h))
    stripes = Image.new("RGB", (w, h), ctx.land((150, 180, 90), 0.2))
    sd = ImageDraw.Draw(stripes)
    colours = [(196, 180, 90), (120, 160, 80), (170, 140, 80), (140, 176, 96)]
    x, vx = -w * 0.5, w * ctx.rng.uniform(0.3, 0.7)
    k = 0
    while x < w * 1.5:
        step = w * ctx.rng.uniform(0.05, 0.1)
        sd.polygon(
            [
                (vx + (x - vx) * 0.1, ctx.horizon),
                (vx + (x + step - vx) * 0.1, ctx.horizon),
                (x + step, h),
                (x, h),
            ],
            fill=ctx.land(colours[k % 4], 0.15),
        )
        x += step
        k += 1
    fill(img, mask, stripes)
    near = ridge(ctx.nrng, w, h * 0.8, ctx.unit * 8, 0.7)
    fill(img, polygon_mask((w, h), below(near, h)), ctx.land((112, 164, 80)))
    # a wooden fence along the near field
    d = ImageDraw.Draw(img)
    wood = ctx.land((150, 108, 70))
    post = ctx.unit * 70
    y_off = h * 0.02
    xs = np.arange(-post / 2, w + post, post)
    for x in xs:
        y = interp_y(near, x) + y_off
        d.rectangle([x - ctx.unit * 4, y - ctx.unit * 56, x + ctx.unit * 4, y], fill=wood)
    for frac in (0.35, 0.75):
        pts = [(x, interp_y(near, x) + y_off - ctx.unit * 56 * frac) for x in xs]
        d.line(pts, fill=wood, width=max(2, int(ctx.unit * 6)))
    _flowers(img, ctx, near)
    return Stage(
        w,
        h,
        "farm",
        ctx.setting.time,
        ctx.horizon,
        _foot(near, h, 0.1),
        (0.0, float(w)),
        props=["tractor", "ewe", "chicken", "sunflower"],
        landmark=(w * ctx.rng.choice((0.16, 0.84)), interp_y(mid, w / 2) + h * 0.04),
    )


def _room(img: Image.Image, ctx: Ctx) -> Stage:
    w, h = img.size
    floor_y = h * 0.7
    wall = ctx.rng.choice([(236, 214, 180), (200, 220, 214), (226, 196, 190), (210, 206, 230)])
    warm = [max(v, 0.75) for v in ctx.light]  # lamps keep a room warm at night
    wall_lit = tint(wall, warm)
    # the window shows the sky of the time of day
    sky = img.copy()
    img.paste(
        vgradient((w, h), [(0.0, mix(wall_lit, (0, 0, 0), 0.12)), (0.7, wall_lit), (1.0, wall_lit)])
    )
    wx0 = w * ctx.rng.choice((0.12, 0.58))
    if ctx.side is not None:
        wx0 = w * (0.12, 0.58)[ctx.side]
    ww, wh = w * 0.3, h * 0.36
    wy0 = h * 0.14
    img.paste(
        sky.crop((int(wx0), int(h * 0.2), int(wx0 + ww), int(h * 0.2 + wh))), (int(wx0), int(wy0))
    )
    d = ImageDraw.Draw(img)
    frame = tint((250, 246, 236), warm)
    bw = ctx.unit * 12
    d.rectangle([wx0 - bw, wy0 - bw, wx0 + ww + bw, wy0 + wh + bw], outline=frame, width=int(bw))
    d.line([wx0 + ww / 2, wy0, wx0 + ww / 2, wy0 + wh], fill=frame, width=int(bw * 0.6))
    d.line([wx0, wy0 + wh / 2, wx0 + ww, wy0 + wh / 2], fill=frame, width=int(bw * 0.6))
    d.rectangle([wx0 - bw * 2, wy0 + wh + bw, wx0 + ww + bw * 2, wy0 + wh + bw * 2.2], fill=frame)
    interior = ctx.setting.interior
    # a picture on the wall and a shelf
    px = wx0 + ww + w * 0.1 if wx0 < w / 2 else wx0 - w * 0.22
    pictures = 3 if interior == "studio" else (0 if interior in ("classroom", "bakery") else 1)
    for k in range(pictures):
        x = px + (k - pictures // 2) * w * 0.08 if interior == "studio" else px
        y = h * (0.2 + 0.06 * (k % 2))
        pw, ph = w * (0.12 if interior != "studio" else 0.07), h * 0.16
        d.rectangle([x, y, x + pw, y + ph], fill=tint((120, 90, 60), warm))
        d.rectangle(
            [x + ctx.unit * 8, y + ctx.unit * 8, x + pw - ctx.unit * 8, y + ph - ctx.unit * 8],
            fill=tint(ctx.rng.choice([(140, 180, 200), (200, 170, 120), (150, 190, 140)]), warm),
        )
    if interior == "kitchen":  # tiles behind the worktop
        tile = tint((232, 240, 244), warm)
        grout = tint((170, 190, 200), warm)
        ty0 = h * 0.54
        d.rectangle([0, ty0, w, floor_y], fill=tile)
        step = ctx.unit * 34
        y = ty0
        while y < floor_y:
            d.line([0, y, w, y], fill=grout, width=max(1, int(ctx.unit * 2)))
            y += step
        x = 0.0
        while x < w:
            d.line([x, ty0, x, floor_y], fill=grout, width=max(1, int(ctx.unit * 2)))
            x += step
    elif interior == "bakery":  # shelves of loaves
        wood_c = tint((150, 100, 60), warm)
        sx0 = w * 0.05 if wx0 > w / 2 else w * 0.5
        for row in range(3):
            y = h * (0.24 + 0.13 * row)
            d.rectangle([sx0, y, sx0 + w * 0.42, y + ctx.unit * 8], fill=wood_c)
            for k in range(6):
                lx = sx0 + w * 0.03 + k * w * 0.065
                d.ellipse(
                    [lx, y - ctx.unit * 26, lx + w * 0.05, y + ctx.unit * 2],
                    fill=tint((214, 150, 80), warm),
                    outline=tint((120, 70, 30), warm),
                    width=max(1, int(ctx.unit * 2)),
                )
    elif interior == "party":  # bunting across the wall
        colours = [(230, 80, 90), (250, 200, 70), (90, 170, 230), (120, 200, 120), (200, 120, 220)]
        for row, (y0, sag) in enumerate(((h * 0.07, h * 0.07), (h * 0.12, h * 0.05))):
            n = 14
            pts = [
                (w * i / n, y0 + sag * math.sin(math.pi * i / n) + row * ctx.unit * 6)
                for i in range(n + 1)
            ]
            d.line(pts, fill=(90, 80, 80), width=max(1, int(ctx.unit * 2)))
            for i in range(n):
                (ax, ay), (bx, by) = pts[i], pts[i + 1]
                flag = tint(colours[(i + row * 2) % len(colours)], warm)
                d.polygon(
                    [(ax, ay), (bx, by), ((ax + bx) / 2, (ay + by) / 2 + h * 0.06)], fill=flag
                )
    # floor boards in perspective
    wood = tint(ctx.rng.choice([(170, 120, 80), (150, 104, 70), (190, 146, 100)]), warm)
    img.paste(
        vgradient((w, h - int(floor_y)), [(0.0, mix(wood, (0, 0, 0), 0.2)), (1.0, wood)]),
        (0, int(floor_y)),
    )
    d = ImageDraw.Draw(img)
    vx = w / 2
    for i in range(-12, 13):
        d.line(
            [vx + i * w * 0.04, floor_y, vx + i * w * 0.16, h],
            fill=mix(wood, (0, 0, 0), 0.22),
            width=max(1, int(ctx.unit * 2)),
        )
    d.rectangle([0, floor_y - ctx.unit * 10, w, floor_y], fill=mix(wall_lit, (0, 0, 0), 0.25))
    # a rug
    rug = tint(ctx.rng.choice([(180, 70, 70), (70, 110, 170), (200, 150, 60)]), warm)
    if interior not in ("kitchen", "bakery", "classroom"):
        d.ellipse([w * 0.22, h * 0.8, w * 0.78, h * 0.98], fill=rug)
        d.ellipse(
            [w * 0.26, h * 0.82, w * 0.74, h * 0.96],
            outline=mix(rug, (255,) * 3, 0.4),
            width=max(2, int(ctx.unit * 4)),
        )
    if ctx.sky.sun is None:  # evening: a lamp's warm glow
        lx = w * (0.86 if wx0 < w / 2 else 0.14)
        img.paste(glow(img, (lx, h * 0.45), w * 0.3, (255, 214, 150), 0.5))
    foot = [(0.0, h * 0.9), (float(w), h * 0.9)]
    return Stage(
        w,
        h,
        "room",
        ctx.setting.time,
        floor_y,
        foot,
        (w * 0.06, w * 0.94),
        props=list(_ROOM_PROPS.get(interior or "", ("potted_plant", "books", "couch_and_lamp"))),
        shows={"window"},
        window=(wx0, wy0, wx0 + ww, wy0 + wh),
    )


_ROOM_PROPS = {
    "kitchen": ("potted_plant", "bread", "red_apple"),
    "bakery": ("bread", "croissant", "baguette_bread"),
    "classroom": ("books", "globe_with_meridians", "pencil"),
    "studio": ("artist_palette", "potted_plant", "framed_picture"),
    "party": ("wrapped_gift", "party_popper", "confetti_ball"),
}


def _sky_scene(img: Image.Image, ctx: Ctx) -> Stage:
    w, h = img.size
    img.paste(clouds(img, ctx, ctx.rng.randint(4, 6), h * 0.08, h * 0.6, 1.2))
    near = _hills(img, ctx, [(120, 176, 110), (100, 160, 90)], h * 0.84, h * 0.9)
    img.paste(clouds(img, ctx, ctx.rng.randint(3, 5), h * 0.78, h * 0.9, 0.9))
    return Stage(
        w,
        h,
        "sky",
        ctx.setting.time,
        h * 0.84,
        _foot(near, h, 0.05),
        (0.0, float(w)),
        props=["cloud", "bird", "balloon"],
    )


PAINTERS: dict[str, Painter] = {
    "meadow": _meadow,
    "castle": _meadow,
    "forest": _forest,
    "sea": _sea,
    "underwater": _underwater,
    "space": _space,
    "city": _city,
    "mountain": _mountain,
    "desert": _desert,
    "farm": _farm,
    "room": _room,
    "sky": _sky_scene,
}
_HORIZON = {
    "meadow": 0.6,
    "castle": 0.6,
    "forest": 0.58,
    "sea": 0.5,
    "city": 0.7,
    "mountain": 0.66,
    "desert": 0.6,
    "farm": 0.58,
    "room": 0.55,
    "sky": 0.84,
    "underwater": 0.2,
    "space": 0.98,
}


# ------------------------------------------------------------------------ weather


def _weather(img: Image.Image, ctx: Ctx, stage: Stage) -> Image.Image:
    w, h = img.size
    weather = ctx.setting.weather if stage.kind not in ("underwater", "space", "room") else set()
    if "storm" in weather or "rain" in weather:
        img = clouds(img, ctx, 5, -h * 0.02, h * 0.18, 1.4)
        d = ImageDraw.Draw(img, "RGBA")
        for _ in range(int(260 * w / 1280)):
            x, y = ctx.rng.uniform(-50, w), ctx.rng.uniform(0, h)
            ln = ctx.unit * ctx.rng.uniform(16, 36)
            d.line(
                [x, y, x + ln * 0.25, y + ln],
                fill=(210, 220, 235, 90),
                width=max(1, int(ctx.unit * 1.5)),
            )
        if "storm" in weather and ctx.rng.random() < 0.7:
            x, y = ctx.rng.uniform(0.2, 0.8) * w, h * 0.12
            pts = [(x, y)]
            while y < stage.horizon - h * 0.05:
                x += ctx.rng.uniform(-30, 30) * ctx.unit
                y += ctx.rng.uniform(20, 45) * ctx.unit
                pts.append((x, y))
            img = glow(img, pts[len(pts) // 2], ctx.unit * 160, (200, 210, 255), 0.35)
            ImageDraw.Draw(img).line(pts, fill=(250, 250, 255), width=max(2, int(ctx.unit * 4)))
    if "snow" in weather:
        d = ImageDraw.Draw(img, "RGBA")
        for _ in range(int(300 * w / 1280)):
            x, y = ctx.rng.uniform(0, w), ctx.rng.uniform(0, h)
            r = ctx.unit * ctx.rng.uniform(1.5, 4.5)
            d.ellipse([x - r, y - r, x + r, y + r], fill=(255, 255, 255, 200))
    if "fog" in weather:
        ys = np.linspace(0, 1, h, dtype=np.float32)
        hz = stage.horizon / h
        a = np.clip(0.55 - np.abs(ys - hz) * 1.4, 0, 0.55)
        mask = Image.fromarray((a * 255).astype(np.uint8)[:, None].repeat(w, 1))
        img = Image.composite(
            Image.new("RGB", (w, h), mix(ctx.sky.horizon, (220, 224, 230), 0.6)), img, mask
        )
    return img


# ------------------------------------------------------------------------ entry


def paint(
    setting: Setting,
    size: tuple[int, int],
    seed: int,
    celestial: bool = True,
    walkers: int = 1,
    side: int | None = None,
    coast: bool = True,
) -> tuple[Image.Image, Stage]:
    """The background for ``setting`` at ``size`` and the stage it offers subjects.

    ``celestial``: paint the sun or moon (not when a subject is one); ``walkers``: how many
    subjects will stand on the ground, so a coast leaves them room; ``side`` (0 left, 1
    right): where a coast or a room's window goes, else the seed chooses; ``coast``: False
    for the open sea.
    """
    w, h = size
    rng = random.Random(seed)
    nrng = np.random.default_rng(seed)
    sky = _sky_for(setting, rng)
    unit = min(w, h) / 720
    horizon = h * (_HORIZON[setting.kind] + rng.uniform(-0.04, 0.04))
    if w < h and setting.kind not in ("underwater", "space"):
        horizon = h * (0.5 + _HORIZON[setting.kind] * 0.3)  # tall frames: more sky, same ground
    haze = mix(sky.horizon, sky.mid, 0.3)
    ctx = Ctx(setting, sky, rng, nrng, horizon, sky.light, haze, unit, walkers, side, coast)
    img = Image.new("RGB", size)
    img = _paint_sky(img, ctx, celestial and setting.kind not in ("underwater", "space"))
    sun, moon = img.info.get("sun"), img.info.get("moon")
    stage = PAINTERS[setting.kind](img, ctx)
    img = _weather(img, ctx, stage)
    img = img.filter(ImageFilter.SMOOTH)  # soften hard polygon edges, as a brush would
    img = texture(img, nrng, 0.03)
    img = vignette(img, 0.35)
    stage.dark = stage.dark or sum(ctx.light) / 3 < 0.6
    if stage.kind not in ("underwater",):
        stage.halo = mix(sky.horizon, (255, 255, 255), 0.55) if not stage.dark else stage.halo
    if stage.dark and stage.kind not in ("space",):
        stage.halo = mix(sky.mid, (220, 230, 255), 0.6)
    if sun:
        stage.shows.add("sun")
    if moon:
        stage.shows |= {"crescent_moon", "full_moon"}
    if sky.stars:
        stage.shows.add("star")
    return img, stage
