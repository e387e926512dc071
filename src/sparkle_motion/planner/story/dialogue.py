"""The characters' own words: short quoted lines where the story's two characters meet.

A story whose idea has two single characters who can speak (the hero and the one they meet,
teach or look for) gives them lines in the beats where they are together: they greet each
other when they meet (or a teacher calls the learner over), the hero holds on to the other
in the trouble of a friendship or a lesson, and they thank each other at the end (a search
ends in a reunion). The narrator tells the rest. Lines are in the idea's language and name
the characters, so two stories rarely share a line; an animal that sings or roars answers
with its sound first (the whale's song-line).

Each character is cast with its gender and age from the lexicon (a kitten is a child, a
grandfather an elder; an animal without a pronoun takes its Spanish noun's gender), so
draft.py gives it a distinct catalog voice. A story with one character, or a group ("two
kids"), stays narrated.
"""

from __future__ import annotations

from dataclasses import dataclass

from sparkle_motion.planner.draft import CastDraft, LineDraft
from sparkle_motion.planner.story.idea import Idea
from sparkle_motion.planner.story.lexicon import Concept, concept

CHILD = frozenset(
    "child kid boy girl baby kitten puppy cub granddaughter grandson chick duckling".split()
)
ELDER = frozenset("grandfather grandmother grandma grandpa old_man old_woman".split())
NOT_SPEAKERS = frozenset({"friend", "person"})  # "becomes friends with": no one new
SOUNDS = {"whale": "Oooh, ooh-ooh!", "dragon": "Rrroar!", "cat": "Meow!", "kitten": "Meow!",
          "dog": "Woof!", "puppy": "Woof!", "owl": "Hoo-hoo!", "wolf": "Aooo!"}  # fmt: skip

# language -> line kind -> (speaker, template); h/o: the hero's and the other's name as
# spoken, H/O capitalised, h_a: the hero with its indefinite article, sound: the other's
LINES: dict[str, dict[str, tuple[tuple[str, str], ...]]] = {
    "en": {
        "meet": (("hero", "Hello there, {o}!"),
                 ("other", "{sound}Hello, {h}. I have never met {h_a} before.")),
        "teach": (("hero", "Come here, {o}, let me show you how!"),
                  ("other", "Will you really teach me, {h}?")),
        "hold": (("hero", "Hold on, {o}, I am right here!"),),
        "thanks": (("other", "{sound}Thank you, {h}, for everything."),
                   ("hero", "I will always be here for you, {o}.")),
        "reunion": (("hero", "{O}, I found you at last!"),
                    ("other", "Oh, {h}, I missed you so much.")),
    },
    "es": {
        "meet": (("hero", "¡Hola, {o}!"),
                 ("other", "Hola, {h}. Nunca había conocido a {h_a}.")),
        "teach": (("hero", "¡Ven, {o}, que te enseño!"),
                  ("other", "¿De verdad me vas a enseñar, {h}?")),
        "hold": (("hero", "¡Aguanta, {o}, estoy aquí contigo!"),),
        "thanks": (("other", "Gracias, {h}, por todo."),
                   ("hero", "Siempre estaré aquí para ti, {o}.")),
        "reunion": (("hero", "¡{O}, por fin te encontré!"),
                    ("other", "Ay, {h}, cuánto te he echado de menos.")),
    },
    "zh": {
        "meet": (("hero", "你好，{o}！"),
                 ("other", "你好，{h}。我从来没有见过像你这样的{h}。")),
        "teach": (("hero", "{o}，过来，我来教你！"),
                  ("other", "{h}，你真的要教我吗？")),
        "hold": (("hero", "{o}，坚持住，我就在这里！"),),
        "thanks": (("other", "谢谢你，{h}，谢谢你做的一切。"),
                   ("hero", "{o}，我会一直在你身边。")),
        "reunion": (("hero", "{o}，我终于找到你了！"),
                    ("other", "{h}，我好想你。")),
    },
}  # fmt: skip
# kind of story -> beat index -> the lines spoken there
PLAN: dict[str, dict[int, str]] = {
    "friendship": {1: "meet", 3: "hold", 5: "thanks"},
    "teaching": {1: "teach", 3: "hold", 5: "thanks"},
    "quest": {5: "reunion"},
    "explainer": {},
}
DEFAULT_PLAN = {1: "meet", 5: "thanks"}


@dataclass(frozen=True)
class Speaker:
    concept: Concept
    name: str  # shown in subtitles
    spoken: str  # as the other addresses it
    indefinite: str  # "a whale", "una ballena"


def _pair(idea: Idea) -> tuple[Concept, Concept] | None:
    """The hero and the one they speak with: two single characters, else None."""
    if not idea.cast or idea.cast[0].count != 1:
        return None
    hero = concept(idea.cast[0].concept)
    others = [
        concept(f.concept)
        for f in idea.cast[1:]
        if f.count == 1 and f.concept not in NOT_SPEAKERS and f.concept != hero.key
    ]
    if not hero.animate or not others or not others[0].animate:
        return None
    return hero, others[0]


def _speaker(c: Concept, idea: Idea, hero: bool) -> Speaker:
    if idea.lang == "es":
        article = "una" if c.es_gender == "f" else "un"
        return Speaker(c, c.es[:1].upper() + c.es[1:], c.es, f"{article} {c.es}")
    if idea.lang == "zh":
        word = idea.slots.get("主", c.zh[0]) if hero else c.zh[0]
        return Speaker(c, word, word, word)
    word = c.en.split()[-1]
    article = "an" if c.en[:1] in "aeiou" else "a"
    return Speaker(c, word[:1].upper() + word[1:], word, f"{article} {c.en}")


def _gender(c: Concept) -> str | None:
    if "f" in c.tags:
        return "female"
    if "m" in c.tags:
        return "male"
    if "a" in c.tags:  # an animal: its Spanish noun's gender
        return "female" if c.es_gender == "f" else "male"
    return None


def _age(c: Concept, idea: Idea, name: str) -> str | None:
    if c.key in CHILD or f"little {c.en}" in idea.text.lower():
        return "child"
    if c.key in ELDER or f"old {c.en}" in idea.text.lower() or name.startswith("老"):
        return "elder"
    return None


def speakers(idea: Idea) -> tuple[Speaker, Speaker] | None:
    pair = _pair(idea)
    if pair is None or idea.lang not in LINES:
        return None
    return _speaker(pair[0], idea, True), _speaker(pair[1], idea, False)


def cast(idea: Idea) -> list[CastDraft]:
    """The speaking characters, hero first (empty when the story stays narrated)."""
    found = speakers(idea)
    if found is None:
        return []
    return [
        CastDraft(name=s.name, gender=_gender(s.concept), age=_age(s.concept, idea, s.name))
        for s in found
    ]


def lines(idea: Idea, beat: int) -> list[LineDraft]:
    """What the characters say in ``beat`` (after its narration), in order."""
    found = speakers(idea)
    if found is None:
        return []
    kind = PLAN.get(idea.kind, DEFAULT_PLAN).get(beat)
    if kind is None:
        return []
    hero, other = found
    sound = SOUNDS.get(other.concept.key, "") if idea.lang == "en" else ""
    words = {
        "h": hero.spoken,
        "o": other.spoken,
        "H": hero.spoken[:1].upper() + hero.spoken[1:],
        "O": other.spoken[:1].upper() + other.spoken[1:],
        "h_a": hero.indefinite,
        "sound": f"{sound} " if sound else "",
    }
    by = {"hero": hero, "other": other}
    return [
        LineDraft(speaker=by[who].name, text=template.format(**words))
        for who, template in LINES[idea.lang][kind]
    ]
