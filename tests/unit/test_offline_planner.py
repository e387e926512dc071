"""The offline planner: deterministic, valid, and a sensible story for any idea."""

from __future__ import annotations

import re

import pytest

from sparkle_motion.errors import PlanPolicyViolation, PlanSchemaError
from sparkle_motion.planner.story import analyse, write_draft
from sparkle_motion.script_agent import generate_plan
from sparkle_motion.validation import dump_plan, estimate_speech_seconds, validate_plan

# (idea, words that must appear in every image prompt of the plan)
KNOWN_SUBJECTS = [
    ("a lighthouse keeper befriends a whale", ["keeper"]),
    ("A lonely robot falls in love with the moon", ["robot"]),
    ("an astronaut finds a puppy on Mars", ["astronaut"]),
    ("a girl walks through the woods with a fox", ["girl"]),
    ("Luna the cat explores Tokyo at night", ["cat"]),
    ("two friends build a raft to cross the river", ["friends"]),
    ("a chef who cooks for ghosts", ["chef"]),
    ("The last dragon guards a library under the sea", ["dragon"]),
    ("dragons", ["dragons"]),
    ("a knight and a baker", ["knight"]),
]
MEETING_SUBJECTS = [
    ("a lighthouse keeper befriends a whale", "whale"),
    ("an astronaut finds a puppy on Mars", "puppy"),
    ("a girl walks through the woods with a fox", "fox"),
    ("a knight and a baker", "baker"),
    ("A lonely robot falls in love with the moon", "moon"),
]
OTHER_IDEAS = [
    "robot",
    "a boy who learns to fly",
    "an old fisherman catches a golden fish that grants wishes",
    "A detective penguin solves a mystery in Paris",
    "my grandmother's garden in winter",
    "the sun and the wind argue about who is stronger",
    "a tiny snail races a hare across the meadow",
    "a shy octopus opens a bakery under the sea",
    "a farmer's scarecrow comes to life",
    "an owl teaches a mouse to read",
    "two rival chefs cook for the king",
    "a kite escapes into the sky and sees the whole world",
    "a camel crosses the desert to find the sea",
    "a yeti who is afraid of snow",
    "an alien gets lost in a supermarket",
    "a princess rescues a dragon from a knight",
    "a clockmaker builds a clock that can stop time",
    "a little cloud that could not rain",
    "a bear cub wakes up too early from hibernation",
    "a pirate who hates water",
    "the moon comes down to visit the earth for one night",
    "a street musician in New York finds a magic violin",
    "a sloth wants to win a race",
    "a teacher and her class build a rocket",
    'a "haunted" house; rm -rf / && echo $HOME `whoami` | cat',
    "it's 3:00 AM & the café's 100% closed — 50% off? {maybe} [no] <b>bold</b>",
    "Ünïcödé façade naïve café résumé",
    "un chat qui rêve de devenir astronaute",
    "一只猫在月球上散步",
    "قطة صغيرة تستكشف الصحراء",
    "Кот и пёс отправляются в путешествие",
    "🐋🗼 a whale and a lighthouse",
    "a" * 1 + " story",
    "A VERY LOUD IDEA ABOUT A DOG WHO BARKS AT THE MOON",
    "a dog who wants to fly; a cat who wants to swim; a fish who wants to walk, and nobody "
    "understands any of them until the day the river floods the town and they all have to "
    "work together to save the old bridge and the people who live beside it",
    "x",
    "42",
    "a raccoon runs a tiny hotel for forest animals",
    "the last leaf on a tree refuses to fall",
    "tabs\tand\nnewlines\r\nin an idea",
]
ALL_IDEAS = [i for i, _ in KNOWN_SUBJECTS] + OTHER_IDEAS
assert len(ALL_IDEAS) >= 50


@pytest.fixture(scope="module")
def plans():
    """Plans for every idea (planned once for the module)."""
    import os
    import tempfile

    saved = os.environ.get("SPARKLE_HOME")
    with tempfile.TemporaryDirectory() as home:
        os.environ["SPARKLE_HOME"] = home
        try:
            yield {idea: generate_plan(idea) for idea in ALL_IDEAS}
        finally:
            if saved is None:
                os.environ.pop("SPARKLE_HOME", None)
            else:
                os.environ["SPARKLE_HOME"] = saved


def test_same_idea_same_plan() -> None:
    a = generate_plan("a lighthouse keeper befriends a whale")
    b = generate_plan("a lighthouse keeper befriends a whale")
    assert a.id == b.id
    assert a.model_dump(exclude={"created_at"}) == b.model_dump(exclude={"created_at"})
    c = generate_plan("a lighthouse keeper befriends a seal")
    assert c.id != a.id


