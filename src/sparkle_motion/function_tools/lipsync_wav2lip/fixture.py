"""Fixture lip sync: the preview's stand-in (the face clip, or a slowly zooming still, with
the line's audio, cut or looped to its length), plus the fixture delay tests use. No mouth
moves, so the metadata says ``simulated``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sparkle_motion.function_tools.fixture_support import fixture_delay
from sparkle_motion.function_tools.lipsync_wav2lip import preview

PROVIDER_ID = "lipsync_wav2lip/fixture"
VERSION = f"5-{preview.VERSION}"


def run(face: Path, audio: Path, out_path: Path, opts: dict[str, Any]) -> dict:
    fixture_delay()
    return {**preview.run(face, audio, out_path, opts), "provider": PROVIDER_ID}
