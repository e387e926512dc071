"""Smoke: real Wav2Lip through videos_agent on the full lipsync backend.

Gated by ``SMOKE_LIPSYNC=1`` (the spec's flag: real inference allowed). Skips with the one
line of what is missing (the checkout in SPARKLE_WAV2LIP_DIR, its interpreter, the
checkpoint under SPARKLE_MODELS_DIR, s3fd.pth) when Wav2Lip is not installed here. The face
is a test pattern with a fixed face box (``opts.box``), so no face needs to be detected;
what is checked is that the real inference.py runs and its clip comes back whole.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(
    os.environ.get("SMOKE_LIPSYNC") != "1", reason="needs SMOKE_LIPSYNC=1 (real Wav2Lip)"
)
# read at import: the test environment clears them for every test
WHERE = {
    name: os.environ[name]
    for name in ("SPARKLE_WAV2LIP_DIR", "SPARKLE_WAV2LIP_PYTHON", "SPARKLE_MODELS_DIR")
    if os.environ.get(name)
}


def test_wav2lip_syncs_a_clip_through_videos_agent(
    sparkle_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in WHERE.items():
        monkeypatch.setenv(name, value)
    from sparkle_motion import videos_agent
    from sparkle_motion.errors import MissingDependencyError
    from sparkle_motion.providers import wav2lip_setup
    from sparkle_motion.run_context import run_context
    from sparkle_motion.types import uri_to_path
    from sparkle_motion.utils.ffmpeg import ffmpeg_exe, probe
    from sparkle_motion.utils.run_command import run_command

    try:
        wav2lip_setup()
    except MissingDependencyError as exc:
        pytest.skip(str(exc))
    inputs = sparkle_home / "inputs"
    inputs.mkdir(parents=True)
    face, line = inputs / "face.mp4", inputs / "line.wav"
    run_command([ffmpeg_exe(), "-v", "error", "-y", "-f", "lavfi", "-i",
                 "testsrc2=s=192x192:r=25:d=2", "-pix_fmt", "yuv420p", str(face)])  # fmt: skip
    run_command([ffmpeg_exe(), "-v", "error", "-y", "-f", "lavfi", "-i",
                 "anoisesrc=d=1.6:c=pink:r=16000:a=0.2", str(line)])  # fmt: skip
    opts = {"box": [40, 160, 40, 160], "wav2lip_batch_size": 16}
    with run_context(providers={"lipsync_wav2lip": "full"}):
        ref = videos_agent.lipsync(face, line, opts, size=(192, 192))
    info = probe(ref.path)
    assert info.has_video and info.has_audio and (info.width, info.height) == (192, 192)
    assert info.duration_s == pytest.approx(1.6, abs=0.15)
    meta = ref.metadata
    assert meta["simulated"] is False and meta["licence"] == "research-only"
    assert "Using " in uri_to_path(meta["logs_uri"]).read_text()
