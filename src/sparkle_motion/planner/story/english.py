"""Reading an English idea: subject, verb phrase, object, place, and the words to retell it.

The idea's own words are kept: the subject as written ("two rival bakers", "an astronaut's
cat") and the verb phrase after the verb ("her sense of taste"), so retelling it changes only
the verb's form (lemminflect: "loses" -> "lost", "lose", "losing") and the article ("a whale"
-> "the whale"). Nouns are found in the lexicon (singulars from lemminflect), which says who is
a character, what is a thing, what is a place. Libraries are imported here, lazily: only an
English idea that is planned loads them.
"""

from __future__ import annotations

import re

from sparkle_motion.planner.story import nouns
from sparkle_motion.planner.story.idea import KIND_OF_EVENT, Figure, Idea
from sparkle_motion.planner.story.lexicon import HOMES, TOOLS, by_english

DETERMINERS = {"a", "an", "the", "one", "some", "my", "his", "her", "its", "their", "our", "this"}
POSSESSIVES = {"his": "his", "her": "her", "its": "its", "their": "their"}
NUMBERS = {"two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
           "nine": 9, "ten": 10, "one": 1}  # fmt: skip
PREPOSITIONS = {
    "in", "on", "at", "under", "across", "through", "from", "to", "near", "with", "by",
    "inside", "above", "below", "into", "over", "after", "before", "around", "behind",
    "among", "for", "about", "without", "along", "toward", "towards", "against", "beside",
}  # fmt: skip
PLACE_PREPOSITIONS = {"in", "on", "at", "under", "across", "near", "inside", "above", "beside",
                      "to", "into", "through", "over", "around", "along"}  # fmt: skip
MODALS = {"must": "had to", "can": "could", "will": "would", "should": "should", "may": "might"}
IRREGULAR_3SG = {"is": "be", "has": "have", "does": "do", "goes": "go"}
PARTICLES = {"up", "away", "down", "out", "off", "back"}
EXPLAINER = re.compile(
    r"^(?:(?:please\s+)?(?:make|create|produce)\s+)?(?:(?:a|an)\s+)?(?:short\s+)?"
    r"(?:video|film|movie|documentary|explainer|clip)\s+(?:about|on|explaining)\s+",
    re.I,
)
STORY_FRAMES = re.compile(
    r"^(?:a|the)\s+(?:short\s+)?(?:story|tale|film|movie)\s+(?:about|of)\s+", re.I
)
_WORD = re.compile(r"[A-Za-zÀ-ÖØ-öø-ÿ][A-Za-zÀ-ÖØ-öø-ÿ'’-]*|\d+")


def _lemmas(word: str) -> dict[str, tuple[str, ...]]:
    from lemminflect import getAllLemmas

    return getAllLemmas(word)


def verb_form(lemma: str, tag: str) -> str:
    """A verb form from lemminflect ("lose", "VBD" -> "lost")."""
    if lemma == "be":
        return {"VBD": "was", "VBG": "being", "VBZ": "is"}.get(tag, "be")
    from lemminflect import getInflection

    forms = getInflection(lemma, tag)
    return forms[0] if forms else lemma


def singular(word: str) -> str:
    return nouns.singular(word)


def is_plural(word: str) -> bool:
    return singular(word) != word.lower()


def plural(noun: str) -> str:
    return nouns.plural(noun)


def a(phrase: str) -> str:
    """``phrase`` with a/an."""
    return nouns.a(phrase)


def the(phrase: str) -> str:
    """A first-mention noun phrase as a later mention: "a whale" -> "the whale"."""
    words = phrase.split()
    if not words:
        return phrase
    first = words[0].lower()
    if first in {"a", "an", "one", "some"}:
        return " ".join(["the", *words[1:]])
    if first in NUMBERS or first.isdigit():
        return " ".join(["the", *words])
    if first in {"the", "his", "her", "its", "their", "my", "our", "your"}:
        return phrase
    if words[0][:1].isupper() and not first.endswith(("'s", "’s")):
        return phrase  # a name
    return "the " + phrase


def cap(text: str) -> str:
    return text[:1].upper() + text[1:]


# ------------------------------------------------------------------------ reading


def _is_verb_3sg(token: str) -> str | None:
    """The lemma when ``token`` is a verb in the 3rd person singular ("loses" -> "lose")."""
    if token in IRREGULAR_3SG:
        return IRREGULAR_3SG[token]
    if not token.endswith("s") or len(token) < 3:
        return None
    verbs = _lemmas(token).get("VERB")
    return verbs[0] if verbs and verbs[0] != token else None


