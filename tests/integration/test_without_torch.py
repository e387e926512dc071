"""The preview profile keeps working where torch and diffusers cannot be imported."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

BLOCKER = """
import importlib.abc, sys

class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("torch", "diffusers", "transformers", "accelerate"):
            raise ImportError(f"{name} is blocked in this test")
        return None

sys.meta_path.insert(0, Block())
"""

RUN = """
import json, sys
from sparkle_motion.production_agent import run_plan
from sparkle_motion.errors import MissingDependencyError
plan = json.loads(sys.argv[1])
result = run_plan(plan, profile="preview")
try:
    run_plan(plan, profile="preview", providers={"images_sdxl": "full"})
    full = "ran"
except MissingDependencyError as exc:
    full = str(exc)
heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "diffusers"))
print(json.dumps({"status": result.status, "summary": result.summary, "full": full, "heavy": heavy}))
"""


def test_preview_runs_without_torch_or_diffusers(tmp_path: Path) -> None:
    (tmp_path / "sitecustomize.py").write_text(BLOCKER)
    plan = {
        "title": "No torch here",
        "steps": [
            {
                "id": "pic",
                "type": "image",
                "prompt": "a whale near a lighthouse",
                "opts": {"scene": "a"},
            },
            {"id": "say", "type": "tts", "text": "The whale sings.", "opts": {"scene": "a"}},
        ],
        "assemble_opts": {"width": 320, "height": 176, "fps": 8, "preset": "ultrafast"},
    }
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")]),
        "SPARKLE_HOME": str(tmp_path / "home"),
    }
    result = subprocess.run(
        [sys.executable, "-c", RUN, json.dumps(plan)],
        capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["status"] == "succeeded", out["summary"]
    assert "needs the torch package" in out["full"] and "sparkle-motion[full]" in out["full"]
    assert out["heavy"] == []
