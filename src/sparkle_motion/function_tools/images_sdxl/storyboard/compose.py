"""One storyboard frame: the painted place, then a landmark, props and the named subjects.

Subjects go where they belong on the stage the background offers (a whale in the water, a
bird in the sky, a person on the ground or the shore), the first named largest. Everything
random comes from one seed made of the prompt and the image seed, so the same inputs give
the same pixels and every scene of a story looks different.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageChops, ImageDraw, ImageFilter

from sparkle_motion.function_tools.images_sdxl.storyboard import glyphs, shapes
from sparkle_motion.function_tools.images_sdxl.storyboard.backgrounds import Stage, paint
from sparkle_motion.function_tools.images_sdxl.storyboard.paint import RGB, glow, mix
from sparkle_motion.function_tools.images_sdxl.storyboard.settings import Setting, read_setting
from sparkle_motion.function_tools.images_sdxl.storyboard.subjects import (
    WEATHER,
    WET,
    Match,
    Picture,
    cast,
    picture,
)

SUBJECT_SIZES = (0.46, 0.36, 0.29)  # of the short side, by order of mention
PROP_SIZE = 0.13
# the background paints weather itself; these pictures would only repeat it
_REPEATS = WEATHER | {"rock", "herb"}


@dataclass(frozen=True)
class Placement:
    """What was drawn where: the word, its picture, its role and its box in the frame."""

    word: str
    picture: str  # emoji name or shape:NAME
    chars: str | None  # the emoji drawn, None for a shape
    role: str  # subject, landmark or prop
    zone: str  # ground, water, sky, float, landmark
    box: tuple[int, int, int, int]  # x0, y0, x1, y1

    def as_dict(self) -> dict[str, object]:
        """JSON-ready form, for image metadata."""
        return {
            "word": self.word,
            "picture": self.picture,
            "glyph": self.chars,
            "drawn_from": "shapes" if self.chars is None else "openmoji",
            "role": self.role,
            "zone": self.zone,
            "box": list(self.box),
        }


@dataclass
class Frame:
    """A composed frame and how it was made."""

    image: Image.Image
    placements: list[Placement]
    setting: Setting
    stage: Stage

    @property
    def subjects(self) -> list[Placement]:
        """The placements of the named subjects, first named first."""
        return [p for p in self.placements if p.role == "subject"]


def frame_seed(prompt: str, seed: int) -> int:
    """The one number every random choice of a frame comes from."""
    digest = hashlib.sha256(f"{seed}\x1f{prompt}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


def compose(prompt: str, seed: int, width: int, height: int) -> Frame:
    """The storyboard frame for ``prompt`` at ``width`` x ``height``."""
    rng = random.Random(frame_seed(prompt, seed))
    setting = read_setting(prompt, fallback=rng.randrange(36))
    roles = cast(prompt)
    named = {m.picture.name for m in (*roles.subjects, *roles.props)}
    celestial = not named & {"sun", "crescent_moon", "full_moon"}
    walkers = sum(m.picture.zone == "ground" for m in roles.subjects)
    img, stage = paint(setting, (width, height), rng.getrandbits(63), celestial, walkers)
    unit = float(min(width, height))
    placements: list[Placement] = []
    occupied: list[tuple[float, float]] = []  # x-ranges on the ground already taken

    landmark = None
    if roles.landmarks and stage.kind != "room":  # "a house" in a room is the room itself
        landmark = _landmark_spot(stage, roles.landmarks[0], unit, rng, not roles.subjects)
        occupied.append((landmark[1][0], landmark[1][2]))
    layout = _layout(stage, roles.subjects, unit, rng, occupied)
    props = _choose_props(roles.props, stage, named, rng, extra=not roles.subjects)
    spots = []
    taken = [box for _, box in layout] + ([landmark[1]] if landmark else [])
    for k, m in enumerate(props):
        big = not roles.subjects and not roles.landmarks and k == 0
        size = unit * (0.3 if big else PROP_SIZE * rng.uniform(0.85, 1.25))
        box = _prop_spot(stage, m.picture, size, rng, occupied, taken, big)
        if box is not None:
            spots.append((m, box))
            taken.append(box)

    if landmark is not None:
        placements.append(_draw_landmark(img, stage, roles.landmarks[0], *landmark))
    for m, box in spots:
        placements.append(_draw(img, stage, m, box, "prop"))
    for m, (zone, box) in sorted(
        zip(roles.subjects, layout, strict=True), key=lambda t: _depth(t[1])
    ):
        placements.append(_draw(img, stage, m, box, "subject", zone))
    # listed in the order the prompt names them (drawn back to front above)
    order = {m.picture.name: i for i, m in enumerate(roles.subjects)}
    rank = {"subject": 0, "landmark": 1, "prop": 2}
    placements.sort(key=lambda p: (rank[p.role], order.get(p.picture, 99)))
    return Frame(img, placements, setting, stage)


# ------------------------------------------------------------------------ layout


def _depth(item: tuple[str, tuple[float, float, float, float]]) -> tuple[int, float]:
    zone, box = item
    return (0 if zone == "sky" else 1, box[3])  # sky first, then back to front


def _zone(stage: Stage, pic: Picture) -> str:
    zone = pic.zone
    if stage.floating:
        return "ground" if zone == "ground" and stage.kind == "underwater" else "float"
    if zone == "water" and stage.water is None:
        return "ground"
    return zone if zone in ("sky", "water") else "ground"


def _tile(pic: Picture, size: float, zone: str) -> Image.Image:
    """The picture's RGBA tile with its longest side about ``size`` px."""
    if pic.chars:
        wet = zone in ("water", "float") and pic.name in WET
        return glyphs.glyph_tile(pic.chars, int(size), dry=wet)
    drawn = shapes.draw_shape(pic.shape or "", int(size))
    return drawn.image


