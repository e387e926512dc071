"""The spec's gated smoke tests: they run only when their SMOKE_* flag is set."""

from __future__ import annotations

import os

import pytest

from sparkle_motion.production_agent import run_plan
from sparkle_motion.providers import resolve_providers

pytestmark = pytest.mark.smoke

TINY = {
    "title": "Smoke",
    "steps": [
        {"id": "pic", "type": "image", "prompt": "a red fox in snow", "opts": {"steps": 2}},
        {"id": "say", "type": "tts", "text": "A fox in the snow."},
    ],
    "assemble_opts": {"width": 320, "height": 176, "fps": 12},
}


@pytest.mark.skipif(os.environ.get("SMOKE_ADK") != "1", reason="set SMOKE_ADK=1 (real providers)")
def test_smoke_execute_plan_end_to_end() -> None:
    result = run_plan(TINY, profile="full")
    assert result.status == "succeeded", result.summary
    assert result.movie is not None
    assert {r.step_id for r in result.records} >= {"pic", "say"}


@pytest.mark.skipif(
    os.environ.get("SMOKE_LIPSYNC") != "1", reason="set SMOKE_LIPSYNC=1 (real Wav2Lip)"
)
def test_smoke_lipsync_flag_gate() -> None:
    assert resolve_providers("preview")["lipsync_wav2lip"] == "full"