def _is_base_verb(token: str) -> bool:
    verbs = _lemmas(token).get("VERB")
    return bool(verbs) and verbs[0] == token


def _find_verb(tokens: list[str]) -> tuple[int, str, str | None] | None:
    """(index, lemma, modal) of the idea's main verb, found by agreement with the subject."""
    plural_subject = bool(tokens) and (tokens[0] in NUMBERS and tokens[0] != "one")
    for i in range(1, len(tokens)):
        t, prev = tokens[i], tokens[i - 1]
        if prev in DETERMINERS or prev in NUMBERS or prev.endswith(("'s", "’s")):
            continue
        if t == "and":
            plural_subject = True
            continue
        if t in MODALS and i + 1 < len(tokens) and _is_base_verb(tokens[i + 1]):
            return i + 1, tokens[i + 1], t
        lemma = _is_verb_3sg(t)
        if lemma and not plural_subject:
            return i, lemma, None
        if (plural_subject or is_plural(prev)) and _is_base_verb(t) and t not in PREPOSITIONS:
            return i, t, None
    return None


def _noun_phrase(words: list[str]) -> list[str]:
    """The leading noun phrase of ``words``: up to a preposition (an "of" phrase is kept)."""
    out: list[str] = []
    i = 0
    while i < len(words):
        w = words[i].lower()
        if w in {"and", "but", "while", "when", "who", "that", "because", "so"}:
            break
        if w in PREPOSITIONS and out:
            break
        if w == "of" and out:
            out.append(words[i])
            i += 1
            continue
        out.append(words[i])
        i += 1
    return out


def _concepts_in(words: list[str]) -> list[tuple[int, str, int]]:
    """(index, concept key, count) of the lexicon nouns in ``words``, longest match first."""
    lex = by_english()
    found: list[tuple[int, str, int]] = []
    i = 0
    lowered = [w.lower().replace("’", "'") for w in words]
    while i < len(lowered):
        w = lowered[i]
        if w.endswith("'s"):
            w = w[:-2]
        matched = False
        for size in (2, 1):
            if i + size > len(lowered):
                continue
            parts = lowered[i : i + size]
            last = parts[-1].removesuffix("'s")
            key = " ".join([*parts[:-1], last if last in lex else singular(last)])
            if size == 1:
                key = w if w in lex else singular(w)
            if key in lex:
                count = 1
                head = parts[-1].removesuffix("'s")
                back = i - 1
                while back >= 0 and lowered[back] not in NUMBERS and not lowered[back].isdigit():
                    if lowered[back] in DETERMINERS or lowered[back] in PREPOSITIONS:
                        break
                    back -= 1
                if back >= 0 and lowered[back] in NUMBERS:
                    count = NUMBERS[lowered[back]]
                elif back >= 0 and lowered[back].isdigit():
                    count = int(lowered[back])
                elif is_plural(head) and lex[key].en != head:
                    count = 0
                found.append((i, lex[key].key, count))
                i += size
                matched = True
                break
        if not matched:
            i += 1
    return found


def read(text: str) -> Idea | None:
    """An English idea understood; None when no verb is found (the caller falls back)."""
    body = STORY_FRAMES.sub("", text)
    explainer = EXPLAINER.match(body)
    if explainer:
        body = body[explainer.end() :]
    originals = _WORD.findall(body)
    tokens = [t.lower().replace("’", "'") for t in originals]
    if not tokens:
        return None
    if explainer or tokens[0] == "how" or tokens[:3] == ["the", "history", "of"]:
        return _explainer(body, originals, tokens)
    found = _find_verb(tokens)
    if found is None:
        return None
    at, lemma, modal = found
    return _story(text, originals, tokens, at, lemma, modal)


def _split_second_clause(words: list[str]) -> tuple[list[str], list[str]]:
    """ "a treehouse and a storm comes" -> (["a", "treehouse"], ["a", "storm", "comes"])."""
    lowered = [w.lower() for w in words]
    for i, w in enumerate(lowered):
        if w == "and" and i + 2 < len(lowered) and lowered[i + 1] in DETERMINERS:
            rest = lowered[i + 1 :]
            if any(_is_verb_3sg(t) for t in rest[1:]):
                return words[:i], words[i + 1 :]
    return words, []


