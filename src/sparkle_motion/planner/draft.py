"""The slim draft an LLM writes, and its conversion to a full MoviePlan.

A full MoviePlan schema, with numeric bounds and formats, is known to overwhelm Gemini's
structured output; so a model fills in this small scene-by-scene draft and we build the
plan: per scene an image step, a video step that animates that image, and a narration
step, all tagged with ``opts.scene``, plus ``assemble_opts``.

A draft may name its speaking characters (``cast``: name, gender, age) and give a scene
``dialogue``: lines its characters say after the narration. The plan then has a cast, each
character with its own catalog voice that speaks the draft's language (distinct from the
narrator's and each other's while the catalog has enough), and that scene's tts step speaks
the narration and the lines in order (``lines``), each in its speaker's voice.
"""

from __future__ import annotations

import hashlib
import math
from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict, Field

from sparkle_motion.types import AssembleOpts, MoviePlan
from sparkle_motion.validation import WORDS_PER_SECOND, build_plan

MOTIONS = ("zoom_in", "zoom_out", "pan_left", "pan_right", "pan_up", "pan_down")


class LineDraft(BaseModel):
    """One line a character says."""

    model_config = ConfigDict(extra="ignore")

    speaker: str = Field(description="The character's name, as in cast.")
    text: str = Field(description="What the character says: one short sentence or two.")


class CastDraft(BaseModel):
    """A speaking character."""

    model_config = ConfigDict(extra="ignore")

    name: str = Field(description="Short name, shown in subtitles (Keeper, Whale).")
    gender: str | None = Field(None, description="female, male or neutral.")
    age: str | None = Field(None, description="child, adult or elder.")
    voice: str | None = Field(None, description="A voice id; omit to let us choose one.")


class SceneDraft(BaseModel):
    """One scene: what we see, what the narrator says."""

    model_config = ConfigDict(extra="ignore")

    title: str = Field(description="A few words naming the scene.")
    setting: str | None = Field(None, description="Where and when the scene happens.")
    image_prompt: str = Field(
        description="One picture of the scene: the characters by name, the place, the light."
    )
    narration: str = Field(description="One or two spoken sentences that move the story on.")
    motion: str | None = Field(
        None, description="Camera move: zoom_in, zoom_out, pan_left, pan_right, pan_up, pan_down."
    )
    voice: str | None = Field(
        None,
        description="Voice id: narrator, emma, james, olivia, child or elder; omit for narrator.",
    )
    dialogue: list[LineDraft] = Field(
        default_factory=list,
        description="Lines the characters say after the narration, in order (may be empty).",
    )


class PlanDraft(BaseModel):
    """A movie as 4-8 scenes (or a refusal)."""

    model_config = ConfigDict(extra="ignore")

    title: str = Field(description="Short title of the movie.")
    style: str | None = Field(None, description="One visual style for every picture.")
    scenes: list[SceneDraft] = Field(description="The scenes, in story order.")
    refusal: str | None = Field(
        None, description="Set only when the request must be refused; then scenes is empty."
    )
    language: str | None = Field(
        None, description="Language of the narration (en, es, zh ...); omit for English."
    )
    kind: str | None = Field(
        None, description="Kind of movie: a story, or an explainer; omit for a story."
    )
    cast: list[CastDraft] = Field(
        default_factory=list, description="The speaking characters (two or three), if any."
    )


def _seed(*parts: str) -> int:
    return int.from_bytes(hashlib.sha256("|".join(parts).encode()).digest()[:4], "big")


def spoken_words(text: str) -> float:
    """Words as a narrator paces them; Chinese has no spaces: about 1.6 characters a word."""
    han = sum("\u3400" <= ch <= "\u9fff" for ch in text)
    return len(text.split()) + han / 1.6


def shot_frames(narration: str, fps: int, pad_s: float) -> int:
    """Frames for a shot covering the narration: 4k+1, as Wan-style video models need."""
    seconds = spoken_words(narration) / WORDS_PER_SECOND + pad_s
    frames = max(9, math.ceil(seconds * fps))
    return 4 * math.ceil((frames - 1) / 4) + 1


def narrator_voice(language: str | None, known_voices: set[str]) -> dict[str, str]:
    """The narration voice for a draft's language: ``narrator_<lang>`` where the catalog has
    one, else ``narrator``; a language other than English is said, so the voice speaks it."""
    lang = (language or "en").strip().lower().split("-")[0] or "en"
    if lang == "en":
        return {"id": "narrator"}
    voice = f"narrator_{lang}" if f"narrator_{lang}" in known_voices else "narrator"
    return {"id": voice, "language": lang}


def _scene_voice(
    voice: str | None, narrator: dict[str, str], known_voices: set[str]
) -> dict[str, str]:
    """A scene's own voice where the catalog knows it (in the draft's language), else the
    narrator's."""
    if voice in known_voices and voice != "narrator":
        return {**narrator, "id": voice}
    return dict(narrator)


# English catalog voices for a character, by age and gender, in order of preference
_EN_POOLS = {
    "child": ("child", "olivia", "emma"),
    "elder": ("elder", "james"),
    "female": ("emma", "olivia"),
    "male": ("james", "elder"),
    None: ("james", "emma", "olivia", "elder", "child"),
}


