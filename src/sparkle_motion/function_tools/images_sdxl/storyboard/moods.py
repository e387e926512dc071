"""A scene's mood ("looking afraid") and how a character shows it.

The planner writes the mood as "looking MOOD". A character shows it in the first way it
can: a picture of the same character that has the feeling (a cat that cries, a person who
frowns: ``VARIANTS``), its own face redrawn (``faces``: OpenMoji's yellow faces get a new
mouth and brows), or, for a character with no face to redraw (a robot, a whale), a small
face badge beside it. A sad, worried or afraid scene never shows a smiling picture.
"""

from __future__ import annotations

import re

MOODS = (
    "happy", "joyful", "excited", "proud", "calm", "curious", "surprised", "sad", "lonely",
    "worried", "afraid", "angry", "determined", "tired",
)  # fmt: skip
# Other words for the moods, as a prompt or an idea may say them.
_ALSO = {
    "glad": "happy", "cheerful": "happy", "smiling": "happy", "delighted": "joyful",
    "overjoyed": "joyful", "thrilled": "excited", "eager": "excited", "triumphant": "proud",
    "peaceful": "calm", "relaxed": "calm", "serene": "calm", "interested": "curious",
    "puzzled": "curious", "amazed": "surprised", "astonished": "surprised",
    "shocked": "surprised", "unhappy": "sad", "gloomy": "sad", "heartbroken": "sad",
    "crying": "sad", "alone": "lonely", "nervous": "worried", "anxious": "worried",
    "uneasy": "worried", "scared": "afraid", "frightened": "afraid", "terrified": "afraid",
    "fearful": "afraid", "furious": "angry", "mad": "angry", "cross": "angry",
    "brave": "determined", "focused": "determined", "resolute": "determined",
    "sleepy": "tired", "exhausted": "tired", "weary": "tired",
}  # fmt: skip
# Moods in which no picture may smile.
GLOOMY = frozenset("sad lonely worried afraid angry tired".split())
# Moods a plain, gently smiling face already shows.
SMILES = frozenset("happy joyful excited proud calm curious".split())
_SAID = re.compile(
    r"\b(?:looking|looks|look|feeling|feels|seem|seems|seeming)\s+(?:very\s+|so\s+|a\s+bit\s+|a\s+little\s+|rather\s+|quite\s+)?([a-z]+)"
)
# Outside "looking MOOD" only words that are surely a feeling count ("calm" may be the sea).
_ANYWHERE = frozenset(m for m in MOODS if m not in ("calm", "tired")) | frozenset(
    w for w in _ALSO if w not in ("cross", "mad", "alone", "brave", "crying", "smiling")
)

# The face badge for each mood (emoji names), drawn beside a character with no face of its own.
BADGES = {
    "happy": "slightly_smiling_face", "joyful": "beaming_face_with_smiling_eyes",
    "excited": "star-struck", "proud": "smiling_face_with_sunglasses",
    "calm": "relieved_face", "curious": "face_with_monocle", "surprised": "astonished_face",
    "sad": "crying_face", "lonely": "pensive_face", "worried": "worried_face",
    "afraid": "fearful_face", "angry": "angry_face", "determined": "persevering_face",
    "tired": "sleepy_face",
}  # fmt: skip
# Pictures of the same character with the feeling: picture name -> mood -> emoji name.
_PERSON = {
    "sad": "frowning", "lonely": "frowning", "worried": "frowning", "tired": "frowning",
    "angry": "pouting", "happy": "gesturing_ok", "joyful": "gesturing_ok",
    "excited": "raising_hand", "proud": "gesturing_ok",
}  # fmt: skip
VARIANTS: dict[str, dict[str, str]] = {
    "cat": {
        "sad": "crying_cat", "lonely": "crying_cat", "worried": "weary_cat",
        "afraid": "weary_cat", "surprised": "weary_cat", "angry": "pouting_cat",
        "happy": "grinning_cat", "joyful": "grinning_cat_with_smiling_eyes",
        "excited": "grinning_cat_with_smiling_eyes", "proud": "cat_with_wry_smile",
    },
    "black_cat": {"sad": "crying_cat", "lonely": "crying_cat", "afraid": "weary_cat",
                  "worried": "weary_cat", "surprised": "weary_cat", "angry": "pouting_cat"},
    "person": {m: f"person_{v}" for m, v in _PERSON.items()},
    "adult": {m: f"person_{v}" for m, v in _PERSON.items()},
    "man": {m: f"man_{v}" for m, v in _PERSON.items()},
    "man_standing": {m: f"man_{v}" for m, v in _PERSON.items()},
    "woman": {m: f"woman_{v}" for m, v in _PERSON.items()},
    "woman_standing": {m: f"woman_{v}" for m, v in _PERSON.items()},
    "person_standing": {m: f"person_{v}" for m, v in _PERSON.items()},
}  # fmt: skip
# Pictures that smile: never drawn for a gloomy mood.
SMILING = frozenset(
    """
grinning_cat grinning_cat_with_smiling_eyes cat_with_wry_smile smiling_cat_with_heart-eyes
cat_with_tears_of_joy slightly_smiling_face beaming_face_with_smiling_eyes star-struck
smiling_face_with_sunglasses relieved_face person_gesturing_ok man_gesturing_ok
woman_gesturing_ok person_raising_hand man_raising_hand woman_raising_hand grinning_face
smiling_face_with_smiling_eyes grinning_face_with_big_eyes
""".split()
)


def read_mood(prompt: str) -> str | None:
    """The mood the prompt gives its characters ("looking afraid" -> "afraid"), or None."""
    text = prompt.lower().replace("’", "'")
    for said in _SAID.findall(text):
        mood = said if said in MOODS else _ALSO.get(said)
        if mood:
            return mood
    for word in re.findall(r"[a-z]+", text):
        if word in _ANYWHERE:
            return word if word in MOODS else _ALSO[word]
    return None


def variant(name: str, mood: str | None) -> str | None:
    """The emoji name of ``name``'s picture that shows ``mood``, if it has one."""
    if mood is None:
        return None
    return VARIANTS.get(name, {}).get(mood)
