"""Burned-in subtitles: the cues drawn into the picture by libass, segment by segment.

Short-video players show no subtitle track, so a style with ``mode: burned`` draws the
cues into the frames. Each segment (scene body or transition) gets its own ASS file with
the cues that show during it, timed from the segment's first frame: a segment's pixels then
depend only on its own cues and the style, so editing one scene re-renders only its
segments, and the ASS text (with the font's identity) is part of the segment's cache key.
A movie without burned subtitles runs exactly the commands it ran before.

Lines are wrapped here, not by libass, at a width readable for the frame's shape (a CJK
character counts two); a cue longer than two lines is split into consecutive cues, its time
shared by length. The font is the style's family if given, else the one that draws the
text's script (utils/fonts.py: Noto Sans CJK for Latin and CJK, a system font for Arabic or
Hebrew); libass shapes it with HarfBuzz and FriBidi (complex shaping, right-to-left runs).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sparkle_motion.function_tools.assemble_ffmpeg import AssemblyError
from sparkle_motion.function_tools.assemble_ffmpeg.subtitles import Cue
from sparkle_motion.function_tools.assemble_ffmpeg.timeline import Segment, Timeline
from sparkle_motion.types import SubtitleStyle
from sparkle_motion.utils import fonts

ASS_FORMAT = "sparkle-burned-subtitles/1"
MAX_LINES = 2
_ALIGN = {"bottom": 2, "middle": 5, "top": 8}
# characters per line (a CJK one counts two) when the style names none: about 42 on a
# landscape frame (the usual broadcast limit), fewer where the frame is narrower
_CHARS_BY_SHAPE = ((1.5, 42), (0.9, 32), (0.0, 24))


@dataclass(frozen=True)
class Layout:
    """A style resolved for one frame size: everything that decides the drawn pixels."""

    width: int
    height: int
    font: str  # family name
    font_file: str | None  # the file that holds it (None: found by name on the system)
    face: int  # its face in a collection
    em: int  # the type's size in pixels (what the style's ``size`` means)
    size: float  # the same as libass's Fontsize (a line's height: font-dependent)
    chars: int
    colour: str  # ASS &HAABBGGRR
    outline: float
    bold: bool
    align: int
    margin_v: int
    margin_h: int


def _units(text: str) -> int:
    """A line's width in half-em units: a CJK (wide) character counts two."""
    import unicodedata

    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def default_chars(width: int, height: int) -> int:
    ratio = width / height
    return next(chars for at_least, chars in _CHARS_BY_SHAPE if ratio >= at_least)


def _ass_colour(hex_rgb: str) -> str:
    r, g, b = hex_rgb[1:3], hex_rgb[3:5], hex_rgb[5:7]
    return f"&H00{b}{g}{r}".upper()


def layout(style: SubtitleStyle, width: int, height: int, sample: str) -> Layout:
    """The style at this frame size; ``sample`` (all cue text) picks the default font."""
    margin_h = round(width * 0.06)
    room = width - 2 * margin_h
    chars = style.max_chars_per_line or default_chars(width, height)
    # about 5.5 % of the height, smaller where ``chars`` (half an em each) would not fit
    em = style.size or max(12, min(round(height * 0.055), round(room / (chars * 0.5))))
    found = fonts.font_path_for_text(sample or "A")
    font_file, face = (None, 0) if style.font or found is None else found
    family = style.font or (_family(*found) if found else "sans-serif")
    tall = height > width
    bottom = round(height * 0.06)  # under a tall storyboard's characters (compose.TALL_FEET)
    return Layout(
        width, height, family, font_file, face, em,
        round(em * _line_height(font_file, face), 2), chars,
        _ass_colour(style.colour),
        style.outline if style.outline is not None else round(em * 0.08, 1), style.bold,
        _ALIGN[style.position],
        bottom if style.position != "top" else round(height * (0.09 if tall else 0.05)),
        margin_h,
    )  # fmt: skip


def _line_height(path: str | None, index: int) -> float:
    """libass sizes a font by its line (OS/2 win ascent + descent), not its em: the ratio."""
    if path is None:
        return 1.2
    from fontTools.ttLib import TTFont

    with TTFont(path, fontNumber=index, lazy=True) as font:
        os2 = font.get("OS/2")
        upem = font["head"].unitsPerEm
        if os2 is not None and os2.usWinAscent + os2.usWinDescent:
            return (os2.usWinAscent + os2.usWinDescent) / upem
        return (font["hhea"].ascent - font["hhea"].descent) / upem


