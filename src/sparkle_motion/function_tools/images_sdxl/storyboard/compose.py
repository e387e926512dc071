"""One storyboard frame: the painted place, its set pieces, props and the named characters.

What a prompt names is drawn as many times as it says ("three pirates": three), at a size
for what it is (a character, or a tiny, small, medium or large thing: a key is never bigger
than a robot) and where it belongs (a whale in the water, a bird in the sky, a person on the
ground or on the deck of a ship, a spoon in a chef's hand). Characters show the prompt's
mood (``moods``, ``faces``).

A named character stands on a spot that comes from its word and the frame's shape, not from
the seed: consecutive scenes of a story show it in the same place, so that a cross-fade
between them does not show two of it. Everything else random (the painting, the props)
comes from one seed made of the prompt and the image seed: the same inputs give the same
pixels, and every scene of a story looks different.
"""

from __future__ import annotations

import hashlib
import itertools
import random
from dataclasses import dataclass, field, replace

import numpy as np
from PIL import Image, ImageChops, ImageDraw, ImageFilter

from sparkle_motion.function_tools.images_sdxl.storyboard import faces, glyphs, moods, shapes
from sparkle_motion.function_tools.images_sdxl.storyboard.backgrounds import Stage, paint
from sparkle_motion.function_tools.images_sdxl.storyboard.paint import RGB, glow, mix
from sparkle_motion.function_tools.images_sdxl.storyboard.settings import (
    PLACES,
    Setting,
    read_setting,
)
from sparkle_motion.function_tools.images_sdxl.storyboard.subjects import (
    WEATHER,
    WET,
    Match,
    Picture,
    cast,
    picture,
)

# A character's longest side, of the frame's short side, by the frame's shape.
CHARACTER = {"wide": 0.42, "square": 0.38, "tall": 0.46}
# A thing's longest side, of a character's.
SCALE = {"tiny": 0.22, "small": 0.4, "medium": 0.85, "character": 1.0}
MAX_DRAWN = 5  # copies of one thing drawn at most ("ten kids" draws five)
PROP_SIZE = 0.13
FEET = 0.885  # where characters stand, of the frame's height
# A tall (phone) frame keeps more of its bottom clear for captions and the app's own controls,
# and its sides for the camera's move (a character there is half the frame's width).
TALL_FEET = 0.83
TALL_SIDES = 0.13


def feet_line(shape: str) -> float:
    """Where characters stand, of the frame's height, for the frame's shape."""
    return TALL_FEET if shape == "tall" else FEET


# Spots a character may stand on, of the ground's width; its word picks one.
SLOTS = (0.2, 0.35, 0.5, 0.65, 0.8)
# the background paints weather itself; these pictures would only repeat it
_REPEATS = WEATHER | {"rock", "herb"}
# What a room of each kind has in it, when the prompt does not name it itself.
_FURNISH = {
    "kitchen": ("shape:oven",),
    "bakery": ("shape:oven",),
    "classroom": ("shape:blackboard",),
    "studio": ("shape:easel",),
    "party": ("balloon", "birthday_cake"),
}
_TREES = frozenset("deciduous_tree evergreen_tree palm_tree".split())
_HELD_ABOVE = frozenset("umbrella closed_umbrella balloon".split())
_MOONS = frozenset("crescent_moon full_moon new_moon".split())


@dataclass(frozen=True)
class Placement:
    """What was drawn where: the word, its picture, its role and its box in the frame."""

    word: str
    picture: str  # emoji name or shape:NAME
    chars: str | None  # the emoji drawn, None for a shape
    role: str  # subject, landmark, prop or mood (a face badge beside a character)
    zone: str  # ground, water, sky, float, landmark, deck, hand, wall, window
    box: tuple[int, int, int, int]  # x0, y0, x1, y1
    index: int = 0  # which of the copies ("two kids": 0 and 1)
    count: int = 1  # how many copies are drawn
    mood: str | None = None  # the mood a character shows
    expression: str | None = None  # how: variant (another picture), face (redrawn), badge
    size: str | None = None  # character, tiny, small, medium or large
    held_by: str | None = None  # the character holding it ("chef#0")

    def as_dict(self) -> dict[str, object]:
        """JSON-ready form, for image metadata."""
        return {
            "word": self.word,
            "name": self.picture,
            "picture": self.picture,
            "glyph": self.chars,
            "shape": self.picture.removeprefix("shape:") if self.chars is None else None,
            "drawn_from": "shapes" if self.chars is None else "openmoji",
            "role": self.role,
            "zone": self.zone,
            "box": list(self.box),
            "index": self.index,
            "count": self.count,
            "mood": self.mood,
            "expression": self.expression,
            "size": self.size,
            "held_by": self.held_by,
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


@dataclass
class _Item:
    """One picture to draw: a copy of a named thing, a prop or a set piece."""

    m: Match
    pic: Picture
    size: str  # character, tiny, small, medium, large
    zone: str
    role: str = "subject"
    index: int = 0
    count: int = 1
    mood: str | None = None
    expression: str | None = None
    extent: float = 0.0  # longest side, px
    box: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)
    holder: _Item | None = None
    tile: Image.Image | None = None
    anchors: dict[str, tuple[float, float]] = field(default_factory=dict)

    @property
    def key(self) -> str:
        """What its spot is keyed by: the picture its word names ("kitten" and "cat" alike),
        before a mood changed it, so it stands in one place in every scene."""
        return self.m.picture.name


