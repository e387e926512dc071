"""Title cards (assemble_ffmpeg.entrypoint.draw_title_card): any script, wrapped inside the card."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from sparkle_motion.function_tools.assemble_ffmpeg.entrypoint import _wrap, draw_title_card

SIZE = (640, 360)
NOTDEF = "\U0010fffd"  # no font draws it: its glyph is the font's tofu box


def card(tmp_path: Path, text: str, size: tuple[int, int] = SIZE) -> np.ndarray:
    path = draw_title_card(text, size, tmp_path / f"{abs(hash(text))}.png")
    with Image.open(path) as img:
        return np.asarray(img.convert("L")).astype(np.int16)


def ink(a: np.ndarray) -> np.ndarray:
    return a > 128  # the text is near white on a dark card


def line_bands(mask: np.ndarray) -> int:
    """Horizontal runs of rows that have ink: the lines of text."""
    rows = mask.any(axis=1).astype(np.int8)
    return int(((rows[1:] == 1) & (rows[:-1] == 0)).sum() + rows[0])


def test_chinese_characters_are_drawn_not_tofu(tmp_path: Path) -> None:
    chars = "小猫在月球上寻找朋友"
    tofu = ink(card(tmp_path, NOTDEF))
    drawn = [ink(card(tmp_path, ch)) for ch in chars]
    assert all(d.sum() > 50 for d in drawn)  # real ink for every character
    assert all(not np.array_equal(d, tofu) for d in drawn)
    shapes = {d.tobytes() for d in drawn}
    assert len(shapes) == len(chars)  # each character its own glyph
    # a whole title too: unlike the same number of tofu boxes
    assert not np.array_equal(ink(card(tmp_path, chars)), ink(card(tmp_path, NOTDEF * len(chars))))


def test_long_chinese_title_wraps_inside_the_card(tmp_path: Path) -> None:
    title = "小猫在月球上寻找朋友，它走过了很多陨石坑，终于遇见了一只会唱歌的机器人。"
    mask = ink(card(tmp_path, title))
    h, w = mask.shape
    assert line_bands(mask) >= 2  # no spaces, and still wrapped
    ys, xs = np.nonzero(mask)
    assert xs.min() >= 0.05 * w and xs.max() <= 0.95 * w
    assert ys.min() >= 0.05 * h and ys.max() <= 0.95 * h


def test_spanish_title_keeps_its_accents(tmp_path: Path) -> None:
    plain = ink(card(tmp_path, "Un nino encuentra un dragon"))
    accented = ink(card(tmp_path, "Un niño encuentra un dragón"))
    assert accented.sum() > plain.sum()  # the tilde and the accent are drawn


def test_wrap_breaks_between_cjk_characters_and_at_spaces() -> None:
    text = "小猫在月球上，寻找朋友。"
    lines = _wrap(text, lambda s: len(s) <= 5)
    assert "".join(lines) == text
    assert all(len(line) <= 5 for line in lines)
    assert not any(line[0] in "，。" for line in lines)  # punctuation stays with its character
    assert _wrap("Hello 世界 wonderful", lambda s: len(s) <= 8) == [
        "Hello 世界",
        "wonderfu",
        "l",
    ]
    assert _wrap("Un niño encuentra", lambda s: len(s) <= 10) == ["Un niño", "encuentra"]
