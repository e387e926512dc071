"""utils/fonts.py: a font that draws the text's script (no tofu boxes)."""

from __future__ import annotations

import pytest
from PIL import Image, ImageDraw, ImageFont

from sparkle_motion.utils import fonts

CHINESE = "小猫在月球上寻找朋友"
NOT_A_CHARACTER = "\U0010fffd"  # private use: no font draws it, every font shows .notdef


def ink(font: ImageFont.FreeTypeFont, ch: str) -> bytes:
    """The pixels ``font`` draws for ``ch`` alone on a fixed canvas."""
    img = Image.new("L", (80, 80))
    ImageDraw.Draw(img).text((10, 10), ch, font=font, fill=255)
    return img.tobytes()


def test_chinese_gets_the_cjk_face_and_every_glyph() -> None:
    path, index = fonts.font_path_for_text(CHINESE)
    assert path.endswith(".ttc") and fonts.missing_glyphs(CHINESE, path, index) == ""
    font = fonts.font_for_text(CHINESE, 40)
    assert font.getname()[0] == "Noto Sans CJK SC"
    tofu = ink(font, NOT_A_CHARACTER)
    drawn = [ink(font, ch) for ch in CHINESE]
    assert all(any(d) for d in drawn)  # ink for every character
    assert tofu not in drawn and len(set(drawn)) == len(CHINESE)  # each its own glyph


def test_pillows_own_font_would_draw_tofu() -> None:
    """The check above does catch tofu: Pillow's own font draws .notdef for Chinese."""
    font = ImageFont.load_default(size=40)
    drawn = {ink(font, ch) for ch in CHINESE}
    assert drawn == {ink(font, NOT_A_CHARACTER)}


@pytest.mark.parametrize(
    ("text", "language", "face"),
    [
        ("小猫", None, "Noto Sans CJK SC"),
        ("小猫", "zh-TW", "Noto Sans CJK TC"),
        ("小猫", "zh_HK", "Noto Sans CJK HK"),
        ("子供がねこを見た", None, "Noto Sans CJK JP"),
        ("고양이", None, "Noto Sans CJK KR"),
        ("猫", "ja", "Noto Sans CJK JP"),
        ("Un niño ¿dónde? Ça, Größe, Привет", None, "Noto Sans CJK SC"),
    ],
)
def test_face_follows_the_script(text: str, language: str | None, face: str) -> None:
    font = fonts.font_for_text(text, 20, language)
    assert font.getname()[0] == face
    assert fonts.missing_glyphs(text, *fonts.font_path_for_text(text, language)) == ""


def test_text_the_cjk_font_lacks_goes_to_the_font_that_draws_most(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cjk = fonts.font_path_for_text("x")[0]
    monkeypatch.setattr(fonts, "_system_fonts", lambda: ("/nonexistent/Font.ttf",))
    assert fonts.font_path_for_text("שלום") == (cjk, 2)  # nothing better: the CJK face
    monkeypatch.setattr(fonts, "_cjk_path", lambda: None)
    assert fonts.font_path_for_text("שלום") == ("/nonexistent/Font.ttf", 0)
    monkeypatch.setattr(fonts, "_system_fonts", lambda: ())
    assert fonts.font_path_for_text("hello") is None
    font = fonts.font_for_text("hello", 30)  # Pillow's own font, still usable
    assert ImageDraw.Draw(Image.new("L", (10, 10))).textlength("hello", font=font) > 0


def test_spaces_and_controls_need_no_glyph() -> None:
    path, index = fonts.font_path_for_text("a b")
    assert fonts.missing_glyphs("a\u200db \n\t", path, index) == ""
