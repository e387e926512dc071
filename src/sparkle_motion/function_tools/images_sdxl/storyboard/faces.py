"""Redraw the face of an OpenMoji person so that it shows a mood.

OpenMoji's people share one face: a yellow disc with two dot eyes and a line for a mouth,
mostly a small smile. The face is found once per picture, at a reference size (the largest
patch of that yellow, and the holes in it: two eyes side by side and a mouth below them); at
any size the mouth is then painted over with the face's yellow and a new one drawn in the
same ink, with brows, a tear or a drop of sweat where the mood wants them. A picture whose
face cannot be found this way (a beard over the mouth, glasses) gets None, and the caller
shows the mood some other way.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from sparkle_motion.function_tools.images_sdxl.storyboard import glyphs

SKIN = (252, 234, 43)  # OpenMoji's yellow face
INK = (0, 0, 0)
TEAR = (97, 178, 228)
_REF = 192  # px: the size the face is looked for at
# Moods a face is redrawn for; the others keep the picture's own gentle smile.
REDRAWN = frozenset(
    "sad lonely worried afraid angry determined tired surprised excited joyful".split()
)


@dataclass(frozen=True)
class Face:
    """Where a picture's face is, in fractions of its tile (x of width, y of height)."""

    box: tuple[float, float, float, float]
    eyes: tuple[tuple[float, float], tuple[float, float]]  # left and right eye centres
    mouth: tuple[float, float, float, float]
    mouth_mask: Image.Image  # L, the mouth's pixels at the reference size (tile-sized)


def _components(mask: np.ndarray, minimum: int) -> list[np.ndarray]:
    """Boolean masks of the 4-connected parts of ``mask`` with at least ``minimum`` pixels."""
    img = Image.fromarray(np.where(mask, 255, 0).astype(np.uint8)).copy()
    out = []
    label = 1
    todo = np.argwhere(mask)
    for y, x in todo:
        if img.getpixel((int(x), int(y))) != 255:
            continue
        ImageDraw.floodfill(img, (int(x), int(y)), label, thresh=0)
        part = np.asarray(img) == label
        if part.sum() >= minimum:
            out.append(part)
        label += 1
        if label >= 255:  # a picture of hundreds of yellow specks has no face to redraw
            break
    return out


@lru_cache(maxsize=256)
def find_face(chars: str) -> Face | None:
    """The face of the picture ``chars``, or None where it has no face to redraw."""
    tile = glyphs.glyph_tile(chars, _REF)
    arr = np.asarray(tile).astype(np.int32)
    h, w = arr.shape[:2]
    skin = (
        (np.abs(arr[:, :, 0] - SKIN[0]) < 26)
        & (np.abs(arr[:, :, 1] - SKIN[1]) < 26)
        & (np.abs(arr[:, :, 2] - SKIN[2]) < 60)
        & (arr[:, :, 3] > 200)
    )
    parts = _components(skin, int(w * h * 0.03))
    if not parts:
        return None
    face = max(parts, key=lambda p: int(p.sum()))
    ys, xs = np.nonzero(face)
    x0, x1, y0, y1 = int(xs.min()), int(xs.max()) + 1, int(ys.min()), int(ys.max()) + 1
    fw, fh = x1 - x0, y1 - y0
    if not (0.6 < fw / max(fh, 1) < 1.7) or face.sum() < fw * fh * 0.45:
        return None  # a body or an arm, not a round face
    # holes: what the face surrounds (eyes, mouth), found by filling the outside away
    sub = np.where(face[y0:y1, x0:x1], 255, 0).astype(np.uint8)
    padded = Image.fromarray(np.pad(sub, 1)).copy()
    ImageDraw.floodfill(padded, (0, 0), 128, thresh=0)
    holes = np.asarray(padded)[1:-1, 1:-1] == 0
    found = []
    for part in _components(holes, max(4, int(fw * fh * 0.002))):
        py, px = np.nonzero(part)
        found.append((part, px.min(), px.max() + 1, py.min(), py.max() + 1))
    eyes = [f for f in found if f[3] < fh * 0.7 and (f[2] - f[1]) < fw * 0.25]
    best = None
    for i, a in enumerate(eyes):
        for b in eyes[i + 1 :]:
            ay, by = (a[3] + a[4]) / 2, (b[3] + b[4]) / 2
            ax, bx = (a[1] + a[2]) / 2, (b[1] + b[2]) / 2
            if abs(ay - by) < fh * 0.06 and abs(ax - bx) > fw * 0.18:
                score = abs(ay - by) + abs((a[2] - a[1]) - (b[2] - b[1]))
                if best is None or score < best[0]:
                    best = (score, *sorted((a, b), key=lambda f: f[1]))
    if best is None:
        return None
    left, right = best[1], best[2]
    eye_y = (left[3] + left[4] + right[3] + right[4]) / 4
    lx, rx = (left[1] + left[2]) / 2, (right[1] + right[2]) / 2
    mouths = [
        f
        for f in found
        if f[3] > eye_y + fh * 0.08
        and lx - fw * 0.05 < (f[1] + f[2]) / 2 < rx + fw * 0.05
        and (f[2] - f[1]) > fw * 0.1
    ]
    if not mouths:
        return None
    mouth = max(mouths, key=lambda f: f[2] - f[1])
    full = np.zeros((h, w), dtype=np.uint8)
    full[y0:y1, x0:x1][mouth[0]] = 255
    mask = Image.fromarray(full).filter(ImageFilter.MaxFilter(5))
    return Face(
        (x0 / w, y0 / h, x1 / w, y1 / h),
        (
            ((x0 + lx) / w, (y0 + (left[3] + left[4]) / 2) / h),
            ((x0 + rx) / w, (y0 + (right[3] + right[4]) / 2) / h),
        ),
        ((x0 + mouth[1]) / w, (y0 + mouth[3]) / h, (x0 + mouth[2]) / w, (y0 + mouth[4]) / h),
        mask,
    )