@pytest.mark.parametrize("idea", ALL_IDEAS)
def test_every_plan_is_valid_and_well_formed(plans, idea: str) -> None:
    plan = plans[idea]
    # it survives a round trip through its own YAML, all five stages included
    again = validate_plan(dump_plan(plan)).plan
    assert again.model_dump() == plan.model_dump()
    scenes = sorted({s.scene for s in plan.steps})
    assert 4 <= len(scenes) <= 8
    for scene in scenes:
        kinds = sorted(s.type for s in plan.steps if s.scene == scene)
        assert kinds == ["image", "tts", "video"]
        video = next(s for s in plan.steps if s.scene == scene and s.type == "video")
        image = next(s for s in plan.steps if s.scene == scene and s.type == "image")
        assert video.start_frames == [f"step:{image.id}"]
    lines = [s.spoken_text for s in plan.steps if s.type == "tts"]
    assert len(set(lines)) == len(lines), "every narration line is distinct"
    cleaned = " ".join(idea.split()).strip(" .").lower()
    assert all(line.strip(" .").lower() != cleaned for line in lines), "no line copies the idea"
    speech = sum(estimate_speech_seconds(line) for line in lines)
    assert 20 <= speech <= 90, f"{speech:.0f} s of narration"
    styles = {s.prompt.split(".")[0] for s in plan.steps if s.type == "image"}
    assert len(styles) == 1, "one visual style across the plan"
    assert plan.assemble_opts is not None


@pytest.mark.parametrize(("idea", "words"), KNOWN_SUBJECTS)
def test_image_prompts_name_the_subjects(plans, idea: str, words: list[str]) -> None:
    prompts = [s.prompt for s in plans[idea].steps if s.type == "image"]
    for prompt in prompts:
        for word in words:
            assert re.search(rf"\b{re.escape(word)}\b", prompt, re.I), (word, prompt)


@pytest.mark.parametrize(("idea", "other"), MEETING_SUBJECTS)
def test_the_second_character_is_drawn_where_the_narration_names_it(
    plans, idea: str, other: str
) -> None:
    steps = plans[idea].steps
    lines = {s.scene: s.spoken_text.lower() for s in steps if s.type == "tts"}
    prompts = {s.scene: s.prompt.lower() for s in steps if s.type == "image"}
    named = [scene for scene, line in lines.items() if re.search(rf"\b{other}\b", line)]
    assert named, "the narration names the second character"
    assert all(other in prompts[scene] for scene in named)


def test_the_idea_is_understood() -> None:
    keeper = analyse("a lighthouse keeper befriends a whale")
    assert (keeper.lang, keeper.kind, keeper.event) == ("en", "friendship", "befriend")
    assert [f.concept for f in keeper.cast] == ["lighthouse_keeper", "whale"]
    assert "lighthouse" in keeper.places
    chef = analyse("a chef in Paris loses her sense of taste")
    assert (chef.kind, chef.event, chef.places[0]) == ("loss", "lose", "paris")
    assert chef.slots["vp"] == "lost her sense of taste"
    assert analyse("a robot learns to paint").event == "paint"
    assert {t.concept for t in analyse("a robot learns to paint").things} >= {"brush", "canvas"}
    kids = analyse("two kids build a treehouse and a storm comes")
    assert (kids.kind, kids.cast[0].count, kids.weather) == ("making", 2, "storm")
    assert analyse("make a video about the history of the Roman Empire").kind == "explainer"
    kitten = analyse("一只小猫在月球上寻找朋友")
    assert (kitten.lang, kitten.kind, kitten.cast[0].concept, kitten.places[0]) == (
        "zh",
        "quest",
        "kitten",
        "moon",
    )
    boy = analyse("un niño encuentra un dragón en el bosque")
    assert (boy.lang, boy.event) == ("es", "find")
    assert [f.concept for f in boy.cast] == ["boy", "dragon"]


def test_the_story_keeps_the_idea_s_event() -> None:
    story = " ".join(
        s.narration for s in write_draft("a chef in Paris loses her sense of taste").scenes
    )
    assert "the chef lost her sense of taste" in story
    assert "In Paris" in story and "found her sense of taste" not in story
    kids = write_draft("two kids build a treehouse and a storm comes")
    text = " ".join(s.narration for s in kids.scenes)
    assert "the two kids built the treehouse" in text and "a storm came" in text.lower()
    assert not re.search(r"\b(the|a) kid\b", text)
    storm = next(s for s in kids.scenes if "storm" in s.narration)
    assert "Two kids" in storm.image_prompt and "looking happy" not in storm.image_prompt


def test_narration_speaks_the_idea_s_language_and_pictures_stay_english() -> None:
    from sparkle_motion.planner.draft import draft_to_plan

    zh = write_draft("两只熊猫在竹林里比赛")
    assert zh.language == "zh" and all("。" in s.narration for s in zh.scenes)
    assert "两只熊猫" in zh.scenes[0].narration
    assert all(s.image_prompt.isascii() and "Two pandas" in s.image_prompt for s in zh.scenes)
    es = write_draft("dos hermanos construyen un cohete de cartón")
    assert es.language == "es" and "los dos hermanos construyen" in es.scenes[1].narration
    assert any("rocket" in s.image_prompt for s in es.scenes)
    plan = draft_to_plan(es, idea="dos hermanos construyen un cohete de cartón")
    voices = {(s.voice.id, s.voice.language) for s in plan.steps if s.type == "tts"}
    assert len(voices) == 1 and next(iter(voices))[1] == "es"
    en = draft_to_plan(write_draft("a robot learns to paint"), idea="a robot learns to paint")
    assert {s.voice.id for s in en.steps if s.type == "tts"} == {"narrator"}


