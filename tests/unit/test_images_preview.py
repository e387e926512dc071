"""The images_sdxl preview provider: illustrated storyboard frames, checked by their pixels."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from sparkle_motion.function_tools.images_sdxl import preview
from sparkle_motion.function_tools.images_sdxl.storyboard import compose
from sparkle_motion.function_tools.images_sdxl.storyboard.glyphs import has_glyph, main_colours
from sparkle_motion.function_tools.images_sdxl.storyboard.settings import read_setting
from sparkle_motion.function_tools.images_sdxl.storyboard.shapes import (
    DRAWERS,
    LIGHTHOUSE_RED,
    LIGHTHOUSE_WHITE,
)
from sparkle_motion.function_tools.images_sdxl.storyboard.subjects import (
    cast,
    lookup,
    match,
    picture,
    singulars,
)
from sparkle_motion.planner.story import ANIMATE, write_draft

WHALE_PROMPT = (
    "storybook watercolor illustration, soft pastel palette. A lighthouse keeper and a whale "
    "meeting for the first time, a rocky coast by the open sea, waves breaking on dark "
    "stones, on a bright afternoon."
)
# ideas of every kind the offline planner tells stories about
IDEAS = [
    "a lighthouse keeper befriends a whale",
    "A lonely robot falls in love with the moon",
    "an astronaut finds a puppy on Mars",
    "a girl walks through the woods with a fox",
    "Luna the cat explores Tokyo at night",
    "two friends build a raft to cross the river",
    "a chef who cooks for ghosts",
    "The last dragon guards a library under the sea",
    "dragons",
    "a knight and a baker",
    "a boy who learns to fly",
    "an old fisherman catches a golden fish that grants wishes",
    "A detective penguin solves a mystery in Paris",
    "my grandmother's garden in winter",
    "the sun and the wind argue about who is stronger",
    "a tiny snail races a hare across the meadow",
    "a shy octopus opens a bakery under the sea",
    "a farmer's scarecrow comes to life",
    "an owl teaches a mouse to read",
    "a kite escapes into the sky and sees the whole world",
    "a camel crosses the desert to find the sea",
    "a yeti who is afraid of snow",
    "an alien gets lost in a supermarket",
    "a princess rescues a dragon from a knight",
    "a clockmaker builds a clock that can stop time",
    "a little cloud that could not rain",
    "a bear cub wakes up too early from hibernation",
    "a pirate who hates water",
    "a street musician in New York finds a magic violin",
    "a teacher and her class build a rocket",
    "a raccoon runs a tiny hotel for forest animals",
    "the last leaf on a tree refuses to fall",
]


def _png(item: dict) -> Image.Image:
    img = Image.open(io.BytesIO(item["data"]))
    img.load()
    return img


def _pixels(img: Image.Image, box: tuple[int, int, int, int] | list[int]) -> np.ndarray:
    x0, y0, x1, y1 = (int(v) for v in box)
    x0, y0 = max(0, x0), max(0, y0)
    return np.asarray(img.convert("RGB"))[y0:y1, x0:x1].reshape(-1, 3).astype(int)


def _share(px: np.ndarray, colour: tuple[int, int, int], tol: int = 0) -> float:
    """Fraction of pixels within ``tol`` (per channel) of ``colour``."""
    return float((np.abs(px - np.array(colour)).max(axis=1) <= tol).mean())


# ------------------------------------------------------------------------ the provider


@pytest.mark.parametrize("size", [(1280, 720), (720, 1280), (512, 512)])
def test_requested_size_rgb_png(size: tuple[int, int]) -> None:
    width, height = size
    items = preview.render(WHALE_PROMPT, 2, 7, {"width": width, "height": height})
    assert len(items) == 2
    for index, item in enumerate(items):
        img = _png(item)
        assert img.format == "PNG"
        assert img.mode == "RGB"
        assert img.size == size
        assert img.info.get("srgb") == 0  # an sRGB chunk
        meta = item["metadata"]
        assert meta["provider"] == "images_sdxl/preview"
        assert meta["model_id"] == "openmoji-storyboard"
        assert meta["device"] == "cpu"
        assert (meta["width"], meta["height"], meta["index"]) == (width, height, index)
        assert meta["seed"] == 7 + index
        assert meta["background"]["kind"] == "sea"
        assert {"whale", "keeper"} <= {s["word"] for s in meta["subjects"]}


def test_same_inputs_same_bytes() -> None:
    opts = {"width": 640, "height": 360}
    first = preview.render(WHALE_PROMPT, 2, 11, opts)
    again = preview.render(WHALE_PROMPT, 2, 11, opts)
    assert [i["data"] for i in first] == [i["data"] for i in again]
    assert first[0]["data"] != first[1]["data"]  # image i uses seed + i


def test_image_i_uses_seed_plus_i() -> None:
    opts = {"width": 320, "height": 180}
    batch = preview.render(WHALE_PROMPT, 2, 20, opts)
    single = preview.render(WHALE_PROMPT, 1, 21, opts)
    assert batch[1]["data"] == single[0]["data"]


def test_different_seed_different_pixels() -> None:
    a = np.asarray(compose(WHALE_PROMPT, 1, 640, 360).image, dtype=int)
    b = np.asarray(compose(WHALE_PROMPT, 2, 640, 360).image, dtype=int)
    assert np.abs(a - b).mean() > 5


def test_scenes_of_one_story_differ_clearly() -> None:
    draft = write_draft("a lighthouse keeper befriends a whale")
    dawn = next(s.image_prompt for s in draft.scenes if "at dawn" in s.image_prompt)
    storm = next(s.image_prompt for s in draft.scenes if "stormy night" in s.image_prompt)
    a = compose(dawn, 5, 640, 360)
    b = compose(storm, 5, 640, 360)
    assert (a.setting.time, b.setting.time) == ("dawn", "night")
    assert "storm" in b.setting.weather
    pa, pb = np.asarray(a.image, dtype=float), np.asarray(b.image, dtype=float)
    assert np.abs(pa - pb).mean() > 25
    assert pb.mean() < pa.mean() - 20  # the stormy night is darker


# ------------------------------------------------------------------------ what is drawn


def test_whale_drawn_in_the_water_where_the_layout_says() -> None:
    frame = compose(WHALE_PROMPT, 3, 1280, 720)
    whale = next(p for p in frame.placements if p.word == "whale")
    assert whale.role == "subject" and whale.zone == "water" and whale.chars
    assert whale.box[1] > frame.stage.horizon - (whale.box[3] - whale.box[1]) * 0.6
    px = _pixels(frame.image, whale.box)
    colours = main_colours(whale.chars, extent=whale.box[2] - whale.box[0])
    body = [c for c in colours if c != (0, 0, 0)][:2]  # the glyph's own fills, not its ink
    assert sum(_share(px, c) for c in body) > 0.08
    # and not by accident: those colours are rare in a strip of sky far from the whale
    sky = _pixels(frame.image, (0, 0, 1280, 20))
    assert sum(_share(sky, c) for c in body) < 0.01


def test_lighthouse_keeper_frame_shows_keeper_whale_and_a_drawn_lighthouse() -> None:
    frame = compose(WHALE_PROMPT, 4, 1280, 720)
    by_word = {p.word: p for p in frame.placements}
    keeper, whale, tower = by_word["keeper"], by_word["whale"], by_word["lighthouse"]
    assert keeper.picture == "person_standing" and keeper.zone == "ground"
    assert whale.picture == "spouting_whale"
    assert tower.picture == "shape:lighthouse" and tower.chars is None
    assert [p.word for p in frame.subjects][:2] == ["keeper", "whale"]
    # characters are drawn at one size, whichever the prompt names first
    size = {p.word: max(p.box[2] - p.box[0], p.box[3] - p.box[1]) for p in frame.subjects}
    assert 0.85 < size["keeper"] / size["whale"] < 1.15
    px = _pixels(frame.image, tower.box)
    assert _share(px, LIGHTHOUSE_RED, tol=12) > 0.05  # red stripes
    assert _share(px, LIGHTHOUSE_WHITE, tol=12) > 0.05  # white stripes
    keeper_px = _pixels(frame.image, keeper.box)
    keeper_fill = next(c for c in main_colours(keeper.chars or "") if c != (0, 0, 0))
    assert _share(keeper_px, keeper_fill) > 0.05


def test_subjects_sit_where_they_belong() -> None:
    prompt = "a bird and a fox in a quiet green valley with rolling hills, on a bright afternoon"
    frame = compose(prompt, 9, 1280, 720)
    bird = next(p for p in frame.placements if p.word == "bird")
    fox = next(p for p in frame.placements if p.word == "fox")
    assert bird.zone == "sky" and fox.zone == "ground"
    assert bird.box[3] < fox.box[3]  # the bird flies above the fox's feet
    assert fox.box[3] > frame.stage.horizon  # the fox stands on the ground, below the horizon


def test_portrait_frame_keeps_subjects_inside() -> None:
    frame = compose(WHALE_PROMPT, 6, 720, 1280)
    for p in frame.subjects:
        x0, y0, x1, y1 = p.box
        assert -2 <= x0 < x1 <= 722 and -2 <= y0 < y1 <= 1282


def test_prompt_text_is_not_drawn_and_no_blank_boxes() -> None:
    # every drawn picture is a real glyph or a drawn shape: never a missing-glyph box
    frame = compose(WHALE_PROMPT, 8, 640, 360)
    for p in frame.placements:
        assert (p.chars is not None and has_glyph(p.chars)) or p.picture.startswith("shape:")


def test_no_known_subject_still_a_pleasant_distinct_frame() -> None:
    a = compose("an abstract feeling of nostalgia", 1, 640, 360)
    b = compose("a quiet sense of wonder", 1, 640, 360)
    assert not a.subjects and not b.subjects
    pa, pb = np.asarray(a.image, dtype=float), np.asarray(b.image, dtype=float)
    assert pa.std() > 20 and pb.std() > 20  # not flat
    assert np.abs(pa - pb).mean() > 10
    assert a.placements  # something to look at besides the background


# ------------------------------------------------------------------------ words to pictures


def test_plurals_and_possessives() -> None:
    assert singulars("whales")[:2] == ["whales", "whale"]
    assert "mouse" in singulars("mice")
    assert "wolf" in singulars("wolves")
    assert "puppy" in singulars("puppies")
    assert "fox" in singulars("foxes")
    assert singulars("farmer's") == ["farmer"]
    assert singulars("bus") == ["bus"]


@pytest.mark.parametrize(
    ("word", "base", "name"),
    [
        ("whale", "whale", "spouting_whale"),
        ("whales", "whale", "spouting_whale"),
        ("keeper", "keeper", "person_standing"),
        ("keepers", "keeper", "person_standing"),
        ("sailor", "sailor", "person_rowing_boat"),
        ("sailors", "sailor", "person_rowing_boat"),
        ("mice", "mice", "mouse"),
        ("wolves", "wolf", "wolf"),
        ("puppies", "puppy", "dog"),
        ("farmer's", "farmer", "farmer"),
        ("dragons", "dragon", "dragon"),
        ("cat", "cat", "cat"),
        ("lighthouse", "lighthouse", "shape:lighthouse"),
    ],
)
def test_word_to_picture(word: str, base: str, name: str) -> None:
    hit = lookup(word)
    assert hit is not None
    assert hit[0] == base
    assert hit[1].name == name


def test_cat_is_the_whole_cat_not_a_face() -> None:
    hit = lookup("cat")
    assert hit is not None and hit[1].chars == "\U0001f408"


def test_lighthouse_has_no_glyph_so_it_is_drawn() -> None:
    assert not has_glyph("\U0001f6d9")  # OpenMoji 17 lacks U+1F6D9 LIGHTHOUSE
    assert picture("lighthouse") is None
    hit = lookup("lighthouse")
    assert hit is not None and hit[1].chars is None and hit[1].shape == "lighthouse"


def test_phrases_and_stop_words() -> None:
    names = [m.picture.name for m in match("a polar bear on a new boat, up on the sea")]
    assert names[0] == "polar_bear"
    assert "bear" not in names  # one bear, not a pole and a bear
    assert not {"NEW_button", "UP!_button"} & set(names)
    styles = "paper cut-out illustration, layered textured shapes. oil painting, clay, film still"
    assert match(styles) == []


def test_cast_lead_landmark_and_props() -> None:
    roles = cast(WHALE_PROMPT)
    assert [m.word for m in roles.subjects] == ["keeper", "whale"]
    assert [m.word for m in roles.landmarks] == ["lighthouse"]
    assert [m.word for m in cast("A detective penguin solves a mystery").subjects] == ["penguin"]
    sun_wind = cast("The sun and the wind arguing, a quiet green valley, at dawn")
    assert [m.word for m in sun_wind.subjects] == ["sun", "wind"]
    fog = cast("A keeper caught in thick grey fog over the water, at night")
    assert [m.word for m in fog.subjects] == ["keeper"]


def test_every_planner_word_resolves_to_a_real_picture() -> None:
    words: set[str] = set()
    for idea in IDEAS:
        for scene in write_draft(idea).scenes:
            for m in match(scene.image_prompt):
                words.add(m.word)
                pic = m.picture
                assert (pic.chars and has_glyph(pic.chars)) or pic.shape in DRAWERS, m
    assert {"keeper", "whale", "lighthouse", "robot", "fox", "owl", "dragon"} <= words
    for word in ANIMATE:  # every character the planner can name
        hit = lookup(word)
        assert hit is not None, word
        pic = hit[1]
        assert (pic.chars and has_glyph(pic.chars)) or pic.shape in DRAWERS, word


def test_every_planner_scene_leads_with_its_hero() -> None:
    for idea, hero in [
        ("a lighthouse keeper befriends a whale", "keeper"),
        ("an owl teaches a mouse to read", "owl"),
        ("a girl walks through the woods with a fox", "girl"),
        ("a shy octopus opens a bakery under the sea", "octopus"),
    ]:
        for scene in write_draft(idea).scenes:
            assert cast(scene.image_prompt).subjects[0].word == hero, scene.image_prompt


# ------------------------------------------------------------------------ places and times


@pytest.mark.parametrize(
    ("text", "kind", "time"),
    [
        ("a rocky coast by the open sea, at dawn", "sea", "dawn"),
        ("deep blue water with coral, swaying kelp, in soft morning light", "underwater", "morning"),
        ("an old green forest with tall trees, on a bright afternoon", "forest", "day"),
        ("outer space with glowing planets and a field of stars", "space", "night"),
        ("a busy city street with tall buildings, in late afternoon light", "city", "golden"),
        ("snowy mountain peaks above a quiet valley, at golden sunset", "mountain", "sunset"),
        ("golden sand dunes under a blazing sun, as the first light breaks", "desert", "dawn"),
        ("a small red farm with fields, a barn, in the cold blue hour before sunrise", "farm",
         "bluehour"),
        ("a cosy house with warm lamps, books and a garden, under a stormy night sky", "room",
         "night"),
        ("a bright sky full of soft clouds above green hills", "sky", "day"),
        ("a quiet green valley with rolling hills and a winding river, at dawn", "meadow", "dawn"),
    ],
)  # fmt: skip
def test_setting_words(text: str, kind: str, time: str) -> None:
    setting = read_setting(text)
    assert (setting.kind, setting.time) == (kind, time)


@pytest.mark.parametrize(
    "prompt",
    [
        "a fox in an old green forest with tall trees, at dawn",
        "a robot in a busy city street with tall buildings, at night",
        "an octopus in deep blue water with coral and kelp",
        "an astronaut on Mars, outer space with planets and stars",
        "a camel among golden sand dunes under a blazing sun",
        "a goat on snowy mountain peaks above a quiet valley, in a blizzard",
        "a cow on a small red farm with fields, a barn and a wooden fence",
        "a cat in a cosy house with warm lamps and books, at night",
        "a kite in a bright sky full of soft clouds",
        "a princess by a stone castle on a green hill",
    ],
)
def test_every_place_paints_a_textured_scene(prompt: str) -> None:
    frame = compose(prompt, 2, 480, 270)
    px = np.asarray(frame.image, dtype=float)
    assert px.std() > 18  # a painted scene, not a flat colour
    assert px.mean(axis=(1, 2)).std() > 4  # sky above, ground below: it changes down the frame
    assert frame.subjects, prompt
