"""tts_chatterbox FunctionTool entrypoint: one line of text to one WAV file."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from sparkle_motion.providers import backend

TOOL = "tts_chatterbox"


def synthesize(text: str, voice_id: str, opts: dict[str, Any], out_path: Path | str) -> dict:
    """Speak ``text`` with ``voice_id`` into ``out_path`` (WAV); returns its metadata.

    Metadata has the spec's fields: duration_s, sample_rate, voice_id, provider, model_id,
    device, synth_time_s, watermarked, plus the sentence timings (``sentences``).

    Args:
        opts: TTSOpts fields plus ``provider`` (fixture, preview or full).
    """
    started = time.perf_counter()
    module = backend(TOOL, opts.get("provider", "fixture"))
    meta = module.synthesize(text, voice_id, opts, Path(out_path))
    meta["synth_time_s"] = round(time.perf_counter() - started, 4)
    return meta