def _story(
    text: str, originals: list[str], tokens: list[str], at: int, lemma: str, modal: str | None
) -> Idea:
    subject_words = originals[: at - (1 if modal else 0)]
    subject_lower = [w.lower() for w in subject_words]
    # "a chef in Paris": the place phrase leaves the subject
    where = ""
    for i, w in enumerate(subject_lower):
        if i > 0 and w in PLACE_PREPOSITIONS:
            where = " ".join(subject_words[i:])
            subject_words = subject_words[:i]
            break
    vp_words, second = _split_second_clause(originals[at + 1 :])
    vp_lower = [w.lower() for w in vp_words]
    group = [p.strip() for p in " ".join(subject_words).split(" and ")]
    plural_subject = len(group) > 1 or (
        bool(subject_lower) and subject_lower[0] in NUMBERS and subject_lower[0] != "one"
    )
    subject_concepts = _concepts_in(subject_words)
    if not plural_subject and subject_concepts and subject_concepts[-1][2] == 0:
        plural_subject = True

    # the event: "learns to paint" and "wants to fly" are about painting and flying
    skill = ""
    skill_rest = ""
    event = lemma
    particle = ""
    if vp_lower[:1] and vp_lower[0] in PARTICLES:
        particle = vp_words[0]
    if lemma in {"learn", "want", "try"} and vp_lower[:1] == ["to"] and len(vp_lower) > 1:
        skill = vp_lower[1]
        skill_rest = " ".join(vp_words[2:])
        event = skill
    if lemma == "teach":
        to = vp_lower.index("to") if "to" in vp_lower else -1
        if to > 0 and to + 1 < len(vp_lower):
            skill = vp_lower[to + 1]
            skill_rest = " ".join(vp_words[to + 2 :])
    if lemma == "be" and vp_lower[:1] == ["afraid"]:
        event = "be_afraid"

    kind = KIND_OF_EVENT.get(event) or KIND_OF_EVENT.get(lemma) or "story"
    if lemma == "want" and skill in {"join", "meet", "befriend"}:
        kind = "friendship"
    elif lemma in {"want", "learn"} and skill:
        kind = "learning"
    if lemma == "come" and vp_lower[:2] == ["to", "life"]:
        kind = "transformation"
    if lemma == "become" and not any(w.startswith("friend") for w in vp_lower):
        kind = "transformation"
    subject_keys = [c for _, c, _ in subject_concepts]
    lex_by_key = {c.key: c for c in by_english().values()}
    if subject_keys and lex_by_key[subject_keys[-1]].weather:
        kind = "disaster"
    if "rival" in subject_lower or "rivals" in subject_lower:
        kind = "rivalry"

    # the verb phrase, retold
    def phrase(tag: str) -> str:
        if modal:
            head = {"VBD": MODALS[modal], "VB": "", "VBG": ""}[tag]
            verb = " ".join(filter(None, [head, lemma]))
            if tag == "VBG":
                verb = verb_form(lemma, "VBG")
        elif lemma == "be":
            verb = {"VBD": "were" if plural_subject else "was", "VB": "be", "VBG": "being"}[tag]
        else:
            verb = verb_form(lemma, tag) if tag != "VB" else lemma
        return " ".join(filter(None, [verb, *vp_words]))

    vp_past, vp_base, vp_ing = phrase("VBD"), phrase("VB"), phrase("VBG")
    obj_words = _noun_phrase(vp_words[1 if particle else 0 :])
    if obj_words and obj_words[0].lower() in PREPOSITIONS | {"to"}:
        obj_words = _noun_phrase(obj_words[1:]) if obj_words[0].lower() != "to" else []
    if lemma in {"learn", "want"}:
        obj_words = _noun_phrase(vp_words[2:]) if skill else obj_words
    if lemma == "be":
        obj_words = _noun_phrase(vp_words[2:]) if len(vp_words) > 2 else []
    if lemma in {"search", "look", "hunt"} and vp_lower[:1] == ["for"]:
        obj_words = _noun_phrase(vp_words[1:])
    obj = " ".join(obj_words)
    if obj.lower() in {"life", "friends", "best friends", "away", "up"}:
        obj = ""

    # who, what, where
    vp_concepts = _concepts_in(vp_words)
    second_concepts = _concepts_in(second)
    where_concepts = _concepts_in(where.split())
    lex = lex_by_key
    cast: list[Figure] = []
    things: list[Figure] = []
    places: list[str] = []
    weather = None
    owner = ""
    for _, key, count in where_concepts + subject_concepts + vp_concepts + second_concepts:
        c = lex[key]
        if c.weather:
            weather = weather or key
            if kind != "disaster":
                continue
        if c.place:
            places.append(key)
        elif c.animate:
            cast.append(Figure(key, count if count else 2))
        else:
            things.append(Figure(key, max(count, 1)))
    if not cast:
        cast.append(Figure("person"))
    for i, w in enumerate(subject_lower):
        if w.endswith("'s") and len(subject_concepts) > 1:
            owner = the(" ".join(subject_words[: i + 1]))[:-2]
    # the hero is the subject's head noun (the last subject concept that is animate)
    hero_keys = [c for c in subject_keys if lex[c].animate]
    if hero_keys and (owner or len(group) == 1):
        hero = next(f for f in cast if f.concept == hero_keys[-1])
        cast.remove(hero)
        cast.insert(0, hero)
    things = [t for t in things if t.concept not in {event, skill}]  # "to paint" is no paint
    for tool_of in (event, skill, *(f.concept for f in cast[:1])):
        for key in TOOLS.get(tool_of, ()):
            if lex[key].place:
                places.append(key)
            elif all(t.concept != key for t in things):
                things.append(Figure(key))
    if kind == "friendship" and not other_of(subject_words, vp_words, group, lex):
        kind = "belonging"
    if kind == "disaster":
        cast = [f for f in cast if f.concept != "person"] or [Figure("person", 0)]
    for f in cast:
        if f.concept in HOMES:
            places.append(HOMES[f.concept])
    places = list(dict.fromkeys(places))

    # pronouns: the idea's own possessive first ("her sense of taste"), then the lexicon
    pos = next((POSSESSIVES[w] for w in vp_lower if w in POSSESSIVES), "")
    if plural_subject:
        pos = "their"
    if not pos:
        tags = lex[cast[0].concept].tags
        pos = "her" if "f" in tags else "his" if "m" in tags else "its" if "p" not in tags else ""
        pos = pos or "their"
    subject = " and ".join(group)
    s_the = " and ".join(the(g) for g in group)
    other = ""
    other_a = ""
    if len(group) > 1 and kind in {"friendship", "rivalry"}:
        # "a knight and a dragon become friends": the story starts with the knight alone
        subject, s_the, other = group[0], the(group[0]), the(group[1])
        other_a = group[1]
    else:
        animate_obj = obj and any(lex[k].animate for _, k, _ in _concepts_in(obj.split()))
        if animate_obj:
            other, other_a = the(obj), obj
    other_tags = ""
    if other:
        oc = _concepts_in(other.split())
        other_tags = lex[oc[0][1]].tags if oc else ""
    second_past = ""
    if second:
        sl = [w.lower() for w in second]
        verb_at = next((i for i, t in enumerate(sl) if i and _is_verb_3sg(t)), None)
        if verb_at:
            second_past = " ".join(
                [*second[:verb_at], verb_form(_is_verb_3sg(sl[verb_at]) or "", "VBD"),
                 *second[verb_at + 1 :]]
            )  # fmt: skip
    vp_the = " ".join(["the" if w.lower() in {"a", "an"} else w for w in vp_past.split()])
    slots = {
        "A": subject,
        "S": s_the,
        "group": " and ".join(the(g) for g in group),
        "where": where,
        # "the two kids were", "the girl and her grandmother were", "the knight was"
        "be": "were" if (plural_subject if len(group) == 1 else " and " in s_the) else "was",
        "pos": pos,
        "they": {"her": "she", "his": "he", "its": "it"}.get(pos, "they"),
        "them": {"her": "her", "his": "him", "its": "it"}.get(pos, "them"),
        "vp": vp_past,
        "vp_the": vp_the,
        "vp_base": vp_base,
        "vp_ing": vp_ing,
        "obj": obj,
        "obj_the": the(obj) if obj else "",
        "skill": skill,
        "skill_en": skill,
        "skill_rest": skill_rest,
        "skill_past": verb_form(skill, "VBD") if skill else "",
        "skill_ing": verb_form(skill, "VBG") if skill else "",
        "other": other,
        "other_a": other_a,
        "other_they": "she" if "f" in other_tags else "he" if "m" in other_tags else "they",
        "other_them": "her" if "f" in other_tags else "him" if "m" in other_tags else "them",
        "owner": owner,
        "second": second_past,
        "particle": particle,
        "event": event,
        "verb": lemma,
        "plural": "1" if plural_subject else "",
        "subject_key": subject_keys[-1] if subject_keys else "person",
        "rule": f"The rule was simple: they {modal} {vp_base}." if modal else "",
        "pic_event": vp_ing,
    }
    slots.update(_derived(slots, group, vp_words, lemma, cast, things, lex, kind))
    return Idea(
        text=text,
        lang="en",
        kind=kind,
        event=event,
        cast=cast,
        things=things,
        places=places,
        weather=weather,
        night="night" in tokens,
        slots=slots,
    )


