"""Each scene's image prompt, always in English, drawn from what the scene's narration names.

The storyboard and the image models read English, so the prompt is built from the lexicon's
English nouns whatever language the narration speaks. Its shape is a convention the
storyboard reads: ``"{style}. {What we see}, looking {mood}, {where}, {time}."``, counts as
words before the nouns ("Two kids", "Three pirates"), the mood one of the storyboard's words.
"""

from __future__ import annotations

import hashlib
import re

from sparkle_motion.planner.story import nouns
from sparkle_motion.planner.story.arcs import MOODS, STORM_TIME, STORMY_KINDS, STORMY_NIGHT, TIMES
from sparkle_motion.planner.story.idea import Figure, Idea
from sparkle_motion.planner.story.lexicon import PLACE_VISUALS, Concept, concepts

STYLES = (
    "storybook watercolor illustration, soft pastel palette",
    "warm cinematic film still, gentle depth of field",
    "paper cut-out illustration, layered textured shapes",
    "bright flat vector illustration, clean outlines",
    "oil painting with rich textured brushstrokes",
    "soft 3D clay animation look, pastel lighting",
)
COUNT_WORDS = {2: "Two", 3: "Three", 4: "Four", 5: "Five", 6: "Six", 7: "Seven", 8: "Eight",
               9: "Nine", 10: "Ten"}  # fmt: skip
WEATHER_VISUALS = {
    "storm": "in a raging storm with dark clouds and lashing rain",
    "rain": "in the pouring rain",
    "snow": "in falling snow",
    "wind": "in a howling wind",
    "flood": "as a muddy flood pours through the streets",
    "fire": "as orange smoke fills the sky",
    "volcano": "below a smoking volcano glowing red",
    "earthquake": "as the ground shakes and cracks",
}

# Where a story happens when its idea names no place: the place its event needs, else one
# pleasant place for the whole story (chosen from the idea's hash, so every scene agrees;
# the storyboard would otherwise paint a different place for each scene).
EVENT_PLACES = {
    "paint": "in a sunny art studio", "draw": "in a sunny art studio",
    "cook": "in a warm kitchen", "bake": "in a warm bakery kitchen",
    "skateboard": "in a city park", "swim": "by a wide river in summer",
    "read": "in a cosy room full of books", "sing": "on a small stage in a town square",
    "fly": "on a grassy hill under a wide sky", "plant": "in a green garden",
}  # fmt: skip
STORY_PLACES = (
    "in a green meadow by a river",
    "in a quiet forest clearing",
    "in a small town street",
    "on a sunny little farm",
    "on a grassy hill under a wide sky",
)


def story_place(idea: Idea) -> str:
    """The one place of a story whose idea names none."""
    for event in (idea.event, idea.slots.get("skill_en", "")):
        if event in EVENT_PLACES:
            return EVENT_PLACES[event]
    digest = hashlib.sha256(f"{idea.text}|place".encode()).digest()
    return STORY_PLACES[int.from_bytes(digest[:4], "big") % len(STORY_PLACES)]


def noun_phrase(figure: Figure, *, start: bool = False) -> str:
    """ "Two kids", "bees", "a chef": a figure as the storyboard counts it."""
    en = concepts()[figure.concept].en
    if figure.count >= 2:
        word = COUNT_WORDS.get(figure.count, str(figure.count))
        text = f"{word} {nouns.plural(en)}"
        return text if start else text[:1].lower() + text[1:]
    if figure.count == 0:
        return nouns.plural(en)
    if en[:1].isupper() or concepts()[figure.concept].mass:
        return en
    return nouns.a(en)


def named_in(c: Concept, narration: str, lang: str) -> bool:
    """Does the narration name this concept (in its own language)?"""
    text = narration.lower().replace("'s ", " ").replace("’s ", " ")
    if lang == "zh":
        return any(w in narration for w in c.zh)
    word = c.es if lang == "es" else c.en
    words = {word.lower(), word.lower() + "s", word.lower() + "es"}
    if lang == "en":
        words.add(nouns.plural(word).lower())
    tokens = " " + "".join(ch if ch.isalnum() or ch in " '" else " " for ch in text) + " "
    return any(f" {w} " in tokens for w in words)


def _join(parts: list[str]) -> str:
    parts = [p for p in parts if p]
    if len(parts) <= 1:
        return "".join(parts)
    return ", ".join(parts[:-1]) + " and " + parts[-1]


def image_prompt(idea: Idea, beat: int, narration: str, style: str, *, explainer: bool) -> str:
    table = concepts()
    if not idea.cast:  # an explainer about no one: its topic, as an illustration
        topic = idea.slots.get("topic", "")
        what = f"An illustration of {topic}" if topic else "An open book with pictures"
        things = [noun_phrase(t) for t in idea.things if table[t.concept].drawn]
        if things:
            what = f"{what} with {_join(things)}"
        mood = MOODS["explainer"][beat]
        wheres = [PLACE_VISUALS.get(p) or f"in the {table[p].en}" for p in idea.places[:2]]
        return (
            f"{style}. {what}, looking {mood}, {', '.join(wheres) or 'on a clean desk'}, "
            f"{TIMES[beat]}."
        )
    cast = [idea.cast[0]] + [
        f for f in idea.cast[1:] if named_in(table[f.concept], narration, idea.lang)
    ]
    event_beat = beat in (1, 5)
    things = [
        t
        for t in idea.things
        if table[t.concept].drawn
        and (event_beat or named_in(table[t.concept], narration, idea.lang))
    ]
    seen = noun_phrase(cast[0], start=True)
    others = [noun_phrase(f) for f in cast[1:]]
    what = _join([seen, *others])
    shown = [
        noun_phrase(t)
        for t in things
        if not re.search(rf"\b{re.escape(table[t.concept].en.lower())}\b", what.lower())
    ]
    if shown:
        what = f"{what} with {_join(shown)}"
    what = what[:1].upper() + what[1:]
    mood = MOODS.get(idea.kind, MOODS["story"])[beat]
    wheres = [PLACE_VISUALS.get(p) or f"in the {table[p].en}" for p in idea.places]
    wheres = list(dict.fromkeys(wheres))[:2]
    stormy = idea.weather and (beat in (1, 3) or (idea.kind == "disaster" and beat in (1, 2, 3)))
    if stormy:
        wheres.append(WEATHER_VISUALS.get(idea.weather, f"in a {table[idea.weather].en}"))
        mood = mood if mood not in {"happy", "joyful", "excited", "calm", "proud"} else "worried"
    where = ", ".join(wheres) or story_place(idea)
    time = STORM_TIME if stormy else ("at night" if idea.night else TIMES[beat])
    if beat == 3 and not stormy and idea.kind in STORMY_KINDS:
        time = STORMY_NIGHT
    if explainer:
        mood = MOODS["explainer"][beat]
    return f"{style}. {what}, looking {mood}, {where}, {time}."
