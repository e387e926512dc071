"""utils/filenames.slug: a title as a file name, readable in any script."""

from __future__ import annotations

import pytest

from sparkle_motion.utils.filenames import MAX_BYTES, MAX_CHARS, slug


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("Un niño encuentra un dragón en el bosque", "un-niño-encuentra-un-dragón-en-el-bosque"),
        ("¿Dónde está Ñandú?", "dónde-está-ñandú"),
        ("小猫在月球上寻找朋友", "小猫在月球上寻找朋友"),
        ("小猫，在月球上！", "小猫-在月球上"),
        ("The Lighthouse Keeper's Whale", "the-lighthouse-keeper-s-whale"),
        ("Ｆｕｌｌ　ｗｉｄｔｈ　１２３", "full-width-123"),  # NFKC
        ("Привет, мир", "привет-мир"),
        ("नमस्ते दुनिया", "नमस्ते-दुनिया"),  # vowel signs stay on their letters
        ("こんにちは 世界", "こんにちは-世界"),
        ("Café Ü-Boot", "café-ü-boot"),
    ],
)
def test_slug_keeps_letters_of_any_script(title: str, expected: str) -> None:
    assert slug(title) == expected


def test_path_unsafe_characters_become_separators() -> None:
    name = slug('a/b\\c:d*e?f"g<h>i|j\x00k\nl\tm..n ~$%&@!#')
    assert name == "a-b-c-d-e-f-g-h-i-j-k-l-m-n"
    assert slug("../../etc/passwd") == "etc-passwd"
    assert slug("\u202eevil\u200b") == "evil"  # bidi and zero-width format characters go
    assert slug("CON") == "con-movie" and slug("com1") == "com1-movie"  # Windows reserves them


@pytest.mark.parametrize("title", ["", "   ", "!!! ??? ...", "🐉🔥", "\x00\x01"])
def test_nothing_left_falls_back(title: str) -> None:
    assert slug(title) == "movie"
    assert slug(title, "plan") == "plan"


def test_long_titles_are_cut_within_characters_and_bytes() -> None:
    chinese = "一只小猫在月球上寻找它的朋友" * 10
    name = slug(chinese)
    assert chinese.startswith(name)
    assert len(name) <= MAX_CHARS and len(name.encode("utf-8")) <= MAX_BYTES
    assert len(name) == 60 and len(name.encode("utf-8")) == 180  # at both limits
    long_latin = "the dragon and the boy walked " * 10
    cut = slug(long_latin)
    assert len(cut) <= MAX_CHARS and not cut.endswith("-")
    assert long_latin.replace(" ", "-").startswith(cut + "-")  # cut between words
    hindi = slug("नमस्ते " * 30)
    assert len(hindi.encode("utf-8")) <= MAX_BYTES and not hindi.endswith("-")
    assert hindi.split("-")[-1] == "नमस्ते"  # not cut inside a word (MAX_BYTES)


def test_the_cli_names_a_movie_by_its_title_in_its_own_script() -> None:
    from sparkle_motion.cli import _slug

    assert _slug("小猫在月球上寻找朋友") == "小猫在月球上寻找朋友"
    assert _slug("Un niño encuentra un dragón") == "un-niño-encuentra-un-dragón"
    assert _slug("???") == "movie"
