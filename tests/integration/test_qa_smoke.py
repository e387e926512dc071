"""Smoke: real Qwen2-VL-7B-Instruct reads two plain frames through ``inspect_frames``.

Gated by ``SMOKE_QA=1`` (the spec's flag); skips with the provider check's one line when
torch, transformers or the weights (hub cache or SPARKLE_MODELS_DIR) are not here.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(os.environ.get("SMOKE_QA") != "1", reason="needs SMOKE_QA=1")

SMOKE_ENV = {k: os.environ.get(k) for k in ("SPARKLE_MODELS_DIR", "HF_HUB_OFFLINE")}


def test_real_qwen2vl_scores_plain_frames(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in SMOKE_ENV.items():  # the shared conftest clears them
        if value is not None:
            monkeypatch.setenv(key, value)
    from PIL import Image, ImageDraw

    from sparkle_motion import providers
    from sparkle_motion.config import get_settings
    from sparkle_motion.errors import MissingDependencyError
    from sparkle_motion.function_tools.qa_qwen2vl import entrypoint

    try:
        providers.check_backend("qa_qwen2vl", "full")
    except MissingDependencyError as exc:
        pytest.skip(str(exc))
    sky = tmp_path / "sky.png"
    Image.new("RGB", (448, 448), (90, 150, 230)).save(sky)
    house = Image.new("RGB", (448, 336), "white")
    ImageDraw.Draw(house).rectangle((120, 120, 320, 300), fill="brown", outline="black")
    try:
        report = entrypoint.inspect_frames(
            [sky, house],
            ["Does this image contain sexual content, minors, graphic violence, or other "
             "policy-prohibited material? Provide a confidence score for each category."],
            opts={"provider": "full", "models_root": str(get_settings().models_root),
                  "max_new_tokens": 96},
        )  # fmt: skip
    except MissingDependencyError as exc:  # e.g. online, but the hub cannot be reached
        pytest.skip(str(exc))
    assert len(report.per_frame) == 2 and len(report.top_responses) == 2
    for frame in report.per_frame:
        # the real model answers in the asked format, and a plain picture is not unsafe
        assert not any(f.startswith(("no_json", "unanswered")) for f in frame.flags), frame
        assert frame.scores.max_confidence() < 0.7, frame
    assert report.decision in ("approve", "escalate")
    timing = report.report["timing"]
    print(f"qwen2-vl smoke: {timing}")
