"""English nouns: plural, singular and a/an, from lemminflect's tables.

lemminflect already serves the planner's verb forms and lemmas. inflect was used here first,
but importing it instruments its functions with typeguard and takes about 2 s (10 s and more
on a loaded machine) of every planning process, for three small jobs; lemminflect's noun
tables do the first two, and the indefinite article is a short rule on the sound of the word.
"""

from __future__ import annotations

import re
from functools import cache

# Letters that read as a vowel sound, and words whose spelling says otherwise.
_AN_WORDS = ("hour", "honest", "honour", "honor", "heir", "herb")
_A_WORDS = ("one", "once", "uni", "use", "usu", "uti", "eu", "ewe", "uk", "ufo", "ura", "uro")
# nouns spelled the same in both numbers, or only ever plural
_SAME = frozenset("bus glass princess grass woods news series species sheep deer fish".split())
_PLURALS = {"person": "people"}  # lemminflect says "persons"


@cache
def _inflection(word: str, tag: str) -> str | None:
    from lemminflect import getInflection

    forms = getInflection(word, tag, inflect_oov=True)
    return forms[0] if forms else None


@cache
def _noun_lemma(word: str) -> str | None:
    from lemminflect import getLemma

    forms = getLemma(word, "NOUN", lemmatize_oov=True)
    return forms[0] if forms else None


def plural(noun: str) -> str:
    """ "kid" -> "kids", "sense of taste" -> "senses of taste", "mouse" -> "mice"."""
    words = noun.split()
    if not words:
        return noun
    head = words.index("of") - 1 if "of" in words[1:] else len(words) - 1
    word = words[head]
    if word.lower() in _SAME or not word[:1].isalpha():
        return noun
    form = _PLURALS.get(word.lower()) or _inflection(word.lower(), "NNS") or word + "s"
    words[head] = form if word.islower() else word[:1] + form[1:]
    return " ".join(words)


def singular(word: str) -> str:
    """ "kids" -> "kids"'s singular "kid"; a word that is not a plural comes back as is."""
    w = word.lower()
    if w == "people":
        return "person"
    if w in _SAME or len(w) < 3:
        return w
    lemma = _noun_lemma(w)
    return lemma if lemma else w


def article(phrase: str) -> str:
    """ "a" or "an" for ``phrase``, by the sound of its first word."""
    first = re.sub(r"[^a-z0-9]", "", phrase.split()[0].lower()) if phrase.split() else ""
    if not first:
        return "a"
    if first.startswith(_AN_WORDS):
        return "an"
    if first.startswith(_A_WORDS):
        return "a"
    if first[0].isdigit():
        return "an" if first[0] == "8" or first in ("11", "18") else "a"
    return "an" if first[0] in "aeiou" else "a"


def a(phrase: str) -> str:
    """``phrase`` with a/an: "an owl", "a unicorn", "an hour"."""
    return f"{article(phrase)} {phrase}"
