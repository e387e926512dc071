"""The slim draft an LLM writes, and its conversion to a full MoviePlan.

A full MoviePlan schema, with numeric bounds and formats, is known to overwhelm Gemini's
structured output; so a model fills in this small scene-by-scene draft and we build the
plan: per scene an image step, a video step that animates that image, and a narration
step, all tagged with ``opts.scene``, plus ``assemble_opts``.
"""

from __future__ import annotations

import hashlib
import math
from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict, Field

from sparkle_motion.types import AssembleOpts, MoviePlan
from sparkle_motion.validation import WORDS_PER_SECOND, build_plan

MOTIONS = ("zoom_in", "zoom_out", "pan_left", "pan_right", "pan_up", "pan_down")


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
    steps: list[dict] = []
    for i, scene in enumerate(draft.scenes, start=1):
        sid = f"scene{i}"
        prompt = scene.image_prompt.strip()
        if draft.style and draft.style.lower() not in prompt.lower():
            prompt = f"{draft.style}. {prompt}"
        motion = scene.motion if scene.motion in MOTIONS else MOTIONS[i % len(MOTIONS)]
        title = scene.title.strip()[:150] or f"Scene {i}"
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
                    "num_frames": shot_frames(scene.narration, assemble.fps, assemble.scene_pad_s),
                    "motion": motion,
                },
            },
            {
                "id": f"{sid}_narration",
                "type": "tts",
                "title": f"{title}: narration",
                "text": scene.narration.strip(),
                "voice": _scene_voice(scene.voice, narrator, known_voices),
                "opts": {"scene": sid},
            },
        ]
    data = {
        "title": (draft.title.strip() or idea)[:200],
        "description": f"Planned from the idea: {idea}"[:2000],
        "created_by": created_by[:200],
        "steps": steps,
        "created_at": datetime.now(UTC).replace(microsecond=0).isoformat(),
        "assemble_opts": assemble.model_dump(exclude_none=True),
    }
    # A planned movie is named by its content, like a hand-written plan without an id.
    data["id"] = build_plan(data).content_id()
    return build_plan(data)
