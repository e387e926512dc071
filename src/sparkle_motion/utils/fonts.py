"""A font that has the glyphs of a text, for text drawn into pictures (title cards, subtitles).

Pillow's own font covers Latin only: Chinese drawn with it is a row of boxes ("tofu"). The
Noto Sans CJK collection (``noto-cjk[sans]``, a dependency, so every install has it) draws
Han, kana and hangul, and Latin, Greek and Cyrillic as well, so it is the font for all of
those and a movie's cards look the same on every machine. Its face follows the text: the
same Han character is written differently in China, Japan, Korea and Taiwan, so kana picks
the Japanese face, hangul the Korean one, and Han alone the Simplified Chinese one unless a
language says otherwise (``zh-TW``, ``ja``). Text the collection lacks glyphs for (Arabic,
Hebrew, Devanagari, Thai, ...) gets the installed system font that draws most of it (DejaVu
Sans, FreeSans, a Noto Sans of that script), and Pillow's own font when nothing else exists.

Coverage is read from each font's cmap (fontTools) and cached. Reads no config, so function
tools may use it; Pillow, fontTools and noto_cjk are imported on first use.
"""

from __future__ import annotations

import functools
import os
import re
import unicodedata
from pathlib import Path
from typing import Any

__all__ = ["font_for_text", "font_path_for_text", "missing_glyphs"]

# faces of NotoSansCJK-Regular.ttc (checked with ImageFont.truetype(...).getname())
CJK_FACES = {"ja": 0, "ko": 1, "zh-hans": 2, "zh-hant": 3, "zh-hk": 4}
_DEFAULT_CJK_FACE = CJK_FACES["zh-hans"]
_LANGUAGE_FACES = {
    "ja": "ja",
    "jp": "ja",
    "ko": "ko",
    "zh": "zh-hans",
    "zh-cn": "zh-hans",
    "zh-sg": "zh-hans",
    "zh-hans": "zh-hans",
    "cmn": "zh-hans",
    "zh-tw": "zh-hant",
    "zh-hant": "zh-hant",
    "zh-mo": "zh-hk",
    "zh-hk": "zh-hk",
    "yue": "zh-hk",
}
# system fonts worth trying for the scripts the CJK collection lacks, best first
_SYSTEM_FONT_DIRS = (
    "/usr/share/fonts",
    "/usr/local/share/fonts",
    "~/.local/share/fonts",
    "~/.fonts",
    "/Library/Fonts",
    "/System/Library/Fonts",
    "~/Library/Fonts",
    os.path.join(os.environ.get("WINDIR", "C:\\Windows"), "Fonts"),
)
_SYSTEM_FONT_NAMES = ("DejaVuSans.ttf", "FreeSans.ttf", "NotoSans-Regular.ttf", "Arial.ttf")
_NOTO_SCRIPT_FONT = re.compile(r"NotoSans[A-Z][A-Za-z]*-Regular\.(ttf|otf)$")


def _drawn(text: str) -> list[str]:
    """The characters of ``text`` that need a glyph (not spaces, controls or joiners)."""
    return [ch for ch in dict.fromkeys(text) if unicodedata.category(ch)[0] not in "ZC"]


def _script_face(text: str, language: str | None) -> int:
    """The face of the CJK collection for ``text``: kana → JP, hangul → KR, else by language."""
    tag = (language or "").replace("_", "-").lower()
    face = _LANGUAGE_FACES.get(tag) or _LANGUAGE_FACES.get(tag.split("-")[0])
    for ch in text:
        cp = ord(ch)
        if 0x3040 <= cp <= 0x30FF or 0x31F0 <= cp <= 0x31FF or 0xFF66 <= cp <= 0xFF9F:
            return CJK_FACES["ja"]
        if 0xAC00 <= cp <= 0xD7AF or 0x1100 <= cp <= 0x11FF or 0x3130 <= cp <= 0x318F:
            return CJK_FACES["ko"]
    return CJK_FACES[face] if face else _DEFAULT_CJK_FACE


@functools.lru_cache(maxsize=1)
def _cjk_path() -> str | None:
    try:
        import noto_cjk

        path = Path(noto_cjk.otc_path("sans"))
    except Exception:  # not installed, or the font package is missing: fall back
        return None
    return str(path) if path.is_file() else None


@functools.lru_cache(maxsize=1)
def _system_fonts() -> tuple[str, ...]:
    """Installed system fonts worth trying, best first (found once per process)."""
    named: dict[str, str] = {}
    scripts: list[str] = []
    for folder in _SYSTEM_FONT_DIRS:
        root = Path(folder).expanduser()
        if not root.is_dir():
            continue
        for dirpath, _, files in os.walk(root):
            for name in sorted(files):
                if name in _SYSTEM_FONT_NAMES:
                    named.setdefault(name, os.path.join(dirpath, name))
                elif _NOTO_SCRIPT_FONT.match(name):
                    scripts.append(os.path.join(dirpath, name))
    ordered = [named[n] for n in _SYSTEM_FONT_NAMES if n in named]
    return tuple(ordered + sorted(scripts))


@functools.lru_cache(maxsize=32)
def _cmap(path: str, index: int) -> frozenset[int]:
    from fontTools.ttLib import TTFont

    try:
        with TTFont(path, fontNumber=index, lazy=True) as font:
            return frozenset(font.getBestCmap() or ())
    except Exception:  # an unreadable font covers nothing
        return frozenset()


def missing_glyphs(text: str, path: str, index: int = 0) -> str:
    """The characters of ``text`` (each once) that the font at ``path`` has no glyph for."""
    cmap = _cmap(path, index)
    return "".join(ch for ch in _drawn(text) if ord(ch) not in cmap)


def font_path_for_text(text: str, language: str | None = None) -> tuple[str, int] | None:
    """(font file, face index) of the font that draws the most of ``text``.

    The Noto Sans CJK face for the text's script (see the module's docstring) when it draws
    everything; otherwise whichever of it and the system fonts draws the most characters
    (the CJK face on a tie). None when no font file is found at all (then only Pillow's own
    font is left: :func:`font_for_text` uses it).

    Args:
        language: a language tag (``zh-TW``, ``ja``) that picks the face for Han text.
    """
    chars = _drawn(text)
    best: tuple[str, int] | None = None
    best_count = -1
    cjk = _cjk_path()
    if cjk is not None:
        best = (cjk, _script_face(text, language))
        best_count = len(chars) - len(missing_glyphs(text, *best))
        if best_count == len(chars):
            return best
    for path in _system_fonts():
        count = len(chars) - len(missing_glyphs(text, path))
        if count > best_count:
            best, best_count = (path, 0), count
            if count == len(chars):
                break
    return best


def font_for_text(text: str, size: int, language: str | None = None) -> Any:
    """A Pillow font of ``size`` pixels that draws ``text`` (see :func:`font_path_for_text`).

    Returns a ``PIL.ImageFont.FreeTypeFont``; Pillow's own font when there is no font file
    (or no FreeType in this Pillow).
    """
    from PIL import ImageFont

    found = font_path_for_text(text, language)
    if found is not None:
        try:
            return ImageFont.truetype(found[0], size, index=found[1])
        except OSError:
            pass
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, ImportError, OSError):  # a Pillow without FreeType
        return ImageFont.load_default()