def _fit(pic: Picture, size: float, zone: str) -> tuple[float, float]:
    """Width and height of a picture whose longest side is ``size``."""
    tile = _tile(pic, size, zone)
    return float(tile.width), float(tile.height)


def _layout(
    stage: Stage,
    subjects: tuple[Match, ...],
    unit: float,
    rng: random.Random,
    occupied: list[tuple[float, float]],
) -> list[tuple[str, tuple[float, float, float, float]]]:
    """A zone and a box for each subject: spread out, first named largest."""
    w, h = stage.width, stage.height
    zones = [_zone(stage, m.picture) for m in subjects]
    sizes = [unit * SUBJECT_SIZES[i] * rng.uniform(0.94, 1.06) for i in range(len(subjects))]
    if len(subjects) == 1:
        sizes[0] *= 1.12
    by_zone: dict[str, list[int]] = {}
    for i, z in enumerate(zones):
        by_zone.setdefault(z, []).append(i)
    flip = rng.random() < 0.5  # whether the lead stands left or right
    slots: dict[int, float] = {}
    for zone, members in by_zone.items():
        if zone == "ground":
            x0, x1 = _free_range(stage.walk, occupied)
        elif zone == "water" and stage.water:
            x0, x1 = stage.water[0], stage.water[1]
        else:
            x0, x1 = w * 0.06, w * 0.94
        if len(members) == 1:
            slots[members[0]] = x0 + (x1 - x0) * rng.uniform(0.35, 0.65)
            continue
        if zone in ("sky", "float"):  # spread over the width; heights keep them apart too
            fracs = [0.27, 0.73] if len(members) == 2 else [0.18, 0.5, 0.82]
            for i, f in zip(members, fracs[:: -1 if flip else 1], strict=False):
                slots[i] = x0 + (x1 - x0) * (f + rng.uniform(-0.03, 0.03))
            continue
        # side by side on the ground or in the water: shrink to fit, then share out the room
        widths = [_fit(subjects[i].picture, sizes[i], zone)[0] for i in members]
        room = (x1 - x0) * 0.96
        if sum(widths) > room:
            k = max(0.6, room / sum(widths))
            for i in members:
                sizes[i] *= k
            widths = [v * k for v in widths]
        gap = max(0.0, (x1 - x0) - sum(widths)) / (len(members) + 1)
        order = members[::-1] if flip else members
        x = x0 + gap
        for i in order:
            wi = widths[members.index(i)]
            slots[i] = x + wi / 2
            x += wi + gap
    placed: dict[int, tuple[str, tuple[float, float, float, float]]] = {}
    # sky pictures last: they keep clear of what stands below them
    for i in sorted(range(len(subjects)), key=lambda k: zones[k] == "sky"):
        zone = zones[i]
        bw, bh = _fit(subjects[i].picture, sizes[i], zone)
        cx = slots[i]
        if zone == "sky" and placed:
            cx = _clear_x(w, bw, [b for _, b in placed.values()], rng)
        cx = min(max(cx, bw / 2 + w * 0.02), w - bw / 2 - w * 0.02)
        if zone == "ground":
            foot = stage.ground_y(cx)
            y1 = min(foot + bh * 0.02, h - h * 0.02)
            if subjects[i].picture.name.endswith("_flag"):
                y1 -= bh * 0.9  # a flag flies from a pole, it does not stand on the ground
            y0 = y1 - bh
        elif zone == "water" and stage.water:
            cy = rng.uniform(stage.water[2], stage.water[3])
            y1 = min(cy + bh * 0.45, h * 0.98)
            y0 = y1 - bh
        elif zone == "sky":
            top = h * 0.05
            below = [b for _, b in placed.values() if b[0] < cx + bw / 2 and b[2] > cx - bw / 2]
            floor = min([stage.horizon, *(b[1] for b in below)])
            bottom = max(top, floor - bh - h * 0.03)
            y0 = rng.uniform(top, bottom)
            y1 = y0 + bh
        else:  # floating: a zigzag, so that pictures side by side do not cover each other
            rank = by_zone[zone].index(i)
            cy = h * ((0.5, 0.36, 0.64)[rank] + rng.uniform(-0.04, 0.04))
            if len(by_zone[zone]) == 1:
                cy = h * rng.uniform(0.44, 0.52)
            y0 = max(h * 0.03, min(cy - bh / 2, h * 0.97 - bh))
            y1 = y0 + bh
        placed[i] = (zone, (cx - bw / 2, y0, cx + bw / 2, y1))
        if zone == "ground":
            occupied.append((cx - bw / 2, cx + bw / 2))
    return [placed[i] for i in range(len(subjects))]


