"""File names made from titles, readable in any script (a movie's default name).

A title is a sentence in any language: "Un niño encuentra un dragón" should name
``un-niño-encuentra-un-dragón.mp4`` and a Chinese title a Chinese file name, not ``movie.mp4``.
So letters and digits of every script are kept (after NFKC, which folds full-width and
compatibility forms), and everything else, spaces, punctuation, symbols and the characters
Windows, macOS or Linux refuse in names (``<>:"/\\|?*``, controls), becomes one ``-``. The
result is short enough for any file system (60 characters and 180 UTF-8 bytes; most allow
255 bytes per name), is never a name Windows reserves (``con``, ``com1``), and falls back to
a given name when nothing is left.
"""

from __future__ import annotations

import unicodedata

__all__ = ["slug"]

MAX_CHARS = 60
MAX_BYTES = 180
_WINDOWS_RESERVED = {
    "con", "prn", "aux", "nul", "conin$", "conout$",
    *(f"com{i}" for i in "123456789¹²³"), *(f"lpt{i}" for i in "123456789¹²³"),
}  # fmt: skip


def _kept(ch: str, previous_kept: bool) -> bool:
    """Letters and digits of any script, and the marks (accents, vowel signs) on them."""
    category = unicodedata.category(ch)
    return category[0] in "LN" or (category[0] == "M" and previous_kept)


def _cut(text: str, max_chars: int, max_bytes: int) -> str:
    """``text`` within both limits, cut at a ``-`` where one is near the end, and never
    between a letter and its marks."""
    end = min(len(text), max_chars)
    while len(text[:end].encode("utf-8")) > max_bytes:
        end -= 1
    if end == len(text):
        return text
    while end > 0 and unicodedata.category(text[end])[0] == "M":
        end -= 1  # keep a letter together with its accents or vowel signs
    dash = text.rfind("-", 0, end + 1)
    if dash > end * 2 // 3:
        end = dash
    return text[:end]


def slug(text: str, fallback: str = "movie") -> str:
    """``text`` as a file name stem: lower case, letters and digits of any script joined by
    ``-``, at most 60 characters and 180 UTF-8 bytes; ``fallback`` when nothing is left."""
    out: list[str] = []
    kept = False
    for ch in unicodedata.normalize("NFKC", text).lower():
        if _kept(ch, kept):
            out.append(ch)
            kept = True
        else:
            if out and out[-1] != "-":
                out.append("-")
            kept = False
    name = _cut("".join(out).strip("-"), MAX_CHARS, MAX_BYTES).strip("-")
    if not name:
        return fallback
    if name in _WINDOWS_RESERVED:
        return f"{name}-{fallback}"
    return name