def font_of(lay: Layout, text: str) -> tuple[str, int] | None:
    """The font file that draws ``text`` (the layout's unless it lacks the script: Arabic
    or Hebrew in a movie of Latin text); None for a font the style names."""
    if lay.font_file is None:
        return None
    return fonts.font_path_for_text(text) or (lay.font_file, lay.face)


def measurer(lay: Layout) -> Callable[[str], bool]:
    """Whether a line fits the frame's width between the margins, in the font that draws
    it (always true for a font the style names: it is not measured)."""
    from PIL import ImageFont

    # a bold face is drawn a little wider than the regular one measured here
    room = (lay.width - 2 * lay.margin_h - 2 * lay.outline) * (0.93 if lay.bold else 1.0)
    loaded: dict[tuple[str, int], Any] = {}

    def fits(line: str) -> bool:
        found = font_of(lay, line)
        if found is None:
            return True
        if found not in loaded:
            loaded[found] = ImageFont.truetype(found[0], lay.em, index=found[1])
        return bool(loaded[found].getlength(line) <= room)

    return fits


def _family(path: str, index: int) -> str:
    from fontTools.ttLib import TTFont

    with TTFont(path, fontNumber=index, lazy=True) as font:
        return str(font["name"].getBestFamilyName())


# ------------------------------------------------------------------------------- wrapping


def wrap(text: str, chars: int, fits: Callable[[str], bool] | None = None) -> list[str]:
    """``text`` as lines of at most ``chars`` units (and that ``fits`` the frame), broken
    at spaces and between CJK characters (the title cards' rule), inside a word only when
    it alone is too long."""
    from sparkle_motion.function_tools.assemble_ffmpeg.entrypoint import _wrap

    def ok(line: str) -> bool:
        return _units(line) <= chars and (fits is None or fits(line))

    return _wrap(" ".join(text.split()), ok)


def split_cues(
    cues: Sequence[Cue], chars: int, fits: Callable[[str], bool] | None = None
) -> list[tuple[float, float, list[str]]]:
    """Each cue as (start, end, lines) of at most two lines; a longer one becomes
    consecutive cues, its time shared by how many units each shows."""
    out: list[tuple[float, float, list[str]]] = []
    for cue in cues:
        lines = [ln for part in cue.text.splitlines() for ln in wrap(part, chars, fits) if ln]
        if not lines:
            continue
        groups = [lines[i : i + MAX_LINES] for i in range(0, len(lines), MAX_LINES)]
        weights = [max(1, sum(_units(ln) for ln in g)) for g in groups]
        total = sum(weights)
        start = cue.start_s
        span = cue.end_s - cue.start_s
        for g, w in zip(groups, weights, strict=True):
            end = start + span * w / total
            out.append((round(start, 3), round(end, 3), g))
            start = end
    return out


# ------------------------------------------------------------------------------ ASS files


def _ass_time(seconds: float) -> str:
    cs = max(0, round(seconds * 100))
    h, rest = divmod(cs, 360_000)
    m, rest = divmod(rest, 6000)
    s, cs = divmod(rest, 100)
    return f"{h}:{m:02d}:{s:02d}.{cs:02d}"


def _ass_text(line: str) -> str:
    """A line as literal ASS text: braces and backslashes cannot start an override."""
    return line.replace("\\", "\\\u2060").replace("{", "\uff5b").replace("}", "\uff5d")