@lru_cache(maxsize=256)
def expressed(chars: str, extent: int, mood: str) -> Image.Image | None:
    """The glyph ``chars`` at ``extent`` px with its face showing ``mood`` (None: no face)."""
    face = find_face(chars)
    if face is None:
        return None
    tile = glyphs.glyph_tile(chars, extent)
    if mood not in REDRAWN:
        return tile
    out = tile.copy()
    w, h = out.size
    d = ImageDraw.Draw(out)
    ink = max(1, round(max(w, h) * 0.026))
    fx0, fy0, fx1, fy1 = face.box[0] * w, face.box[1] * h, face.box[2] * w, face.box[3] * h
    fw, fh = fx1 - fx0, fy1 - fy0
    # paint the old mouth away
    cover = face.mouth_mask.resize((w, h), Image.Resampling.BILINEAR)
    cover = cover.point(lambda v: 255 if v > 20 else 0)
    out.paste((*SKIN, 255), (0, 0, w, h), cover)
    mx0, my0, mx1, my1 = (
        face.mouth[0] * w,
        face.mouth[1] * h,
        face.mouth[2] * w,
        face.mouth[3] * h,
    )
    cx, cy = (mx0 + mx1) / 2, (my0 + my1) / 2
    mw = max(mx1 - mx0, fw * 0.22)
    eyes = [(ex * w, ey * h) for ex, ey in face.eyes]
    if mood in ("sad", "lonely", "worried", "angry"):  # a frown
        d.arc([cx - mw / 2, cy - mw * 0.05, cx + mw / 2, cy + mw * 0.55], 200, 340, INK, ink)
    elif mood in ("afraid", "surprised"):  # an open mouth
        rx, ry = (mw * 0.3, mw * 0.2) if mood == "afraid" else (mw * 0.2, mw * 0.24)
        d.ellipse([cx - rx, cy - ry, cx + rx, cy + ry], fill=(60, 20, 20), outline=INK, width=ink)
    elif mood in ("determined", "tired"):  # a straight line
        d.line([cx - mw * 0.36, cy, cx + mw * 0.36, cy], fill=INK, width=ink)
    else:  # joyful, excited: a wide open smile
        d.pieslice(
            [cx - mw * 0.5, cy - mw * 0.32, cx + mw * 0.5, cy + mw * 0.32], 0, 180, (60, 20, 20)
        )
        d.arc([cx - mw * 0.5, cy - mw * 0.32, cx + mw * 0.5, cy + mw * 0.32], 0, 180, INK, ink)
        d.line([cx - mw * 0.5, cy, cx + mw * 0.5, cy], fill=INK, width=ink)
    brow = fw * 0.11  # half the length of a brow
    lift = fh * 0.13  # how far above the eye
    for k, (ex, ey) in enumerate(eyes):
        inner = 1 if k == 0 else -1  # towards the nose
        if mood in ("sad", "lonely", "worried", "afraid"):  # inner ends raised
            a, b = (ex - inner * brow, ey - lift * 0.8), (ex + inner * brow, ey - lift * 1.35)
        elif mood in ("angry", "determined"):  # inner ends lowered
            k2 = 0.75 if mood == "angry" else 0.95
            a, b = (ex - inner * brow, ey - lift * 1.4), (ex + inner * brow, ey - lift * k2)
        elif mood == "surprised":
            d.arc([ex - brow, ey - lift * 1.7, ex + brow, ey - lift * 0.9], 200, 340, INK, ink)
            continue
        else:
            continue
        d.line([a, b], fill=INK, width=ink)
    if mood == "tired":  # heavy lids over the eyes
        for ex, ey in eyes:
            r = fw * 0.07
            d.chord([ex - r, ey - r, ex + r, ey + r], 180, 360, fill=SKIN)
            d.line([ex - r, ey, ex + r, ey], fill=INK, width=ink)
    if mood in ("sad", "lonely"):  # a tear under one eye
        ex, ey = eyes[1]
        r = fw * 0.05
        ty = ey + fh * 0.1
        d.polygon([(ex, ty - r * 1.6), (ex - r, ty), (ex + r, ty)], fill=TEAR)
        d.ellipse([ex - r, ty - r, ex + r, ty + r], fill=TEAR, outline=INK, width=max(1, ink // 2))
    if mood in ("afraid", "worried"):  # a drop of sweat at the temple
        sx, sy = fx1 - fw * 0.08, fy0 + fh * 0.3
        r = fw * 0.05
        d.polygon([(sx, sy - r * 1.8), (sx - r, sy), (sx + r, sy)], fill=TEAR)
        d.ellipse([sx - r, sy - r, sx + r, sy + r], fill=TEAR, outline=INK, width=max(1, ink // 2))
    return out


# Words whose characters wear something a plain picture lacks: word -> costume.
COSTUMES = {
    "pirate": "pirate", "buccaneer": "pirate", "pirate_captain": "pirate", "roman": "roman",
    "romans": "roman", "gladiator": "roman", "legionary": "roman", "centurion": "roman",
    "roman_soldier": "roman",
}  # fmt: skip


@lru_cache(maxsize=128)
def costumed(chars: str, extent: int, mood: str | None, costume: str) -> Image.Image | None:
    """The glyph (with its mood, if any) wearing ``costume``: a pirate's hat and eye patch."""
    face = find_face(chars)
    if face is None:
        return None
    base = expressed(chars, extent, mood) if mood else glyphs.glyph_tile(chars, extent)
    if base is None:
        return None
    w, h = base.size
    fx0, fy0, fx1, fy1 = face.box[0] * w, face.box[1] * h, face.box[2] * w, face.box[3] * h
    fw, fh = fx1 - fx0, fy1 - fy0
    ink = max(1, round(max(w, h) * 0.026))
    cx = (fx0 + fx1) / 2
    brim = fy0 + fh * 0.12  # the hat comes down over the hair to the brow
    top = brim - fh * 0.55
    pad = max(0, int(-(top - fh * 0.35)) + ink * 2)
    out = Image.new("RGBA", (w, h + pad), (0, 0, 0, 0))
    out.paste(base, (0, pad))
    d = ImageDraw.Draw(out)
    brim, top = brim + pad, top + pad
    ey = face.eyes[0][1] * h + pad
    if costume == "roman":  # a bronze helmet with a red crest and cheek guards
        bronze, crest = (214, 170, 80), (200, 40, 40)
        half = fw * 0.62
        d.ellipse(
            [cx - fw * 0.13, top - fh * 0.32, cx + fw * 0.13, top + fh * 0.2],
            fill=crest,
            outline=INK,
            width=ink,
        )
        d.chord(
            [cx - half, top + fh * 0.05, cx + half, brim + fh * 0.5],
            180,
            360,
            fill=bronze,
            outline=INK,
            width=ink,
        )
        for sx in (-1, 1):  # cheek guards
            x = cx + sx * half
            d.polygon(
                [(x, brim + fh * 0.2), (x - sx * fw * 0.16, brim + fh * 0.2),
                 (x - sx * fw * 0.12, brim + fh * 0.62), (x, brim + fh * 0.5)],
                fill=bronze,
                outline=INK,
                width=ink,
            )  # fmt: skip
    elif costume == "pirate":
        hat = (40, 36, 44)
        half = fw * 0.78
        d.polygon(
            [
                (cx - half, brim), (cx - half * 0.55, top + fh * 0.12), (cx, top),
                (cx + half * 0.55, top + fh * 0.12), (cx + half, brim),
                (cx, brim - fh * 0.1),
            ],
            fill=hat,
            outline=INK,
            width=ink,
        )  # fmt: skip
        r = fh * 0.08  # the skull on the hat
        sy = top + fh * 0.26
        d.ellipse([cx - r, sy - r, cx + r, sy + r], fill=(245, 245, 240))
        d.line(
            [cx - r * 1.6, sy + r * 1.6, cx + r * 1.6, sy + r * 2.4],
            fill=(245, 245, 240),
            width=ink,
        )
        d.line(
            [cx + r * 1.6, sy + r * 1.6, cx - r * 1.6, sy + r * 2.4],
            fill=(245, 245, 240),
            width=ink,
        )
        # an eye patch over one eye, its strap round the head
        ex = face.eyes[1][0] * w
        pr = fw * 0.11
        d.line(
            [fx0 + fw * 0.06, ey - fh * 0.2, fx1 - fw * 0.02, ey - fh * 0.02], fill=INK, width=ink
        )
        d.ellipse(
            [ex - pr, ey - pr * 0.85, ex + pr, ey + pr * 0.85], fill=(30, 30, 34), outline=INK
        )
    return out
