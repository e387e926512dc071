"""An idea no reader follows: a noun phrase ("dragons", "a knight and a baker") or a
language the storyteller does not write.

An English noun phrase is still the story's subject, named as written; anything else gets
a small story about "our hero" in English, and pictures of the nouns the lexicon knows.
"""

from __future__ import annotations

import re

from sparkle_motion.planner.story.idea import Figure, Idea
from sparkle_motion.planner.story.lexicon import concepts


def read(text: str, lang: str) -> Idea:
    from sparkle_motion.planner.story import english

    words = re.findall(r"[A-Za-z][A-Za-z'’-]*", text)
    latin = len("".join(words)) >= max(1, len(text.replace(" ", "")) // 2)
    found = english._concepts_in(words) if latin else []
    table = concepts()
    cast = [Figure(k, c if c else 2) for _, k, c in found if table[k].animate]
    things = [Figure(k) for _, k, _ in found if not table[k].animate and not table[k].place]
    places = [k for _, k, _ in found if table[k].place]
    subject = " ".join(text.split()[:12]) if latin and words else ""
    if subject and not re.fullmatch(r"[A-Za-z0-9 ,'’-]+", subject):
        subject = ""
    slots = {
        "A": subject or "our hero",
        "S": english.the(subject) if subject else "our hero",
        "nominal": "1",
        "idea": text,
    }
    return Idea(
        text=text,
        lang="en",
        kind="nominal",
        event="",
        cast=cast or (Figure("person"),),
        things=things,
        places=places,
        slots=slots,
    )
