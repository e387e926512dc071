"""The storyboard draws what a scene's line says: how many, where, how big, in what mood."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from sparkle_motion.function_tools.images_sdxl import preview
from sparkle_motion.function_tools.images_sdxl.storyboard import compose, faces, glyphs
from sparkle_motion.function_tools.images_sdxl.storyboard.compose import MAX_DRAWN
from sparkle_motion.function_tools.images_sdxl.storyboard.moods import (
    GLOOMY,
    MOODS,
    SMILING,
    read_mood,
)
from sparkle_motion.function_tools.images_sdxl.storyboard.settings import read_setting
from sparkle_motion.function_tools.images_sdxl.storyboard.shapes import DRAWERS
from sparkle_motion.function_tools.images_sdxl.storyboard.subjects import (
    lookup,
    match,
    picture,
)

# the image prompts the offline planner writes (English, whatever the idea's language)
TREEHOUSE = (
    "storybook watercolor illustration, soft pastel palette. Two kids nailing boards to a "
    "treehouse in a big oak tree, looking excited, a forest in late afternoon light."
)
PARIS = (
    "paper cut-out illustration. A chef in her kitchen in Paris tasting soup with a spoon, "
    "looking worried, the Eiffel Tower beyond the window, at night."
)
MOON = (
    "bright flat vector illustration. A kitten searching among grey craters on the moon, "
    "looking lonely, the Earth in a black sky."
)
PIRATES = (
    "oil painting. Three pirates clinging to their ship in a storm at sea, looking afraid, "
    "lightning and huge waves."
)
STUDIO = (
    "soft 3D clay look. A robot holding a paintbrush in front of an easel with a canvas, "
    "looking proud, a sunny studio."
)
FIVE = [TREEHOUSE, PARIS, MOON, PIRATES, STUDIO]
MORE = [
    "watercolor. A teacher and two students in a classroom, looking curious, morning light.",
    "flat vector illustration. Three kids at a birthday party with balloons and a cake, "
    "looking joyful, a cosy room.",
    "paper cut-out illustration. A girl with an umbrella waiting at a bus stop in the rain, "
    "looking tired, a city street at dusk.",
    "storybook watercolor illustration. A bear finding a hive with bees and honey, looking "
    "surprised, flowers in a sunny meadow.",
    "oil painting. Two Roman soldiers in front of the Colosseum, looking determined.",
    "soft 3D clay look. 2 bakers in a bakery with an oven, looking happy, early morning.",
    "storybook watercolor illustration. A dragon flying over a forest, looking angry, at sunset.",
    "bright flat vector illustration. A robot holding a key next to a bicycle in the park, "
    "looking sad, a sunny afternoon.",
    "oil painting. Ten kids playing football in a field, looking happy, at noon.",
    "watercolor. A lighthouse keeper and a whale in a stormy sea, looking afraid, at night.",
    "paper cut-out. Five penguins and an astronaut on the moon, looking surprised.",
    "clay look. A mouse and an owl reading a book in a library, looking calm, evening.",
]
SIZES = [(1280, 720), (720, 1280), (512, 512)]


def _by_word(frame) -> dict[str, list]:
    out: dict[str, list] = {}
    for p in frame.placements:
        if p.role != "mood":
            out.setdefault(p.word, []).append(p)
    return out


def _longest(p) -> int:
    return max(p.box[2] - p.box[0], p.box[3] - p.box[1])


# ------------------------------------------------------------------------ counts


@pytest.mark.parametrize(
    ("text", "word", "count"),
    [
        ("Two kids nailing boards", "kids", 2),
        ("Three pirates clinging to their ship", "pirates", 3),
        ("2 bakers in a bakery", "bakers", 2),
        ("pirates at sea", "pirates", 2),  # a plural without a number: two
        ("a pair of owls", "owls", 2),
        ("three little brave pirates", "pirates", 3),
        ("a kid and a dog", "kid", 1),
        ("ten kids", "kids", 10),
    ],
)
def test_counts_are_read(text: str, word: str, count: int) -> None:
    found = {m.word: m for m in match(text)}
    assert found[word].count == count


def test_a_number_does_not_count_the_next_noun_over_a_break() -> None:
    found = {m.word: m for m in match("two kids and a dog")}
    assert found["kids"].count == 2 and found["dog"].count == 1


@pytest.mark.parametrize(
    ("prompt", "word", "drawn"),
    [
        (TREEHOUSE, "kids", 2),
        (PIRATES, "pirates", 3),
        ("oil painting. 2 bakers in a bakery, at dawn.", "bakers", 2),
        ("oil painting. Pirates on a beach, at noon.", "pirates", 2),
        ("oil painting. Ten kids in a field, at noon.", "kids", MAX_DRAWN),
    ],
)
def test_counts_are_drawn(prompt: str, word: str, drawn: int) -> None:
    for w, h in SIZES:
        frame = compose(prompt, 3, w, h)
        copies = _by_word(frame)[word]
        assert len(copies) == drawn
        assert sorted(p.index for p in copies) == list(range(drawn))
        assert all(p.count == drawn for p in copies)
        assert len({p.picture for p in copies}) == 1
        assert len({p.box for p in copies}) == drawn  # distinct places
        for p in copies:  # a sensible size: not a speck, not the whole frame
            assert min(w, h) * 0.12 < _longest(p) < min(w, h) * 0.6, (w, h, p)


# ------------------------------------------------------------------------ places


def test_paris_kitchen_shows_the_eiffel_tower_in_the_window_and_an_oven() -> None:
    frame = compose(PARIS, 2, 1280, 720)
    assert frame.setting.kind == "room" and frame.setting.interior == "kitchen"
    words = _by_word(frame)
    tower = words["eiffel tower"][0]
    assert tower.picture == "shape:eiffel_tower" and tower.zone == "window"
    wx0, wy0, wx1, _ = frame.stage.window
    assert wx0 <= tower.box[0] and tower.box[2] <= wx1 and wy0 <= tower.box[1]
    assert any(p.picture == "shape:oven" for p in frame.placements)
    assert words["chef"][0].picture == "cook"
    spoon = words["spoon"][0]
    assert spoon.held_by == "chef#0" and spoon.size == "tiny"


def test_paris_outdoors_is_a_city_with_the_tower() -> None:
    frame = compose("watercolor. A dog walking in Paris, at dawn.", 1, 1280, 720)
    assert frame.setting.kind == "city"
    tower = next(p for p in frame.placements if p.role == "landmark")
    assert tower.picture == "shape:eiffel_tower"


def test_the_moon_is_a_moonscape_with_the_earth_in_a_black_sky() -> None:
    frame = compose(MOON, 4, 1280, 720)
    assert frame.setting.kind == "space" and frame.setting.surface == "moon"
    px = np.asarray(frame.image, dtype=float)
    assert px[: int(720 * 0.1)].mean() < 40  # a black sky
    ground = px[int(720 * 0.93) :, :, :]
    assert ground.mean() > 90 and ground.std(axis=2).mean() < 12  # grey ground
    earth = [p for p in frame.placements if p.picture == "shape:earth"]
    assert len(earth) == 1 and earth[0].box[3] < frame.stage.horizon
    assert not any(p.picture == "crescent_moon" for p in frame.placements)
    cat = _by_word(frame)["kitten"][0]
    assert cat.mood == "lonely" and cat.picture == "crying_cat"


def test_treehouse_is_drawn_and_replaces_its_tree() -> None:
    frame = compose(TREEHOUSE, 1, 1280, 720)
    names = [p.picture for p in frame.placements]
    assert "shape:treehouse" in names
    assert "deciduous_tree" not in names
    kids = _by_word(frame)["kids"]
    assert len(kids) == 2 and all(p.picture == "child" for p in kids)


@pytest.mark.parametrize(
    ("prompt", "wanted"),
    [
        (MORE[0], {"shape:blackboard", "teacher", "student"}),
        (MORE[1], {"balloon", "birthday_cake", "child"}),
        (MORE[2], {"umbrella", "bus_stop", "girl"}),
        (MORE[3], {"shape:beehive", "honeybee", "honey_pot", "bear"}),
        (MORE[4], {"shape:colosseum", "man"}),
        (MORE[5], {"shape:oven", "cook"}),
        (STUDIO, {"shape:easel", "paintbrush", "robot"}),
        (PIRATES, {"shape:sailing_ship", "man"}),
    ],
)
def test_story_places_and_things_are_drawn(prompt: str, wanted: set[str]) -> None:
    frame = compose(prompt, 6, 960, 540)
    assert wanted <= {p.picture for p in frame.placements}


def test_bees_buzz_round_their_hive() -> None:
    frame = compose(MORE[3], 2, 1280, 720)
    hive = next(p for p in frame.placements if p.picture == "shape:beehive")
    bees = [p for p in frame.placements if p.picture == "honeybee"]
    assert len(bees) >= 3
    cx, cy = (hive.box[0] + hive.box[2]) / 2, (hive.box[1] + hive.box[3]) / 2
    for b in bees:
        bx, by = (b.box[0] + b.box[2]) / 2, (b.box[1] + b.box[3]) / 2
        assert abs(bx - cx) < (hive.box[2] - hive.box[0]) * 1.2
        assert abs(by - cy) < (hive.box[3] - hive.box[1]) * 1.2


def test_an_umbrella_is_held_over_the_head() -> None:
    frame = compose(MORE[2], 3, 1280, 720)
    girl = _by_word(frame)["girl"][0]
    umbrella = _by_word(frame)["umbrella"][0]
    assert umbrella.held_by == "girl#0"
    assert umbrella.box[1] < girl.box[1]  # above her head


def test_pirates_stand_on_their_ship_at_sea() -> None:
    frame = compose(PIRATES, 1, 1280, 720)
    ship = next(p for p in frame.placements if p.picture == "shape:sailing_ship")
    pirates = _by_word(frame)["pirates"]
    assert len(pirates) == 3
    for p in pirates:
        assert p.zone == "deck"
        assert ship.box[0] <= p.box[0] and p.box[2] <= ship.box[2]
        assert ship.box[1] < p.box[3] < ship.box[3]  # feet on the deck, inside the hull


@pytest.mark.parametrize(
    "word",
    """paris eiffel_tower moon craters earth treehouse oak_tree kitchen bakery oven classroom
    birthday_party cake balloons bus_stop rain umbrella dragon forest hive bees honey flowers
    skateboard park ship scarecrow field canvas easel paintbrush spoon soup roman colosseum
    temple""".split(),
)
def test_story_nouns_map_to_something_drawable(word: str) -> None:
    text = word.replace("_", " ")
    hit = lookup(word)
    drawable = hit is not None and (
        (hit[1].chars and glyphs.has_glyph(hit[1].chars)) or hit[1].shape in DRAWERS
    )
    setting = read_setting(f"a fox in the {text}")
    named_place = setting.named or setting.place is not None or bool(setting.weather)
    assert drawable or named_place, word


def test_shapes_draw_at_any_size() -> None:
    for name in DRAWERS:
        assert picture(f"shape:{name}") is not None
        for height in (24, 160):
            from sparkle_motion.function_tools.images_sdxl.storyboard.shapes import draw_shape

            img = draw_shape(name, height).image
            assert img.mode == "RGBA" and img.getchannel("A").getbbox() is not None


# ------------------------------------------------------------------------ moods


@pytest.mark.parametrize(
    ("text", "mood"),
    [
        ("Three pirates clinging to their ship, looking afraid, at sea.", "afraid"),
        ("A robot looking very proud in a studio.", "proud"),
        ("A yeti who is scared of snow.", "afraid"),
        ("A calm sea at dawn.", None),  # the sea may be calm; nobody looks it
        ("soft 3D clay look. A fox in a forest.", None),
    ],
)
def test_mood_is_read(text: str, mood: str | None) -> None:
    assert read_mood(text) == mood


@pytest.mark.parametrize("mood", sorted(GLOOMY | {"surprised"}))
def test_no_smile_in_a_gloomy_scene(mood: str) -> None:
    prompts = [
        f"watercolor. Two kids in a forest, looking {mood}.",
        f"watercolor. A cat on a roof, looking {mood}, at night.",
        f"watercolor. A man and a robot in a city, looking {mood}.",
        f"oil painting. Three pirates on their ship in a storm at sea, looking {mood}.",
        f"watercolor. A lighthouse keeper and a whale, looking {mood}, by the sea.",
    ]
    for prompt in prompts:
        frame = compose(prompt, 1, 640, 360)
        characters = [p for p in frame.placements if p.size == "character"]
        assert characters, prompt
        for p in frame.placements:
            assert p.picture not in SMILING, (prompt, p)
        for p in characters:
            assert p.mood == mood
            assert p.expression in ("variant", "face", "badge")


def test_faces_are_redrawn_for_the_mood() -> None:
    kid = picture("child")
    assert kid is not None and kid.chars
    assert faces.find_face(kid.chars) is not None
    happy = np.asarray(faces.expressed(kid.chars, 200, "happy"), dtype=int)
    afraid = np.asarray(faces.expressed(kid.chars, 200, "afraid"), dtype=int)
    assert happy.shape == afraid.shape
    changed = np.abs(happy - afraid).max(axis=2) > 40
    assert 0.005 < changed.mean() < 0.2  # the face changed, the picture did not
    ys = np.nonzero(changed)[0]
    assert ys.min() > happy.shape[0] * 0.2  # in the face, not the hair


def test_a_character_with_no_face_wears_a_badge() -> None:
    frame = compose(STUDIO, 1, 1280, 720)
    robot = _by_word(frame)["robot"][0]
    assert robot.mood == "proud" and robot.expression == "badge"
    badge = next(p for p in frame.placements if p.role == "mood")
    assert badge.word == "robot" and badge.picture == "smiling_face_with_sunglasses"
    assert badge.held_by == "robot#0"


def test_cats_and_people_use_their_mood_pictures() -> None:
    sad_cat = compose("watercolor. A cat in a garden, looking sad.", 1, 640, 360)
    assert _by_word(sad_cat)["cat"][0].picture == "crying_cat"
    angry = compose("watercolor. A woman in a city street, looking angry.", 1, 640, 360)
    assert _by_word(angry)["woman"][0].picture == "woman_pouting"


def test_every_mood_has_a_badge_and_draws() -> None:
    for mood in MOODS:
        frame = compose(f"clay look. A robot and a kid, looking {mood}.", 1, 320, 180)
        assert all(p.mood == mood for p in frame.placements if p.size == "character")


# ------------------------------------------------------------------------ sizes and frame


def test_nothing_leaves_the_frame_and_tiny_things_stay_small() -> None:
    prompts = FIVE + MORE
    for n, prompt in enumerate(prompts):
        for w, h in SIZES:
            for seed in (n, n + 17):
                frame = compose(prompt, seed, w // 4, h // 4)
                ww, hh = frame.image.size
                characters = [p for p in frame.placements if p.size == "character"]
                for p in frame.placements:
                    x0, y0, x1, y1 = p.box
                    assert 0 <= x0 < x1 <= ww and 0 <= y0 < y1 <= hh, (prompt, (w, h), p)
                    if p.size == "tiny" and characters:
                        assert _longest(p) < min(_longest(c) for c in characters), (prompt, p)
                    if p.size == "small" and characters and p.role == "subject":
                        assert _longest(p) < max(_longest(c) for c in characters), (prompt, p)


def test_a_key_is_never_bigger_than_a_robot() -> None:
    frame = compose(MORE[7], 3, 1280, 720)
    words = _by_word(frame)
    key, robot, bike = words["key"][0], words["robot"][0], words["bicycle"][0]
    assert key.size == "tiny" and bike.size == "medium"
    assert _longest(key) < _longest(robot) * 0.5
    assert _longest(robot) * 0.5 < _longest(bike) < _longest(robot) * 1.2


# ------------------------------------------------------------------------ metadata


def test_metadata_lists_every_subject_drawn() -> None:
    items = preview.render(PIRATES, 1, 5, {"width": 640, "height": 360})
    subjects = items[0]["metadata"]["subjects"]
    old_keys = {"word", "picture", "glyph", "drawn_from", "role", "zone", "box"}
    new_keys = {"name", "index", "count", "mood", "expression", "size", "shape", "held_by"}
    for s in subjects:
        assert old_keys | new_keys <= set(s)
        assert (s["glyph"] is None) == (s["shape"] is not None)
    pirates = [s for s in subjects if s["word"] == "pirates"]
    assert [s["index"] for s in pirates] == [0, 1, 2]
    assert all(s["mood"] == "afraid" and s["count"] == 3 for s in pirates)
    assert any(s["shape"] == "sailing_ship" for s in subjects)
    bg = items[0]["metadata"]["background"]
    assert bg["kind"] == "sea" and "place" in bg and "interior" in bg


def test_preview_version_keys_the_cache() -> None:
    assert preview.VERSION != "1"


# ------------------------------------------------------------------------ no ghosts


@pytest.mark.parametrize("size", SIZES)
def test_a_character_stands_on_the_same_spot_in_every_scene(size: tuple[int, int]) -> None:
    w, h = size
    a = compose(
        "watercolor. A lighthouse keeper and a whale meeting by a rocky coast, at dawn.", 3, w, h
    )
    b = compose(
        "oil painting. The whale and the lighthouse keeper on a rocky coast, in a storm at night.",
        99,
        w,
        h,
    )
    for word in ("keeper", "whale"):
        assert _by_word(a)[word][0].box == _by_word(b)[word][0].box, word


def test_a_character_keeps_its_spot_across_settings() -> None:
    scenes = [
        "watercolor. A robot in a quiet green meadow, at dawn.",
        "watercolor. A robot in a busy city street, at night.",
        "watercolor. A robot on a farm with a barn, in the morning.",
    ]
    centres = []
    for n, prompt in enumerate(scenes):
        robot = _by_word(compose(prompt, n * 31, 1280, 720))["robot"][0]
        centres.append(((robot.box[0] + robot.box[2]) / 2, robot.box[3]))
    xs = [c[0] for c in centres]
    assert max(xs) - min(xs) < 1280 * 0.03


# ------------------------------------------------------------------------ the same bytes


def test_same_prompt_and_seed_same_png() -> None:
    for prompt in FIVE:
        a = preview.render(prompt, 1, 4, {"width": 320, "height": 180})[0]["data"]
        b = preview.render(prompt, 1, 4, {"width": 320, "height": 180})[0]["data"]
        assert a == b
        Image.open(io.BytesIO(a)).verify()


def test_a_counted_group_is_drawn_one_by_one() -> None:
    """ "four friends" are four people, not one picture of two holding hands."""
    found = {m.word: m for m in match("Four friends, looking curious, on the wide ocean.")}
    assert found["friends"].picture.name != "people_holding_hands"
    assert found["friends"].count == 4
    frame = compose("Four friends, looking curious, on the wide ocean.", 3, 320, 180)
    assert sum(p.word == "friends" and p.role == "subject" for p in frame.placements) == 4
    # without a number they stay the one group picture
    assert {m.word: m for m in match("friends by the sea")}["friends"].count == 1


def test_a_kitchen_in_paris_is_a_room_even_with_the_tower_named() -> None:
    s = read_setting(
        "A chef, looking happy, in Paris, the Eiffel Tower above the rooftops, in a busy "
        "kitchen with copper pans, in the early morning."
    )
    assert (s.kind, s.interior, s.place) == ("room", "kitchen", "paris")
    assert {"kitchen", "paris", "eiffel tower"} <= set(s.words)


def test_the_setting_says_which_words_it_painted() -> None:
    s = read_setting("People, looking afraid, in a small village, as a flood pours in.")
    assert "village" in s.words and "flood" in s.words and "rain" in s.weather
    meta = preview.render("A dog at the top of a hill, at dawn.", 1, 1, {"width": 96})[0]
    assert "hill" in meta["metadata"]["background"]["words"]
    # a place no word named was chosen by the seed: it names no words
    assert read_setting("A dog, looking calm.").words == ()


def test_towns_and_gardens_are_drawn_and_smoke_is_no_cigarette() -> None:
    pictures = {m.picture.name for m in match("a garden in a fishing town below a smoking volcano")}
    assert {"houses", "potted_plant", "volcano"} <= pictures
    assert "smoking" not in pictures