def other_of(subject_words: list[str], vp_words: list[str], group: list[str], lex) -> bool:
    """Is there someone to meet: a second subject, or a character as the object?"""
    if len(group) > 1:
        return True
    obj = _noun_phrase(vp_words)
    return any(lex[k].animate for _, k, _ in _concepts_in(obj))


def _place_phrase(vp_words: list[str]) -> tuple[str, str]:
    """(preposition, noun phrase) of the verb phrase's first place: ("to", "the moon")."""
    lex = {c.key: c for c in by_english().values()}
    for i, w in enumerate(vp_words):
        if w.lower() in PLACE_PREPOSITIONS:
            np = _noun_phrase(vp_words[i + 1 :])
            if any(lex[k].place for _, k, _ in _concepts_in(np)):
                return w.lower(), " ".join(np)
    return "", ""


def _derived(
    slots: dict[str, str],
    group: list[str],
    vp_words: list[str],
    lemma: str,
    cast: list[Figure],
    things: list[Figure],
    lex: dict,
    kind: str,
) -> dict[str, str]:
    """Slots made of the others: pairs, goals, destinations, tools."""
    s, other = slots["S"], slots["other"]
    if len(group) > 1 or slots["plural"]:
        pair = slots["group"]
    else:
        pair = f"{s} and {other}" if other else ""
    prep, place_np = _place_phrase(vp_words)
    destination = ""
    if place_np:
        destination = f"the far side of {the(place_np)}" if prep == "across" else the(place_np)
    tools = [t for t in things if t.concept not in {c.concept for c in cast}]
    tool_words = [
        lex[t.concept].en if lex[t.concept].mass else a(lex[t.concept].en)
        for t in tools
        if lex[t.concept].drawn and lex[t.concept].en not in slots["obj"]
    ][:3]
    tools_text = (
        ", ".join(tool_words[:-1]) + " and " + tool_words[-1] if len(tool_words) > 1
        else "".join(tool_words)
    )  # fmt: skip
    head = lex[cast[0].concept].en
    found = slots["vp"]
    if lemma in {"search", "seek", "look", "hunt"} and slots["obj_the"]:
        found = f"found {slots['obj_the']}"
    place_the = ""
    if kind == "disaster":
        place_the = the(slots["obj"]) if slots["obj"] else the(place_np) if place_np else ""
        place_the = place_the or "the town"
    return {
        "pair": pair,
        "vp_found": found,
        "vp_base_together": slots["vp_base"],
        "vp_base_after": " ".join(slots["vp_base"].split()[2:])
        if slots["vp_base"].startswith("want to")
        else slots["vp_base"],
        "witness": slots["owner"] or "the neighbours",
        "head": head,
        "destination": destination,
        "tools": tools_text,
        "place_the": place_the,
        "hazards": plural(lex[slots["subject_key"]].en) if kind == "disaster" else "",
    }