def test_image_prompts_follow_the_storyboard_convention() -> None:
    moods = "happy joyful excited proud calm curious surprised sad lonely worried afraid angry"
    pattern = re.compile(rf"^[^.]+\. .+, looking ({'|'.join(moods.split())}|determined|tired), ")
    for idea in ("a robot learns to paint", "三只小猫在雨中等公共汽车", "how bees make honey"):
        for scene in write_draft(idea).scenes:
            assert pattern.match(scene.image_prompt), scene.image_prompt


def test_an_explainer_is_honest_and_structured() -> None:
    from sparkle_motion.planner.story import is_explainer

    draft = write_draft("make a video about the history of the Roman Empire")
    assert draft.kind == "explainer" and len(draft.scenes) == 6
    assert "offline" in draft.scenes[0].narration and "no facts" in draft.scenes[0].narration
    assert all("Roman Empire" in s.narration for s in draft.scenes)
    assert is_explainer("how a rainbow forms") and is_explainer("蜜蜂是怎样酿蜜的")
    assert not is_explainer("a robot learns to paint")


def test_idea_text_reaches_the_plan_intact(plans) -> None:
    idea = 'a "haunted" house; rm -rf / && echo $HOME `whoami` | cat'
    assert plans[idea].description.endswith(idea)


def test_step_cap_limits_scenes() -> None:
    assert len(write_draft("a lighthouse keeper befriends a whale", max_scenes=4).scenes) == 4


def test_five_thousand_characters_is_a_clear_error() -> None:
    with pytest.raises(PlanPolicyViolation, match="5,000 characters; the limit is 2,000") as err:
        generate_plan("w" * 5000)
    assert err.value.field == "idea"


def test_empty_idea() -> None:
    with pytest.raises(PlanSchemaError):
        generate_plan("")


def test_things_are_made_not_befriended() -> None:
    idea = analyse("a shy octopus opens a bakery under the sea")
    assert idea.kind == "making" and [f.concept for f in idea.cast] == ["octopus"]
    assert "bakery" in idea.places
    draft = write_draft("a shy octopus opens a bakery under the sea")
    story = " ".join(s.narration for s in draft.scenes)
    assert "eyes" not in story and "best of friends" not in story
    assert "open a bakery" in story


def test_counted_characters_keep_their_number() -> None:
    friends = analyse("two friends build a raft")
    assert (friends.cast[0].concept, friends.cast[0].count) == ("friend", 2)
    assert friends.slots["S"] == "the two friends"


def test_grammar_read_by_hand_stays_fixed() -> None:
    """Sentences found wrong when the evaluation's narrations were read by hand."""

    def told(idea: str) -> str:
        return " ".join(s.narration for s in write_draft(idea).scenes)

    # a compound subject takes "were"
    bread = told("a girl and her grandmother bake bread for the whole village")
    assert "the girl and her grandmother were close" in bread
    assert "grandmother was" not in bread
    # a friendship starts with the first character alone, then they meet
    knight = told("a knight and a dragon become friends")
    assert knight.startswith("A knight lived") and "the knight met a dragon" in knight
    # a disaster is no one's "little did ... know"
    assert "Little did the flood" not in told("a flood reaches a small village")
    # what was made is the thing already spoken of
    assert "repaired the broken clock" in told("an old clockmaker repairs a broken clock")
    # Spanish contracts de + el
    fisher = told("un pescador pierde su barco en una tormenta")
    assert " de el " not in fisher and "del pescador" in fisher
    assert write_draft("a girl teaches her grandfather to skateboard").title == (
        "The girl and her grandfather"
    )


def test_every_scene_of_a_story_is_painted_in_one_named_place() -> None:
    """An idea with no place still gets one place for the whole story (the storyboard would
    otherwise paint a desert in one scene and mountains in the next)."""
    from sparkle_motion.function_tools.images_sdxl.storyboard.settings import read_setting
    from sparkle_motion.planner.story.lexicon import PLACE_VISUALS
    from sparkle_motion.planner.story.pictures import EVENT_PLACES, STORY_PLACES

    for where in [*PLACE_VISUALS.values(), *EVENT_PLACES.values(), *STORY_PLACES]:
        assert read_setting(where).named, where
    for idea in ("a robot learns to paint", "two kids build a treehouse and a storm comes",
                 "a penguin wants to fly", "a knight and a dragon become friends"):  # fmt: skip
        kinds = {read_setting(s.image_prompt).kind for s in write_draft(idea).scenes}
        assert len(kinds) == 1, (idea, kinds)
    # the place a skill needs, whatever language names the skill
    for idea in ("una abuela enseña a su nieta a cocinar", "a robot learns to paint"):
        settings = {read_setting(s.image_prompt) for s in write_draft(idea).scenes}
        assert {(x.kind, x.interior) for x in settings} in (
            {("room", "kitchen")},
            {("room", "studio")},
        ), idea
