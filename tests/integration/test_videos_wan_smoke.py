"""Smoke: a short FLF2V shot through videos_agent on the full videos_wan backend.

Gated by ``SMOKE_ADK=1`` (the spec's flag); skips with the reason when the full backend
(function_tools/videos_wan/full.py) or what it needs is not here.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(os.environ.get("SMOKE_ADK") != "1", reason="needs SMOKE_ADK=1")


def test_flf2v_shot_through_videos_agent(tmp_path: Path) -> None:
    if importlib.util.find_spec("sparkle_motion.function_tools.videos_wan.full") is None:
        pytest.skip("function_tools/videos_wan/full.py is not here yet")
    from PIL import Image

    from sparkle_motion import videos_agent
    from sparkle_motion.errors import MissingDependencyError
    from sparkle_motion.run_context import run_context
    from sparkle_motion.utils.ffmpeg import probe

    start, end = tmp_path / "a.png", tmp_path / "b.png"
    Image.new("RGB", (64, 64), "red").save(start)
    Image.new("RGB", (64, 64), "blue").save(end)
    events: list = []
    opts = {"num_frames": 8, "width": 64, "height": 64, "fps": 8, "steps": 2, "seed": 1,
            "chunk_length_frames": 8, "min_chunk_frames": 4}  # fmt: skip
    with run_context(providers={"videos_wan": "full"}):
        try:
            ref = videos_agent.render_video([start], [end], "a red square turns blue", opts,
                                            on_progress=events.append)  # fmt: skip
        except MissingDependencyError as exc:
            pytest.skip(str(exc))
    assert Path(ref.path).is_file() and ref.metadata["num_frames"] == 8
    info = probe(ref.path)
    assert info.width == 64 and abs((info.duration_s or 0) - 1.0) < 0.2
    assert events and events[-1].progress == 1.0