def _clear_x(
    w: int, bw: float, boxes: list[tuple[float, float, float, float]], rng: random.Random
) -> float:
    """A centre for a flying picture as far as it can be from the pictures already placed."""
    centres = [(b[0] + b[2]) / 2 for b in boxes]
    candidates = [w * f + rng.uniform(-0.03, 0.03) * w for f in (0.15, 0.3, 0.5, 0.7, 0.85)]
    return max(candidates, key=lambda x: min(abs(x - c) for c in centres))


def _free_range(
    walk: tuple[float, float], occupied: list[tuple[float, float]]
) -> tuple[float, float]:
    """The widest part of ``walk`` not covered by what already stands there (a landmark)."""
    x0, x1 = walk
    for a, b in occupied:
        if b <= x0 or a >= x1:
            continue
        left, right = (x0, a), (b, x1)
        x0, x1 = left if left[1] - left[0] >= right[1] - right[0] else right
    if x1 - x0 < (walk[1] - walk[0]) * 0.3:  # too little left: share the space
        return walk
    return x0, x1


def _choose_props(
    named_props: tuple[Match, ...], stage: Stage, named: set[str], rng: random.Random, extra: bool
) -> list[Match]:
    """Up to three small props: scenery the prompt names, then what the place suggests."""
    out = [m for m in named_props if m.picture.name not in stage.shows | _REPEATS]
    pool = [p for p in stage.props if p not in named and p not in stage.shows]
    rng.shuffle(pool)
    want = 3 if extra else 2
    for name in pool:
        if len(out) >= want:
            break
        pic = picture(name)
        if pic is not None and all(m.picture.name != name for m in out):
            out.append(Match(name, name, pic, -1))
    return out[:want]


