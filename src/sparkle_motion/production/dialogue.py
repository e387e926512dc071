"""Dialogue: a tts step's lines, each spoken in its speaker's voice and cached on its own.

A step with ``lines`` is spoken line by line (``tts_agent.synthesize`` once per line), so a
character keeps its voice across scenes and every line gets its own WAV, record and
subtitle cues; the lines' WAVs are then joined into the step's whole audio, which is what
``step:ID`` names (a lipsync speaks all of it, lines in order).

A line's voice is the line's own, else its speaker's in the plan's cast, else the step's;
a voice that names no language speaks the step's. Each line has its own cache key (its
text, voice and the voice's settings, the step's options, a seed derived from the line
unless the step gives one, the provider, its reference clip's bytes), so editing one line
of a long scene re-speaks only that line. Everything here is decided once, where the step
is prepared, and travels to the worker as data.
"""

from __future__ import annotations

from typing import Any

from sparkle_motion import cache
from sparkle_motion.types import (
    ArtifactRef,
    CastMember,
    DialogueLine,
    MoviePlan,
    TTSStep,
    VoiceConfig,
)

REFERENCE_FIELD = "cast.{speaker}.reference_audio"
"""The input field a speaker's reference clip travels under (runner.py imports it)."""


def line_voice(step: TTSStep, line: DialogueLine, cast: dict[str, CastMember]) -> VoiceConfig:
    """Who speaks ``line``: its own voice, else its speaker's, else the step's."""
    member = cast.get(line.speaker) if line.speaker else None
    voice = line.voice or (member.voice if member else None) or step.voice
    if voice.language is None and step.voice.language is not None:
        voice = voice.model_copy(update={"language": step.voice.language})
    return voice


def resolve_lines(
    step: TTSStep, plan: MoviePlan, opts: dict[str, Any], profile: str
) -> list[dict[str, Any]]:
    """Each line of a multi-line step with its voice resolved (tts_agent picks provider and
    settings), its seed and its speaker's name and reference clip, as plain data."""
    from sparkle_motion import tts_agent

    cast = plan.cast or {}
    explicit_seed = step.opts.seed
    out: list[dict[str, Any]] = []
    for i, line in enumerate(step.lines or []):
        voice = line_voice(step, line, cast)
        member = cast.get(line.speaker) if line.speaker else None
        resolved = tts_agent.resolve_voice(
            voice, step.opts.provider, profile, opts=step.opts, text=line.text
        )
        spec = {"text": line.text, "voice": voice.model_dump(mode="json", exclude_none=True)}
        seed = cache.derived_seed({"line": spec, "seed": explicit_seed})
        line_opts = {k: v for k, v in opts.items() if k != "audio_prompt_path"} | {"seed": seed}
        if member is not None and member.reference_language:
            line_opts["reference_language"] = member.reference_language
        out.append(
            {
                "index": i,
                "speaker": line.speaker,
                "name": plan.speaker_name(line.speaker),
                "text": line.text,
                "voice": spec["voice"],
                "voice_settings": resolved.settings,
                "resolved": resolved.model_dump(mode="json"),
                "opts": line_opts,
                "reference": _reference(step, line, member),
            }
        )
    return out


def _reference(step: TTSStep, line: DialogueLine, member: CastMember | None) -> str | None:
    """The input field of the clip a line is spoken like: its speaker's reference clip;
    for the narrator, the step's ``opts.audio_prompt_path``."""
    if member is not None:
        return REFERENCE_FIELD.format(speaker=line.speaker) if member.reference_audio else None
    return "opts.audio_prompt_path" if step.opts.audio_prompt_path else None


def line_key(line: dict[str, Any], provider: str, inputs: dict[str, ArtifactRef]) -> str:
    """A line's cache key: what it says, in which voice and settings, with which options,
    on which provider, and the bytes of its reference clip."""
    spec = {
        "type": "tts_line",
        "text": line["text"],
        "voice": line["voice"],
        "voice_settings": line["voice_settings"],
        "opts": line["opts"],
    }
    ref = inputs.get(line["reference"]) if line["reference"] else None
    hashes = {"reference": [ref.sha256 or ref.artifact_uri]} if ref else {}
    return cache.cache_key(spec, provider, hashes)


def speak(
    step: TTSStep, lines: list[dict[str, Any]], inputs: dict[str, ArtifactRef]
) -> list[ArtifactRef]:
    """Speak every line not served from the cache (``line["cached"]``), then join them.

    Returns the whole audio first, then each line's WAV in order.
    """
    from sparkle_motion import tts_agent
    from sparkle_motion.types import TTSOpts

    refs: list[ArtifactRef] = []
    for line in lines:
        if line.get("cached"):
            refs.append(ArtifactRef.model_validate(line["cached"]))
            continue
        reference = inputs.get(line["reference"]) if line["reference"] else None
        refs.append(
            tts_agent.synthesize(
                line["text"],
                VoiceConfig.model_validate(line["voice"]),
                TTSOpts.model_validate(line["opts"]),
                audio_prompt=reference.path if reference else None,
                resolved=tts_agent.ResolvedVoice.model_validate(line["resolved"]),
            )
        )
    whole = tts_agent.join_lines(
        refs, [ln["speaker"] for ln in lines], [ln["name"] for ln in lines]
    )
    return [whole, *refs]


def plain_line_record(ref: ArtifactRef) -> list[dict[str, Any]]:
    """``line_artifacts`` of a plain (``text``) step: its one WAV, spoken by the narrator."""
    meta = ref.metadata
    return [
        {
            "index": 0,
            "speaker": None,
            "speaker_name": None,
            "text": meta.get("text", ""),
            "voice_id": meta.get("voice_id"),
            "provider_voice_id": meta.get("provider_voice_id"),
            "provider": meta.get("voice_provider") or meta.get("provider"),
            "duration_s": meta.get("duration_s"),
            "watermarked": bool(meta.get("watermarked")),
            "offset_s": 0.0,
            "artifact_uri": ref.artifact_uri,
            "sha256": ref.sha256,
        }
    ]
