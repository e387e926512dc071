"""Which language an idea is written in: English, Spanish or Chinese.

Short ideas fool a statistical identifier, so the script decides first (Han characters:
Chinese), then the idea's function words (un/una/el/en are Spanish, a/the/of English), and
only a tie asks py3langid, restricted to the languages the storyteller writes.
"""

from __future__ import annotations

import re
from functools import cache

LANGUAGES = ("en", "es", "zh")
_HAN = re.compile(r"[\u3400-\u9fff]")
_LATIN = re.compile(r"[A-Za-zÀ-ÿ]")
SPANISH_WORDS = frozenset(
    "un una unos unas el la los las del al en con de por para su sus que y dos tres cuatro "
    "es está son muy contra sobre entre hacia cómo historia".split()
)
ENGLISH_WORDS = frozenset(
    "a an the of in on at with to for and his her its their two three four is are who "
    "how about from into".split()
)


@cache
def _identifier():
    import py3langid

    py3langid.set_languages(list(LANGUAGES))
    return py3langid


def detect_language(text: str) -> str:
    """ "en", "es" or "zh" (anything else is read as English)."""
    han = len(_HAN.findall(text))
    latin = len(_LATIN.findall(text))
    if han and han >= latin / 4:
        return "zh"
    words = re.findall(r"[a-záéíóúñü]+", text.lower())
    es = sum(w in SPANISH_WORDS for w in words) + 2 * bool(re.search(r"[ñ¿¡]", text.lower()))
    en = sum(w in ENGLISH_WORDS for w in words)
    if es != en:
        return "es" if es > en else "en"
    if not latin:
        return "en"
    lang, _ = _identifier().classify(text)
    return lang if lang in LANGUAGES else "en"