def _explainer(body: str, originals: list[str], tokens: list[str]) -> Idea:
    topic = " ".join(originals)
    found = _concepts_in(originals)
    lex = {c.key: c for c in by_english().values()}
    cast = [Figure(k, c or 1) for _, k, c in found if lex[k].animate]
    things = [Figure(k) for _, k, _ in found if not lex[k].animate and not lex[k].place]
    places = [k for _, k, _ in found if lex[k].place and k != "empire"]
    for f in cast:
        for key in TOOLS.get(f.concept, ()):
            if all(t.concept != key for t in things) and not lex[key].place:
                things.append(Figure(key))
    history = tokens[:3] == ["the", "history", "of"]
    subject = " ".join(originals[3:]) if history else ""
    slots = {"topic": topic, "subject": subject or topic, "history": "1" if history else ""}
    if tokens[0] == "how":
        verb = _find_verb(tokens[1:])
        if verb:
            at, lemma, _ = verb
            sub = originals[1 : at + 1]
            rest = originals[at + 2 :]
            slots.update(
                how_subject=" ".join(sub),
                how_the=the(" ".join(sub)),
                how_base=" ".join([lemma, *rest]),
                how_ing=" ".join([verb_form(lemma, "VBG"), *rest]),
                how_vp=" ".join(originals[at + 1 :]),
            )
    return Idea(
        text=body,
        lang="en",
        kind="explainer",
        event="explain",
        cast=cast,
        things=things,
        places=places,
        slots=slots,
    )
