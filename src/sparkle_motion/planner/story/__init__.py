"""The offline planner's storyteller: an idea in one sentence to a scene-by-scene draft.

No model and no network. The idea is read in its own language (English, Spanish, Chinese):
who is in it and how many, what happens (the idea's own event), with what, where and when
(see idea.py and the readers). The kind of idea (a search, a loss, learning a skill, a
rivalry, a disaster, an explainer ...) picks an arc whose six beats keep that event at the
centre (arcs.py); the narration is told in the idea's language, where two characters meet
they speak their own lines (dialogue.py), and each scene's picture is
described in English from what its narration names (pictures.py), since the image models
read English. Every choice is made from a hash of the idea: the same idea, the same story.

The language libraries (py3langid, inflect, lemminflect, simplemma, jieba) are imported only
when an idea is planned, never by ``sparkle-motion --help`` or a cached re-run.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

from sparkle_motion.planner.draft import PlanDraft, SceneDraft
from sparkle_motion.planner.story.arcs import BEATS, MOTIONS, TIMES, beats_for
from sparkle_motion.planner.story.characters import ANIMATE
from sparkle_motion.planner.story.idea import Figure, Idea
from sparkle_motion.planner.story.language import detect_language
from sparkle_motion.planner.story.pictures import STYLES, image_prompt

__all__ = ["ANIMATE", "analyse", "clean_idea", "is_explainer", "write_draft"]
SCENES = len(BEATS)
EPILOGUES = {
    "en": ("And whenever someone asks about {S}, this is the story they hear.",
           "People still tell the story of {S} on long winter evenings.",
           "And if you ever meet {S}, ask about that day, and listen closely."),
    "es": ("Y cuando alguien pregunta por {el}, esta es la historia que escucha.",
           "Todavía hoy se cuenta la historia de {el} en las noches largas de invierno."),
    "zh": ("直到今天，人们还常常讲起{主}的故事。",
           "如果你遇见{主}，就问问那一天的事吧。"),
}  # fmt: skip


def clean_idea(text: str) -> str:
    """The idea as one tidy line: NFC, single spaces, no wrapping quotes or final stop."""
    text = unicodedata.normalize("NFC", text)
    text = " ".join(text.split())
    text = text.strip(" \"'“”‘’«»「」")
    return text.rstrip(" .!?;:,。！？；：，")


def _hash(*parts: str) -> int:
    return int.from_bytes(hashlib.sha256("|".join(parts).encode()).digest()[:8], "big")


def analyse(idea_text: str) -> Idea:
    """The idea understood, in its language; an idea no reader follows gets a plain story."""
    text = clean_idea(idea_text)
    lang = detect_language(text)
    idea: Idea | None = None
    if lang == "zh":
        from sparkle_motion.planner.story import chinese

        idea = chinese.read(text)
    elif lang == "es":
        from sparkle_motion.planner.story import spanish

        idea = spanish.read(text)
    if idea is None and lang != "zh" and re.search(r"[A-Za-z]", text):
        from sparkle_motion.planner.story import english

        idea = english.read(text)
    if idea is None:
        from sparkle_motion.planner.story import fallback

        idea = fallback.read(text, lang)
    return idea


def is_explainer(idea_text: str) -> bool:
    """Does the idea ask to explain a topic ("the history of ...", "how bees make honey")?

    A cheap look at the idea's frame, without the language libraries: the CLI asks it to
    say that offline an explainer has no facts.
    """
    from sparkle_motion.planner.story.chinese import EXPLAINER as ZH
    from sparkle_motion.planner.story.english import EXPLAINER as EN

    text = clean_idea(idea_text)
    low = text.lower()
    return bool(
        EN.match(text)
        or low.startswith(("how ", "the history of ", "history of ", "la historia de ", "cómo "))
        or ZH.match(text)
    )


def _teller(idea: Idea):
    if idea.lang == "zh":
        from sparkle_motion.planner.story import tell_zh as teller
    elif idea.lang == "es":
        from sparkle_motion.planner.story import tell_es as teller
    else:
        from sparkle_motion.planner.story import tell_en as teller
    return teller


def scene_count(text: str, max_scenes: int) -> int:
    """5-7 scenes: more for longer ideas (and by the idea's hash), never above ``max_scenes``."""
    words = len(text.split())
    base = 5 if words <= 3 else 6 if words <= 12 else 7
    base += _hash(text, "scenes") % 2 if base < SCENES else 0
    return max(1, min(base, max_scenes, SCENES))


def _narration(teller, idea: Idea, beat: int) -> str:
    pick = _hash(idea.text, str(beat))
    if BEATS[beat] == "epilogue":
        from sparkle_motion.planner.story.tell_en import choose

        text = choose(EPILOGUES[idea.lang], idea.slots, pick)
        return teller.contract(text) if idea.lang == "es" else text
    return teller.sentences(idea.kind, idea.slots, beat, pick)


def write_draft(idea_text: str, *, max_scenes: int = 8) -> PlanDraft:
    """A deterministic scene-by-scene draft for ``idea_text``."""
    idea = analyse(idea_text)
    teller = _teller(idea)
    style = STYLES[_hash(idea.text, "style") % len(STYLES)]
    explainer = idea.kind == "explainer"
    from sparkle_motion.planner.story import dialogue

    scenes = []
    for beat in beats_for(idea.kind, scene_count(idea.text, max_scenes)):
        narration = _narration(teller, idea, beat)
        said = dialogue.lines(idea, beat)
        # the picture shows whoever the scene's words name, the characters' lines included
        spoken = " ".join([narration, *(line.text for line in said)])
        scenes.append(
            SceneDraft(
                title=teller.title(idea.kind, min(beat, 5), idea.slots),
                setting=TIMES[beat],
                image_prompt=image_prompt(idea, beat, spoken, style, explainer=explainer),
                narration=narration,
                motion=MOTIONS[beat],
                dialogue=said,
            )
        )
    return PlanDraft(
        title=teller.movie_title(idea),
        style=style,
        scenes=scenes,
        language=idea.lang,
        kind=idea.kind,
        cast=dialogue.cast(idea),
    )


def figures(idea: Idea) -> tuple[Figure, ...]:
    """Everyone and everything the pictures draw."""
    return idea.cast + idea.things
