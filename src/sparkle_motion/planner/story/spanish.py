"""Reading a Spanish idea: subject, verb (present tense, kept as written), object, place.

Spanish narration is told in the present, as Spanish stories often are, so the idea's own
verb form is kept ("encuentra", "construyen") and only the articles change ("un dragón" ->
"el dragón", by the lexicon's gender). The infinitive comes from a small verb table, then
simplemma. simplemma is imported here, lazily.
"""

from __future__ import annotations

import re

from sparkle_motion.planner.story.idea import KIND_OF_EVENT, Figure, Idea
from sparkle_motion.planner.story.lexicon import HOMES, TOOLS, by_spanish, concepts

NUMBERS = {"dos": 2, "tres": 3, "cuatro": 4, "cinco": 5, "seis": 6, "siete": 7, "ocho": 8}
ARTICLES = {"un", "una", "el", "la", "los", "las", "unos", "unas", "su", "sus", "mi", "tu"}
# present forms -> (infinitive, English lemma)
VERBS: dict[str, tuple[str, str]] = {}
for _inf, _en, _forms in (
    ("encontrar", "find", "encuentra encuentran"), ("enseñar", "teach", "enseña enseñan"),
    ("construir", "build", "construye construyen"), ("ganar", "win", "gana ganan"),
    ("perder", "lose", "pierde pierden"), ("buscar", "search", "busca buscan"),
    ("aprender", "learn", "aprende aprenden"), ("querer", "want", "quiere quieren"),
    ("viajar", "travel", "viaja viajan"), ("cocinar", "cook", "cocina cocinan"),
    ("conocer", "meet", "conoce conocen"), ("salvar", "save", "salva salvan"),
    ("esperar", "wait", "espera esperan"), ("pintar", "paint", "pinta pintan"),
    ("volar", "fly", "vuela vuelan"), ("hacer", "make", "hace hacen"),
    ("plantar", "plant", "planta plantan"), ("descubrir", "find", "descubre descubren"),
    ("ayudar", "help", "ayuda ayudan"), ("competir", "race", "compite compiten"),
):  # fmt: skip
    for _f in _forms.split():
        VERBS[_f] = (_inf, _en)
# a skill learnt or taught ("enseña a cocinar"), infinitive -> English lemma: the reader's
# verbs, and skills that are no idea's main verb here
SKILLS = {inf: en for inf, en in VERBS.values()} | {
    "dibujar": "draw", "hornear": "bake", "nadar": "swim", "leer": "read", "cantar": "sing",
}  # fmt: skip
# template verbs: (singular, plural)
AGREE = {
    "tiene": ("tiene", "tienen"), "está": ("está", "están"), "trabaja": ("trabaja", "trabajan"),
    "aprende": ("aprende", "aprenden"), "intenta": ("intenta", "intentan"),
    "busca": ("busca", "buscan"), "descubre": ("descubre", "descubren"),
    "siente": ("siente", "sienten"), "sueña": ("sueña", "sueñan"), "vive": ("vive", "viven"),
    "ama": ("ama", "aman"), "sigue": ("sigue", "siguen"), "mira": ("mira", "miran"),
}  # fmt: skip
EN_ING = {"find": "finding", "teach": "teaching", "build": "building", "win": "winning",
          "lose": "losing", "search": "searching for", "learn": "learning", "cook": "cooking",
          "meet": "meeting", "race": "racing", "wait": "waiting for",
          "paint": "painting"}  # fmt: skip
_WORD = re.compile(r"[A-Za-zÀ-ÿ]+")


def _lemma(word: str) -> str:
    import simplemma

    return simplemma.lemmatize(word, lang="es")


def _noun(word: str):
    lex = by_spanish()
    w = word.lower()
    if w in lex:
        return lex[w], False
    for cut in ("es", "s"):
        if w.endswith(cut) and w[: -len(cut)] in lex:
            return lex[w[: -len(cut)]], True
    lemma = _lemma(w)
    return (lex[lemma], lemma != w) if lemma in lex else (None, False)


def definite(words: list[str]) -> str:
    """ "un dragón" -> "el dragón"; "dos hermanos" -> "los dos hermanos"."""
    if not words:
        return ""
    first = words[0].lower()
    head = next((_noun(w) for w in words[1:] if _noun(w)[0]), (None, False))
    concept, plural = head
    fem = concept is not None and concept.es_gender == "f"
    if first in NUMBERS:
        plural = True
        return " ".join(["las" if fem else "los", *words])
    art = ("las" if fem else "los") if plural else ("la" if fem else "el")
    if first in {"un", "una", "el", "la", "unos", "unas", "los", "las"}:
        return " ".join([art, *words[1:]])
    return " ".join(words)