def _speaks(voice_id: str, lang: str) -> bool:
    from sparkle_motion.voices import load_catalog

    codes = load_catalog().voices[voice_id].language_codes
    return any(c.lower().split("-")[0] == lang for c in codes)


def character_voice(
    member: CastDraft, language: str | None, known_voices: set[str], taken: set[str]
) -> dict[str, str]:
    """A voice for a character, distinct from the ``taken`` ones while the catalog has one:
    its own (when the catalog knows it), else one of the language's own voices of the
    character's gender, else an English catalog voice of its age or gender (speaking the
    draft's language), else any voice of the language, else any voice left."""
    from sparkle_motion.voices import load_catalog, voice_for_language

    lang = (language or "en").strip().lower().split("-")[0] or "en"
    gender = (member.gender or "").lower() or None
    gender = gender if gender in ("female", "male") else None
    age = (member.age or "").lower()
    age = age if age in ("child", "elder") else None
    said = {} if lang == "en" else {"language": lang}
    if member.voice in known_voices and member.voice not in taken:
        return {"id": member.voice, **said}
    catalog = load_catalog().voices
    native = sorted(v for v in known_voices if _speaks(v, lang))
    candidates: list[str] = []
    if lang != "en" and age is None:
        candidates.append(voice_for_language(lang, gender))
        candidates += [v for v in native if gender is None or catalog[v].gender == gender]
    candidates += [v for v in _EN_POOLS[age or gender] if v in known_voices]
    candidates += native + [v for v in _EN_POOLS[None] if v in known_voices]
    candidates += sorted(known_voices)
    for voice in candidates:
        if voice not in taken:
            return {"id": voice, **said}
    return {"id": candidates[0], **said}


def _cast_key(name: str) -> str:
    key = "_".join(name.strip().lower().split())[:64]
    return key or "character"


def draft_to_plan(
    draft: PlanDraft,
    *,
    idea: str,
    created_by: str = "script_agent",
    assemble: AssembleOpts | None = None,
) -> MoviePlan:
    """Build a MoviePlan from a draft (stages 2-3 run; policy and caps are the caller's)."""
    assemble = assemble or AssembleOpts()
    from sparkle_motion.voices import load_catalog

    # a model may invent a voice name; the catalog's logical voices are the only ones
    known_voices = set(load_catalog().voices)
    narrator = narrator_voice(draft.language, known_voices)
    # the cast: every declared character, and anyone else who speaks a line
    members = {_cast_key(m.name): m for m in draft.cast if m.name.strip()}
    for scene in draft.scenes:
        for line in scene.dialogue:
            if line.speaker.strip():
                members.setdefault(_cast_key(line.speaker), CastDraft(name=line.speaker))
    taken = {narrator["id"]}
    cast: dict[str, dict] = {}
    for key, member in members.items():
        voice = character_voice(member, draft.language, known_voices, taken)
        taken.add(voice["id"])
        cast[key] = {"voice": voice, "name": member.name.strip()[:100]}
    steps: list[dict] = []
    for i, scene in enumerate(draft.scenes, start=1):
        sid = f"scene{i}"
        prompt = scene.image_prompt.strip()
        if draft.style and draft.style.lower() not in prompt.lower():
            prompt = f"{draft.style}. {prompt}"
        motion = scene.motion if scene.motion in MOTIONS else MOTIONS[i % len(MOTIONS)]
        title = scene.title.strip()[:150] or f"Scene {i}"
        said = [ln for ln in scene.dialogue if ln.text.strip() and ln.speaker.strip()]
        spoken = " ".join([scene.narration, *(ln.text for ln in said)])
        speech: dict = {"text": scene.narration.strip()}
        if said:
            speech = {
                "lines": [
                    *([{"text": scene.narration.strip()}] if scene.narration.strip() else []),
                    *({"speaker": _cast_key(ln.speaker), "text": ln.text.strip()} for ln in said),
                ]
            }
        steps += [
            {
                "id": f"{sid}_image",
                "type": "image",
                "title": f"{title}: picture",
                "prompt": prompt,
                "opts": {"scene": sid, "seed": _seed(idea, sid, "image")},
            },
            {
                "id": f"{sid}_shot",
                "type": "video",
                "title": f"{title}: shot",
                "prompt": f"{prompt} Gentle camera movement ({motion.replace('_', ' ')}).",
                "start_frames": [f"step:{sid}_image"],
                "opts": {
                    "scene": sid,
                    "seed": _seed(idea, sid, "video"),
                    "fps": assemble.fps,
                    "num_frames": shot_frames(spoken, assemble.fps, assemble.scene_pad_s),
                    "motion": motion,
                },
            },
            {
                "id": f"{sid}_narration",
                "type": "tts",
                "title": f"{title}: narration",
                **speech,
                "voice": _scene_voice(scene.voice, narrator, known_voices),
                "opts": {"scene": sid},
            },
        ]
    data = {
        "title": (draft.title.strip() or idea)[:200],
        "description": f"Planned from the idea: {idea}"[:2000],
        "created_by": created_by[:200],
        **({"cast": cast} if cast else {}),
        "steps": steps,
        "created_at": datetime.now(UTC).replace(microsecond=0).isoformat(),
        "assemble_opts": assemble.model_dump(exclude_none=True),
    }
    # A planned movie is named by its content, like a hand-written plan without an id.
    data["id"] = build_plan(data).content_id()
    return build_plan(data)
