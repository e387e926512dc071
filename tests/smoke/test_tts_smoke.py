"""SMOKE_TTS=1: real speech through tts_agent under the full profile (Chatterbox).

It skips, saying what to install, where Chatterbox is not installed by either route
(``SPARKLE_CHATTERBOX_PYTHON`` or in process); without SMOKE_TTS it does not run.
"""

from __future__ import annotations

import os

import pytest

from sparkle_motion import providers, tts_agent
from sparkle_motion.errors import MissingDependencyError
from sparkle_motion.run_context import run_context

pytestmark = pytest.mark.smoke
SMOKE_TTS = os.environ.get("SMOKE_TTS") == "1"  # read at import: the test env clears it
CHATTERBOX_PYTHON = os.environ.get(providers.CHATTERBOX_PYTHON_ENV)


@pytest.mark.skipif(not SMOKE_TTS, reason="set SMOKE_TTS=1 (real Chatterbox)")
def test_smoke_chatterbox_speaks_watermarked(monkeypatch: pytest.MonkeyPatch) -> None:
    if CHATTERBOX_PYTHON:
        monkeypatch.setenv(providers.CHATTERBOX_PYTHON_ENV, CHATTERBOX_PYTHON)
    try:
        providers.chatterbox_route()
    except MissingDependencyError as exc:
        pytest.skip(str(exc))
    with run_context(providers={"tts_chatterbox": "full"}):
        ref = tts_agent.synthesize("A fox in the snow. It listens.", {"id": "narrator"})
    meta = ref.metadata
    assert meta["voice_provider"] == "chatterbox-pro" and meta["watermarked"] is True
    assert meta["duration_s"] > 1.0 and len(meta["sentences"]) == 2
    assert meta["selection"]["selected_provider"] == "chatterbox-pro"