def frame_seed(prompt: str, seed: int) -> int:
    """The one number every random choice of a frame comes from."""
    digest = hashlib.sha256(f"{seed}\x1f{prompt}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


def aspect(width: int, height: int) -> str:
    """The frame's shape: wide (16:9), tall (9:16) or square."""
    if width > height * 1.15:
        return "wide"
    return "tall" if height > width * 1.15 else "square"


def spot(word: str, shape: str, salt: str = "x") -> float:
    """A number in [0, 1) for a word in a frame shape: the same in every scene of a story."""
    digest = hashlib.sha256(f"{salt}\x1f{shape}\x1f{word}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def compose(prompt: str, seed: int, width: int, height: int) -> Frame:
    """The storyboard frame for ``prompt`` at ``width`` x ``height``."""
    rng = random.Random(frame_seed(prompt, seed))
    setting = read_setting(prompt, fallback=rng.randrange(36))
    roles = cast(prompt)
    shape = aspect(width, height)
    w, h = width, height
    unit = float(min(w, h))

    subjects = list(roles.subjects)
    landmarks = list(roles.landmarks)
    props = list(roles.props)
    on_moon = setting.surface == "moon"
    if on_moon:  # the Moon is the ground here, and the Earth hangs in its sky
        subjects = [m for m in subjects if m.picture.name not in _MOONS | {"shape:earth"}]
        props = [m for m in props if m.picture.name not in _MOONS | {"shape:earth"}]
    everything = {m.picture.name for m in (*subjects, *landmarks, *props)}
    if "shape:treehouse" in everything:  # its tree is the treehouse's own
        subjects = [m for m in subjects if m.picture.name not in _TREES]
        props = [m for m in props if m.picture.name not in _TREES]
    if not landmarks and setting.place in PLACES:
        pic = picture(PLACES[setting.place][1])
        if pic is not None:
            landmarks.append(Match(setting.place, setting.place, pic, -1))
    # large things stand behind everyone as set pieces: a ship, a treehouse
    pieces = [m for m in subjects if m.picture.size == "large" and m.picture.zone != "sky"]
    subjects = [m for m in subjects if m not in pieces]
    vessel = next((m for m in pieces if m.picture.zone == "water"), None)

    items = _cast_items(subjects, roles.mood)
    walkers = [i for i in items if i.zone == "ground" and i.holder is None]
    swimmers = [i for i in items if i.zone == "water"]
    # the open sea for a ship alone; a coast for people, or a lighthouse
    on_sea = setting.kind == "sea"
    coast = not (on_sea and vessel is not None and not landmarks)
    first = (walkers or swimmers or items or [None])[0]
    side = None
    if on_sea and first is not None:
        side = int(spot(first.key, shape, "side") * 2)
    elif setting.kind == "room":  # the window away from where the characters stand
        xs = [SLOTS[int(spot(i.key, shape) * len(SLOTS))] for i in walkers]
        side = (1 if sum(xs) / len(xs) < 0.5 else 0) if xs else int(spot(prompt, shape) * 2)
    named = {m.picture.name for m in (*subjects, *props)}
    celestial = not named & {"sun", "crescent_moon", "full_moon"}
    on_land = len(walkers) if vessel is None or not on_sea else 0
    img, stage = paint(
        setting, (w, h), rng.getrandbits(63), celestial, on_land, side=side, coast=coast
    )
    for i in items:
        i.zone = _zone(stage, i.pic) if i.holder is None else "hand"
    swimmers = [i for i in items if i.zone == "water"]
    char = unit * CHARACTER[shape]
    if sum(i.size == "character" for i in items) == 1:
        char *= 1.1

    placed: list[_Item] = []
    # set pieces first: everyone stands in front of them
    ship = None
    if vessel is not None and stage.water is not None and not stage.floating:
        ship = _ship(stage, vessel, shape)
        placed.append(ship)
    landmark = None
    if landmarks:
        landmark = _Item(landmarks[0], landmarks[0].picture, "large", "landmark", "landmark")
    for m in pieces:
        if (m is not vessel or ship is None) and landmark is None:
            landmark = _Item(m, m.picture, "large", "landmark", "subject")
    deck = [i for i in items if i.zone == "ground" and i.holder is None] if ship else []
    ground = [i for i in items if i.zone == "ground" and i.holder is None and i not in deck]
    if landmark is not None and stage.kind == "room":
        if stage.window is not None and landmark.m.picture.shape != "treehouse":
            _in_window(stage, landmark)
            placed.append(landmark)
        landmark = None
    gx0, gx1 = (stage.walk[0], stage.walk[1]) if on_sea else (w * 0.04, w * 0.96)
    if shape == "tall":
        gx0, gx1 = max(gx0, w * TALL_SIDES), min(gx1, w * (1 - TALL_SIDES))
    if landmark is not None and stage.kind == "sea":
        _landmark_spot(stage, landmark, unit, rng, [], alone=not items)
        placed.append(landmark)
        gx0, gx1 = _free_range((gx0, gx1), [(landmark.box[0], landmark.box[2])])
    _line_up(ground, stage, (gx0, gx1), char, shape, feet_line(shape) * h)
    if deck and ship is not None:
        dx0, dy = ship.box[0] + ship.anchors["deck_l"][0], ship.box[1] + ship.anchors["deck"][1]
        dx1 = ship.box[0] + ship.anchors["deck_r"][0]
        deck_char = min(char, (ship.box[3] - ship.box[1]) * 0.55)
        _line_up(deck, stage, (dx0, dx1), deck_char, shape, dy + deck_char * 0.08, "deck")
    if landmark is not None and stage.kind != "sea":
        taken = [(i.box[0], i.box[2]) for i in ground]
        _landmark_spot(stage, landmark, unit, rng, taken, alone=not items)
        placed.append(landmark)
    placed += ground + deck
    _swim(swimmers, stage, char, shape)
    placed += swimmers
    flyers = [i for i in items if i.zone in ("sky", "float") and i.holder is None]
    _fly(flyers, stage, char, shape, [i.box for i in placed if i.zone != "landmark"])
    placed += flyers
    held = [i for i in items if i.holder is not None]
    in_hand: dict[int, int] = {}
    for i in held:
        n = in_hand.get(id(i.holder), 0)
        _hold(i, n, stage)
        in_hand[id(i.holder)] = n + 1
    placed += held

    # props: what the room or place has, then scenery the prompt names and the place suggests
    extras = _furnish(setting, everything | named, stage, on_moon)
    taken_boxes = [i.box for i in placed]
    occupied = [(i.box[0], i.box[2]) for i in placed if i.zone in ("ground", "landmark")]
    dressing: list[_Item] = []
    for m in extras:
        kind = "small" if m.picture.size == "character" else m.picture.size
        it = _Item(m, m.picture, kind, _zone(stage, m.picture), "prop", count=m.count)
        for k in range(m.count):
            copy = replace(it, index=k)
            if _dress(copy, stage, char, unit, rng, occupied, taken_boxes):
                dressing.append(copy)
                taken_boxes.append(copy.box)
    bees = [i for i in items if i.pic.name == "honeybee" and i.holder is None]
    hive = next((i for i in placed + dressing if i.pic.shape == "beehive"), None)
    if hive is not None and bees:
        while len(bees) < 3:  # a hive has a few bees about it, whatever the count said
            extra = replace(bees[0], index=len(bees), count=3)
            bees.append(extra)
            placed.append(extra)
        for b in bees:
            b.count = len(bees)
        _around(bees, hive, stage)
    chosen = _choose_props(props, stage, everything | named, rng, extra=not items and not pieces)
    for k, m in enumerate(chosen):
        big = not items and not landmarks and not pieces and k == 0
        size = unit * (0.3 if big else PROP_SIZE * rng.uniform(0.85, 1.25))
        box = _prop_spot(stage, m.picture, size, rng, occupied, taken_boxes, big)
        if box is not None:
            kind = "small" if m.picture.size == "character" else m.picture.size
            it = _Item(m, m.picture, kind, _zone(stage, m.picture), "prop")
            it.box = box
            it.extent = max(box[2] - box[0], box[3] - box[1])
            dressing.append(it)
            taken_boxes.append(box)

    # draw: set pieces, props, then the characters back to front, held things, badges
    out: list[Placement] = []
    for it in [i for i in placed if i.zone in ("landmark", "window")]:
        out.append(_draw_piece(img, stage, it))
    if ship is not None:
        out.append(_draw_piece(img, stage, ship))
    for it in dressing:
        out.append(_draw(img, stage, it))
    people = [i for i in placed if i.zone not in ("landmark", "window", "hand") and i is not ship]
    for it in sorted(people, key=_depth):
        out.append(_draw(img, stage, it))
    for it in held:
        out.append(_draw(img, stage, it))
    for it in people:
        if it.expression == "badge" and it.index == 0:
            out.append(_badge(img, stage, it))
    order = {m.word: n for n, m in enumerate(roles.subjects)}
    rank = {"subject": 0, "mood": 1, "landmark": 2, "prop": 3}
    out.sort(key=lambda p: (rank[p.role], order.get(p.word, 99), p.index))
    return Frame(img, out, setting, stage)


# ------------------------------------------------------------------------ who is drawn


def _cast_items(subjects: list[Match], mood: str | None) -> list[_Item]:
    """Each subject as many times as the prompt says, with its size and the mood it shows."""
    items: list[_Item] = []
    characters = any(m.picture.size == "character" for m in subjects)
    for n, m in enumerate(subjects):
        size = m.picture.size
        if n == 0 and not characters:
            size = "character"  # a thing alone in the frame is its hero ("a kite escapes")
        count = max(1, min(MAX_DRAWN, m.count))
        for k in range(count):
            pic = m.picture
            it = _Item(m, pic, size, pic.zone, index=k, count=count)
            if size == "character" and pic.alive and mood:
                it.mood = mood
                alt = moods.variant(pic.name, mood)
                alt_pic = picture(alt) if alt else None
                if alt_pic is not None:
                    it.pic, it.expression = alt_pic, "variant"
                elif pic.chars and faces.find_face(pic.chars) is not None:
                    it.expression = "face"
                else:
                    it.expression = "badge"
            items.append(it)
    holders = [i for i in items if i.size == "character" and i.pic.alive and i.pic.zone != "sky"]
    handed = 0
    for it in items:
        if it.size in ("tiny", "small") and holders and it.m.picture.zone in ("ground", "sky"):
            if it.m.picture.name == "honeybee" or (
                it.m.picture.zone == "sky" and it.m.picture.name not in _HELD_ABOVE
            ):
                continue
            it.holder = holders[handed % len(holders)]
            handed += 1
    return items


def _furnish(setting: Setting, named: set[str], stage: Stage, on_moon: bool) -> list[Match]:
    """What the place has that the prompt does not name: a kitchen's oven, the Earth."""
    names: list[str] = []
    if stage.kind == "room" and setting.interior:
        names += _FURNISH[setting.interior]
    if on_moon:
        names.append("shape:earth")
    out = []
    for name in names:
        pic = picture(name)
        if pic is not None and name not in named:
            count = 3 if name == "balloon" else 1
            out.append(Match(name.removeprefix("shape:"), name, pic, -1, count))
    return out


# ------------------------------------------------------------------------ layout


def _depth(it: _Item) -> tuple[int, float]:
    return (0 if it.zone == "sky" else 1, it.box[3])  # sky first, then back to front


def _zone(stage: Stage, pic: Picture) -> str:
    zone = pic.zone
    if zone == "landmark":
        return "ground"
    if stage.floating:
        return "ground" if zone == "ground" and stage.kind == "underwater" else "float"
    if zone == "water" and stage.water is None:
        return "ground"
    return zone if zone in ("sky", "water") else "ground"


def _tile(it: _Item, size: float) -> Image.Image:
    """The picture's RGBA tile with its longest side about ``size`` px, showing its mood."""
    pic = it.pic
    if pic.chars:
        costume = faces.COSTUMES.get(it.m.base)
        if costume and it.size == "character":
            worn = faces.costumed(
                pic.chars, int(size), it.mood if it.expression == "face" else None, costume
            )
            if worn is not None:
                return worn
        if it.expression == "face" and it.mood:
            shown = faces.expressed(pic.chars, int(size), it.mood)
            if shown is not None:
                return shown
        wet = it.zone in ("water", "float") and pic.name in WET
        return glyphs.glyph_tile(pic.chars, int(size), dry=wet)
    return shapes.draw_shape(pic.shape or "", int(size)).image


def _fit(it: _Item, size: float) -> tuple[float, float]:
    """Width and height of a picture whose longest side is ``size``."""
    tile = _tile(it, size)
    return float(tile.width), float(tile.height)


def _line_up(
    group: list[_Item],
    stage: Stage,
    span: tuple[float, float],
    char: float,
    shape: str,
    feet: float,
    zone: str = "ground",
) -> None:
    """Stand ``group`` side by side on ``span``: each word on its own spot, copies together."""
    if not group:
        return
    w, h = stage.width, stage.height
    x0, x1 = span
    words: dict[str, list[_Item]] = {}
    for it in group:
        words.setdefault(it.key, []).append(it)
    for it in group:
        it.extent = char * SCALE.get(it.size, 1.0)
        it.zone = zone
    # the tallest may not reach above the frame
    for it in group:
        bw, bh = _fit(it, it.extent)
        room = feet - h * 0.03
        if bh > room:
            it.extent *= room / bh

    def widths() -> dict[str, float]:
        out = {}
        for key, members in words.items():
            ws = [_fit(i, i.extent)[0] for i in members]
            out[key] = sum(ws) - (len(ws) - 1) * min(ws) * 0.12
        return out

    gap = w * 0.015
    sizes = widths()
    total = sum(sizes.values()) + gap * (len(words) - 1)
    if total > (x1 - x0) * 0.98:  # shrink everyone until they fit
        k = (x1 - x0) * 0.98 / total
        for it in group:
            it.extent *= k
        sizes = widths()
    want = {key: x0 + (x1 - x0) * SLOTS[int(spot(key, shape) * len(SLOTS))] for key in words}
    order = sorted(words, key=lambda key: (want[key], key))
    lefts: dict[str, float] = {}
    edge = x0
    for key in order:  # left to right, no overlaps
        lefts[key] = max(want[key] - sizes[key] / 2, edge)
        edge = lefts[key] + sizes[key] + gap
    edge = x1
    for key in reversed(order):  # then back from the right edge
        lefts[key] = min(lefts[key], edge - sizes[key])
        edge = lefts[key] - gap
    for key in order:
        lefts[key] = max(lefts[key], x0)
        x = lefts[key]
        members = words[key]
        for n, it in enumerate(members):
            bw, bh = _fit(it, it.extent)
            lift = h * 0.012 * (n % 2) if len(members) > 1 else 0.0  # a little depth
            y1 = min(feet - lift, h - 1)
            it.box = (x, y1 - bh, x + bw, y1)
            x += bw - min(_fit(i, i.extent)[0] for i in members) * 0.12


def _swim(group: list[_Item], stage: Stage, char: float, shape: str) -> None:
    """Swimmers in the water, each word on its own spot."""
    if not group or stage.water is None:
        return
    h = stage.height
    x0, x1 = stage.water[0], stage.water[1]
    for it in group:
        it.extent = char * SCALE.get(it.size, 1.0)
    floor = max(stage.horizon + h * 0.02, h * 0.5)
    line = min(h * 0.9, max(floor, h * (feet_line(shape) - 0.025)))
    if shape == "tall":
        w = stage.width
        x0, x1 = max(x0, w * TALL_SIDES), min(x1, w * (1 - TALL_SIDES))
    _line_up(group, stage, (x0, x1), char, shape, line, "water")
    for it in group:  # sink in no deeper than the horizon allows
        top = it.box[1]
        if top < stage.horizon:
            dy = stage.horizon - top + h * 0.01
            it.box = (it.box[0], it.box[1] + dy, it.box[2], min(h - 1.0, it.box[3] + dy))


def _fly(
    group: list[_Item],
    stage: Stage,
    char: float,
    shape: str,
    below: list[tuple[float, float, float, float]],
) -> None:
    """Flyers (birds, a dragon) in the sky, floaters in water or space: spots by their word."""
    w, h = stage.width, stage.height
    for n, it in enumerate(group):
        it.extent = char * SCALE.get(it.size, 1.0) * (0.9 if it.zone == "sky" else 1.0)
        bw, bh = _fit(it, it.extent)
        fx = SLOTS[int(spot(it.key, shape) * len(SLOTS))]
        fx = min(0.9, max(0.1, fx + (it.index - (it.count - 1) / 2) * 0.16))
        cx = min(max(w * fx, bw / 2 + w * 0.02), w - bw / 2 - w * 0.02)
        if it.zone == "sky":
            top = h * 0.04
            under = [b for b in below if b[0] < cx + bw / 2 and b[2] > cx - bw / 2]
            floor = min([stage.horizon - h * 0.02, *(b[1] - h * 0.02 for b in under)])
            y0 = top + (max(top, floor - bh) - top) * spot(it.key, shape, "y") * 0.7
            y0 += h * 0.05 * (it.index % 2)
            y0 = max(h * 0.02, min(y0, h * 0.98 - bh))
        else:
            cy = h * (0.42 + 0.18 * spot(it.key, shape, "y") - 0.1 * (n % 2))
            y0 = max(h * 0.03, min(cy - bh / 2, h * 0.97 - bh))
        it.box = (cx - bw / 2, y0, cx + bw / 2, y0 + bh)
    # copies and neighbours in the float zone must not sit on each other
    for a, b in itertools.pairwise(group):
        if _overlap(a.box, b.box) and a.zone == b.zone == "float":
            dy = (a.box[3] - b.box[1]) + h * 0.02
            if b.box[3] + dy < h * 0.98:
                b.box = (b.box[0], b.box[1] + dy, b.box[2], b.box[3] + dy)


def _hold(it: _Item, nth: int, stage: Stage) -> None:
    """A tiny or small thing in a character's hand (the ``nth`` it holds goes further out
    and higher); an umbrella or balloon above it."""
    w, h = stage.width, stage.height
    holder = it.holder
    assert holder is not None
    hx0, hy0, hx1, hy1 = holder.box
    hw, hh = hx1 - hx0, hy1 - hy0
    it.extent = max(hw, hh) * SCALE.get(it.size, 0.4) * (1.1 if it.size == "small" else 1.3)
    if it.pic.name in _HELD_ABOVE:  # an umbrella or a balloon spans the head
        it.extent = max(hw * 0.8, it.extent)
    bw, bh = _fit(it, it.extent)
    inward = 1 if (hx0 + hx1) / 2 < w / 2 else -1  # held on the side towards the middle
    if it.pic.name in _HELD_ABOVE:
        cx = (hx0 + hx1) / 2 + inward * hw * 0.2 * (1 + nth)
        y1 = hy0 + bh * 0.3
    else:
        cx = (hx1 - bw * 0.25) if inward > 0 else (hx0 + bw * 0.25)
        cx += inward * (bw * 0.8 + hw * 0.05) * nth
        # a whole figure holds things at its hands; a bust (most people) at its chest
        hand = 0.58 if hh > hw * 1.6 else 0.97
        y1 = hy0 + hh * hand + (bh * 0.45 if hand < 0.9 else 0.0) - hh * 0.05 * nth
    y0 = y1 - bh
    cx = min(max(cx, bw / 2 + 1), w - bw / 2 - 1)
    y0 = min(max(y0, 1.0), h - bh - 1)
    it.box = (cx - bw / 2, y0, cx + bw / 2, y0 + bh)
    it.zone = "hand"


def _around(bees: list[_Item], hive: _Item, stage: Stage) -> None:
    """Bees buzzing round their hive."""
    w, h = stage.width, stage.height
    x0, y0, x1, y1 = hive.box
    for n, it in enumerate(bees):
        it.extent = max(x1 - x0, y1 - y0) * 0.26
        bw, bh = _fit(it, it.extent)
        ang = 2.4 + n * 1.9
        cx = (x0 + x1) / 2 + np.cos(ang) * (x1 - x0) * 0.75
        cy = y0 + (y1 - y0) * 0.3 + np.sin(ang) * (y1 - y0) * 0.45
        cx = float(min(max(cx, bw / 2 + 1), w - bw / 2 - 1))
        cy = float(min(max(cy, bh / 2 + 1), h - bh / 2 - 1))
        it.box = (cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2)
        it.zone = "sky"


def _ship(stage: Stage, m: Match, shape: str) -> _Item:
    """A ship on the water: as wide as the water allows, on its word's spot."""
    w, h = stage.width, stage.height
    assert stage.water is not None
    x0, x1 = stage.water[0], stage.water[1]
    it = _Item(m, m.picture, "large", "water", "subject")
    width = min((x1 - x0) * 0.95, w * (0.62 if shape == "wide" else 0.9))
    drawn = shapes.draw_shape(m.picture.shape, int(width / 1.25)) if m.picture.shape else None
    if drawn is not None:
        it.tile, it.anchors = drawn.image, drawn.anchors
    else:
        it.tile = glyphs.glyph_tile(m.picture.chars or "", int(width), dry=True)
        it.anchors = {
            "deck": (it.tile.width / 2, it.tile.height * 0.5),
            "deck_l": (it.tile.width * 0.2, 0.0),
            "deck_r": (it.tile.width * 0.8, 0.0),
        }
    tw, th = it.tile.size
    room = x1 - x0 - tw
    cx0 = x0 + max(0.0, room) * spot(m.base, shape)
    y1 = min(h * 0.97, max(stage.horizon + th * 0.75, h * 0.93))
    it.box = (cx0, y1 - th, cx0 + tw, y1)
    it.extent = float(max(tw, th))
    return it


def _in_window(stage: Stage, it: _Item) -> None:
    """A far landmark seen through a room's window (the Eiffel Tower beyond it)."""
    assert stage.window is not None
    x0, y0, x1, y1 = stage.window
    target = (y1 - y0) * 0.88
    if it.pic.chars:
        tile = glyphs.glyph_tile(it.pic.chars, int(target))
    else:
        tile = shapes.draw_shape(it.pic.shape or "", int(target)).image
    if tile.width > (x1 - x0) * 0.8:
        k = (x1 - x0) * 0.8 / tile.width
        tile = tile.resize((max(1, int(tile.width * k)), max(1, int(tile.height * k))))
    it.tile = tile
    cx = x0 + (x1 - x0) * 0.62
    it.box = (cx - tile.width / 2, y1 - tile.height, cx + tile.width / 2, y1)
    it.zone = "window"
    it.extent = float(max(tile.size))


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
    named_props: tuple[Match, ...] | list[Match],
    stage: Stage,
    named: set[str],
    rng: random.Random,
    extra: bool,
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


def _dress(
    it: _Item,
    stage: Stage,
    char: float,
    unit: float,
    rng: random.Random,
    occupied: list[tuple[float, float]],
    taken: list[tuple[float, float, float, float]],
) -> bool:
    """Put a room's furniture (an oven), a party's balloons or the Earth in its place."""
    w, h = stage.width, stage.height
    name = it.pic.name
    if name == "shape:earth":
        it.extent = unit * 0.2
        bw, bh = _fit(it, it.extent)
        fx = 0.78 if spot("earth", aspect(w, h)) < 0.5 else 0.22
        cx, cy = w * fx, h * 0.16 + bh / 2
        it.box = (cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2)
        it.zone = "sky"
        return True
    if name == "shape:blackboard":
        it.extent = min(w * 0.42, h * 0.5)
        bw, bh = _fit(it, it.extent)
        window = stage.window
        cx = w * 0.72 if window is None or window[0] < w / 2 else w * 0.28
        y0 = h * 0.12
        it.box = (cx - bw / 2, y0, cx + bw / 2, y0 + bh)
        it.zone = "wall"
        return True
    if name == "balloon":
        it.extent = char * 0.45
        bw, bh = _fit(it, it.extent)
        window = stage.window
        corner = w * 0.1 if window is not None and window[0] > w / 2 else w * 0.9 - bw * 2
        cx = corner + it.index * bw * 0.75 + bw / 2
        y0 = h * 0.14 + (it.index % 2) * bh * 0.35
        it.box = (cx - bw / 2, y0, cx + bw / 2, y0 + bh)
        it.zone = "wall"
        return True
    # furniture on the floor, clear of the characters where it can be
    it.extent = char * SCALE.get(it.size, 0.5)
    bw, bh = _fit(it, it.extent)
    feet = feet_line(aspect(w, h)) * h - h * 0.04
    best = None
    for fx in (0.1, 0.9, 0.25, 0.75, 0.5):
        cx = min(max(w * fx, bw / 2 + w * 0.02), w - bw / 2 - w * 0.02)
        box = (cx - bw / 2, feet - bh, cx + bw / 2, feet)
        clash = sum(max(0.0, min(box[2], b[2]) - max(box[0], b[0])) for b in taken)
        if best is None or clash < best[0]:
            best = (clash, box)
    assert best is not None
    it.box = best[1]
    it.zone = "ground"
    occupied.append((it.box[0], it.box[2]))
    return True


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
    probe = _Item(Match(pic.name, pic.name, pic, -1), pic, "small", zone)
    bw, bh = _fit(probe, size)
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
        box = _inside(box, w, h)
        if any(_overlap(box, other) for other in taken):
            continue
        if zone == "ground":
            occupied.append((box[0], box[2]))
        return box
    return None


def _inside(box: tuple[float, float, float, float], w: int, h: int) -> tuple[float, ...]:
    """``box`` moved into the frame (it is never larger than the frame)."""
    x0, y0, x1, y1 = box
    dx = max(0.0, -x0) - max(0.0, x1 - w)
    dy = max(0.0, -y0) - max(0.0, y1 - h)
    return (x0 + dx, y0 + dy, x1 + dx, y1 + dy)


def _overlap(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


# how tall a landmark stands, of the frame's short side (alone, with others)
_LANDMARK_HEIGHT = {
    "shape:treehouse": (0.9, 0.86),
    "shape:eiffel_tower": (0.8, 0.72),
    "shape:colosseum": (0.42, 0.36),
}


def _landmark_spot(
    stage: Stage,
    it: _Item,
    unit: float,
    rng: random.Random,
    taken: list[tuple[float, float]],
    alone: bool,
) -> None:
    """The landmark's picture and box: behind the characters, on the side they leave free."""
    w, h = stage.width, stage.height
    lx, foot = stage.landmark or (w * 0.5, stage.horizon + h * 0.05)
    if alone:
        lx = w * rng.uniform(0.4, 0.6)
        foot = max(foot, stage.ground_y(lx) - h * 0.02)
    name = it.pic.name
    big = _LANDMARK_HEIGHT.get(name)
    if big is not None:
        foot = max(foot, stage.horizon + h * 0.08)
        foot = min(foot, h * 0.9)
    if stage.kind == "sea":  # on the sea's headland a landmark (the lighthouse) rises high
        height = foot - h * 0.05
    elif big is not None:
        height = max(unit, h * 0.62) * big[0 if alone else 1]
    else:
        height = unit * (0.55 if alone else 0.42)
    height = max(unit * 0.2, min(height, foot - h * 0.03))
    pic = it.pic
    if pic.shape:
        drawn = shapes.draw_shape(pic.shape, int(height))
        tile, anchors = drawn.image, drawn.anchors
    else:
        tile, anchors = glyphs.glyph_tile(pic.chars or "", int(height)), {}
    widest = w * (0.95 if big is not None and h > w else 0.7)
    if tile.width > widest:
        k = widest / tile.width
        tile = tile.resize((max(1, int(tile.width * k)), max(1, int(tile.height * k))))
    if stage.kind != "sea" and not alone:
        # the side the characters leave freer; a tie goes by the landmark's word
        options = [w * 0.14 + tile.width * 0.3, w * 0.86 - tile.width * 0.3]
        pref = int(spot(it.key, aspect(w, h), "landmark") * 2)
        options = options[pref:] + options[:pref]

        def clash(x: float) -> float:
            a, b = x - tile.width / 2, x + tile.width / 2
            return sum(max(0.0, min(b, t1) - max(a, t0)) for t0, t1 in taken)

        lx = min(options, key=clash)
    x0 = int(min(max(lx - tile.width / 2, 0), w - tile.width))
    y0 = int(max(0, foot - tile.height))
    it.tile, it.anchors = tile, anchors
    it.box = (x0, y0, x0 + tile.width, y0 + tile.height)
    it.zone = "landmark"
    it.extent = float(max(tile.size))


# ------------------------------------------------------------------------ drawing


def _placement(it: _Item, box: tuple[int, int, int, int], zone: str | None = None) -> Placement:
    holder = it.holder
    return Placement(
        it.m.word,
        it.pic.name,
        it.pic.chars,
        it.role,
        zone or it.zone,
        box,
        it.index,
        it.count,
        it.mood,
        it.expression,
        it.size,
        f"{holder.m.word}#{holder.index}" if holder is not None else None,
    )


def _draw_piece(img: Image.Image, stage: Stage, it: _Item) -> Placement:
    """A set piece: a landmark, a treehouse, a ship, or the tower seen through a window."""
    tile = it.tile
    assert tile is not None
    x0, y0 = int(it.box[0]), int(it.box[1])
    if it.zone == "window":
        assert stage.window is not None
        _skyline(img, stage.window, stage.dark)
        wx0, wy0, wx1, wy1 = (int(v) for v in stage.window)
        crop = Image.new("RGBA", img.size, (0, 0, 0, 0))
        crop.paste(tile, (x0, y0), tile)
        clip = Image.new("L", img.size, 0)
        ImageDraw.Draw(clip).rectangle([wx0, wy0, wx1, wy1], fill=255)
        mask = ImageChops.multiply(crop.getchannel("A"), clip)
        if stage.dark:  # lit at night
            img.paste(glow(img, ((wx0 + wx1) / 2, wy1), (wy1 - wy0) * 0.6, (255, 210, 140), 0.4))
        img.paste(crop.convert("RGB"), (0, 0), mask)
        box = (max(x0, wx0), max(y0, wy0), min(x0 + tile.width, wx1), min(y0 + tile.height, wy1))
        return _placement(it, box, "window")
    lamp = None
    if it.pic.shape == "lighthouse" and stage.dark and "lamp" in it.anchors:
        lamp = (x0 + it.anchors["lamp"][0], y0 + it.anchors["lamp"][1])
        _beams(img, lamp, tile.height)
    if it.zone != "water":
        _shadow(img, (x0 + tile.width / 2, y0 + tile.height), tile.width * 0.9, tile.height * 0.05)
    _paste(img, tile, (x0, y0), stage.halo, halo=stage.dark or it.role == "subject")
    if it.zone == "water":
        _waterline(img, tile, (x0, y0), stage.water_colour)
    if lamp is not None:
        img.paste(glow(img, lamp, tile.height * 0.12, (255, 244, 180), 0.6))
    return _placement(it, (x0, y0, x0 + tile.width, y0 + tile.height))


def _skyline(img: Image.Image, window: tuple[float, float, float, float], dark: bool) -> None:
    """Roofs of a city along the bottom of a window."""
    x0, y0, x1, y1 = (int(v) for v in window)
    d = ImageDraw.Draw(img)
    col = (46, 52, 84) if dark else (150, 160, 186)
    lit = (255, 214, 120)
    bw = max(4, (x1 - x0) // 9)
    x = x0
    k = 0
    while x < x1:
        top = y1 - (y1 - y0) * (0.18 + 0.14 * ((k * 7) % 5) / 4)
        d.rectangle([x, top, min(x1, x + bw - 1), y1], fill=col)
        d.polygon([(x, top), (x + bw / 2, top - bw * 0.4), (min(x1, x + bw - 1), top)], fill=col)
        if dark:
            for wy in range(int(top + bw * 0.3), y1 - 4, max(4, bw // 3)):
                d.rectangle([x + bw * 0.3, wy, x + bw * 0.45, wy + bw * 0.12], fill=lit)
        x += bw
        k += 1


def _draw(img: Image.Image, stage: Stage, it: _Item) -> Placement:
    """Paste one picture at its box (its bottom centre), grounded, halo'd or sunk in water."""
    w, h = img.size
    box = it.box
    size = max(box[2] - box[0], box[3] - box[1])
    tile = _tile(it, size)
    tw, th = tile.size
    if tw > w or th > h:  # never larger than the frame
        k = min(w / tw, h / th) * 0.98
        tile = tile.resize((max(1, int(tw * k)), max(1, int(th * k))))
        tw, th = tile.size
    x0 = round((box[0] + box[2]) / 2 - tw / 2)
    y0 = round(box[3] - th)
    x0 = min(max(x0, 0), w - tw)
    y0 = min(max(y0, 0), h - th)
    zone = it.zone
    if it.pic.name.endswith("_flag") and zone == "ground":  # a flag flies from a pole
        pole = max(3, th // 14)
        foot = stage.ground_y(x0)
        _shadow(img, (x0, foot), pole * 4, pole)
        ImageDraw.Draw(img).rectangle(
            [x0 - pole, y0, x0, foot], fill=(70, 52, 40), outline=(20, 20, 20)
        )
    elif zone in ("ground", "deck"):
        _shadow(img, (x0 + tw / 2, y0 + th), tw * 0.8, th * 0.07)
    _paste(img, tile, (x0, y0), stage.halo, halo=it.role == "subject")
    if zone == "water":
        _waterline(img, tile, (x0, y0), stage.water_colour)
    return _placement(it, (x0, y0, x0 + tw, y0 + th))


def _badge(img: Image.Image, stage: Stage, it: _Item) -> Placement:
    """A face showing the character's mood, in a white bubble beside its head."""
    w, h = img.size
    name = moods.BADGES[it.mood or "calm"]
    pic = picture(name)
    assert pic is not None and pic.chars
    x0, y0, x1, y1 = it.box
    size = max(14, int(max(x1 - x0, y1 - y0) * 0.3))
    tile = glyphs.glyph_tile(pic.chars, size)
    pad = max(3, size // 8)
    bw, bh = tile.width + 2 * pad, tile.height + 2 * pad
    inward = 1 if (x0 + x1) / 2 < w / 2 else -1
    bx = x1 - bw * 0.35 if inward > 0 else x0 - bw * 0.65
    by = y0 - bh * 0.35
    bx = int(min(max(bx, 0), w - bw))
    by = int(min(max(by, 0), h - bh))
    d = ImageDraw.Draw(img)
    d.ellipse(
        [bx, by, bx + bw, by + bh],
        fill=(255, 255, 255),
        outline=(40, 40, 40),
        width=max(1, size // 24),
    )
    img.paste(tile, (bx + pad, by + pad), tile)
    badge = Placement(
        it.m.word,
        name,
        pic.chars,
        "mood",
        "badge",
        (bx, by, bx + bw, by + bh),
        it.index,
        it.count,
        it.mood,
        "badge",
        None,
        f"{it.m.word}#{it.index}",
    )
    return badge


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