def _prop_spot(
    stage: Stage,
    pic: Picture,
    size: float,
    rng: random.Random,
    occupied: list[tuple[float, float]],
    taken: list[tuple[float, float, float, float]],
    big: bool,
) -> tuple[float, float, float, float] | None:
    """A spot for a small prop in its zone, clear of everything placed so far (or None)."""
    w, h = stage.width, stage.height
    zone = _zone(stage, pic)
    bw, bh = _fit(pic, size, zone)
    for _ in range(16):
        cx = rng.uniform(w * 0.08, w * 0.92) if not big else w * rng.uniform(0.4, 0.6)
        if zone == "sky":
            y0 = rng.uniform(h * 0.06, max(h * 0.07, stage.horizon * 0.5 - bh))
            box = (cx - bw / 2, y0, cx + bw / 2, y0 + bh)
        elif zone == "water" and stage.water:
            cx = rng.uniform(stage.water[0], stage.water[1])
            y1 = stage.horizon + (stage.water[2] - stage.horizon) * rng.uniform(0.2, 0.5) + bh * 0.6
            box = (cx - bw / 2, y1 - bh, cx + bw / 2, y1)
        elif zone == "float":
            cy = rng.uniform(h * 0.2, h * 0.75)
            box = (cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2)
        else:
            lo, hi = stage.walk
            cx = min(max(cx, lo + bw / 2), hi - bw / 2)
            if any(a - bw / 2 < cx < b + bw / 2 for a, b in occupied) and not big:
                continue
            y1 = stage.ground_y(cx) - (0 if big else h * 0.03)
            box = (cx - bw / 2, y1 - bh, cx + bw / 2, y1)
        if any(_overlap(box, other) for other in taken):
            continue
        if zone == "ground":
            occupied.append((box[0], box[2]))
        return box
    return None


