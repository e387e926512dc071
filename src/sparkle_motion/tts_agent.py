"""tts_agent: speaks one line through the tts_chatterbox FunctionTool.

It decides, the FunctionTool computes: the logical voice of the plan (``emma``) is resolved
here, through the catalog (:mod:`sparkle_motion.voices`), to the provider voice and settings
of the provider that the run's profile picks (preview → ``espeak-local``, fixture →
``fixture-local``), and handed to the backend as explicit arguments.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from sparkle_motion import voices
from sparkle_motion.adk_helpers import publish_local
from sparkle_motion.function_tools.tts_chatterbox import entrypoint
from sparkle_motion.run_context import current_run_context
from sparkle_motion.types import ArtifactRef, TTSOpts, VoiceConfig


class ResolvedVoice(BaseModel):
    """Who speaks a line: the catalog provider, its backend profile and the voice's settings
    for it. production_agent resolves it once per step (its settings are in the step's cache
    key) and hands it back to :func:`synthesize`, which then speaks with exactly that."""

    provider: str
    profile: str
    settings: dict[str, Any] = Field(default_factory=dict)


def _choose_provider(profile: str, forced: str | None) -> tuple[str, str]:
    """(catalog provider id, backend profile) for this call."""
    if forced:  # opts.provider: a catalog provider id or a fixture alias
        provider = voices.provider_for(forced)
        info = voices.load_catalog().providers[provider]
        if info.profile is not None:
            return provider, info.profile
    return voices.provider_for(profile), profile


def resolve_voice(voice: VoiceConfig, forced: str | None, profile: str) -> ResolvedVoice:
    """The provider and settings that speak ``voice`` under the tool's ``profile``
    (``forced``: the step's ``opts.provider``). A voice's ``language`` reaches the backend
    as its ``language`` option (espeak: the language of Latin-script text; other scripts keep
    their own), and as the provider's own language option where it has one."""
    provider, backend = _choose_provider(profile, forced)
    settings = voices.provider_voice(voice.id, provider, language=voice.language)
    return ResolvedVoice(provider=provider, profile=backend, settings=settings)


def synthesize(
    text: str,
    voice_config: VoiceConfig | dict[str, Any],
    opts: TTSOpts | dict | None = None,
    *,
    audio_prompt: Path | None = None,
    resolved: ResolvedVoice | None = None,
) -> ArtifactRef:
    """Speak ``text`` with ``voice_config``; returns the WAV's ArtifactRef.

    Its metadata has duration_s, sample_rate, voice_id, provider_voice_id, provider,
    model_id, device, synth_time_s, watermarked and the sentence timings.

    Raises:
        TTSInvalidInputError: unknown voice id (the message names the known ones), or text
            the provider cannot speak.

    ``resolved`` is the voice as :func:`resolve_voice` chose it for this step; without it,
    the voice is resolved here from the run context's profile.
    """
    voice = (
        voice_config
        if isinstance(voice_config, VoiceConfig)
        else VoiceConfig.model_validate(voice_config)
    )
    opts = opts if isinstance(opts, TTSOpts) else TTSOpts.model_validate(opts or {})
    ctx = current_run_context()
    if resolved is None:
        resolved = resolve_voice(
            voice, opts.provider, ctx.providers.get("tts_chatterbox", "fixture")
        )
    provider = resolved.provider
    call_opts = {
        **resolved.settings,
        **opts.model_dump(exclude_none=True),
        "provider": resolved.profile,
    }
    if voice.language:
        call_opts.setdefault("language", voice.language)
    if voice.speed:
        call_opts["speed"] = voice.speed
    if audio_prompt is not None:  # a reference clip, already inside the workspace
        call_opts["audio_prompt_path"] = str(audio_prompt)
    work = Path(ctx.work_dir) if ctx.work_dir else Path(tempfile.mkdtemp(prefix="sparkle-tts-"))
    work.mkdir(parents=True, exist_ok=True)
    out = work / "narration.wav"
    meta = entrypoint.synthesize(text, voice.id, call_opts, out)
    meta["text"] = text
    meta["voice_id"] = voice.id
    meta.setdefault("provider_voice_id", resolved.settings.get("provider_voice_id"))
    meta["voice_provider"] = provider
    try:
        return publish_local(out, "audio/wav", meta)
    finally:
        out.unlink(missing_ok=True)
