"""The offline planner's evaluation: does each idea's movie tell that idea, in its language,
with pictures that show it?

For every idea in ``ideas.yaml`` the planner writes a draft and a plan (no model, no
network), and the preview storyboard draws each scene's picture (small, for speed). The
checks, each per idea:

- ``content``: every content word of the idea appears in the narration, compared as lemmas
  (lemminflect for English, simplemma for Spanish; Chinese is segmented with jieba and each
  word must appear as written).
- ``event``: one of the idea's event lemmas appears in the narration.
- ``counts``: a counted character keeps its number ("two kids", "dos hermanos", "两只熊猫")
  and is never spoken of as one ("a kid", "the kid").
- ``language``: the narration is in the idea's language (py3langid over en/es/zh; Chinese
  narration is mostly Han characters) and the narration voice says so.
- ``drawn``: every thing in ``draw`` is in at least one scene's picture, read from the
  image metadata (a placed subject, or the painted place, landmark or weather).
- ``distinct`` (over the set): no two ideas share more than 2 sentences.
- ``deterministic``: the same idea twice gives the same plan apart from ``created_at``.

Run ``python -m tests.eval.evaluate`` for the table of pass counts and planning times;
``tests/eval/test_offline_planner.py`` runs the same checks as tests.
"""

from __future__ import annotations

import functools
import itertools
import logging
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

IDEAS_FILE = Path(__file__).with_name("ideas.yaml")
IMAGE_SIZE = (320, 180)
CHECKS = ("content", "event", "counts", "language", "drawn", "deterministic")
MAX_SHARED_SENTENCES = 2

# Words that carry no content of their own, and the frames an idea may start with.
EN_STOP = frozenset(
    """
a an the and or but of in on at to by for with from into onto over under up down out off
about as is are was were be been being am do does did has have had will would can could
must may might shall should it its it's this that these those who whom which what when
where why how he she they we you i me him her them us my your his their our one some any
all every no not so too very just than then there here away
""".split()
)
EN_FRAMES = (
    "make a video about", "make a movie about", "make a film about", "a video about",
    "a movie about", "a film about", "a story about", "a story of", "the story of",
    "tell the story of", "a tale about", "a tale of",
)  # fmt: skip
ES_STOP = frozenset(
    """
un una unos unas el la los las lo de del al a en con contra por para su sus mi mis tu
tus y o que se es son está están como muy más le les
""".split()
)
ZH_STOP = frozenset(
    "一 一只 一个 一条 一位 一头 两只 两个 两位 三只 三个 在 上 里 中 的 了 是 怎样 怎么 "
    "和 与 着 地 得 吗 呢 把 被 给".split()
)
# jieba's dictionary joins a few neighbours of our ideas wrongly: 雨中等 is 雨中 / 等
ZH_SEGMENT_FIXES = {"中等": ("中", "等")}
COUNT_WORDS = {
    "en": {2: "two", 3: "three", 4: "four", 5: "five"},
    "es": {2: "dos", 3: "tres", 4: "cuatro", 5: "cinco"},
    "zh": {2: "两", 3: "三", 4: "四", 5: "五"},
}
EN_NUMBERS = frozenset("one two three four five six seven eight nine ten".split())


@dataclass
class IdeaResult:
    idea: str
    lang: str
    kind: str
    narration: list[str] = field(default_factory=list)
    prompts: list[str] = field(default_factory=list)
    seconds: float = 0.0
    checks: dict[str, tuple[bool, str]] = field(default_factory=dict)


def load_ideas() -> list[dict[str, Any]]:
    return yaml.safe_load(IDEAS_FILE.read_text(encoding="utf-8"))


# ------------------------------------------------------------------ language tools


@functools.cache
def _identifier() -> Any:
    import py3langid.langid as langid

    ident = langid.LanguageIdentifier.from_modelpath(
        langid.MODEL_DIR / langid.MODEL_FILE, norm_probs=True
    )
    ident.set_languages(["en", "es", "zh"])
    return ident


@functools.cache
def _jieba() -> Any:
    import jieba

    jieba.setLogLevel(logging.WARNING)
    return jieba


def _words(text: str) -> list[str]:
    return re.findall(r"[^\W\d_]+(?:['’][^\W\d_]+)*", text.lower())


def en_lemmas(word: str) -> set[str]:
    from lemminflect import getAllLemmas

    word = word.lower().replace("’", "'").removesuffix("'s")
    out = {word}
    for forms in getAllLemmas(word).values():
        out.update(forms)
    return out


def es_lemma(word: str) -> str:
    import simplemma

    return simplemma.lemmatize(word.lower(), lang="es")


def zh_words(text: str) -> list[str]:
    out: list[str] = []
    for w in _jieba().lcut(text):
        out.extend(ZH_SEGMENT_FIXES.get(w, (w,)))
    return out