def read(text: str) -> Idea | None:
    words = _WORD.findall(text)
    lowered = [w.lower() for w in words]
    at = next((i for i, w in enumerate(lowered) if i and w in VERBS), None)
    if at is None:
        at = next(
            (i for i, w in enumerate(lowered)
             if i > 1 and lowered[i - 1] not in ARTICLES and _lemma(w) != w
             and _lemma(w).endswith(("ar", "er", "ir"))), None,
        )  # fmt: skip
    if at is None:
        return None
    inf, en = VERBS.get(lowered[at]) or (_lemma(lowered[at]), "do")
    plural = lowered[at].endswith("n")
    subject, rest = words[:at], words[at + 1 :]
    # the object: after "a" (a person) or directly, up to a preposition
    obj_words: list[str] = []
    skill = ""
    i = 1 if rest[:1] and rest[0].lower() == "a" else 0
    while i < len(rest) and rest[i].lower() not in {"en", "a", "contra", "con", "para", "por"}:
        obj_words.append(rest[i])
        i += 1
    if i < len(rest) and rest[i].lower() == "a" and i + 1 < len(rest):
        skill = rest[i + 1].lower()
    other = ""
    rival = ""
    if "contra" in [w.lower() for w in rest]:
        rival_words = rest[[w.lower() for w in rest].index("contra") + 1 :]
        rival = " ".join(rival_words)
    kind = KIND_OF_EVENT.get(en, "story")
    if en == "win":
        kind = "rivalry"
    if en == "find" and obj_words and _noun(obj_words[-1])[0] and _noun(obj_words[-1])[0].animate:
        kind = "friendship"

    cast: list[Figure] = []
    things: list[Figure] = []
    places: list[str] = []
    weather = None
    for group in (subject, rest):
        count = 1
        for w in group:
            lw = w.lower()
            if lw in NUMBERS:
                count = NUMBERS[lw]
                continue
            c, pl = _noun(w)
            if c is None:
                continue
            if c.weather:
                weather = weather or c.key
            elif c.place:
                places.append(c.key)
            elif c.animate:
                cast.append(Figure(c.key, count if count > 1 else (2 if pl else 1)))
            elif c.drawn:
                things.append(Figure(c.key))
            count = 1
    if not cast:
        cast.append(Figure("person"))
    for tool_of in (en, *(f.concept for f in cast[:1])):
        for key in TOOLS.get(tool_of, ()):
            if not concepts()[key].place and all(t.concept != key for t in things):
                things.append(Figure(key))
    places += [HOMES[f.concept] for f in cast if f.concept in HOMES]
    hero = concepts()[cast[0].concept]
    fem = hero.es_gender == "f" and not plural
    if obj_words and len(cast) > 1 and _noun(obj_words[-1])[0]:
        other = (
            definite(obj_words)
            if obj_words[0].lower() not in {"su", "sus"}
            else " ".join(obj_words)
        )
    if rival:
        other = definite(rival.split())
    obj_concept = _noun(obj_words[-1])[0] if obj_words else None
    obj_fem = obj_concept is not None and obj_concept.es_gender == "f"
    the_subject = definite(subject)
    possessed = bool(obj_words) and obj_words[0].lower() in {"su", "sus"}
    obj_the = " ".join(obj_words) if possessed else definite(obj_words)
    slots = {
        "un": " ".join(subject),
        "el": the_subject,
        "vp": " ".join([words[at], *rest]),
        "inf": inf,
        "obj": " ".join(obj_words),
        "obj_the": obj_the,
        "otro": other,
        "otro_un": " ".join(rival.split()) if rival else " ".join(obj_words),
        "skill": skill,
        "skill_en": SKILLS.get(skill, ""),
        "lo": "ella" if obj_fem else "él",
        "listo": "lista" if obj_fem else "listo",
        "orgulloso": ("orgullosos" if plural else "orgullosa" if fem else "orgulloso"),
        "solo": ("solos" if plural else "sola" if fem else "solo"),
        "plural": "1" if plural else "",
        "pic_event": " ".join(
            filter(None, [EN_ING.get(en, en + "ing"), _pic_object(obj_words, rival)])
        ),
    }
    for key, (sg, pl) in AGREE.items():
        slots[key] = pl if plural else sg
    return Idea(
        text=text,
        lang="es",
        kind=kind,
        event=en,
        cast=cast,
        things=things,
        places=places,
        weather=weather,
        slots=slots,
    )


def _pic_object(obj_words: list[str], rival: str) -> str:
    """The object of the event, in English, for the pictures ("a dragon")."""
    from sparkle_motion.planner.story.pictures import noun_phrase

    words = rival.split() or obj_words
    for w in reversed(words):
        c, pl = _noun(w)
        if c is not None:
            return noun_phrase(Figure(c.key, 0 if pl else 1))
    return ""