def ass_document(
    lay: Layout,
    events: Sequence[tuple[float, float, list[str]]],
    tag: Callable[[list[str]], str] = lambda lines: "",
) -> str:
    """An ASS script at the frame's own resolution (sizes are pixels), no auto wrapping;
    ``tag`` gives an event's override block (another font for another script)."""
    head = [
        "[Script Info]",
        "ScriptType: v4.00+",
        f"PlayResX: {lay.width}",
        f"PlayResY: {lay.height}",
        "WrapStyle: 2",
        "ScaledBorderAndShadow: yes",
        "",
        "[V4+ Styles]",
        "Format: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, "
        "BackColour, Bold, Italic, Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, "
        "BorderStyle, Outline, Shadow, Alignment, MarginL, MarginR, MarginV, Encoding",
        f"Style: Default,{lay.font.replace(',', ' ')},{lay.size:g},{lay.colour},{lay.colour},"
        f"&H00000000,&H80000000,{-1 if lay.bold else 0},0,0,0,100,100,0,0,1,{lay.outline:g},"
        f"{max(0.0, lay.outline / 2):g},{lay.align},{lay.margin_h},{lay.margin_h},"
        f"{lay.margin_v},1",
        "",
        "[Events]",
        "Format: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text",
    ]
    body = [
        f"Dialogue: 0,{_ass_time(s)},{_ass_time(e)},Default,,0,0,0,,{tag(lines)}"
        + "\\N".join(_ass_text(ln) for ln in lines)
        for s, e, lines in events
    ]
    return "\n".join(head + body) + "\n"


def segment_events(
    events: Sequence[tuple[float, float, list[str]]], tl: Timeline, segment: Segment
) -> list[tuple[float, float, list[str]]]:
    """The events that show during ``segment``, timed from its first frame."""
    lo = segment.start / tl.fps
    hi = (segment.start + segment.frames) / tl.fps
    return [
        (round(max(s, lo) - lo, 3), round(min(e, hi) - lo, 3), lines)
        for s, e, lines in events
        if s < hi and e > lo
    ]


@dataclass(frozen=True)
class Burn:
    """One segment's subtitles: the ``ass`` filter that draws them, as run and as keyed."""

    run: str
    key: str


def _quoted(path: Path) -> str:
    text = str(path)
    if any(c in text for c in "'\\\n\r\x00:"):
        raise AssemblyError(f"cannot pass {text!r} to the subtitle filter (a quote or colon)")
    return f"'{text}'"


def font_id(lay: Layout) -> list[object]:
    """What of the font decides its pixels: the file's name and size (its folder does not)."""
    if lay.font_file is None:
        return [lay.font]
    return [lay.font, Path(lay.font_file).name, os.path.getsize(lay.font_file), lay.face]


def prepare(
    style: SubtitleStyle,
    tl: Timeline,
    cues: Sequence[Cue],
    segments: Sequence[Segment],
    folder: Path,
) -> list[Burn | None]:
    """The burn of every segment (None where no cue shows), its ASS file written into
    ``folder`` (named by its content) and the font linked into ``folder/fonts``."""
    lay = layout(style, tl.width, tl.height, " ".join(c.text for c in cues))
    events = split_cues(cues, lay.chars, measurer(lay))
    fonts_dir = folder / "fonts"
    fonts_dir.mkdir(parents=True, exist_ok=True)
    used: dict[tuple[str, int], str] = {}  # font -> its override tag ("" for the style's)
    if lay.font_file is not None:
        used[(lay.font_file, lay.face)] = ""
    for _, _, lines in events:
        found = font_of(lay, " ".join(lines))
        if found is not None and found not in used:
            size = round(lay.em * _line_height(*found), 2)
            used[found] = f"{{\\fn{_family(*found)}\\fs{size:g}}}"
    for path, _ in used:
        link = fonts_dir / Path(path).name
        if not link.exists():
            try:
                link.symlink_to(path)
            except FileExistsError:
                pass

    def tag(lines: list[str]) -> str:
        found = font_of(lay, " ".join(lines))
        return used.get(found, "") if found is not None else ""

    fid = [font_id(lay), *([Path(p).name, os.path.getsize(p), i] for p, i in used)]
    out: list[Burn | None] = []
    for seg in segments:
        mine = segment_events(events, tl, seg)
        if not mine:
            out.append(None)
            continue
        text = ass_document(lay, mine, tag)
        digest = hashlib.sha256(f"{ASS_FORMAT}\n{text}".encode()).hexdigest()
        path = folder / f"{digest}.ass"
        if not path.is_file():
            tmp = path.with_name(f".{path.name}.{os.getpid()}.part")
            tmp.write_text(text, encoding="utf-8")
            os.replace(tmp, path)
        run = f"ass=filename={_quoted(path)}:fontsdir={_quoted(fonts_dir)}:shaping=complex"
        key = f"ass=sha256:{digest}:fonts={fid}:format={ASS_FORMAT}"
        out.append(Burn(run, key))
    return out