def content_words(idea: str, lang: str) -> list[str]:
    """The idea's content words, as written (frames, stop words and small numbers out)."""
    if lang == "zh":
        return [w for w in zh_words(idea) if w.strip() and w not in ZH_STOP and not _punct(w)]
    text = idea.lower()
    if lang == "en":
        for frame in EN_FRAMES:
            if text.startswith(frame + " "):
                text = text[len(frame) + 1 :]
                break
        stop = EN_STOP | EN_NUMBERS
    else:
        stop = ES_STOP | frozenset(COUNT_WORDS["es"].values())
    return [w for w in _words(text) if w.removesuffix("'s") not in stop]


def _punct(word: str) -> bool:
    return all(not ch.isalnum() for ch in word)


def narration_lemmas(text: str, lang: str) -> set[str]:
    if lang == "en":
        return set().union(*(en_lemmas(w) for w in _words(text))) if text else set()
    return {es_lemma(w) for w in _words(text)} | set(_words(text))


def has_word(word: str, text: str, lang: str, lemmas: set[str] | None = None) -> bool:
    """``word`` (or a lemma of it) is in ``text``."""
    if lang == "zh":
        return word in text
    lemmas = lemmas if lemmas is not None else narration_lemmas(text, lang)
    if lang == "en":
        return bool(en_lemmas(word) & lemmas)
    return es_lemma(word) in lemmas or word.lower() in lemmas


def sentences(text: str) -> list[str]:
    parts = re.split(r"(?<=[.!?。！？])\s*", text)
    return [" ".join(p.split()) for p in parts if len(p.strip()) > 1]


# ------------------------------------------------------------------ checks


def check_content(r: IdeaResult) -> tuple[bool, str]:
    text = " ".join(r.narration)
    lemmas = narration_lemmas(text, r.lang) if r.lang != "zh" else None
    missing = [w for w in content_words(r.idea, r.lang) if not has_word(w, text, r.lang, lemmas)]
    return not missing, f"missing {missing}" if missing else "all content words spoken"


def check_event(r: IdeaResult, event: list[str]) -> tuple[bool, str]:
    text = " ".join(r.narration)
    lemmas = narration_lemmas(text, r.lang) if r.lang != "zh" else None
    found = [e for e in event if has_word(e, text, r.lang, lemmas)]
    return bool(found), f"event {found or event} {'spoken' if found else 'missing'}"


def check_counts(r: IdeaResult, counts: dict[str, int]) -> tuple[bool, str]:
    text = " ".join(r.narration)
    low = text.lower()
    problems = []
    for noun, n in counts.items():
        word = COUNT_WORDS[r.lang][n]
        if r.lang == "zh":
            if not re.search(rf"{word}.{{0,2}}{noun}", text):
                problems.append(f"no '{word}…{noun}'")
            continue
        if r.lang == "en":
            from lemminflect import getInflection

            plural = getInflection(noun, "NNS")[0]
            singular_refs = rf"\b(a|an|the|one) {noun}\b"
        else:
            plural = noun + ("es" if noun[-1] not in "aeiouáéíóú" else "s")
            singular_refs = rf"\b(un|una|el|la) {noun}\b"
        if not re.search(rf"\b{word} (\w+ ){{0,2}}{plural}\b", low):
            problems.append(f"no '{word} {plural}'")
        if re.search(singular_refs, low):
            problems.append(f"'{re.search(singular_refs, low).group(0)}' speaks of one")
    return not problems, "; ".join(problems) or f"kept {counts}"


def check_language(r: IdeaResult, voice_languages: list[str | None]) -> tuple[bool, str]:
    text = " ".join(r.narration)
    lang, _ = _identifier().classify(text)
    ok = lang == r.lang
    detail = f"narration detected as {lang}"
    if r.lang == "zh":
        letters = [ch for ch in text if ch.isalpha()]
        han = sum("\u4e00" <= ch <= "\u9fff" for ch in letters)
        ok = ok and han >= 0.9 * len(letters)
        detail += f", {han}/{len(letters)} letters Han"
    if r.lang != "en":
        spoken = {(v or "").split("-")[0] for v in voice_languages}
        ok = ok and spoken == {r.lang}
        detail += f", voices speak {sorted(spoken)}"
    return ok, detail


