"""Reading a Chinese idea: who (with measure word and count), where (在…上/里/中), what.

jieba segments the idea (initialised quietly, once); the lexicon finds the nouns by their
Chinese words, so the pictures can name them in English. The idea's own clause is kept as
written ({地}{vp}: 在月球上 + 寻找朋友), which keeps the narration's words the idea's words.
"""

from __future__ import annotations

import logging
import re
from functools import cache

from sparkle_motion.planner.story.idea import Figure, Idea
from sparkle_motion.planner.story.lexicon import HOMES, TOOLS, by_chinese, concepts

NUMERALS = {"一": 1, "两": 2, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8,
            "九": 9, "十": 10}  # fmt: skip
# verb -> (English lemma, kind, English -ing for the pictures)
VERBS: dict[str, tuple[str, str, str]] = {
    "寻找": ("search", "quest", "searching for"), "找": ("search", "quest", "searching for"),
    "等": ("wait", "waiting", "waiting for"), "等待": ("wait", "waiting", "waiting for"),
    "学习": ("learn", "learning", "learning"), "学": ("learn", "learning", "learning"),
    "比赛": ("race", "rivalry", "racing"), "遇到": ("meet", "friendship", "meeting"),
    "遇见": ("meet", "friendship", "meeting"), "认识": ("meet", "friendship", "meeting"),
    "丢": ("lose", "loss", "losing"), "失去": ("lose", "loss", "losing"),
    "建造": ("build", "making", "building"), "做": ("make", "making", "making"),
    "画": ("paint", "learning", "painting"), "帮助": ("help", "friendship", "helping"),
    "旅行": ("travel", "journey", "travelling"), "害怕": ("fear", "fear", "afraid of"),
}  # fmt: skip
# a skill learnt (学习画画), as its English lemma: skills that are no idea's main verb here
SKILLS = {"画画": "paint", "做饭": "cook", "烹饪": "cook", "游泳": "swim", "唱歌": "sing",
          "读书": "read", "飞": "fly", "种花": "plant"}  # fmt: skip
EXPLAINER = re.compile(r"(.+?)是(?:怎样|怎么|如何)(.+?)的?$|(.+?)的历史$")
PLACE = re.compile(r"在(.+?)(上|里|中|下|边|旁)")
COUNTED = re.compile(r"([一两二三四五六七八九十])([只个条头位匹艘辆座棵朵])")
PRONOUNS = {"f": "她", "m": "他"}


@cache
def _jieba():
    import jieba

    jieba.setLogLevel(logging.WARNING)
    jieba.initialize()
    return jieba


def words(text: str) -> list[str]:
    return _jieba().lcut(text)


def _concepts(text: str) -> list[tuple[int, str]]:
    """(position, concept key) of the lexicon words in ``text``, longest first, no overlap."""
    lex = by_chinese()
    found: list[tuple[int, str]] = []
    i = 0
    while i < len(text):
        for size in range(min(5, len(text) - i), 0, -1):
            piece = text[i : i + size]
            if piece in lex:
                found.append((i, lex[piece].key))
                i += size
                break
        else:
            i += 1
    return found


def read(text: str) -> Idea | None:
    words(text)  # segmentation loads jieba's dictionary once
    explained = EXPLAINER.match(text)
    if explained:
        return _explainer(text, explained)
    table = concepts()
    place = PLACE.search(text)
    verb_at = None
    for i in range(place.end() if place else 0, len(text)):
        for size in (2, 1):
            if text[i : i + size] in VERBS:
                verb_at = (i, text[i : i + size])
                break
        if verb_at:
            break
    if verb_at is None:
        return None
    at, verb = verb_at
    en, kind, ing = VERBS[verb]
    hero_text = text[: place.start()] if place and place.start() < at else text[:at]
    vp = text[at:]
    obj_text = vp[len(verb) :]
    cast: list[Figure] = []
    things: list[Figure] = []
    places: list[str] = []
    weather = None
    for part in (hero_text, place.group(1) if place else "", obj_text):
        for pos, key in _concepts(part):
            c = table[key]
            count_match = COUNTED.search(part[max(0, pos - 2) : pos])
            count = NUMERALS[count_match.group(1)] if count_match else 1
            if c.weather:
                weather = weather or key
            elif c.place:
                places.append(key)
            elif c.animate:
                cast.append(Figure(key, count))
            elif c.drawn:
                things.append(Figure(key))
    if not cast:
        cast.append(Figure("person"))
    for tool_of in (en, *(f.concept for f in cast[:1])):
        for key in TOOLS.get(tool_of, ()):
            if not table[key].place and all(t.concept != key for t in things):
                things.append(Figure(key))
    if verb == "学习" and "画" in obj_text:
        things += [Figure(k) for k in TOOLS["paint"] if all(t.concept != k for t in things)]
    places += [HOMES[f.concept] for f in cast if f.concept in HOMES]
    hero = table[cast[0].concept]
    counted = COUNTED.match(hero_text)
    plural = cast[0].count > 1
    hero_name = hero_text[counted.end() :] if counted else hero_text
    first = hero_text if counted else hero_name
    later = hero_text if plural else hero_name  # 两只熊猫 keep their number
    pronoun = "它" if "p" not in hero.tags else PRONOUNS.get(hero.tags[-1], "他")
    if plural:
        pronoun += "们"
    other = ""
    if len(cast) > 1:
        other_concept = table[cast[1].concept]
        other = next((w for w in other_concept.zh if w in obj_text), other_concept.zh[0])
    obj_concept = _concepts(obj_text)
    pic_object = ""
    if obj_concept:
        from sparkle_motion.planner.story.pictures import noun_phrase

        pic_object = noun_phrase(Figure(obj_concept[-1][1]))
    slots = {
        "一主": first,
        "主": later,
        "它": pronoun,
        "地": place.group(0) if place and place.start() < at else "",
        "处": (place.group(1) + place.group(2)) if place and place.start() < at else "",
        "vp": vp,
        "verb": verb,
        "obj": obj_text,
        "他者": other,
        "skill": obj_text if kind == "learning" else "",
        "skill_en": _skill_en(obj_text) if kind == "learning" else "",
        "pic_event": f"{ing} {pic_object}".strip(),
    }
    return Idea(
        text=text,
        lang="zh",
        kind=kind,
        event=en,
        cast=cast,
        things=things,
        places=places,
        weather=weather,
        slots=slots,
    )


def _skill_en(skill: str) -> str:
    """The English lemma of a skill: 画画 -> paint, 画 -> paint (a reader's verb)."""
    if skill in SKILLS:
        return SKILLS[skill]
    return VERBS[skill][0] if skill in VERBS else ""


def _explainer(text: str, match: re.Match[str]) -> Idea:
    table = concepts()
    subject = match.group(1) or match.group(3)
    process = match.group(2) or ""
    found = _concepts(text)
    cast = [Figure(k, 0) for _, k in found if table[k].animate]
    things = [Figure(k) for _, k in found if not table[k].animate and table[k].drawn]
    for f in cast:
        for key in TOOLS.get(f.concept, ()):
            if not table[key].place and all(t.concept != key for t in things):
                things.append(Figure(key))
    slots = {"主": subject, "vp": process, "topic": text.rstrip("的"), "history": "" if process
             else "1"}  # fmt: skip
    return Idea(
        text=text,
        lang="zh",
        kind="explainer",
        event="explain",
        cast=cast or (Figure("person"),),
        things=things,
        slots=slots,
    )