def _overlap(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _landmark_spot(
    stage: Stage, m: Match, unit: float, rng: random.Random, alone: bool
) -> tuple[Image.Image, tuple[int, int, int, int], dict[str, tuple[float, float]]]:
    """The landmark's picture and box: at the stage's landmark spot, behind the subjects."""
    w, h = stage.width, stage.height
    lx, foot = stage.landmark or (w * 0.5, stage.horizon + h * 0.05)
    if alone:
        lx = w * rng.uniform(0.4, 0.6)
        foot = max(foot, stage.ground_y(lx) - h * 0.02)
    # on the sea's headland a landmark (the lighthouse) rises high into the sky
    height = foot - h * 0.05 if stage.kind == "sea" else unit * (0.55 if alone else 0.42)
    height = max(unit * 0.2, min(height, foot - h * 0.04))
    pic = m.picture
    if pic.shape:
        drawn = shapes.draw_shape(pic.shape, int(height))
        tile, anchors = drawn.image, drawn.anchors
    else:
        tile, anchors = glyphs.glyph_tile(pic.chars or "", int(height)), {}
    x0 = int(min(max(lx - tile.width / 2, -tile.width * 0.1), w - tile.width * 0.9))
    y0 = int(foot - tile.height)
    return tile, (x0, y0, x0 + tile.width, y0 + tile.height), anchors


def _draw_landmark(
    img: Image.Image,
    stage: Stage,
    m: Match,
    tile: Image.Image,
    box: tuple[int, int, int, int],
    anchors: dict[str, tuple[float, float]],
) -> Placement:
    x0, y0 = box[0], box[1]
    lamp = None
    if m.picture.shape == "lighthouse" and stage.dark and "lamp" in anchors:
        lamp = (x0 + anchors["lamp"][0], y0 + anchors["lamp"][1])
        _beams(img, lamp, tile.height)
    _shadow(img, (x0 + tile.width / 2, y0 + tile.height), tile.width * 0.9, tile.height * 0.05)
    _paste(img, tile, (x0, y0), stage.halo, halo=stage.dark)
    if lamp is not None:
        img.paste(glow(img, lamp, tile.height * 0.12, (255, 244, 180), 0.6))
    return Placement(m.word, m.picture.name, m.picture.chars, "landmark", "landmark", box)


# ------------------------------------------------------------------------ drawing


def _draw(
    img: Image.Image,
    stage: Stage,
    m: Match,
    box: tuple[float, float, float, float],
    role: str,
    zone: str | None = None,
) -> Placement:
    """Paste one picture at ``box`` (its bottom centre), grounded, halo'd or sunk in water."""
    pic = m.picture
    zone = zone or _zone(stage, pic)
    size = max(box[2] - box[0], box[3] - box[1])
    tile = _tile(pic, size, zone)
    x0 = round((box[0] + box[2]) / 2 - tile.width / 2)
    y0 = round(box[3] - tile.height)
    if pic.name.endswith("_flag") and zone == "ground":  # a flag flies from a pole
        pole = max(3, tile.height // 14)
        foot = stage.ground_y(x0)
        _shadow(img, (x0, foot), pole * 4, pole)
        ImageDraw.Draw(img).rectangle(
            [x0 - pole, y0, x0, foot], fill=(70, 52, 40), outline=(20, 20, 20)
        )
    elif zone == "ground":
        _shadow(img, (x0 + tile.width / 2, y0 + tile.height), tile.width * 0.8, tile.height * 0.07)
    _paste(img, tile, (x0, y0), stage.halo, halo=role == "subject")
    if zone == "water":
        _waterline(img, tile, (x0, y0), stage.water_colour)
    placed = (x0, y0, x0 + tile.width, y0 + tile.height)
    return Placement(m.word, pic.name, pic.chars, role, zone, placed)


def _paste(
    img: Image.Image, tile: Image.Image, at: tuple[int, int], colour: RGB, halo: bool
) -> None:
    if halo:
        r = max(4, int(min(tile.size) * 0.06))
        glow_tile = glyphs.soft_halo(tile, colour, r)
        img.paste(glow_tile, (at[0] - r, at[1] - r), glow_tile)
    img.paste(tile, at, tile)


def _shadow(img: Image.Image, foot: tuple[float, float], width: float, height: float) -> None:
    """A soft contact shadow: it sets a picture on the ground instead of floating over it."""
    w, h = int(width * 1.4) + 4, int(height * 3) + 4
    mask = Image.new("L", (w, h), 0)
    ImageDraw.Draw(mask).ellipse([w * 0.15, h * 0.33, w * 0.85, h * 0.67], fill=110)
    mask = mask.filter(ImageFilter.GaussianBlur(max(1.0, height * 0.5)))
    img.paste((20, 24, 30), (int(foot[0] - w / 2), int(foot[1] - h / 2)), mask)


def _waterline(img: Image.Image, tile: Image.Image, at: tuple[int, int], water: RGB) -> None:
    """Sink the lower part of a swimmer into the sea: a fading water tint and a foam line."""
    tw, th = tile.size
    band = int(th * 0.2)
    if band < 2:
        return
    alpha = tile.getchannel("A").crop((0, th - band, tw, th))
    ramp = Image.linear_gradient("L").resize((tw, band))
    ramp = ramp.point(lambda v: int(v * 0.85))
    mask = ImageChops.multiply(alpha, ramp)
    img.paste(water, (at[0], at[1] + th - band, at[0] + tw, at[1] + th), mask)
    d = ImageDraw.Draw(img, "RGBA")
    y = at[1] + th - band
    foam = mix(water, (255, 255, 255), 0.75)
    step = max(6, tw // 6)
    lw = max(2, th // 60)
    for x in range(at[0] - step // 2, at[0] + tw, step):
        d.arc(
            [x, y - step * 0.15, x + step, y + step * 0.15], 200, 340, fill=(*foam, 230), width=lw
        )


def _beams(img: Image.Image, lamp: tuple[float, float], size: float) -> None:
    """Two pale beams sweeping out from a lighthouse lamp at night, fading with distance."""
    w, h = img.size
    k = 4  # drawn at quarter size: a beam is all soft edges
    layer = Image.new("L", (w // k, h // k), 0)
    d = ImageDraw.Draw(layer)
    x, y = lamp[0] / k, lamp[1] / k
    reach = w * 0.8 / k
    spread = size * 0.2 / k
    d.polygon(
        [(x, y - 2), (x + reach, y - spread * 1.6), (x + reach, y + spread), (x, y + 2)], fill=150
    )
    d.polygon(
        [(x, y - 2), (x - reach, y - spread * 1.3), (x - reach, y + spread * 0.7), (x, y + 2)],
        fill=110,
    )
    xs = np.abs(np.arange(w // k, dtype=np.float32) - x) / reach
    fade = np.clip(1.0 - xs, 0, 1) ** 1.5
    arr = np.asarray(layer, dtype=np.float32) * fade[None, :]
    layer = Image.fromarray(arr.astype(np.uint8)).filter(ImageFilter.GaussianBlur(2))
    img.paste((255, 246, 200), (0, 0, w, h), layer.resize((w, h), Image.Resampling.BILINEAR))