def drawn_names(metadata: list[dict[str, Any]]) -> set[str]:
    """Every name a picture's metadata gives for what it shows."""
    from sparkle_motion.function_tools.images_sdxl.storyboard.subjects import singulars

    names: set[str] = set()
    for meta in metadata:
        for s in meta.get("subjects", []):
            for key in ("word", "picture", "name", "shape"):
                value = s.get(key)
                if isinstance(value, str):
                    value = value.lower().removeprefix("shape:")
                    names.update(singulars(value))
                    names.update(value.replace("_", " ").split())
        bg = meta.get("background", {})
        # the painted place: its kind, room, named place, weather and the words that chose them
        for value in [bg.get("kind"), bg.get("interior"), bg.get("place")]:
            if isinstance(value, str):
                names.add(value.lower())
        for value in [*bg.get("weather", []), *bg.get("words", [])]:
            names.update(singulars(str(value).lower()))
    return names


def check_drawn(draw: list[str], metadata: list[dict[str, Any]]) -> tuple[bool, str]:
    from sparkle_motion.function_tools.images_sdxl.storyboard.subjects import lookup

    names = drawn_names(metadata)
    missing = []
    for thing in draw:
        found = lookup(thing)
        picture = found[1].name.lower().removeprefix("shape:") if found is not None else None
        if thing in names or picture in names:
            continue
        missing.append(thing)
    return not missing, f"not drawn {missing}" if missing else f"drew {draw}"


# ------------------------------------------------------------------ running


def plan_idea(idea: str) -> Any:
    from sparkle_motion.planner.draft import draft_to_plan
    from sparkle_motion.planner.story import write_draft

    return draft_to_plan(write_draft(idea), idea=idea)


def _without_created_at(plan: Any) -> dict[str, Any]:
    data = plan.model_dump(mode="json")
    data.pop("created_at", None)
    return data


def draw_scenes(plan: Any) -> list[dict[str, Any]]:
    from sparkle_motion.function_tools.images_sdxl import preview

    width, height = IMAGE_SIZE
    out = []
    for step in plan.steps:
        if step.type == "image":
            seed = (step.opts or {}).get("seed", 0) if isinstance(step.opts, dict) else 0
            seed = getattr(step.opts, "seed", seed) if not isinstance(step.opts, dict) else seed
            item = preview.render(step.prompt, 1, seed, {"width": width, "height": height})[0]
            out.append(item["metadata"])
    return out


def evaluate_idea(entry: dict[str, Any], *, draw: bool = True) -> IdeaResult:
    r = IdeaResult(entry["idea"], entry["lang"], entry.get("kind", ""))
    started = time.perf_counter()
    plan = plan_idea(r.idea)
    r.seconds = time.perf_counter() - started
    tts = [s for s in plan.steps if s.type == "tts"]
    r.narration = [s.spoken_text for s in tts]  # every line, the characters' too
    r.prompts = [s.prompt for s in plan.steps if s.type == "image"]
    voice_langs = [getattr(s.voice, "language", None) if s.voice else None for s in tts]
    voice_langs += [m.voice.language for m in (plan.cast or {}).values()]  # who speaks lines
    r.checks["content"] = check_content(r)
    r.checks["event"] = check_event(r, list(entry.get("event", [])))
    r.checks["counts"] = check_counts(r, dict(entry.get("counts") or {}))
    r.checks["language"] = check_language(r, voice_langs)
    if draw:
        r.checks["drawn"] = check_drawn(list(entry.get("draw") or []), draw_scenes(plan))
    again = plan_idea(r.idea)
    same = _without_created_at(plan) == _without_created_at(again)
    r.checks["deterministic"] = (same, "same plan twice" if same else "plans differ")
    return r


def shared_sentences(results: list[IdeaResult]) -> list[tuple[str, str, list[str]]]:
    """Pairs of ideas that share more than MAX_SHARED_SENTENCES sentences."""
    sets = {r.idea: set(sentences(" ".join(r.narration))) for r in results}
    out = []
    for a, b in itertools.combinations(sets, 2):
        common = sorted(sets[a] & sets[b])
        if len(common) > MAX_SHARED_SENTENCES:
            out.append((a, b, common))
    return out


def main() -> None:
    results = [evaluate_idea(e) for e in load_ideas()]
    print(f"{'check':<14} pass / {len(results)}")
    for check in CHECKS:
        passed = sum(r.checks[check][0] for r in results)
        print(f"{check:<14} {passed}")
    pairs = shared_sentences(results)
    print(f"{'distinct':<14} {'yes' if not pairs else f'{len(pairs)} pairs share > 2'}")
    times = sorted(r.seconds for r in results)
    print(f"planning time per idea: median {times[len(times) // 2] * 1000:.0f} ms, "
          f"max {times[-1] * 1000:.0f} ms (first includes loading the language tools)")  # fmt: skip
    for r in results:
        bad = {k: v[1] for k, v in r.checks.items() if not v[0]}
        if bad:
            print(f"- {r.idea}: {bad}")
    for a, b, common in pairs:
        print(f"- shared by '{a}' and '{b}': {common}")


if __name__ == "__main__":
    main()
