"""tts_agent: speaks one line through the tts_chatterbox FunctionTool (thin for now)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from sparkle_motion.adk_helpers import publish_local
from sparkle_motion.function_tools.tts_chatterbox import entrypoint
from sparkle_motion.run_context import current_run_context
from sparkle_motion.types import ArtifactRef, TTSOpts, VoiceConfig


def synthesize(
    text: str,
    voice_config: VoiceConfig | dict[str, Any],
    opts: TTSOpts | dict | None = None,
    *,
    audio_prompt: Path | None = None,
) -> ArtifactRef:
    """Speak ``text`` with ``voice_config``; returns the WAV's ArtifactRef.

    Its metadata has duration_s, sample_rate, voice_id, provider, model_id, device,
    synth_time_s, watermarked and the sentence timings.
    """
    voice = (
        voice_config
        if isinstance(voice_config, VoiceConfig)
        else VoiceConfig.model_validate(voice_config)
    )
    opts = opts if isinstance(opts, TTSOpts) else TTSOpts.model_validate(opts or {})
    ctx = current_run_context()
    provider = ctx.providers.get("tts_chatterbox", "fixture")
    call_opts = {**opts.model_dump(exclude_none=True), "provider": provider}
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
    try:
        return publish_local(out, "audio/wav", meta)
    finally:
        out.unlink(missing_ok=True)
